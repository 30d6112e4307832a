// The moderation UI's only script: no framework, no build step.
//
// Rules it keeps: every action goes to the JSON API (/v1/moderation/...) with the session's
// CSRF token; text from the server is only ever inserted with textContent, except queue items,
// which are HTML the server rendered with every value escaped.
(() => {
  "use strict";

  const $ = (sel, root = document) => root.querySelector(sel);
  const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));
  const csrfMeta = document.querySelector('meta[name="csrf-token"]');
  const csrf = csrfMeta ? csrfMeta.content : "";
  const FLASH_KEY = "moderation.flash";

  // --- messages -------------------------------------------------------------------------
  let flashTimer = null;
  function announce(message) {
    const el = $("#flash");
    if (!el) return;
    el.textContent = message;
    el.classList.add("shown");
    clearTimeout(flashTimer);
    flashTimer = setTimeout(() => el.classList.remove("shown"), 6000);
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
  function flashAfterReload(message) {
    try { sessionStorage.setItem(FLASH_KEY, message); } catch (e) { /* private mode */ }
    window.location.reload();
  }

  // --- the API --------------------------------------------------------------------------
  async function api(method, path, body) {
    const headers = { Accept: "application/json" };
    const options = { method, headers, credentials: "same-origin" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    if (method !== "GET") headers["X-CSRF-Token"] = csrf;
    let response;
    try {
      response = await fetch(path, options);
    } catch (e) {
      return { ok: false, status: 0, data: { error: { message: "The server cannot be reached. Check your connection and try again." } } };
    }
    let data = null;
    try { data = await response.json(); } catch (e) { data = null; }
    if (response.status === 401) {
      showError("Your session has ended. Reload the page to sign in again.");
    }
    return { ok: response.ok, status: response.status, data };
  }
  function errorText(result) {
    const err = result.data && result.data.error;
    if (err && err.message) return err.message;
    return `The request failed (HTTP ${result.status}).`;
  }

  // For the pages' own scripts (tools.js), which load after this one.
  window.Moderation = { api, announce, showError, clearError, errorText, flashAfterReload };

  // --- relative times -------------------------------------------------------------------
  function relative(iso) {
    const then = Date.parse(iso);
    if (Number.isNaN(then)) return iso;
    const s = Math.round((Date.now() - then) / 1000);
    if (s < 45) return "just now";
    if (s < 90) return "1 min ago";
    if (s < 3600) return `${Math.round(s / 60)} min ago`;
    if (s < 5400) return "1 hour ago";
    if (s < 86400) return `${Math.round(s / 3600)} hours ago`;
    return new Date(then).toLocaleString();
  }
  function refreshTimes(root = document) {
    for (const el of $$("time.rel", root)) {
      const iso = el.getAttribute("datetime");
      if (!iso) continue;
      el.textContent = relative(iso);
      el.title = new Date(Date.parse(iso)).toLocaleString();
    }
  }

  // --- the queue ------------------------------------------------------------------------
  const Queue = {
    list: null,
    statusTimer: null,
    current: -1,
    nextCursor: "",
    loading: false,

    init() {
      this.list = $("#queue-list");
      if (!this.list) return;
      this.query = this.list.dataset.query || "";
      this.order = this.list.dataset.order || "oldest";
      this.nextCursor = this.list.dataset.nextCursor || "";
      document.addEventListener("keydown", (e) => this.onKey(e));
      this.list.addEventListener("click", (e) => this.onClick(e));
      this.list.addEventListener("change", (e) => {
        if (e.target.matches(".select")) this.updateSelection();
      });
      this.list.addEventListener("focusin", (e) => {
        const item = e.target.closest(".item");
        if (item) this.mark(this.items().indexOf(item));
      });
      $("#select-all").addEventListener("change", (e) => {
        for (const box of $$(".select", this.list)) box.checked = e.target.checked;
        this.updateSelection();
      });
      $("#bulk-approve").addEventListener("click", () => this.confirmBulk("approve"));
      $("#bulk-reject").addEventListener("click", () => this.confirmBulk("reject"));
      $("#bulk-confirm-yes").addEventListener("click", () => {
        const action = this.pendingBulk;
        this.cancelBulk();
        if (action) this.bulk(action);
      });
      $("#bulk-confirm-no").addEventListener("click", () => this.cancelBulk());
      $("#undo-button").addEventListener("click", () => this.undo());
      $("#load-more").addEventListener("click", () => this.loadMore());
      // The filter box is folded on a phone (the queue comes first); wider screens open it.
      const filters = $("#filter-box");
      if (filters && window.matchMedia("(min-width: 561px)").matches) filters.open = true;
      if (this.items().length) this.mark(0);
      this.live();
      // A worker that stops sends no event: look at the scoring health now and then.
      setInterval(() => this.refreshStatus(), 30_000);
    },

    // The header's totals, the per-article sidebar and the health notice, re-read from the
    // server shortly after events (a bulk decision's many events make one request).
    scheduleStatus() {
      if (this.statusTimer) return;
      this.statusTimer = setTimeout(() => { this.statusTimer = null; this.refreshStatus(); }, 400);
    },

    async refreshStatus() {
      // The page's filters go along, so a filtered queue's count stays the matching count.
      const query = this.query || `order=${encodeURIComponent(this.order)}`;
      const result = await api("GET", `/moderate/queue/status?${query}`);
      if (!result.ok) return;
      const d = result.data;
      $("#per-article-list").innerHTML = d.per_article;
      $("#queue-health").innerHTML = d.notices;
      const total = $("#queue-total");
      if (total) total.textContent = `${d.held} held`;
      const matching = $("#queue-matching");
      if (matching && d.matching) matching.textContent = d.matching;
      const held = $("#held-count");
      if (held) held.textContent = String(d.held);
      const pending = $("#queue-pending");
      if (pending) {
        pending.textContent = `· ${d.pending} awaiting scoring`;
        pending.hidden = !d.pending;
      }
    },

    items() { return $$(".item", this.list); },

    mark(index) {
      const items = this.items();
      if (!items.length) { this.current = -1; return; }
      index = Math.max(0, Math.min(index, items.length - 1));
      for (const el of items) el.classList.remove("current");
      items[index].classList.add("current");
      this.current = index;
    },

    move(index) {
      this.mark(index);
      const item = this.items()[this.current];
      if (!item) return;
      item.focus({ preventScroll: true });
      item.scrollIntoView({ block: "nearest" });
    },

    currentItem() { return this.items()[this.current] || null; },

    onKey(e) {
      if (e.defaultPrevented || e.ctrlKey || e.metaKey || e.altKey) return;
      const t = e.target;
      // Keys type into text fields; on checkboxes and buttons they stay shortcuts.
      if (t.closest && t.closest('textarea, select, [contenteditable], input:not([type="checkbox"]):not([type="radio"])')) {
        if (e.key === "Escape") t.blur();
        return;
      }
      const item = this.currentItem();
      switch (e.key) {
        case "j": this.move(this.current + 1); break;
        case "k": this.move(this.current - 1); break;
        case "a": if (item) this.decide(item, "approve"); break;
        case "r": if (item) this.decide(item, "reject"); break;
        case "x":
          if (item) {
            const box = $(".select", item);
            box.checked = !box.checked;
            this.updateSelection();
          }
          break;
        case "o": if (item) window.location.href = $(".details", item).href; break;
        default:
          if (/^[1-6]$/.test(e.key) && item) {
            const select = $(".reason-select", item);
            const option = select.options[Number(e.key) - 1];
            if (option) {
              select.value = option.value;
              announce(`Reason: ${option.textContent.replace(/^\d+ · /, "")}`);
            }
            break;
          }
          return;
      }
      e.preventDefault();
    },

    onClick(e) {
      const button = e.target.closest("button[data-action]");
      if (!button) return;
      const item = button.closest(".item");
      this.mark(this.items().indexOf(item));
      if (button.dataset.action === "escalate") this.escalate(item);
      else this.decide(item, button.dataset.action);
    },

    // Send a held comment to the admins with the card's note (it stays held meanwhile).
    async escalate(item) {
      clearError();
      const note = $(".note", item).value.trim();
      if (!note) { showError("Write a note for the admins first (why they should look)."); $(".note", item).focus(); return; }
      const result = await api("POST", `/v1/moderation/comments/${encodeURIComponent(item.dataset.id)}/escalate`, { note });
      if (!result.ok) { showError(errorText(result)); return; }
      item.dataset.escalated = "1";
      const chip = $(".escalated-chip", item);
      if (chip) chip.hidden = false;
      announce(`Sent the comment by ${item.dataset.authorName || "the author"} to the admins.`);
    },

    // A near-duplicate group: one decision for every held copy (each its own transition).
    async decideGroup(item, action) {
      const ids = item.dataset.group.split(",");
      const body = { ids, action, expected_status: "held" };
      if (action === "reject") body.reason = $(".reason-select", item).value;
      const note = $(".note", item).value.trim();
      if (note) body.note = note;
      const result = await api("POST", "/v1/moderation/decisions", body);
      if (!result.ok) {
        delete item.dataset.busy;
        item.removeAttribute("aria-busy");
        showError(errorText(result));
        return;
      }
      const verb = action === "approve" ? "Approved" : "Rejected";
      const taken = result.data.conflicts ? ` (${result.data.conflicts} already decided by others)` : "";
      for (const id of ids.slice(1)) {
        const other = document.getElementById(`c-${id}`);
        if (other) other.remove();
      }
      const message = `${verb} ${result.data.applied} copies${taken}.`;
      this.remove(item, message);
      const applied = result.data.results.filter((r) => r.outcome === "applied").map((r) => r.id);
      if (applied.length) this.offerUndo(applied, message);
    },

    async decide(item, action) {
      if (item.dataset.busy) return;
      if (item.dataset.group) {
        item.dataset.busy = "1";
        item.setAttribute("aria-busy", "true");
        clearError();
        await this.decideGroup(item, action);
        return;
      }
      item.dataset.busy = "1";
      item.setAttribute("aria-busy", "true");
      clearError();
      const body = { action, expected_status: item.dataset.status || "held" };
      if (action === "reject") body.reason = $(".reason-select", item).value;
      const note = $(".note", item).value.trim();
      if (note) body.note = note;
      const who = item.dataset.authorName || "the author";
      const result = await api("POST", `/v1/moderation/comments/${encodeURIComponent(item.dataset.id)}/decision`, body);
      if (result.ok) {
        this.remove(item, `${action === "approve" ? "Approved" : "Rejected"} the comment by ${who}.`);
      } else if (result.status === 409) {
        const current = (result.data && result.data.error && result.data.error.current) || {};
        this.remove(item, `Already ${current.status || "decided"} by ${current.decided_by || "another moderator"}: the comment by ${who} left the queue.`);
      } else {
        delete item.dataset.busy;
        item.removeAttribute("aria-busy");
        showError(errorText(result));
      }
    },

    remove(item, message) {
      const index = this.items().indexOf(item);
      const wasCurrent = index === this.current;
      const hadFocus = item.contains(document.activeElement);
      item.remove();
      if (message) announce(message);
      this.updateSelection();
      const left = this.items();
      if (!left.length) {
        this.current = -1;
        if (this.nextCursor) this.loadMore();
        else $("#queue-empty").hidden = false;
        return;
      }
      if (wasCurrent) {
        const next = Math.min(index, left.length - 1);
        if (hadFocus || document.activeElement === document.body) this.move(next);
        else this.mark(next);
      } else if (index >= 0 && index < this.current) {
        this.mark(this.current - 1);
      }
      if (left.length < 10 && this.nextCursor) this.loadMore();
    },

    selected() { return this.items().filter((el) => $(".select", el).checked); },

    updateSelection() {
      const n = this.selected().length;
      $("#selected-count").textContent = `${n} selected`;
      $("#bulk-approve").disabled = n === 0;
      $("#bulk-reject").disabled = n === 0;
      const all = $("#select-all");
      const total = this.items().length;
      all.checked = total > 0 && n === total;
      all.indeterminate = n > 0 && n < total;
    },

    // A bulk action is confirmed in the page (no browser dialog), saying how many and how.
    confirmBulk(action) {
      const n = this.selected().reduce((sum, el) => sum + (el.dataset.group ? el.dataset.group.split(",").length : 1), 0);
      if (!n) return;
      this.pendingBulk = action;
      const plural = `${n} comment${n === 1 ? "" : "s"}`;
      const select = $("#bulk-reason");
      const reason = select.options[select.selectedIndex].textContent.replace(/^\d+ · /, "");
      $("#bulk-confirm-text").textContent = action === "approve"
        ? `Approve and publish ${plural}?`
        : `Reject ${plural} as “${reason}”?`;
      $("#bulk-confirm").hidden = false;
      $("#bulk-confirm-yes").focus();
    },

    cancelBulk() {
      this.pendingBulk = null;
      $("#bulk-confirm").hidden = true;
    },

    // After a bulk action: an Undo button for the server's undo window.
    offerUndo(ids, message) {
      const bar = $("#undo-bar");
      this.undoIds = ids;
      $("#undo-text").textContent = message;
      bar.hidden = false;
      clearTimeout(this.undoTimer);
      const seconds = Number(bar.dataset.window || 120);
      this.undoTimer = setTimeout(() => { bar.hidden = true; this.undoIds = []; }, seconds * 1000);
    },

    async undo() {
      const ids = this.undoIds || [];
      if (!ids.length) return;
      clearError();
      $("#undo-bar").hidden = true;
      clearTimeout(this.undoTimer);
      const result = await api("POST", "/v1/moderation/decisions/undo", { ids });
      if (!result.ok) { showError(errorText(result)); return; }
      this.undoIds = [];
      const back = result.data.results.filter((r) => r.outcome === "applied").map((r) => r.id);
      if (back.length) {
        const items = await this.fetchItems({ ids: back.join(",") });
        if (items.ok) this.insert(items.data.html, this.order === "riskiest" ? "sorted" : this.order === "newest" ? "top" : "bottom");
      }
      let message = `Undone: ${back.length} comment${back.length === 1 ? "" : "s"} back in the queue.`;
      const left = ids.length - back.length;
      if (left) message += ` ${left} could not be undone (decided again since, or too late).`;
      announce(message);
      this.scheduleStatus();
    },

    async bulk(action) {
      const chosen = this.selected();
      if (!chosen.length) return;
      clearError();
      // A near-duplicate group's card stands for every copy.
      const ids = chosen.flatMap((el) => (el.dataset.group ? el.dataset.group.split(",") : [el.dataset.id]));
      const body = { ids, action, expected_status: "held" };
      if (action === "reject") body.reason = $("#bulk-reason").value;
      for (const el of chosen) { el.dataset.busy = "1"; el.setAttribute("aria-busy", "true"); }
      const result = await api("POST", "/v1/moderation/decisions", body);
      if (!result.ok) {
        for (const el of chosen) { delete el.dataset.busy; el.removeAttribute("aria-busy"); }
        showError(errorText(result));
        return;
      }
      const byId = new Map(chosen.map((el) => [el.dataset.id, el]));
      for (const r of result.data.results) {
        const el = byId.get(r.id);
        if (el) this.remove(el, null);
      }
      const verb = action === "approve" ? "Approved" : "Rejected";
      let message = `${verb} ${result.data.applied} comment${result.data.applied === 1 ? "" : "s"}.`;
      if (result.data.conflicts) message += ` ${result.data.conflicts} had already been decided by someone else.`;
      announce(message);
      const applied = result.data.results.filter((r) => r.outcome === "applied").map((r) => r.id);
      if (applied.length) this.offerUndo(applied, message);
    },

    async fetchItems(extra) {
      const params = new URLSearchParams(this.query);
      params.set("limit", this.list.dataset.limit || "100");
      for (const [k, v] of Object.entries(extra)) params.set(k, v);
      return api("GET", `/moderate/queue/items?${params.toString()}`);
    },

    insert(html, position) {
      const template = document.createElement("template");
      template.innerHTML = html;
      const added = [];
      for (const el of Array.from(template.content.querySelectorAll(".item"))) {
        if (document.getElementById(el.id)) continue; // already shown
        if (position === "sorted") this.insertSorted(el);
        else if (position === "top") this.list.prepend(el);
        else this.list.append(el);
        added.push(el);
      }
      for (const el of added) refreshTimes(el);
      if (added.length) $("#queue-empty").hidden = true;
      if (this.current < 0 && this.items().length) this.mark(0);
      this.updateSelection();
      return added;
    },

    insertSorted(el) {
      const risk = Number(el.dataset.risk || 0);
      const before = this.items().find((other) => Number(other.dataset.risk || 0) < risk);
      const currentItem = this.currentItem();
      if (before) this.list.insertBefore(el, before);
      else this.list.append(el);
      if (currentItem) this.current = this.items().indexOf(currentItem);
    },

    async loadMore() {
      if (this.loading || !this.nextCursor) return;
      this.loading = true;
      const button = $("#load-more");
      button.disabled = true;
      button.textContent = "Loading…";
      const result = await this.fetchItems({ cursor: this.nextCursor });
      this.loading = false;
      button.disabled = false;
      button.textContent = "Load more";
      if (!result.ok) { showError(errorText(result)); return; }
      this.nextCursor = result.data.next_cursor || "";
      button.hidden = !this.nextCursor;
      this.insert(result.data.html, "bottom");
      if (!this.items().length) {
        if (this.nextCursor) this.loadMore();
        else $("#queue-empty").hidden = false;
      }
    },

    setCount(delta) {
      for (const el of [$("#held-count")]) {
        if (!el) continue;
        const n = Math.max(0, Number(el.textContent || 0) + delta);
        el.textContent = String(n);
      }
      const total = $("#queue-total");
      if (total) {
        const n = Math.max(0, parseInt(total.textContent, 10) + delta || 0);
        total.textContent = `${n} held`;
      }
    },

    live() {
      const indicator = $("#live");
      if (!window.EventSource) return;
      // Resume from where the stream stood when the page was rendered: nothing is missed.
      const after = this.list.dataset.eventsAfter;
      const source = new EventSource(`/v1/moderation/events${after ? `?after=${encodeURIComponent(after)}` : ""}`);
      const setState = (state, text) => { indicator.dataset.state = state; indicator.textContent = text; };
      source.onopen = () => setState("on", "Live");
      source.onerror = () => setState("off", "Reconnecting…");
      source.addEventListener("held", (ev) => this.onHeld(JSON.parse(ev.data)));
      source.addEventListener("decided", (ev) => this.onDecided(JSON.parse(ev.data)));
      source.addEventListener("signed_out", () => {
        source.close();
        setState("off", "Signed out");
        showError("Your session has ended. Reload the page to sign in again.");
      });
    },

    async onHeld(event) {
      if (document.getElementById(`c-${event.id}`)) return; // shown (and counted) already
      this.setCount(+1);
      this.scheduleStatus();
      // Comments older than the end of a partly loaded list arrive with paging instead.
      if (this.order === "oldest" && this.nextCursor) return;
      const result = await this.fetchItems({ ids: event.id });
      if (!result.ok || !result.data.ids.length) return;
      const position = this.order === "riskiest" ? "sorted" : this.order === "newest" ? "top" : "bottom";
      const added = this.insert(result.data.html, position);
      if (added.length) {
        added[0].classList.add("arrived");
        announce(`New held comment by ${added[0].dataset.authorName || "an author"}.`);
      }
    },

    onDecided(event) {
      this.setCount(-1);
      this.scheduleStatus();
      const item = document.getElementById(`c-${event.id}`);
      if (!item || item.dataset.busy) return; // our own decision removes it itself
      const by = event.by || "someone else";
      this.remove(item, `A comment by ${item.dataset.authorName || "an author"} was ${event.to} by ${by}.`);
    },
  };

  // --- the single-comment page ----------------------------------------------------------
  function initComment() {
    const page = $("#comment");
    if (!page) return;
    for (const button of $$("button[data-decide]", page)) {
      button.addEventListener("click", async () => {
        clearError();
        const action = button.dataset.decide;
        const body = { action, expected_status: button.dataset.expected };
        if (action === "reject") body.reason = $("#comment-reason").value;
        const note = $("#comment-note").value.trim();
        if (note) body.note = note;
        button.disabled = true;
        const result = await api("POST", `/v1/moderation/comments/${encodeURIComponent(page.dataset.id)}/decision`, body);
        button.disabled = false;
        if (result.ok) {
          flashAfterReload(`The comment is now ${result.data.comment.status}.`);
        } else if (result.status === 409) {
          const current = (result.data.error && result.data.error.current) || {};
          flashAfterReload(`Someone else decided first: the comment is ${current.status || "decided"} (${current.decided_by || "unknown"}).`);
        } else {
          showError(errorText(result));
        }
      });
    }
  }

  // --- forms: author state, article settings, site policy, word lists -------------------
  function overridesBody(form) {
    const body = {};
    const premod = form.elements.namedItem("premoderate");
    if (premod) body.premoderate = premod.checked;
    const closed = form.elements.namedItem("closed");
    if (closed) body.closed = closed.checked;
    const number = (input, integer) => {
      const raw = input.value.trim();
      if (raw === "") return null;
      const n = integer ? Number.parseInt(raw, 10) : Number(raw);
      return Number.isNaN(n) ? raw : n;
    };
    body.thresholds = {};
    for (const input of $$('input[name^="threshold:"]', form)) {
      body.thresholds[input.name.slice("threshold:".length)] = number(input, false);
    }
    body.spam_threshold = number(form.elements.namedItem("spam_threshold"), false);
    body.spam_reject = number(form.elements.namedItem("spam_reject"), false);
    body.max_links = number(form.elements.namedItem("max_links"), true);
    const note = form.elements.namedItem("note").value.trim();
    if (note) body.note = note;
    return body;
  }

  async function submitJson(form, method, path, body, done) {
    clearError();
    const button = $('button[type="submit"]', form);
    if (button) button.disabled = true;
    const result = await api(method, path, body);
    if (button) button.disabled = false;
    if (result.ok) flashAfterReload(done(result.data));
    else showError(errorText(result));
  }

  function initForms() {
    for (const form of $$("form[data-overrides]")) {
      form.addEventListener("submit", (e) => {
        e.preventDefault();
        submitJson(form, "PATCH", form.dataset.overrides, overridesBody(form), () => "Settings saved.");
      });
    }
    const authorForm = $("#author-state");
    if (authorForm) {
      const authorId = $("#author").dataset.author;
      authorForm.addEventListener("submit", (e) => {
        e.preventDefault();
        const chosen = $('input[name="state"]:checked', authorForm);
        if (!chosen) { showError("Choose a state."); return; }
        const body = { state: chosen.value };
        const reject = authorForm.elements.namedItem("reject_pending");
        if (reject.checked) body.reject_pending = true;
        const note = authorForm.elements.namedItem("note").value.trim();
        if (note) body.note = note;
        submitJson(authorForm, "POST", `/v1/moderation/authors/${encodeURIComponent(authorId)}/state`, body,
          (data) => `The author is now ${data.state}.` + (data.rejected ? ` ${data.rejected} waiting comment(s) rejected.` : ""));
      });
    }
    const noteForm = $("#author-note-form");
    if (noteForm) {
      const authorId = $("#author").dataset.author;
      noteForm.addEventListener("submit", (e) => {
        e.preventDefault();
        const text = noteForm.elements.namedItem("text").value.trim();
        if (!text) { showError("Write the note first."); return; }
        submitJson(noteForm, "POST", `/v1/moderation/authors/${encodeURIComponent(authorId)}/notes`, { text },
          () => "Note added.");
      });
    }
    for (const form of $$("form.words-add")) {
      form.addEventListener("submit", (e) => {
        e.preventDefault();
        const add = form.elements.namedItem("add").value.split("\n").map((w) => w.trim()).filter(Boolean);
        if (!add.length) { showError("Type at least one word."); return; }
        submitJson(form, "PATCH", `/v1/moderation/words/${encodeURIComponent(form.dataset.kind)}`, { add },
          (data) => `Added ${data.added.length} entr${data.added.length === 1 ? "y" : "ies"} to the ${data.kind} list.`);
      });
    }
    for (const button of $$("button[data-remove-word]")) {
      button.addEventListener("click", async () => {
        clearError();
        button.disabled = true;
        const result = await api("PATCH", `/v1/moderation/words/${encodeURIComponent(button.dataset.kind)}`, { remove: [button.dataset.removeWord] });
        button.disabled = false;
        if (result.ok) flashAfterReload(`Removed “${button.dataset.removeWord}”.`);
        else showError(errorText(result));
      });
    }
  }

  // --- start ----------------------------------------------------------------------------
  document.addEventListener("DOMContentLoaded", () => {
    try {
      const message = sessionStorage.getItem(FLASH_KEY);
      if (message) { sessionStorage.removeItem(FLASH_KEY); announce(message); }
    } catch (e) { /* private mode */ }
    refreshTimes();
    setInterval(() => refreshTimes(), 30000);
    Queue.init();
    initComment();
    initForms();
  });
})();
