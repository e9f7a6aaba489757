// Shared map set-up for the broadband and coverage maps: a Leaflet map whose background is
// Natural Earth's country outlines from this site (no request leaves it), with the operator's
// raster basemap underneath when NETATLAS_BASEMAP_URL is set.
(function () {
  "use strict";

  var LAND = { color: "#8d9aa8", weight: 0.8, fillColor: "#f4f1ea", fillOpacity: 1, interactive: false };
  var LAND_OVER_BASEMAP = { color: "#5d6b7a", weight: 0.8, fill: false, interactive: false };
  var HIGH_DETAIL_ZOOM = 5;

  function readConfig(id) {
    var node = document.getElementById(id);
    return node ? JSON.parse(node.textContent) : {};
  }

  function getJSON(url) {
    return fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (res) {
        if (!res.ok) {
          var error = new Error(url + ": HTTP " + res.status);
          error.status = res.status;
          throw error;
        }
        return res.json();
      });
  }

  // A Leaflet map in `element`; resolves the outlines when they are drawn.
  function create(element, config, options) {
    var map = L.map(element, Object.assign({
      center: [20, 0], zoom: 2, minZoom: 1, maxZoom: 14, worldCopyJump: true,
      zoomSnap: 0.5, keyboard: true, preferCanvas: false,
    }, options || {}));
    map.attributionControl.setPrefix(false);
    var hasBasemap = Boolean(config.basemap_url);
    // Filled land lies under every tile layer (Leaflet's tile pane is at 200); over a
    // basemap the outlines are lines only, drawn above its tiles.
    map.createPane("outlines").style.zIndex = hasBasemap ? 250 : 150;
    if (hasBasemap) {
      L.tileLayer(config.basemap_url, {
        attribution: config.basemap_attribution || "", maxZoom: 19, crossOrigin: true,
      }).addTo(map);
    }
    var style = hasBasemap ? LAND_OVER_BASEMAP : LAND;
    var layers = {};
    var current = null;
    function level() { return map.getZoom() >= HIGH_DETAIL_ZOOM ? "high" : "low"; }
    function show(name) {
      if (current === name) return Promise.resolve(layers[name]);
      current = name;
      var ready = layers[name] ? Promise.resolve(layers[name]) :
        getJSON("/geo/outlines-" + name + ".geojson").then(function (data) {
          layers[name] = L.geoJSON(data, {
            pane: "outlines", style: function () { return style; },
            attribution: "Outlines: <a href=\"https://www.naturalearthdata.com/\">Natural Earth</a>",
          });
          return layers[name];
        });
      return ready.then(function (layer) {
        if (current !== name) return layer;
        Object.keys(layers).forEach(function (other) {
          if (other !== name && map.hasLayer(layers[other])) map.removeLayer(layers[other]);
        });
        if (!map.hasLayer(layer)) layer.addTo(map);
        element.setAttribute("data-outlines", name);
        return layer;
      });
    }
    map.on("zoomend", function () { show(level()); });
    var outlines = show(level()).catch(function (error) {
      console.warn("outlines:", error);
    });
    return { map: map, outlines: outlines };
  }

  function formatNumber(value, digits) {
    if (value === null || value === undefined || isNaN(value)) return "–";
    return Number(value).toLocaleString("en", {
      maximumFractionDigits: digits === undefined ? 1 : digits,
      minimumFractionDigits: 0,
    });
  }

  function download(name, type, text) {
    var blob = new Blob([text], { type: type });
    var link = document.createElement("a");
    link.href = URL.createObjectURL(blob);
    link.download = name;
    document.body.appendChild(link);
    link.click();
    setTimeout(function () { URL.revokeObjectURL(link.href); link.remove(); }, 1000);
  }

  // CSV text of `rows` (objects) under `header`. Text a spreadsheet would run as a formula
  // (starting with = + - @, a tab or a carriage return) gets a leading '; numbers stay numbers.
  function csv(header, rows) {
    function cell(v) {
      if (v === null || v === undefined) return "";
      if (typeof v === "string" && /^[=+\-@\t\r]/.test(v)) v = "'" + v;
      v = String(v);
      return /[",\r\n]/.test(v) ? "\"" + v.replace(/"/g, "\"\"") + "\"" : v;
    }
    return [header.join(",")].concat(rows.map(function (r) {
      return header.map(function (c) { return cell(r[c]); }).join(",");
    })).join("\n") + "\n";
  }

  function escapeHTML(text) {
    return String(text).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", "\"": "&quot;", "'": "&#39;" }[c];
    });
  }

  window.NetAtlasMaps = {
    create: create, readConfig: readConfig, getJSON: getJSON, formatNumber: formatNumber,
    download: download, escapeHTML: escapeHTML, csv: csv,
  };
})();
