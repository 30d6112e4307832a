/* count.js: every <a data-comment-count="ARTICLE_ID"> gets "N comments" from ONE request to
   /v1/counts (chunked at its 100-id limit). Options on the script tag: data-api (the service's
   origin; default: where this script came from), data-lang (plural rules; default: the page's
   lang), data-one / data-other / data-zero / data-few / data-many (templates, "{n}" = number),
   data-site (the site's id: needed once the service hosts several sites).
   CommentCount.rescan() counts elements added later. A failed request changes nothing and
   never throws. */
(function () {
  "use strict";
  var tag = document.currentScript;
  function opt(name) { return tag ? tag.getAttribute("data-" + name) : null; }
  var api = opt("api") || (tag && tag.src ? new URL(tag.src).origin : "");
  var site = opt("site") ? "site=" + encodeURIComponent(opt("site")) + "&" : "";
  var lang = opt("lang") || document.documentElement.lang || "en";
  var plural;
  try { plural = new Intl.PluralRules(lang); } catch (e) { plural = new Intl.PluralRules("en"); }
  function label(n) {
    var kind = n === 0 && opt("zero") ? "zero" : plural.select(n);
    var t = opt(kind) || opt("other") || (kind === "one" ? "{n} comment" : "{n} comments");
    return t.replace("{n}", n.toLocaleString(lang));
  }
  function fill(els, counts) {
    els.forEach(function (el) {
      var n = counts[el.getAttribute("data-comment-count")];
      if (typeof n === "number") {
        el.textContent = label(n);
        el.setAttribute("data-comment-counted", "");
      }
    });
  }
  function rescan() {
    var els = Array.prototype.slice.call(document.querySelectorAll(
      "[data-comment-count]:not([data-comment-counted]):not([data-comment-counting])"));
    var ids = [];
    els.forEach(function (el) {
      el.setAttribute("data-comment-counting", "");
      var id = el.getAttribute("data-comment-count");
      if (id && ids.indexOf(id) < 0) ids.push(id);
    });
    for (var i = 0; i < ids.length; i += 100) {
      var q = ids.slice(i, i + 100).map(function (id) {
        return "article=" + encodeURIComponent(id);
      }).join("&");
      fetch(api + "/v1/counts?" + site + q)
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (body) { if (body && body.counts) fill(els, body.counts); })
        .catch(function () {})
        .then(function () {
          els.forEach(function (el) { el.removeAttribute("data-comment-counting"); });
        });
    }
  }
  window.CommentCount = { rescan: rescan };
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", rescan);
  } else {
    rescan();
  }
})();
