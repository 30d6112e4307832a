// The Reported and Appeals pages: each button sends its decision to the JSON API with the
// session's CSRF token, then takes the decided item off the page. Text from the server is only
// ever inserted with textContent.
(() => {
  "use strict";

  const $ = (sel, root = document) => root.querySelector(sel);
  const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));
  const csrfMeta = document.querySelector('meta[name="csrf-token"]');
  const csrf = csrfMeta ? csrfMeta.content : "";

  function announce(message) {
    const el = $("#flash");
    if (!el) return;
    el.textContent = message;
    el.classList.add("shown");
  }
  function showError(message) {
    const el = $("#alert");
    if (!el) return;
    el.textContent = message;
    el.hidden = false;
  }
  function clearError() {
    const el = $("#alert");
    if (el) el.hidden = true;
  }

  async function post(path, body) {
    let response;
    try {
      response = await fetch(path, {
        method: "POST",
        credentials: "same-origin",
        headers: { Accept: "application/json", "Content-Type": "application/json", "X-CSRF-Token": csrf },
        body: JSON.stringify(body),
      });
    } catch (e) {
      return { ok: false, status: 0, data: { error: { message: "The server cannot be reached. Check your connection and try again." } } };
    }
    let data = null;
    try { data = await response.json(); } catch (e) { data = null; }
    return { ok: response.ok, status: response.status, data };
  }
  function errorText(result) {
    const err = result.data && result.data.error;
    if (err && err.message) return err.message;
    if (result.status === 401) return "Your session has ended. Reload the page to sign in again.";
    return `The request failed (HTTP ${result.status}).`;
  }

  // Take a decided item off the list; say so; show the empty note when none is left.
  function done(item, list, totalEl, empty, noun, message) {
    item.remove();
    const left = $$(".item", list).length;
    if (totalEl) {
      const n = Math.max(0, (Number.parseInt(totalEl.textContent, 10) || 1) - 1);
      totalEl.textContent = `${n} ${noun}`;
    }
    if (!left && empty) empty.hidden = false;
    announce(message);
  }

  function initReported() {
    const list = $("#reported-list");
    if (!list) return;
    list.addEventListener("click", async (e) => {
      const button = e.target.closest("button[data-report-action]");
      if (!button) return;
      clearError();
      const item = button.closest(".item");
      const id = item.dataset.id;
      const action = button.dataset.reportAction;
      const body = { action };
      const note = $(`#rn-${id}`).value.trim();
      if (note) body.note = note;
      if (action === "remove") body.reason = $(`#rr-${id}`).value;
      item.setAttribute("aria-busy", "true");
      for (const b of $$("button", item)) b.disabled = true;
      const result = await post(`/v1/moderation/reported/${encodeURIComponent(id)}/decision`, body);
      item.removeAttribute("aria-busy");
      for (const b of $$("button", item)) b.disabled = false;
      if (!result.ok) { showError(errorText(result)); return; }
      const told = result.data.receipts.length;
      const verb = action === "keep" ? "Kept" : "Removed";
      done(item, list, $("#reported-total"), $("#reported-empty"), "reported",
        `${verb} the comment; ${told} reporter${told === 1 ? "" : "s"} told.`);
    });
  }

  function initAppeals() {
    const list = $("#appeals-list");
    if (!list) return;
    list.addEventListener("click", async (e) => {
      const button = e.target.closest("button[data-appeal-outcome]");
      if (!button) return;
      clearError();
      const item = button.closest(".item");
      const id = item.dataset.id;
      const answer = $(`#ans-${id}`).value.trim();
      if (!answer) { showError("Write your answer to the author first."); $(`#ans-${id}`).focus(); return; }
      const outcome = button.dataset.appealOutcome;
      item.setAttribute("aria-busy", "true");
      for (const b of $$("button", item)) b.disabled = true;
      const result = await post(`/v1/moderation/appeals/${encodeURIComponent(id)}/decision`, { outcome, answer });
      item.removeAttribute("aria-busy");
      for (const b of $$("button", item)) b.disabled = false;
      if (!result.ok) { showError(errorText(result)); return; }
      const message = outcome === "reverse"
        ? "Decision reversed: the comment is published again; the author is told."
        : "Decision upheld; the author is told.";
      done(item, list, $("#appeals-total"), $("#appeals-empty"), "open", message);
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    initReported();
    initAppeals();
  });
})();
