// assay UI: pan (drag) and zoom (wheel) of the asset graph's SVG, by its viewBox.
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
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-pan-zoom]").forEach(panZoom);
  });
})();
