// The moderators' tools pages (published list, search, escalated, spam domains). Uses the
// helpers app.js exposes as window.Moderation; every action is a JSON API call with the
// session's CSRF token, and server text is only inserted with textContent.
(() => {
  "use strict";

  const M = window.Moderation;
  const $ = (sel, root = document) => root.querySelector(sel);
  const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));

  function done(row, words) {
    const actions = $(".actions", row);
    actions.textContent = "";
    const span = document.createElement("span");
    span.className = "done";
    span.textContent = words;
    actions.appendChild(span);
  }

  // One-click removal of a published comment: a rejection that expects "approved".
  async function remove(button) {
    const row = button.closest(".result");
    const who = row.dataset.authorName || "the author";
    M.clearError();
    button.disabled = true;
    const body = { action: "reject", expected_status: "approved", reason: $(".reason-select", row).value };
    const result = await M.api("POST", `/v1/moderation/comments/${encodeURIComponent(row.dataset.id)}/decision`, body);
    if (result.ok) {
      row.dataset.status = "rejected";
      const chip = $(".status", row);
      if (chip) { chip.textContent = "removed"; chip.className = "chip status status-rejected"; }
      done(row, "Removed.");
      const count = $("#published-count");
      if (count) count.textContent = String(Math.max(0, Number(count.textContent) - 1));
      M.announce(`Removed the comment by ${who}.`);
    } else if (result.status === 409) {
      const current = (result.data && result.data.error && result.data.error.current) || {};
      done(row, `Already ${current.status || "changed"} by ${current.decided_by || "someone else"}.`);
    } else {
      button.disabled = false;
      M.showError(M.errorText(result));
    }
  }

  // The admins' Escalated view: approve or reject a held comment.
  async function decideEscalated(button) {
    const row = button.closest(".result");
    const action = button.dataset.escalated;
    M.clearError();
    const body = { action, expected_status: "held" };
    if (action === "reject") body.reason = $(".reason-select", row).value;
    button.disabled = true;
    const result = await M.api("POST", `/v1/moderation/comments/${encodeURIComponent(row.dataset.id)}/decision`, body);
    if (result.ok || result.status === 409) {
      const who = row.dataset.authorName || "the author";
      row.remove();
      M.announce(result.ok ? `${action === "approve" ? "Approved" : "Rejected"} the comment by ${who}.` : `The comment by ${who} was already decided.`);
    } else {
      button.disabled = false;
      M.showError(M.errorText(result));
    }
  }

  // The comment page's Escalate: the note field says why (required).
  async function escalate(button) {
    M.clearError();
    const field = $("#comment-note");
    const note = field.value.trim();
    if (!note) { M.showError("Write a note for the admins first (why they should look)."); field.focus(); return; }
    button.disabled = true;
    const result = await M.api("POST", `/v1/moderation/comments/${encodeURIComponent(button.dataset.escalate)}/escalate`, { note });
    button.disabled = false;
    if (result.ok) M.flashAfterReload("Sent to the admins: the comment stays held until someone decides it.");
    else M.showError(M.errorText(result));
  }

  async function editDomains(kind, body, words) {
    M.clearError();
    const result = await M.api("PATCH", `/v1/moderation/spam-domains/${encodeURIComponent(kind)}`, body);
    if (result.ok) M.flashAfterReload(words(result.data));
    else M.showError(M.errorText(result));
  }

  document.addEventListener("DOMContentLoaded", () => {
    document.addEventListener("click", (e) => {
      const rm = e.target.closest("button[data-remove]");
      if (rm) { remove(rm); return; }
      const up = e.target.closest("button[data-escalate]");
      if (up) { escalate(up); return; }
      const esc = e.target.closest("button[data-escalated]");
      if (esc) { decideEscalated(esc); return; }
      const dom = e.target.closest("button[data-remove-domain]");
      if (dom) {
        editDomains(dom.dataset.kind, { remove: [dom.dataset.removeDomain] }, () => `Removed ${dom.dataset.removeDomain}.`);
      }
    });
    for (const form of $$("form.domains-add")) {
      form.addEventListener("submit", (e) => {
        e.preventDefault();
        const add = form.elements.namedItem("add").value.split("\n").map((d) => d.trim()).filter(Boolean);
        if (!add.length) { M.showError("Type at least one domain."); return; }
        editDomains(form.dataset.kind, { add }, (data) => `Added ${data.added.length} domain${data.added.length === 1 ? "" : "s"} to the ${data.kind} list.`);
      });
    }
  });
})();
