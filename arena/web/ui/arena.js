// Pareto Arena page script (Vote and Annotate tabs).
// - Keys 1-4 vote on the visible pair, Enter (or N) asks for the next once it is revealed;
//   typing in a field is left alone.
// - Keys and buttons do nothing until a pair (or its reveal) has been on screen for a moment,
//   and a pair takes one press: a quick second press finds the pair already answered.
// - Tapping an image opens it large, with buttons that flip between source, A and B.
(function () {
  "use strict";
  var LOOK_MS = 600;               // a pair must be on screen (images loaded) this long
  var VOTES = { "1": ["vote-a", "ann-a"], "2": ["vote-b", "ann-b"], "3": ["vote-tie", "ann-tie"],
                "4": ["vote-bad", "ann-bad"] };
  var NEXT = ["vote-next", "ann-next"];
  var GATED = /^(vote-(a|b|tie|bad|next)|ann-(a|b|tie|bad|skip|next))$/;
  var seen = {}, answered = {};

  function now() { return (window.performance && performance.now) ? performance.now() : Date.now(); }
  function visible(el) { return !!el && el.offsetParent !== null; }
  function viewFor(id) {
    var box = document.getElementById(id.indexOf("ann-") === 0 ? "ann-pair" : "pair");
    return box ? box.querySelector(".pa-view[data-key]") : null;
  }
  function loaded(view) {
    var imgs = view.querySelectorAll("img");
    for (var i = 0; i < imgs.length; i++) if (!imgs[i].complete) return false;
    return true;
  }
  // Note the moment each drawing of a pair is complete on screen.
  function scan() {
    var views = document.querySelectorAll(".pa-view[data-key]"), waiting = false;
    for (var i = 0; i < views.length; i++) {
      var key = views[i].getAttribute("data-key");
      if (!seen[key] && visible(views[i]) && loaded(views[i])) seen[key] = now();
      if (visible(views[i]) && (!seen[key] || now() - seen[key] < LOOK_MS)) waiting = true;
    }
    document.body.classList.toggle("pa-wait", waiting);
  }
  setInterval(scan, 100);
  document.addEventListener("load", scan, true);

  // Clicks on vote, skip and next buttons pass only for a pair that has been looked at and
  // has not been answered yet (this runs before Gradio's own handler).
  document.addEventListener("click", function (e) {
    var button = e.target && e.target.closest ? e.target.closest("button[id]") : null;
    if (!button || !GATED.test(button.id)) return;
    var view = viewFor(button.id);
    if (!view) return;                       // no pair yet: the button asks for one
    var key = view.getAttribute("data-key");
    scan();
    if (answered[key] || !seen[key] || now() - seen[key] < LOOK_MS) {
      e.preventDefault();
      e.stopImmediatePropagation();
      return;
    }
    answered[key] = true;
    closeZoom();
  }, true);

  function press(ids) {
    for (var i = 0; i < ids.length; i++) {
      var el = document.getElementById(ids[i]);
      if (visible(el) && !el.disabled) { el.click(); return true; }
    }
    return false;
  }

  document.addEventListener("keydown", function (e) {
    var t = e.target;
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    if (t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT" ||
              t.isContentEditable)) return;
    if (e.key === "Escape" && zoom && !zoom.hidden) { closeZoom(); return; }
    if (zoom && !zoom.hidden && /^[abs]$/i.test(e.key)) { flip(e.key.toLowerCase()); return; }
    if ((e.key === "Enter" || e.key === " ") && t && t.getAttribute && t.getAttribute("data-zoom")) {
      e.preventDefault(); openZoom(t); return;
    }
    var ids = VOTES[e.key] || ((e.key === "Enter" || e.key === "n" || e.key === "N") ? NEXT : null);
    if (!ids) return;
    if (t && t.tagName === "BUTTON" && e.key === "Enter") return;   // the focused button's own
    if (press(ids)) e.preventDefault();
  });

  // Looking closer.
  var zoom = null, zoomImg = null, zoomSources = {}, zoomButtons = {};
  function buildZoom() {
    zoom = document.createElement("div");
    zoom.className = "pa-zoom"; zoom.hidden = true;
    zoom.setAttribute("role", "dialog"); zoom.setAttribute("aria-label", "Look closer");
    var bar = document.createElement("div");
    bar.className = "pa-zoom-bar";
    [["source", "Source"], ["a", "A"], ["b", "B"], ["close", "Close"]].forEach(function (p) {
      var b = document.createElement("button");
      b.type = "button"; b.textContent = p[1]; b.id = "pa-zoom-" + p[0];
      b.addEventListener("click", function (e) {
        e.stopPropagation();
        if (p[0] === "close") closeZoom(); else flip(p[0]);
      });
      bar.appendChild(b); zoomButtons[p[0]] = b;
    });
    zoomImg = document.createElement("img");
    zoomImg.id = "pa-zoom-img";
    zoom.appendChild(zoomImg); zoom.appendChild(bar);
    zoom.addEventListener("click", function (e) { if (e.target === zoom) closeZoom(); });
    zoomImg.addEventListener("click", function () {     // a tap flips between source and edit
      flip(zoom.getAttribute("data-side") === "source" ? (zoom.getAttribute("data-edit") || "a") : "source");
    });
    document.body.appendChild(zoom);
  }
  function flip(side) {
    if (side === "s") side = "source";
    if (!zoomSources[side]) return;
    zoom.setAttribute("data-side", side);
    if (side !== "source") zoom.setAttribute("data-edit", side);
    zoomImg.src = zoomSources[side].src;
    zoomImg.alt = zoomSources[side].alt + " (large)";
    Object.keys(zoomButtons).forEach(function (k) {
      if (k !== "close") zoomButtons[k].setAttribute("aria-pressed", k === side ? "true" : "false");
    });
  }
  function openZoom(img) {
    if (!zoom) buildZoom();
    var view = img.closest(".pa-view");
    zoomSources = {};
    view.querySelectorAll("img[data-zoom]").forEach(function (i) {
      zoomSources[i.getAttribute("data-zoom")] = { src: i.getAttribute("src"), alt: i.getAttribute("alt") };
    });
    zoom.hidden = false;
    flip(img.getAttribute("data-zoom"));
    zoomButtons.close.focus();
  }
  function closeZoom() { if (zoom) zoom.hidden = true; }
  document.addEventListener("click", function (e) {
    var img = e.target && e.target.closest ? e.target.closest(".pa-view img[data-zoom]") : null;
    if (img) openZoom(img);
  });
})();
