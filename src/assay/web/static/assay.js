// assay UI: pan (drag) and zoom (wheel) of the asset graph's SVG, by its viewBox, and
// its statuses kept current.
(function () {
  function panZoom(box) {
    var svg = box.querySelector("svg");
    if (!svg) return;
    var vb = svg.viewBox.baseVal, dragging = null, moved = false;
    box.addEventListener("wheel", function (e) {
      e.preventDefault();
      var r = svg.getBoundingClientRect(), k = e.deltaY > 0 ? 1.15 : 1 / 1.15;
      var x = vb.x + (e.clientX - r.left) / r.width * vb.width;
      var y = vb.y + (e.clientY - r.top) / r.height * vb.height;
      vb.width *= k; vb.height *= k;
      vb.x = x - (x - vb.x) * k; vb.y = y - (y - vb.y) * k;
    }, { passive: false });
    box.addEventListener("mousedown", function (e) {
      dragging = { x: e.clientX, y: e.clientY, vx: vb.x, vy: vb.y }; moved = false;
    });
    window.addEventListener("mousemove", function (e) {
      if (!dragging) return;
      var r = svg.getBoundingClientRect();
      var dx = (e.clientX - dragging.x) / r.width * vb.width;
      var dy = (e.clientY - dragging.y) / r.height * vb.height;
      if (Math.abs(e.clientX - dragging.x) + Math.abs(e.clientY - dragging.y) > 3) moved = true;
      vb.x = dragging.vx - dx; vb.y = dragging.vy - dy;
    });
    window.addEventListener("mouseup", function () { dragging = null; });
    box.addEventListener("click", function (e) { if (moved) { e.preventDefault(); moved = false; } }, true);
  }
  // The graph follows the store: every 3 s (while the tab is shown) its statuses,
  // tooltips and counts come from /graph/status; the drawing, pan and zoom stay.
  function follow(box) {
    var url = box.getAttribute("data-live"), at = null;
    if (!url) return;
    setInterval(function () {
      if (document.hidden) return;
      fetch(url, { headers: { Accept: "application/json" } }).then(function (r) {
        return r.ok ? r.json() : null;
      }).then(function (found) {
        if (!found || found.at === at) return;
        at = found.at;
        box.querySelectorAll("g.node[data-key]").forEach(function (node) {
          var key = node.getAttribute("data-key"), status = found.status[key];
          if (!status) return;
          node.setAttribute("class", node.getAttribute("class").replace(/status-\S+/, "status-" + status));
          var title = node.querySelector("title");
          if (title && found.titles[key]) title.textContent = found.titles[key];
        });
        var pills = document.getElementById("graph-pills");
        if (pills) {
          pills.replaceChildren();
          found.counts.forEach(function (pair) {
            var pill = document.createElement("span");
            pill.className = "pill status-" + pair[0];
            pill.textContent = pair[1].toLocaleString("en-US") + " " + pair[0];
            pills.append(pill, " ");
          });
        }
      }).catch(function () {});
    }, 3000);
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-pan-zoom]").forEach(panZoom);
    document.querySelectorAll("[data-live]").forEach(follow);
  });
})();
