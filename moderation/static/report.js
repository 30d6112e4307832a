/* report.js: every element with data-report-comment="COMMENT_ID" gets a "Report" link. A click
   asks for a reason (offensive, harassment, spam, misinformation) and POSTs it to
   /v1/comments/{id}/reports; the link then reads "Reported" (the receipt id in its title).
   Options on the script tag: data-api (the service's origin; default: where this script came
   from), data-reader (the site's id of a signed-in reader; else the reader's address counts),
   data-label, data-site (the site's id: needed once the service hosts several sites). Illegal content needs the Art. 16 fields (explanation, the comment's URL, name,
   e-mail, good-faith statement): point data-illegal-form at the site's own form for it.
   ReportLinks.rescan() handles elements added later. Nothing here ever throws. */
(function () {
  "use strict";
  var tag = document.currentScript;
  function opt(name) { return tag ? tag.getAttribute("data-" + name) : null; }
  var api = opt("api") || (tag && tag.src ? new URL(tag.src).origin : "");
  var reasons = ["offensive", "harassment", "spam", "misinformation"];
  function send(id, reason, link) {
    var body = { reason: reason };
    if (opt("reader")) { body.reader_id = opt("reader"); }
    var site = opt("site") ? "?site=" + encodeURIComponent(opt("site")) : "";
    fetch(api + "/v1/comments/" + encodeURIComponent(id) + "/reports" + site, {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body)
    }).then(function (r) { return r.json().then(function (j) { return [r.status, j]; }); })
      .then(function (res) {
        var receipt = res[1].receipt || (res[1].error && res[1].error.receipt);
        link.textContent = res[0] === 201 || receipt ? "Reported" : "Report failed";
        if (receipt) { link.title = "Receipt " + receipt; }
      }).catch(function () { link.textContent = "Report failed"; });
  }
  function add(el) {
    if (el.hasAttribute("data-report-ready")) { return; }
    el.setAttribute("data-report-ready", "");
    var link = document.createElement("a");
    link.href = "#";
    link.className = "report-comment";
    link.textContent = opt("label") || "Report";
    link.addEventListener("click", function (ev) {
      ev.preventDefault();
      var form = opt("illegal-form");
      var answer = window.prompt("Why? " + reasons.join(", ") + (form ? ", illegal" : ""), "");
      if (answer === null) { return; }
      answer = answer.trim().toLowerCase();
      if (answer === "illegal" && form) { window.location.href = form + "?comment=" + encodeURIComponent(el.getAttribute("data-report-comment")); return; }
      if (reasons.indexOf(answer) < 0) { return; }
      send(el.getAttribute("data-report-comment"), answer, link);
    });
    el.appendChild(link);
  }
  function rescan() {
    Array.prototype.forEach.call(document.querySelectorAll("[data-report-comment]"), add);
  }
  window.ReportLinks = { rescan: rescan };
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", rescan); } else { rescan(); }
})();
