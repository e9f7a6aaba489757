// The statistics page's charts, drawn as SVG from /api/v1/stats (running totals per day).
(function () {
  "use strict";
  var NS = "http://www.w3.org/2000/svg";
  var COLORS = { wifi: "#0a5cad", cell: "#c2410c", blue: "#6d28d9" };
  var PAD = { top: 12, right: 14, bottom: 28, left: 48 };
  var DAY = 86400000;

  function el(name, attrs, parent) {
    var node = document.createElementNS(NS, name);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (parent) parent.appendChild(node);
    return node;
  }

  function compact(value) {
    var abs = Math.abs(value);
    if (abs >= 1e9) return (value / 1e9).toFixed(abs >= 1e10 ? 0 : 1) + "B";
    if (abs >= 1e6) return (value / 1e6).toFixed(abs >= 1e7 ? 0 : 1) + "M";
    if (abs >= 1e3) return (value / 1e3).toFixed(abs >= 1e4 ? 0 : 1) + "k";
    return String(Math.round(value));
  }

  function niceTicks(max, count) {
    if (max <= 0) return [0, 1];
    var raw = max / count;
    var step = Math.pow(10, Math.floor(Math.log10(raw)));
    [1, 2, 2.5, 5, 10].some(function (m) {
      if (m * step >= raw) { step = m * step; return true; }
      return false;
    });
    var ticks = [];
    for (var v = 0; v <= max + step * 0.5; v += step) ticks.push(v);
    if (ticks[ticks.length - 1] < max) ticks.push(ticks[ticks.length - 1] + step);
    return ticks;
  }

  function dateOf(text) { return new Date(text + "T00:00:00Z"); }
  function label(date, long, short) {
    var options = long ? { day: "numeric", month: "short", year: "numeric" } :
      short ? { day: "numeric", month: "short" } : { month: "short", year: "2-digit" };
    options.timeZone = "UTC";
    return date.toLocaleDateString("en-GB", options);
  }

  // A frame with axes, drawn at the slot's own pixel size (so text stays 12 px); returns
  // the scales and the svg.
  function frame(slot, t0, t1, ymax, title, height) {
    var W = Math.max(260, Math.round(slot.clientWidth || 480)), H = height;
    var svg = el("svg", { viewBox: "0 0 " + W + " " + H, width: W, height: H, class: "chart", role: "img" });
    el("title", {}, svg).textContent = title;
    var ticks = niceTicks(ymax, 4);
    var top = ticks[ticks.length - 1] || 1;
    var span = Math.max(t1 - t0, DAY);
    var x = function (t) { return PAD.left + (W - PAD.left - PAD.right) * (t - t0) / span; };
    var y = function (v) { return H - PAD.bottom - (H - PAD.top - PAD.bottom) * v / top; };
    var grid = el("g", { class: "grid" }, svg);
    ticks.forEach(function (v) {
      el("line", { x1: PAD.left, x2: W - PAD.right, y1: y(v), y2: y(v) }, grid);
      var t = el("text", { x: PAD.left - 6, y: y(v) + 4, "text-anchor": "end" }, svg);
      t.textContent = compact(v);
    });
    var axis = el("g", { class: "axis" }, svg);
    el("path", { d: "M" + PAD.left + "," + (H - PAD.bottom) + "H" + (W - PAD.right) }, axis);
    var n = Math.min(Math.max(2, Math.floor(W / 110)), Math.max(2, Math.round(span / DAY) + 1));
    var short = span < 120 * DAY;
    for (var i = 0; i < n; i += 1) {
      var t = t0 + span * i / (n - 1);
      var text = el("text", { x: x(t), y: H - 8, "text-anchor": i === 0 ? "start" : i === n - 1 ? "end" : "middle" }, svg);
      text.textContent = label(new Date(t), false, short);
    }
    slot.appendChild(svg);
    return { svg: svg, x: x, y: y };
  }

  function lineChart(slot, points, color, title) {
    if (!points.length) {
      slot.innerHTML = "<p class=\"muted small\">No data yet.</p>";
      return;
    }
    var t0 = dateOf(points[0][0]).getTime(), t1 = dateOf(points[points.length - 1][0]).getTime();
    var short = Math.max(0, 7 * DAY - (t1 - t0)) / 2;  // under a week: centre the days
    t0 -= short;
    t1 += short;
    var max = Math.max.apply(null, points.map(function (p) { return p[1]; }));
    var first = points[0], last = points[points.length - 1];
    var f = frame(slot, t0, t1, max, title + ": " + compact(first[1]) + " on " + label(dateOf(first[0]), true) +
      ", " + compact(last[1]) + " on " + label(dateOf(last[0]), true), 170);
    var d = points.map(function (p, i) {
      return (i ? "L" : "M") + f.x(dateOf(p[0]).getTime()).toFixed(1) + "," + f.y(p[1]).toFixed(1);
    }).join("");
    var base = f.y(0).toFixed(1);
    var tFirst = dateOf(first[0]).getTime(), tLast = dateOf(last[0]).getTime();
    el("path", { d: d + "L" + f.x(tLast).toFixed(1) + "," + base + "L" + f.x(tFirst).toFixed(1) + "," + base + "Z",
      fill: color, "fill-opacity": "0.10", stroke: "none" }, f.svg);
    el("path", { d: d, class: "series", stroke: color }, f.svg);
    if (points.length < 3) {  // too few days for a line: mark each one
      points.forEach(function (p) {
        el("circle", { cx: f.x(dateOf(p[0]).getTime()), cy: f.y(p[1]), r: 4, fill: color }, f.svg);
      });
    }
    slot.setAttribute("data-drawn", String(points.length));
  }

  // Daily increments of running totals, summed per day (or per week over long spans).
  function increments(series, kinds) {
    var perDay = {};
    kinds.forEach(function (kind) {
      var prev = null;
      (series[kind] || []).forEach(function (p) {
        var add = prev === null ? p[1] : Math.max(0, p[1] - prev);
        prev = p[1];
        perDay[p[0]] = perDay[p[0]] || {};
        perDay[p[0]][kind] = (perDay[p[0]][kind] || 0) + add;
      });
    });
    var days = Object.keys(perDay).sort();
    if (days.length > 120) {
      var weeks = {};
      days.forEach(function (day) {
        var d = dateOf(day);
        d.setUTCDate(d.getUTCDate() - ((d.getUTCDay() + 6) % 7));
        var key = d.toISOString().slice(0, 10);
        weeks[key] = weeks[key] || {};
        Object.keys(perDay[day]).forEach(function (k) { weeks[key][k] = (weeks[key][k] || 0) + perDay[day][k]; });
      });
      perDay = weeks;
      days = Object.keys(weeks).sort();
    }
    return days.map(function (day) { return [day, perDay[day]]; });
  }

  function stackedBars(slot, rows, kinds) {
    if (!rows.length) {
      slot.innerHTML = "<p class=\"muted small\">No observations yet.</p>";
      return;
    }
    var totals = rows.map(function (r) { return kinds.reduce(function (s, k) { return s + (r[1][k] || 0); }, 0); });
    var t0 = dateOf(rows[0][0]).getTime(), t1 = dateOf(rows[rows.length - 1][0]).getTime();
    var step = rows.length > 1 ? (t1 - t0) / (rows.length - 1) : DAY;
    var pad = Math.max(step / 2, (7 - rows.length) * DAY / 2);  // a few bars stay narrow
    var f = frame(slot, t0 - pad, t1 + pad, Math.max.apply(null, totals),
      "Observations received, " + rows.length + " bars, at most " + compact(Math.max.apply(null, totals)), 240);
    var width = Math.min(48, Math.max(1, f.x(t0 + step) - f.x(t0) - 1));
    rows.forEach(function (r) {
      var cx = f.x(dateOf(r[0]).getTime()), acc = 0;
      kinds.forEach(function (k) {
        var v = r[1][k] || 0;
        if (!v) return;
        el("rect", { x: (cx - width / 2).toFixed(1), width: width.toFixed(1), y: f.y(acc + v).toFixed(1),
          height: (f.y(acc) - f.y(acc + v)).toFixed(1), fill: COLORS[k] }, f.svg);
        acc += v;
      });
    });
    slot.setAttribute("data-drawn", String(rows.length));
  }

  fetch("/api/v1/stats", { headers: { Accept: "application/json" } })
    .then(function (res) { if (!res.ok) throw new Error("HTTP " + res.status); return res.json(); })
    .then(function (data) {
      var kinds = Object.keys(data.kinds);
      kinds.forEach(function (kind) {
        var slot = document.querySelector("[data-chart=\"" + kind + "\"] .chart-slot");
        if (slot) lineChart(slot, data.series[data.kinds[kind].stations] || [], COLORS[kind], data.kinds[kind].title);
      });
      var obs = {};
      kinds.forEach(function (kind) { obs[kind] = data.series[data.kinds[kind].observations] || []; });
      stackedBars(document.getElementById("observation-chart"), increments(obs, kinds), kinds);
    })
    .catch(function (error) {
      document.querySelectorAll(".chart-slot").forEach(function (slot) {
        slot.innerHTML = "<p class=\"muted small\">The figures could not be loaded (" + error.message + ").</p>";
      });
    });
})();
