// The coverage map: the datamap tiles (/tiles/{z}/{x}/{y}.png) over the country outlines, and
// per-country station counts from region_stat in each country's popup.
(function () {
  "use strict";
  var M = window.NetAtlasMaps;
  var config = M.readConfig("map-config");
  var element = document.getElementById("map");
  var made = M.create(element, config.map || {});
  var map = made.map;

  var tiles = L.tileLayer("/tiles/{z}/{x}/{y}.png", {
    maxNativeZoom: 11, maxZoom: 14, opacity: 0.9, zIndex: 5,
    attribution: "Coverage: NetAtlas contributors",
  });
  var loaded = 0;
  tiles.on("tileload", function () {
    loaded += 1;
    element.setAttribute("data-tiles-loaded", String(loaded));
  });
  tiles.addTo(map);

  var byCode = {};
  (config.regions || []).forEach(function (r) { byCode[r.region] = r; });

  function popup(r) {
    var rows = [["WiFi networks", r.wifi], ["Cell towers", r.cell], ["GSM", r.gsm], ["UMTS", r.wcdma],
      ["LTE", r.lte], ["5G NR", r.nr], ["Bluetooth beacons", r.blue]];
    return "<h3>" + M.escapeHTML(r.name) + "</h3><table class=\"popup-table\">" +
      rows.map(function (row) {
        return "<tr><th scope=\"row\">" + row[0] + "</th><td>" + M.formatNumber(row[1], 0) + "</td></tr>";
      }).join("") + "</table>";
  }

  var countries = null;
  var fitted = false;  // true once the tiles' bounds placed the view
  function fitTo(b) {  // [west, south, east, north]
    fitted = true;
    map.fitBounds([[b[1], b[0]], [b[3], b[2]]], { maxZoom: 12, padding: [30, 30] });
  }
  if (Array.isArray(config.bounds) && config.bounds.length === 4) fitTo(config.bounds);
  M.getJSON("/geo/outlines-low.geojson").then(function (data) {
    countries = L.geoJSON(data, {
      filter: function (f) { return Boolean(byCode[f.properties.code]); },
      style: function () { return { color: "#0a5cad", weight: 1.2, fillColor: "#0a5cad", fillOpacity: 0 }; },
      onEachFeature: function (feature, layer) {
        layer.bindPopup(popup(byCode[feature.properties.code]));
        layer.on("mouseover", function () { layer.setStyle({ fillOpacity: 0.08 }); });
        layer.on("mouseout", function () { layer.setStyle({ fillOpacity: 0 }); });
      },
    }).addTo(map);
    if (countries.getLayers().length && !fitted) {
      map.fitBounds(countries.getBounds(), { maxZoom: 6, padding: [20, 20] });
    }
  }).catch(function (error) { console.warn("countries:", error); });

  // The table's country names open that country's popup.
  document.querySelectorAll("[data-region]").forEach(function (link) {
    link.addEventListener("click", function (event) {
      event.preventDefault();
      if (!countries) return;
      countries.eachLayer(function (layer) {
        if (layer.feature.properties.code === link.getAttribute("data-region")) {
          map.fitBounds(layer.getBounds(), { maxZoom: 8 });
          layer.openPopup();
        }
      });
    });
  });

  M.getJSON("/tiles/data.json").then(function (info) {
    if (Array.isArray(info.zooms) && info.zooms.length === 2) {  // drawn zoom levels: scale up beyond
      tiles.options.maxNativeZoom = info.zooms[1];
      tiles.redraw();
    }
    if (!fitted && Array.isArray(info.bounds) && info.bounds.length === 4) fitTo(info.bounds);
    var when = info.updated;
    if (when) {
      document.getElementById("tiles-updated").textContent =
        "Map drawn " + new Date(when).toLocaleString("en-GB", { dateStyle: "medium", timeStyle: "short" }) + ".";
    }
  }).catch(function () {
    document.getElementById("tiles-updated").textContent =
      "The coverage map has not been drawn yet; it appears after the first observations are processed.";
  });
})();
