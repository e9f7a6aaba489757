// The broadband map: a choropleth of one aggregation of the statistics API
// (/api/v1/broadband/stats/{aggregation}), by metric, month and provider.
//
// Two requests per view: the areas' outlines once (GeoJSON, time and providers merged, which
// also gives each area's all-time test count), then the figures per area and period (JSON).
//
// The API publishes noisy figures only (see /privacy): an area is listed only when it has
// enough tests (the aggregation's publish_threshold), a count below it is null, and a median
// or share is null until the area has enough tests and clients for it.
(function () {
  "use strict";
  var M = window.NetAtlasMaps;
  var API = "/api/v1/broadband";
  var STATS = ["tests", "download_count", "download_median", "upload_count", "upload_median",
    "min_rtt_median", "download_histogram", "upload_histogram",
    "download_advertised_count", "download_advertised_80", "download_advertised_100", "download_advertised_ratio_median",
    "upload_advertised_count", "upload_advertised_80", "upload_advertised_100", "upload_advertised_ratio_median"];
  var PALETTE = ["#ffffcc", "#a1dab4", "#41b6c4", "#2c7fb8", "#253494"];  // ColorBrewer YlGnBu
  var INSUFFICIENT = { fillColor: "#bfc5cc", fillOpacity: 0.75, color: "#6b7683", weight: 1, dashArray: "3 3" };
  var NO_TESTS = { fillColor: "#ffffff", fillOpacity: 0.05, color: "#6b7683", weight: 0.8, dashArray: "1 4" };
  // M-Lab's histogram edges (Mbit/s): 10^(x ± 0.25); the lowest bucket starts at 0.
  var HIST_EDGES = [0.5623, 1.778, 5.623, 17.78, 56.23, 177.8, 562.3, 1778, 5623];
  var METRICS = {
    download: { title: "Median download", unit: "Mbit/s", breaks: [10, 25, 100, 250], digits: 1,
      value: function (r) { return r.download_median; } },
    upload: { title: "Median upload", unit: "Mbit/s", breaks: [3, 10, 20, 100], digits: 1,
      value: function (r) { return r.upload_median; } },
    latency: { title: "Median latency", unit: "ms", breaks: [20, 50, 100, 200], digits: 0, lowIsGood: true,
      value: function (r) { return r.min_rtt_median; } },
    good: { title: "Tests good enough for", unit: "%", breaks: [20, 40, 60, 80], digits: 0,
      value: function (r, use) { return goodShare(r, use); } },
    // Measured against the plan's advertised speed (tests whose survey gave it).
    advertised: { title: "Measured vs advertised", unit: "%", breaks: [20, 40, 60, 80], digits: 0,
      value: function (r) { return advertised(r); } },
    // M-Lab IQB-style score (0–1) of one use, or of all uses weighted.
    score: { title: "Quality score", unit: "0–1", breaks: [0.2, 0.4, 0.6, 0.8], digits: 2,
      value: function (r) { return scoreOf(r); } },
  };
  var ADVERTISED = {
    reach100: { stat: "_advertised_100", text: "tests reaching the advertised speed", percent: true },
    reach80: { stat: "_advertised_80", text: "tests reaching 80 % of the advertised speed", percent: true },
    ratio: { stat: "_advertised_ratio_median", text: "median of measured ÷ advertised", percent: true },
  };
  var PLAY_MS = 1500;

  var config = M.readConfig("map-config");
  var useCases = {};
  (config.use_cases || []).forEach(function (u) { useCases[u.key] = u; });
  var element = document.getElementById("map");
  var map = M.create(element, config.map || {}).map;
  var $ = function (id) { return document.getElementById(id); };

  var state = {
    aggregations: [], agg: null, outlines: null, layer: null, rows: [], periods: [],
    index: 0, metric: "download", use: (config.use_cases && config.use_cases[0] || {}).key,
    advertised: "reach100", direction: "download", scoreUse: "iqb",
    isp: "", timer: null, shown: [], fitted: false, request: 0,
  };

  function status(text) { $("map-status").textContent = text || ""; }

  // The noisy test count an area needs before anything about it is published.
  function threshold() { return state.agg.publish_threshold || state.agg.min_tests; }

  // Share of tests at or above `limit` Mbit/s, from an 8-bucket histogram (log-interpolated).
  function shareAbove(hist, limit) {
    if (!hist) return null;
    var total = hist.reduce(function (a, b) { return a + b; }, 0);
    if (!total) return null;
    var above = 0;
    for (var i = 0; i < hist.length; i += 1) {
      var lo = HIST_EDGES[i], hi = HIST_EDGES[i + 1];
      if (lo >= limit) above += hist[i];
      else if (hi > limit) above += hist[i] * (Math.log(hi) - Math.log(limit)) / (Math.log(hi) - Math.log(lo));
    }
    return above / total;
  }

  // The share of tests good enough for a use: the API's statistic when it has one (null when
  // the area has too few tests for it), otherwise the smaller of the download and upload
  // shares (an estimate from histograms).
  function goodShare(r, key) {
    var exact = r["good_" + key];
    if (exact !== undefined) return exact === null ? null : 100 * exact;  // null: too few tests
    var use = useCases[key];
    if (!use) return null;
    var down = shareAbove(r.download_histogram, use.min_download);
    var up = shareAbove(r.upload_histogram, use.min_upload);
    if (down === null && up === null) return null;
    return 100 * Math.min(down === null ? 1 : down, up === null ? 1 : up);
  }

  function advertised(r) {
    var v = r[state.direction + ADVERTISED[state.advertised].stat];
    return v === null || v === undefined ? null : 100 * v;
  }

  function scoreOf(r) {
    var v = r[state.scoreUse === "iqb" ? "iqb_score" : "score_" + state.scoreUse];
    return v === undefined ? null : v;
  }

  function scoreLabel() {
    if (state.scoreUse === "iqb") return "all uses";
    return (useCases[state.scoreUse] || { label: state.scoreUse }).label.toLowerCase();
  }

  function classOf(metric, value) {
    var i = 0;
    while (i < metric.breaks.length && value >= metric.breaks[i]) i += 1;
    return metric.lowIsGood ? metric.breaks.length - i : i;
  }

  function fetchAll(url, rows) {
    rows = rows || [];
    return M.getJSON(url).then(function (data) {
      rows.push.apply(rows, data.rows || data.features || []);
      return data.next ? fetchAll(data.next, rows) : rows;
    });
  }

  function statsURL(params) {
    var query = Object.keys(params).map(function (k) {
      return encodeURIComponent(k) + "=" + encodeURIComponent(params[k]);
    }).join("&");
    return API + "/stats/" + encodeURIComponent(state.agg.name) + "?" + query;
  }

  var UNIT_NAMES = { hour: "Hour", day: "Day", week: "Week", month: "Month", quarter: "Quarter", year: "Year" };

  // "2024-03" → "March 2024", "2024-Q1" → "Q1 2024"; other labels as the API writes them.
  function periodLabel(row) {
    var text = row.period || "";
    var m = /^(\d{4})-(\d{2})$/.exec(text);
    if (m) return new Date(Date.UTC(+m[1], +m[2] - 1, 1)).toLocaleDateString("en-GB", { month: "long", year: "numeric", timeZone: "UTC" });
    var q = /^(\d{4})-Q(\d)$/.exec(text);
    if (q) return "Q" + q[2] + " " + q[1];
    return text || "All time";
  }

  // "h3:8" → "Hexagons (level 8)"; imported layers keep their own names.
  function areaName(a) {
    var h3 = /^h3:(\d+)$/.exec(a.area), qk = /^quadkey:(\d+)$/.exec(a.area);
    if (h3) return "Hexagons (level " + h3[1] + ")";
    if (qk) return "Squares (zoom " + qk[1] + ")";
    if (a.area === "countries") return "Countries";
    return a.area.replace(/[_-]/g, " ").replace(/^./, function (c) { return c.toUpperCase(); });
  }

  // ---- loading ---------------------------------------------------------------------------

  function loadAggregations() {
    return M.getJSON(API + "/aggregations").then(function (data) {
      state.aggregations = (data.aggregations || []).filter(function (a) { return a.area; });
      if (!state.aggregations.length) {
        status("No map layers are declared in this site's aggregations.");
        return;
      }
      var select = $("aggregation");
      state.aggregations.forEach(function (a) {
        var option = document.createElement("option");
        option.value = a.name;
        var twins = state.aggregations.filter(function (b) { return b.area === a.area; }).length;
        option.textContent = areaName(a) + (twins > 1 ? " · " + a.name : "");
        select.appendChild(option);
      });
      $("aggregation").disabled = state.aggregations.length < 2;
      // The layer with the most figures published (areas × periods × providers) is usually
      // the finest one with data: start there (limit=1: the answer's total is the number of
      // cells listed).
      return Promise.all(state.aggregations.map(function (a) {
        var url = API + "/stats/" + encodeURIComponent(a.name) + "?stats=tests&format=json&limit=1";
        return M.getJSON(url).then(function (d) { a.cells = d.total || 0; }, function () { a.cells = 0; });
      })).then(function () {
        var first = state.aggregations.reduce(function (best, a) { return a.cells > best.cells ? a : best; });
        select.value = first.name;
        return choose(first.name);
      });
    }).catch(function (error) {
      status(error.status === 404 ? "Broadband statistics are not published on this site yet."
        : "The broadband statistics could not be loaded (" + error.message + ").");
    });
  }

  function choose(name) {
    state.agg = state.aggregations.filter(function (a) { return a.name === name; })[0];
    describeUse();
    state.isp = "";
    state.unit = state.agg.time;
    var units = $("unit");
    units.length = 0;
    [state.agg.time].concat(state.agg.time_rebin || []).forEach(function (unit) {
      if (unit === "all" || !UNIT_NAMES[unit] || [].some.call(units.options, function (o) { return o.value === unit; })) return;
      var option = document.createElement("option");
      option.value = unit;
      option.textContent = UNIT_NAMES[unit];
      units.appendChild(option);
    });
    units.value = state.unit;
    state.fitted = false;
    $("api-link").href = statsURL({ "b.area": "key", "b.time": "key", format: "geojson" });
    var isps = $("isp");
    isps.length = 1;
    isps.disabled = state.agg.bins.indexOf("isp") < 0;
    if (state.agg.cells === 0) {
      status("No area has enough tests yet. Run a test to help put your area on the map.");
    }
    var outlines = fetchAll(statsURL({ "b.area": "key", stats: "tests", format: "geojson", limit: 50000 }));
    var providers = isps.disabled ? Promise.resolve([]) :
      fetchAll(statsURL({ "b.isp": "key", stats: "tests", format: "json", limit: 50000 }));
    return Promise.all([outlines, providers]).then(function (got) {
      drawOutlines(got[0]);
      got[1].filter(function (r) { return r.isp; }).sort(function (a, b) { return b.tests - a.tests; })
        .slice(0, 40).forEach(function (r) {
          var option = document.createElement("option");
          option.value = r.isp;
          option.textContent = r.isp + " (" + M.formatNumber(r.tests, 0) + " tests)";
          isps.appendChild(option);
        });
      return loadFigures();
    }).catch(function (error) { status("The map could not be loaded (" + error.message + ")."); });
  }

  function loadFigures() {
    var time = state.unit === state.agg.time ? "key" : state.unit;
    // Exact "good enough" shares, when the statistics API offers them (good_<use>).
    var good = (state.agg.stats || []).filter(function (name) { return /^(good_|score_|iqb_score$)/.test(name); });
    var params = { "b.area": "key", "b.time": time, stats: STATS.concat(good).join(","), format: "json", limit: 50000 };
    $("unit-name").textContent = UNIT_NAMES[state.unit] || "Period";
    if (state.isp) { params["b.isp"] = "key"; params["f.isp"] = state.isp; }
    var ticket = ++state.request;
    return fetchAll(statsURL(params)).then(function (rows) {
      if (ticket !== state.request) return;  // a newer choice is loading
      state.rows = rows;
      var periods = {};
      rows.forEach(function (r) { periods[r.time] = r; });
      var keep = state.periods.length ? state.periods[state.index] : null;
      state.periods = Object.keys(periods).map(Number).sort(function (a, b) { return a - b; });
      state.labels = state.periods.map(function (t) { return periodLabel(periods[t]); });
      var slider = $("period");
      slider.max = String(Math.max(0, state.periods.length - 1));
      slider.disabled = state.periods.length < 2;
      $("play").disabled = state.periods.length < 2;
      var at = keep === null ? -1 : state.periods.indexOf(keep);
      setPeriod(at >= 0 ? at : fullestRecent(rows));
      if (!rows.length && state.agg.cells > 0) status("Too few tests match this choice to publish figures.");
      else if (rows.length) status("");
    });
  }

  // The latest period with figures for at least half as many areas as the best one: the
  // month under way often has too few tests yet (Piecewise showed the month before then).
  function fullestRecent(rows) {
    var counts = state.periods.map(function (t) {
      return rows.filter(function (r) { return r.time === t && r.download_median != null; }).length;
    });
    var best = Math.max.apply(null, counts.concat([0]));
    for (var i = counts.length - 1; i >= 0; i -= 1) if (counts[i] * 2 >= best) return i;
    return state.periods.length - 1;
  }

  // ---- drawing ---------------------------------------------------------------------------

  function drawOutlines(features) {
    if (state.layer) map.removeLayer(state.layer);
    state.outlines = {};
    state.layer = L.geoJSON({ type: "FeatureCollection", features: features.filter(function (f) { return f.geometry; }) }, {
      style: function () { return NO_TESTS; },
      onEachFeature: function (feature, layer) {
        state.outlines[feature.properties.area] = layer;
        layer.on("click", function () { layer.openPopup(); });
      },
    }).addTo(map);
    element.setAttribute("data-areas", String(Object.keys(state.outlines).length));
    if (!state.fitted && state.layer.getLayers().length) {
      map.fitBounds(state.layer.getBounds(), { padding: [24, 24], maxZoom: 13 });
      state.fitted = true;
    }
  }

  function popupHTML(area, row, metric) {
    var key = area.properties.area;
    var named = (row && row.area_name) || area.properties.area_name;
    var kind = /^h3:/.test(state.agg.area) ? "Hexagon" : /^quadkey:/.test(state.agg.area) ? "Map square" : "Area";
    var when = state.labels[state.index] || "";
    var note = (named ? "" : key + " · ") + when + (state.isp ? " · " + state.isp : "");
    var html = "<h3>" + M.escapeHTML(named || kind) + "</h3><p class=\"popup-note\">" + M.escapeHTML(note) + "</p>";
    if (!row) {
      html += "<p>Fewer than " + threshold() + " tests here in " + M.escapeHTML(when) + ", or none.</p>";
    } else {
      var count = function (n) { return n === null || n === undefined ? "fewer than " + threshold() : "about " + M.formatNumber(n, 0); };
      var figure = function (v, digits, unit) { return v === null || v === undefined ? "not enough tests" : M.formatNumber(v, digits) + " " + unit; };
      var lines = [
        ["Download tests", count(row.download_count)],
        ["Median download", figure(row.download_median, 1, "Mbit/s")],
        ["Upload tests", count(row.upload_count)],
        ["Median upload", figure(row.upload_median, 1, "Mbit/s")],
        ["Median latency", figure(row.min_rtt_median, 0, "ms")],
      ];
      if (state.metric === "good") {
        lines.push(["Good enough for " + useCases[state.use].label.toLowerCase(),
          figure(metric.value(row, state.use), 0, "%")]);
      }
      if (state.metric === "advertised") {
        var dir = state.direction === "download" ? "Download" : "Upload";
        lines.push([dir + " tests with an advertised speed", count(row[state.direction + "_advertised_count"])]);
        lines.push([dir + ": " + ADVERTISED[state.advertised].text, figure(metric.value(row), 0, "%")]);
      }
      if (state.metric === "score") {
        lines.push(["Quality score for " + scoreLabel(), figure(metric.value(row), 2, "(0–1)")]);
      }
      html += "<table class=\"popup-table\">" + lines.map(function (l) {
        return "<tr><th scope=\"row\">" + l[0] + "</th><td>" + l[1] + "</td></tr>";
      }).join("") + "</table>";
    }
    return html + "<p class=\"popup-note\"><a class=\"popup-action\" href=\"/speedtest\">Test your connection from here</a></p>";
  }

  function render() {
    if (!state.layer) return;
    var metric = METRICS[state.metric];
    var period = state.periods[state.index];
    var byArea = {};
    state.rows.forEach(function (r) { if (r.time === period) byArea[r.area] = r; });
    state.shown = [];
    var drawn = 0;
    Object.keys(state.outlines).forEach(function (key) {
      var layer = state.outlines[key];
      var row = byArea[key];
      var style = NO_TESTS, value = null;
      if (row) {
        value = metric.value(row, state.use);
        style = value === null || value === undefined ? INSUFFICIENT : {
          fillColor: PALETTE[classOf(metric, value)], fillOpacity: 0.78, color: "#33414f", weight: 0.8, dashArray: null,
        };
        if (value !== null && value !== undefined) drawn += 1;
      }
      layer.setStyle(style);
      layer.bindPopup(popupHTML(layer.feature, row, metric), { maxWidth: 300 });
      if (row) state.shown.push({ feature: layer.feature, row: row, value: value });
    });
    element.setAttribute("data-drawn", String(drawn));
    element.setAttribute("data-period", state.labels[state.index] || "");
    renderLegend(metric);
    renderTable(metric);
    $("download-csv").disabled = $("download-geojson").disabled = !state.shown.length;
  }

  function renderLegend(metric) {
    var title = metric.title + (state.metric === "good" ? " " + useCases[state.use].label.toLowerCase() : "");
    if (state.metric === "advertised") title = (state.direction === "download" ? "Download" : "Upload") + ": " + ADVERTISED[state.advertised].text;
    if (state.metric === "score") title = metric.title + " for " + scoreLabel();
    $("legend-title").textContent = title + " (" + metric.unit + ")";
    var b = metric.breaks, items = [];
    for (var i = 0; i <= b.length; i += 1) {
      var text = i === 0 ? "under " + b[0] : i === b.length ? b[i - 1] + " or more" : b[i - 1] + " – " + b[i];
      items.push([PALETTE[metric.lowIsGood ? b.length - i : i], text + " " + metric.unit]);
    }
    var legend = $("legend");
    legend.innerHTML = "";
    items.concat([[null, "Not enough tests for this figure"], ["none", "Fewer than " + threshold() + " tests, or none"]])
      .forEach(function (item) {
        var li = document.createElement("li");
        var swatch = document.createElement("span");
        swatch.className = "swatch" + (item[0] === null ? " swatch--none" : "");
        if (item[0] && item[0] !== "none") swatch.style.background = item[0];
        if (item[0] === "none") swatch.style.background = "#fff";
        swatch.setAttribute("aria-hidden", "true");
        li.appendChild(swatch);
        li.appendChild(document.createTextNode(item[1]));
        legend.appendChild(li);
      });
  }

  function renderTable(metric) {
    $("figures-metric").textContent = metric.title + " (" + metric.unit + ")";
    var body = $("figures").tBodies[0];
    body.innerHTML = "";
    state.shown.slice().sort(function (a, b) { return (b.row.tests || 0) - (a.row.tests || 0); }).slice(0, 200)
      .forEach(function (item) {
        var tr = document.createElement("tr");
        var name = document.createElement("td");
        var button = document.createElement("button");
        button.type = "button";
        button.className = "button button--ghost button--small";
        button.textContent = item.row.area_name || item.row.area;
        button.addEventListener("click", function () {
          var layer = state.outlines[item.row.area];
          map.fitBounds(layer.getBounds(), { maxZoom: 13 });
          layer.openPopup();
        });
        name.appendChild(button);
        tr.appendChild(name);
        [M.formatNumber(item.row.tests, 0), item.value === null || item.value === undefined ? "not enough tests" : M.formatNumber(item.value, metric.digits)]
          .forEach(function (text) {
            var td = document.createElement("td");
            td.className = "num";
            td.textContent = text;
            tr.appendChild(td);
          });
        body.appendChild(tr);
      });
  }

  function setPeriod(i) {
    state.index = Math.max(0, Math.min(i, state.periods.length - 1));
    $("period").value = String(state.index);
    $("period-label").textContent = state.labels[state.index] || "No data";
    render();
  }

  // ---- downloads of what is shown --------------------------------------------------------

  var COLUMNS = ["area", "area_name", "period", "isp", "tests", "download_count", "download_median",
    "upload_count", "upload_median", "min_rtt_median", "download_advertised_count", "download_advertised_80",
    "download_advertised_100", "download_advertised_ratio_median", "iqb_score"];

  function exportRows() {
    return state.shown.map(function (item) {
      var out = {};
      COLUMNS.forEach(function (c) { out[c] = item.row[c] === undefined ? null : item.row[c]; });
      if (state.isp) out.isp = state.isp;
      out.value = item.value;
      return out;
    });
  }

  function fileName(ext) {
    var label = (state.periods.length ? state.rows.filter(function (r) { return r.time === state.periods[state.index]; })[0] || {} : {}).period || "all";
    return "netatlas-" + state.agg.name + "-" + label + "-" + state.metric + (state.isp ? "-" + state.isp.replace(/\W+/g, "_") : "") + "." + ext;
  }

  $("download-csv").addEventListener("click", function () {
    M.download(fileName("csv"), "text/csv", M.csv(COLUMNS.concat(["value"]), exportRows()));
  });

  $("download-geojson").addEventListener("click", function () {
    var rows = exportRows();
    var features = state.shown.map(function (item, i) {
      return { type: "Feature", id: item.row.area, geometry: item.feature.geometry, properties: rows[i] };
    });
    M.download(fileName("geojson"), "application/geo+json", JSON.stringify({ type: "FeatureCollection", features: features }));
  });

  // ---- controls --------------------------------------------------------------------------

  function stop() {
    if (state.timer) clearInterval(state.timer);
    state.timer = null;
    $("play").setAttribute("aria-pressed", "false");
    $("play").setAttribute("aria-label", "Play through the months");
    $("play-icon").setAttribute("d", "M4 2.5v11l9-5.5z");
  }

  $("play").addEventListener("click", function () {
    if (state.timer) { stop(); return; }
    if (state.index >= state.periods.length - 1) setPeriod(0);
    $("play").setAttribute("aria-pressed", "true");
    $("play").setAttribute("aria-label", "Pause");
    $("play-icon").setAttribute("d", "M4 2.5h3v11H4zM9 2.5h3v11H9z");
    state.timer = setInterval(function () {
      if (state.index >= state.periods.length - 1) { stop(); return; }
      setPeriod(state.index + 1);
    }, PLAY_MS);
  });
  $("period").addEventListener("input", function (event) { stop(); setPeriod(Number(event.target.value)); });
  $("metric").addEventListener("change", function (event) {
    state.metric = event.target.value;
    $("use-field").hidden = state.metric !== "good";
    $("advertised-field").hidden = state.metric !== "advertised";
    $("score-field").hidden = state.metric !== "score";
    render();
  });
  $("advertised-view").addEventListener("change", function (event) { state.advertised = event.target.value; render(); });
  $("advertised-direction").addEventListener("change", function (event) { state.direction = event.target.value; render(); });
  $("score-use").addEventListener("change", function (event) { state.scoreUse = event.target.value; render(); });
  $("use").addEventListener("change", function (event) { state.use = event.target.value; describeUse(); render(); });
  $("isp").addEventListener("change", function (event) { state.isp = event.target.value; loadFigures(); });
  $("unit").addEventListener("change", function (event) {
    stop();
    state.unit = event.target.value;
    state.periods = [];
    loadFigures();
  });
  $("aggregation").addEventListener("change", function (event) { stop(); state.periods = []; choose(event.target.value); });
  $("map-controls").addEventListener("submit", function (event) { event.preventDefault(); });

  function describeUse() {
    var u = useCases[state.use];
    if (!u) return;
    var exact = (state.agg && state.agg.stats || []).indexOf("good_" + u.key) >= 0;
    $("use-hint").textContent = "Needs " + u.min_download + " Mbit/s down, " + u.min_upload +
      " Mbit/s up" + (exact ? " and latency under " + u.max_latency + " ms: the smallest of the" +
      " three shares of tests." : " (estimated from the speed distribution).");
    var pct = state.agg && state.agg.score_percentile || 90;
    $("score-hint").textContent = "Each requirement passes or fails on the area's tests: speeds at the " +
      (100 - pct) + "th percentile, latency and loss at the " + pct + "th; the score is the weighted share" +
      " that pass (after M-Lab's Internet Quality Barometer).";
  }
  describeUse();

  window.netatlasMap = { map: map, state: state, setPeriod: setPeriod };
  loadAggregations();
})();
