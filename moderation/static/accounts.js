// The admins' accounts page: create, disable / enable, new sign-in link, revoke a session.
// Every action calls the JSON API (/v1/moderation/accounts...) with the session's CSRF token;
// text from the server is inserted with textContent only.
(function () {
  "use strict";

  var csrfMeta = document.querySelector('meta[name="csrf-token"]');
  var csrf = csrfMeta ? csrfMeta.content : "";
  var BASE = "/v1/moderation/accounts/";

  function showError(message) {
    var el = document.getElementById("alert");
    if (!el) return;
    el.textContent = message;
    el.hidden = false;
  }

  function call(method, path, body) {
    var headers = { Accept: "application/json", "X-CSRF-Token": csrf };
    var options = { method: method, headers: headers, credentials: "same-origin" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    return fetch(path, options).then(function (response) {
      return response.text().then(function (text) {
        var data = null;
        try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
        if (!response.ok) {
          var err = data && data.error && data.error.message;
          throw new Error(err || "The request failed (HTTP " + response.status + ").");
        }
        return data;
      });
    }, function () {
      throw new Error("The server cannot be reached. Check your connection and try again.");
    });
  }

  function showLink(name, link) {
    var box = document.getElementById("link-result");
    box.querySelector("[data-link-name]").textContent = name;
    var input = box.querySelector("[data-link-url]");
    input.value = link.url;
    box.hidden = false;
    input.focus();
    input.select();
  }

  document.addEventListener("click", function (ev) {
    var target = ev.target;
    if (!(target instanceof HTMLElement)) return;
    var name;
    if ((name = target.getAttribute("data-toggle-account"))) {
      var disable = target.getAttribute("data-disabled") !== "true";
      call("PATCH", BASE + encodeURIComponent(name), { disabled: disable })
        .then(function () { window.location.reload(); }, function (e) { showError(e.message); });
    } else if ((name = target.getAttribute("data-link-account"))) {
      call("POST", BASE + encodeURIComponent(name) + "/link")
        .then(function (link) { showLink(name, link); }, function (e) { showError(e.message); });
    } else if (target.hasAttribute("data-revoke-session")) {
      name = target.getAttribute("data-name");
      var id = target.getAttribute("data-revoke-session");
      call("DELETE", BASE + encodeURIComponent(name) + "/sessions/" + encodeURIComponent(id))
        .then(function () { window.location.reload(); }, function (e) { showError(e.message); });
    }
  });

  var form = document.getElementById("account-create");
  if (form) {
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var password = form.elements.password.value;
      var body = { name: form.elements.name.value.trim(), role: form.elements.role.value };
      if (password) body.password = password; else body.link = true;
      call("POST", BASE.slice(0, -1), body).then(function (account) {
        if (account.link) {
          // The link is shown once: keep it on screen (the table refreshes on the next load).
          showLink(account.name, account.link);
          form.reset();
        } else {
          window.location.reload();
        }
      }, function (e) { showError(e.message); });
    });
  }
})();
