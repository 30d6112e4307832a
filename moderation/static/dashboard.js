// The operations dashboard: live figures over Server-Sent Events, charts drawn as plain SVG.
// No library, no network beyond this origin. Every value from the server is inserted as text
// (textContent / SVG text nodes), never as markup. The gauge charts (queue depth, ages, time
// to decision) start from the server's samples of the last hour (doc.samples) and append
// every pushed document; automatic and moderators' time to decision are apart (milliseconds
// against minutes: on one linear axis the automatic lines would sit on zero).
(function () {
  "use strict";

  var root = document.getElementById("dashboard");
  if (!root) return;

  var SVG = "http://www.w3.org/2000/svg";
  var COLORS = {
    accepted: "#2563eb", decided: "#15803d", approved: "#15803d", held: "#d97706",
    rejected: "#dc2626", undecided: "#2563eb", backlog: "#d97706", age: "#7c3aed",
    auto50: "#2563eb", auto99: "#93c5fd", human50: "#b45309", human90: "#fbbf24",
    holdrate: "#d97706", ageHeld: "#d97706"
  };
  var HISTORY_S = 3600; // replaced by the server's window (api_errors.window_s)
  var live = { undecided: [], backlog: [], age: [], ageHeld: [], auto50: [], auto99: [], human50: [], human90: [] };
  var last = null;

  // --- small helpers ----------------------------------------------------------------------
  function node(name, attrs, parent, text) {
    var e = document.createElementNS(SVG, name);
    for (var k in attrs) if (Object.prototype.hasOwnProperty.call(attrs, k)) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    if (parent) parent.appendChild(e);
    return e;
  }
  // A "nice" tick step (1, 2 or 5 times a power of ten) giving four steps that cover v.
  function niceStep(v) {
    if (!(v > 0)) return 0.25;
    var raw = v / 4, p = Math.pow(10, Math.floor(Math.log10(raw)));
    var steps = [1, 2, 5, 10];
    for (var i = 0; i < steps.length; i++) if (steps[i] * p >= raw) return steps[i] * p;
    return 10 * p;
  }
  function decimalsFor(step) {
    for (var d = 0; d < 6; d++) if (Math.abs(Math.round(step * Math.pow(10, d)) - step * Math.pow(10, d)) < 1e-9) return d;
    return 6;
  }
  function pad(n) { return n < 10 ? "0" + n : "" + n; }
  // Time ticks on round boundaries (every 10 s, 1 min, 5 min, 15 min, …), at most maxTicks:
  // with a step of a minute or more no two ticks share a minute, so no label repeats.
  var TIME_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600];
  function timeTicks(t0, t1, maxTicks) {
    var span = t1 - t0, step = TIME_STEPS[TIME_STEPS.length - 1];
    for (var i = 0; i < TIME_STEPS.length; i++) {
      if (span / TIME_STEPS[i] <= maxTicks) { step = TIME_STEPS[i]; break; }
    }
    var ticks = [];
    for (var t = Math.ceil(t0 / step) * step; t <= t1 + 1e-6; t += step) ticks.push(t);
    return { ticks: ticks, seconds: step < 60 };
  }
  // An age in words: "none waiting", "4.2 s", "42 s", "3 min 5 s", "2 h 10 min".
  function duration(v) {
    if (v === null || v === undefined || isNaN(v)) return "none waiting";
    var s = Math.round(v);
    if (s < 60) return v < 10 ? v.toFixed(1) + " s" : s + " s";
    if (s < 3600) return Math.floor(s / 60) + " min" + (s % 60 ? " " + (s % 60) + " s" : "");
    return Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " min";
  }
  function clock(sec, withSeconds) {
    var d = new Date(sec * 1000);
    return pad(d.getHours()) + ":" + pad(d.getMinutes()) + (withSeconds ? ":" + pad(d.getSeconds()) : "");
  }
  function num(v, unit) {
    if (v === null || v === undefined || isNaN(v)) return "–";
    var s;
    if (unit === "%") s = (v * 100).toFixed(v < 0.1 && v > 0 ? 1 : 0);
    else if (Math.abs(v) >= 1000) s = (v / 1000).toFixed(1) + "k";
    else if (Math.abs(v) >= 10 || v === Math.round(v)) s = String(Math.round(v));
    else s = v.toFixed(1);
    return unit ? s + " " + unit : s;
  }

  // --- chart frame: axes, grid, ticks, labels, legend ---------------------------------------
  function frame(svg, opts) {
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    var W = Math.max(svg.clientWidth || svg.parentNode.clientWidth || 480, 240);
    var H = Math.max(svg.clientHeight || 220, 160);
    svg.setAttribute("viewBox", "0 0 " + W + " " + H);
    var m = { l: 58, r: 12, t: 26, b: 40 };
    // The legend first: it wraps onto as many rows as the width needs (a phone gets two or
    // three), and the plot starts below its last row, so no name is ever cut.
    var legend = node("g", { "class": "legend" }, svg);
    var LEFT = 4, lx = LEFT, row = 0;
    (opts.legend || []).forEach(function (item) {
      var ly = 6 + row * 16;
      var swatch = node("rect", { x: lx, y: ly, width: 10, height: 10, fill: item.color, rx: 2 }, legend);
      var label = node("text", { x: lx + 14, y: ly + 9, "class": "legend-label" }, legend, item.name);
      var width = 14 + (label.getComputedTextLength ? label.getComputedTextLength() : item.name.length * 7);
      if (lx > LEFT && lx + width > W - m.r) {  // start a new row with this item
        row++; lx = LEFT; ly = 6 + row * 16;
        swatch.setAttribute("x", lx); swatch.setAttribute("y", ly);
        label.setAttribute("x", lx + 14); label.setAttribute("y", ly + 9);
      }
      lx += width + 8;
    });
    m.t += row * 16;
    var w = W - m.l - m.r, h = H - m.t - m.b;
    var step = opts.yMax ? opts.yMax / 4 : niceStep(opts.dataMax * 1.05);
    var yMax = step * 4;
    var digits = opts.unit === "%" ? Math.max(0, decimalsFor(step * 100)) : decimalsFor(step);
    var x = function (t) { return m.l + (opts.t1 === opts.t0 ? w : (t - opts.t0) / (opts.t1 - opts.t0) * w); };
    var y = function (v) { return m.t + h - (v / yMax) * h; };
    var axes = node("g", { "class": "axes" }, svg);
    for (var i = 0; i <= 4; i++) {
      var v = yMax * i / 4, yy = y(v);
      node("line", { x1: m.l, x2: m.l + w, y1: yy, y2: yy, "class": i === 0 ? "axis" : "grid" }, axes);
      var label = opts.unit === "%" ? (v * 100).toFixed(digits) + " %" : v.toFixed(digits);
      node("text", { x: m.l - 6, y: yy + 4, "text-anchor": "end", "class": "tick" }, axes, label);
    }
    node("line", { x1: m.l, x2: m.l, y1: m.t, y2: m.t + h, "class": "axis" }, axes);
    // As many time ticks as fit (about one per 80 px), on round times, each label once.
    var tt = timeTicks(opts.t0, opts.t1, Math.max(1, Math.min(6, Math.floor(w / 80)))), shown = {};
    tt.ticks.forEach(function (t) {
      var xx = x(t), text = clock(t, tt.seconds);
      if (shown[text]) return;
      shown[text] = true;
      var anchor = xx < m.l + 18 ? "start" : (xx > m.l + w - 18 ? "end" : "middle");
      node("line", { x1: xx, x2: xx, y1: m.t + h, y2: m.t + h + 4, "class": "axis" }, axes);
      node("text", { x: xx, y: m.t + h + 16, "text-anchor": anchor, "class": "tick tick-x" }, axes, text);
    });
    node("text", { x: m.l + w / 2, y: H - 4, "text-anchor": "middle", "class": "axis-label" }, axes, "time");
    node("text", { x: 12, y: m.t + h / 2, "text-anchor": "middle", "class": "axis-label",
                   transform: "rotate(-90 12 " + (m.t + h / 2) + ")" }, axes, opts.yLabel);
    return { x: x, y: y, w: w, h: h, m: m, yMax: yMax };
  }

  function lineChart(svg, series, opts) {
    var t0 = opts.t0, t1 = opts.t1, max = 0, points = 0;
    series.forEach(function (s) {
      s.values.forEach(function (p) {
        if (p[1] === null || p[1] === undefined) return;
        points++;
        if (opts.t0 === undefined && (t0 === undefined || p[0] < t0)) t0 = p[0];
        if (opts.t1 === undefined && (t1 === undefined || p[0] > t1)) t1 = p[0];
        if (p[1] > max) max = p[1];
      });
    });
    var now = Date.now() / 1000;
    if (t0 === undefined) t0 = now - 60;
    if (t1 === undefined || t1 <= t0) t1 = t0 + 60;
    // At least a minute wide: a few seconds of data would leave no round time to label.
    if (t1 - t0 < 60) t0 = t1 - 60;
    var f = frame(svg, { t0: t0, t1: t1, dataMax: max, yMax: opts.yMax, yLabel: opts.yLabel, unit: opts.unit,
                         legend: (opts.legendOrder || series).map(function (s) { return { name: s.name, color: s.color }; }) });
    if (!points) {
      node("text", { x: f.m.l + f.w / 2, y: f.m.t + f.h / 2, "text-anchor": "middle", "class": "no-data" },
           svg, opts.emptyText || "No data yet");
      return;
    }
    series.forEach(function (s) {
      var d = "", run = 0, lone = [];
      s.values.forEach(function (p, i) {
        if (p[1] === null || p[1] === undefined) { run = 0; return; }
        var x = f.x(p[0]).toFixed(1), y = f.y(Math.min(p[1], f.yMax)).toFixed(1);
        d += (run === 0 ? "M" : "L") + x + " " + y;
        run++;
        var next = s.values[i + 1];
        if (run === 1 && (!next || next[1] === null || next[1] === undefined)) lone.push([x, y]);
      });
      var attrs = { d: d, fill: "none", stroke: s.color, "stroke-width": s.width || 2, "class": "series", "data-series": s.name };
      if (s.dash) attrs["stroke-dasharray"] = s.dash;
      if (d) node("path", attrs, svg);
      // A point with no neighbour draws no line: mark it so it is seen.
      lone.forEach(function (p) {
        node("circle", { cx: p[0], cy: p[1], r: 3, fill: s.color, "class": "point", "data-series": s.name }, svg);
      });
    });
  }

  function stackedBars(svg, h, stacks, opts) {
    var n = stacks[0].values.length;
    var totals = [];
    for (var i = 0; i < n; i++) totals.push(stacks.reduce(function (a, s) { return a + s.values[i]; }, 0));
    var max = Math.max.apply(null, totals.concat([0]));
    var t0 = h.start, t1 = h.start + h.step * (n - 1);
    var f = frame(svg, { t0: t0, t1: t1, dataMax: max, yLabel: opts.yLabel,
                         legend: stacks.map(function (s) { return { name: s.name, color: s.color }; }) });
    var bw = Math.max(f.w / n - 1, 1);
    for (var k = 0; k < n; k++) {
      var base = 0;
      stacks.forEach(function (s) {
        var v = s.values[k];
        if (v > 0) {
          node("rect", { x: (f.x(t0 + k * h.step) - bw / 2).toFixed(1), y: f.y(base + v).toFixed(1),
                         width: bw.toFixed(1), height: (f.y(base) - f.y(base + v)).toFixed(1),
                         fill: s.color, "class": "bar", "data-series": s.name }, svg);
        }
        base += v;
      });
    }
  }

  function minuteSeries(h, values) {
    return values.map(function (v, i) { return [h.start + i * h.step, v]; });
  }

  // --- applying one stats document -------------------------------------------------------------
  function setTile(id, text) {
    var e = document.querySelector("#tile-" + id + " [data-value]");
    if (e) e.textContent = text;
  }
  function setNote(id, text) {
    var e = document.querySelector("#tile-" + id + " [data-note]");
    if (e) e.textContent = text;
  }

  function renderAlerts(alerts) {
    var box = document.getElementById("dash-alerts");
    var list = box.querySelector("ul");
    while (list.firstChild) list.removeChild(list.firstChild);
    alerts.forEach(function (a) {
      var li = document.createElement("li");
      li.setAttribute("data-code", a.code);
      li.textContent = a.message;
      list.appendChild(li);
    });
    box.hidden = alerts.length === 0;
  }

  function renderWorkers(workers) {
    var body = document.querySelector("#workers-table tbody");
    while (body.firstChild) body.removeChild(body.firstChild);
    if (!workers.length) {
      var tr = document.createElement("tr");
      tr.className = "empty";
      var td = document.createElement("td");
      td.colSpan = 9;
      td.textContent = "No workers have reported. Start one with moderation worker.";
      tr.appendChild(td);
      body.appendChild(tr);
      return;
    }
    workers.forEach(function (w) {
      var tr = document.createElement("tr");
      var state = w.stale ? "stale" : (w.degraded ? "degraded" : "ok");
      if (state !== "ok") tr.className = state;
      [w.id, w.host, w.pid, w.model, w.device, w.batch_size, w.processed,
       w.last_heartbeat_age_s.toFixed(1) + " s ago", state].forEach(function (v) {
        var td = document.createElement("td");
        td.textContent = v === null || v === undefined ? "" : String(v);
        tr.appendChild(td);
      });
      body.appendChild(tr);
    });
  }

  function renderReasons(reasons) {
    var body = document.querySelector("#reasons-table tbody");
    while (body.firstChild) body.removeChild(body.firstChild);
    if (!reasons.length) {
      var tr = document.createElement("tr");
      tr.className = "empty";
      var td = document.createElement("td");
      td.colSpan = 2;
      td.textContent = "Nothing held or rejected yet.";
      tr.appendChild(td);
      body.appendChild(tr);
      return;
    }
    reasons.forEach(function (r) {
      var tr = document.createElement("tr");
      var what = document.createElement("td");
      what.textContent = r.text;
      what.title = r.code;
      var n = document.createElement("td");
      n.textContent = String(r.count);
      tr.appendChild(what);
      tr.appendChild(n);
      body.appendChild(tr);
    });
  }

  // Points older than the history window fall off the left edge.
  function push(series, t, v) {
    if (series.length && series[series.length - 1][0] >= t) return;  // a sample already there
    series.push([t, v]);
    while (series.length && series[0][0] < t - HISTORY_S) series.shift();
  }
  function ms(v) { return v === null || v === undefined ? null : v; }
  function minutes(v) { return v === null || v === undefined ? null : v / 60; }

  // The server's samples of the last hour: the gauge charts start full.
  function seed(samples) {
    (samples || []).forEach(function (p) {
      push(live.undecided, p.t, p.undecided);
      push(live.backlog, p.t, p.held);
      push(live.age, p.t, p.oldest_undecided_s || 0);
      push(live.ageHeld, p.t, p.oldest_held_s || 0);
      push(live.auto50, p.t, ms(p.auto_p50_ms));
      push(live.auto99, p.t, ms(p.auto_p99_ms));
      push(live.human50, p.t, minutes(p.human_p50_s));
      push(live.human90, p.t, minutes(p.human_p90_s));
    });
  }

  function draw() {
    if (!last) return;
    var s = last, h = s.history;
    var hour = { t0: h.start, t1: h.start + h.step * (h.accepted.length - 1) };
    // "accepted" is drawn last, dashed, over "decided": when every comment is decided as it
    // arrives the two lines coincide, and the dashes keep both in sight.
    var accepted = { name: "accepted", color: COLORS.accepted, values: minuteSeries(h, h.accepted), dash: "6 4", width: 2.5 };
    var throughput = [
      { name: "decided automatically", color: COLORS.decided, values: minuteSeries(h, h.decided) },
      { name: "decided by moderators", color: COLORS.human50, values: minuteSeries(h, h.moderated) },
      accepted
    ];
    lineChart(document.getElementById("chart-throughput"), throughput,
              { yLabel: "comments / minute", t0: hour.t0, t1: hour.t1,
                legendOrder: [accepted, throughput[0], throughput[1]] });
    stackedBars(document.getElementById("chart-mix"), h, [
      { name: "approved", color: COLORS.approved, values: h.approved },
      { name: "held", color: COLORS.held, values: h.held },
      { name: "rejected", color: COLORS.rejected, values: h.rejected }
    ], { yLabel: "comments / minute" });
    lineChart(document.getElementById("chart-holdrate"), [
      { name: "held ÷ decided", color: COLORS.holdrate, values: h.decided.map(function (d, i) {
        return [h.start + i * h.step, d > 0 ? h.held[i] / d : null];
      }) }
    ], { yLabel: "hold rate", unit: "%", yMax: 1, t0: hour.t0, t1: hour.t1,
         emptyText: "No automatic decisions in the last hour" });
    lineChart(document.getElementById("chart-depth"), [
      { name: "undecided", color: COLORS.undecided, values: live.undecided },
      { name: "held backlog", color: COLORS.backlog, values: live.backlog }
    ], { yLabel: "comments", emptyText: "Collecting data…" });
    lineChart(document.getElementById("chart-age"), [
      { name: "oldest undecided", color: COLORS.age, values: live.age },
      { name: "oldest held", color: COLORS.ageHeld, values: live.ageHeld }
    ], { yLabel: "age (s)", emptyText: "Collecting data…" });
    lineChart(document.getElementById("chart-latency-auto"), [
      { name: "median", color: COLORS.auto50, values: live.auto50 },
      { name: "99th percentile", color: COLORS.auto99, values: live.auto99 }
    ], { yLabel: "milliseconds", emptyText: "No automatic decisions yet" });
    lineChart(document.getElementById("chart-latency-human"), [
      { name: "median", color: COLORS.human50, values: live.human50 },
      { name: "90th percentile", color: COLORS.human90, values: live.human90 }
    ], { yLabel: "minutes", emptyText: "No moderator decisions yet" });
  }

  function apply(s) {
    last = s;
    var t = s.generated_at;
    var auto = s.auto_time_to_decision_ms, human = s.moderators.time_to_decision_s;
    push(live.undecided, t, s.queue.undecided);
    push(live.backlog, t, s.held.backlog);
    push(live.age, t, s.queue.oldest_undecided_age_s || 0);
    push(live.ageHeld, t, s.held.oldest_age_s || 0);
    push(live.auto50, t, ms(auto.p50));
    push(live.auto99, t, ms(auto.p99));
    push(live.human50, t, minutes(human.p50));
    push(live.human90, t, minutes(human.p90));
    setTile("undecided", num(s.queue.undecided));
    setTile("oldest", duration(s.queue.oldest_undecided_age_s));
    setTile("oldest-held", duration(s.held.oldest_age_s));
    setTile("dead-comments", num(s.dead_letters));
    setTile("webhook-failures", num(s.webhooks.failures));
    setNote("webhook-failures", s.webhooks.backlog + " waiting to be sent");
    setTile("rate-limited", num(s.rate_limited.window === null ? s.rate_limited.last_hour : s.rate_limited.window));
    setNote("rate-limited", s.rate_limited.total + " in all");
    setTile("api-errors", num(s.api_errors.window));
    setNote("api-errors", s.api_errors.total + " in all");
    setTile("decided", num(s.throughput.decided_per_minute["5m"]));
    setTile("holdrate", s.hold_rate.last_hour === null ? "–" : (s.hold_rate.last_hour * 100).toFixed(1));
    setTile("held", num(s.held.backlog));
    setTile("workers", String(s.workers.filter(function (w) { return !w.stale; }).length));
    renderAlerts(s.alerts);
    renderWorkers(s.workers);
    renderReasons(s.reasons);
    draw();
  }

  // --- live feed ---------------------------------------------------------------------------------
  var status = document.getElementById("dash-live");
  function setLive(state, text) {
    status.setAttribute("data-state", state);
    status.textContent = text;
  }

  try {
    var initial = JSON.parse(root.getAttribute("data-initial"));
    if (initial.api_errors && initial.api_errors.window_s) HISTORY_S = initial.api_errors.window_s;
    seed(initial.samples);
    apply(initial);
  } catch (e) {
    setLive("off", "Could not read the initial figures");
  }
  var resizeTimer = null;
  window.addEventListener("resize", function () {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(draw, 150);
  });
  if (window.EventSource) {
    var source = new EventSource(root.getAttribute("data-stream"));
    source.addEventListener("open", function () { setLive("on", "Live"); });
    source.addEventListener("stats", function (ev) {
      setLive("on", "Live");
      apply(JSON.parse(ev.data));
    });
    source.addEventListener("unavailable", function () {
      setLive("off", "Store unavailable — figures paused");
    });
    source.addEventListener("error", function () {
      if (source.readyState !== EventSource.CLOSED) setLive("off", "Reconnecting…");
    });
    // The session ended (revoked, signed out, account disabled): stop, and say so.
    source.addEventListener("signed_out", function () {
      source.close();
      setLive("off", "Signed out — reload the page to sign in again");
    });
  }
})();
