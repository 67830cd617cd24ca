// Presenter page of a live session: the pair, the join code and its QR code, the tally (hidden
// while voting is open unless the presenter shows it), an optional countdown per round that
// reveals at zero, a dark theme for projectors, and the controls.
// The presenter token comes in the link's ?token=; it is moved to sessionStorage and taken out
// of the address bar so it does not show on the projector.
(function () {
  "use strict";
  var code = document.body.getAttribute("data-code");
  var base = "/api/live/" + encodeURIComponent(code);
  var KEY = "pareto-arena-present-" + code;
  var LABELS = { left: "A", right: "B", tie: "Tie", both_bad: "Both bad" };
  var $ = function (id) { return document.getElementById(id); };
  var params = new URLSearchParams(window.location.search);
  var token = params.get("token");
  try {
    if (token) window.sessionStorage.setItem(KEY, token);
    else token = window.sessionStorage.getItem(KEY);
  } catch (e) { /* keep it in this page only */ }
  if (params.has("token")) window.history.replaceState(null, "", window.location.pathname);

  var view = null, shownRound = -1, busy = false, timer = null;

  function seconds(v) {
    if (v === null || v === undefined) return "latency unknown";
    return v < 1 ? Math.round(v * 1000) + " ms" : v.toFixed(1) + " s";
  }

  var bars = {};
  (function buildTally() {
    var el = $("tally");
    Object.keys(LABELS).forEach(function (choice) {
      var name = document.createElement("span"), track = document.createElement("div"),
          fill = document.createElement("div"), n = document.createElement("span");
      name.className = "name"; name.textContent = LABELS[choice];
      track.className = "track"; fill.className = "fill " + choice;
      n.className = "n"; n.textContent = "0";
      track.appendChild(fill);
      el.appendChild(name); el.appendChild(track); el.appendChild(n);
      bars[choice] = { fill: fill, n: n };
    });
  })();
  function stored(name, fallback) {
    try { var v = window.localStorage.getItem("pareto-arena-" + name); return v === null ? fallback : v; }
    catch (e) { return fallback; }
  }
  function store(name, value) {
    try { window.localStorage.setItem("pareto-arena-" + name, value); } catch (e) { /* */ }
  }
  var show = $("show-bars"), timerSelect = $("timer"), dark = $("dark");
  show.checked = stored("show-bars", "0") === "1";
  timerSelect.value = stored("round-seconds", "0");
  var asked = parseInt(params.get("seconds"), 10);       // ?seconds=N: a timer of one's own
  if (asked > 0 && asked <= 3600) {
    var option = document.createElement("option");
    option.value = String(asked); option.textContent = asked + " s";
    timerSelect.appendChild(option);
    timerSelect.value = String(asked);
  }
  dark.checked = params.get("theme") === "dark" || (params.get("theme") !== "light" && stored("dark", "0") === "1");
  document.body.classList.toggle("dark", dark.checked);

  // The QR code of the join address (filled in by the server as a data URI), and a warning
  // when that address is this computer's own, which no phone can open.
  (function joinAddress() {
    var qr = $("qr"), uri = qr.getAttribute("data-qr") || "";
    if (uri.indexOf("data:image/") === 0) { qr.src = uri; qr.hidden = false; }
    var host = "";
    try { host = new URL($("join-url").href).hostname.replace(/^\[|\]$/g, "").toLowerCase(); } catch (e) { /* */ }
    $("loopback").hidden = !(host === "localhost" || /\.localhost$/.test(host) || /^127\./.test(host)
                             || host === "::1" || host === "0.0.0.0" || host === "");
  })();

  function drawTally(t) {
    if (!t) return;
    var total = Math.max(1, t.votes);
    Object.keys(bars).forEach(function (c) {
      bars[c].fill.style.width = (100 * t.counts[c] / total) + "%";
      bars[c].n.textContent = String(t.counts[c]);
    });
    $("tally").classList.toggle("masked", !show.checked && !!view && view.state === "open");
    $("counts").textContent = view && view.round
      ? t.votes + (t.votes === 1 ? " vote" : " votes") + " · " + t.viewers + " joined this round" : "";
  }

  function render(s) {
    view = s;
    var status = $("status");
    $("trio").hidden = !s.pair;
    if (s.pair && s.round !== shownRound) {
      shownRound = s.round;
      $("instruction").textContent = s.pair.instruction;
      $("source").src = s.pair.source_url;
      $("img-a").src = s.pair.left_url;
      $("img-b").src = s.pair.right_url;
    }
    var r = s.reveal;
    $("name-a").textContent = r ? r.left_model + " (" + seconds(r.left_latency_s) + ")" : "";
    $("name-b").textContent = r ? r.right_model + " (" + seconds(r.right_latency_s) + ")" : "";
    if (!s.round) status.textContent = s.state === "closed" ? "Session closed."
      : "Press Next round to show the first pair.";
    else if (s.state === "open") status.textContent = "Round " + s.round + " · voting open";
    else if (s.state === "revealed") status.textContent = "Round " + s.round + " · revealed";
    else status.textContent = "Round " + s.round + " · session closed";
    $("next").disabled = busy || s.state === "closed";
    $("reveal").disabled = busy || s.state !== "open" || !s.round;
    $("close").disabled = busy || s.state === "closed";
    var joining = $("joining");
    joining.disabled = busy || s.state === "closed";
    joining.textContent = s.joining === false ? "Open joining" : "Close joining";
    $("seats").textContent = s.seats === undefined ? "" : s.seats + (s.seats === 1 ? " phone" : " phones")
      + " joined" + (s.joining === false ? " (joining closed)" : "")
      + (s.busiest_address_seats > 1 ? " · up to " + s.busiest_address_seats + " from one address" : "");
    drawTally(s.tally || (r && r.tally));
    countdown();
  }

  // Countdown: the presenter picks seconds per round; the clock starts when a round opens
  // (or when a time is picked during one) and the page reveals the round at zero.
  var deadline = null, deadlineRound = null, ticking = null;
  function countdown() {
    var secs = parseInt(timerSelect.value, 10) || 0, el = $("countdown");
    var open = !!view && view.state === "open" && view.round > 0;
    if (!open || !secs) { deadline = null; el.hidden = true; clearInterval(ticking); ticking = null; return; }
    if (deadlineRound !== view.round || deadline === null) {
      var key = KEY + "-deadline-" + view.round, kept = null;
      try { kept = parseInt(window.sessionStorage.getItem(key), 10); } catch (e) { /* */ }
      deadline = kept > 0 ? kept : Date.now() + secs * 1000;
      deadlineRound = view.round;
      try { window.sessionStorage.setItem(key, String(deadline)); } catch (e) { /* */ }
    }
    if (!ticking) ticking = setInterval(tick, 250);
    tick();
  }
  function tick() {
    var el = $("countdown");
    if (deadline === null || !view || view.state !== "open") return;
    var left = Math.max(0, Math.ceil((deadline - Date.now()) / 1000));
    el.hidden = false;
    el.textContent = left >= 60 ? Math.floor(left / 60) + ":" + ("0" + (left % 60)).slice(-2) : left + " s";
    el.classList.toggle("ending", left <= 5);
    if (left === 0 && !busy) {
      clearInterval(ticking); ticking = null; deadline = null;
      act("reveal");
    }
  }

  function error(text) { $("error").textContent = text || ""; }

  function getJSON(url) {
    return fetch(url, { cache: "no-store", headers: { "X-Presenter-Token": token || "" } }).then(function (r) {
      if (!r.ok) throw new Error("status " + r.status);
      return r.json();
    });
  }

  function refresh() {
    return getJSON(base).then(function (s) {
      return getJSON(base + "/tally").then(function (t) { s.tally = t; render(s); });
    });
  }

  function poll() {
    clearTimeout(timer);
    var next = getJSON(base + "/tally").then(function (t) {
      if (!view || t.round !== view.round || t.state !== view.state) return refresh();
      view.tally = t;
      drawTally(t);
    });
    next.then(function () { error(""); }, function () { error("Reconnecting…"); })
      .then(function () { timer = setTimeout(poll, 1500); });
  }

  function act(action, body) {
    if (busy) return;
    busy = true;
    if (view) render(view);
    var headers = { "X-Presenter-Token": token || "" };
    if (body) headers["content-type"] = "application/json";
    fetch(base + "/" + action, { method: "POST", headers: headers,
                                 body: body ? JSON.stringify(body) : undefined })
      .then(function (r) {
        return r.json().catch(function () { return {}; }).then(function (body) {
          busy = false;
          if (!r.ok) { error(body.detail || ("error " + r.status)); if (view) render(view); return; }
          error("");
          render(body);
        });
      })
      .catch(function () { busy = false; error("No connection: try again."); if (view) render(view); });
  }

  $("next").addEventListener("click", function () { act("next"); });
  $("reveal").addEventListener("click", function () { act("reveal"); });
  $("joining").addEventListener("click", function () {
    act("joining", { open: !!(view && view.joining === false) });
  });
  $("close").addEventListener("click", function () {
    if (window.confirm("Close the session? No more rounds or votes.")) act("close");
  });
  show.addEventListener("change", function () {
    store("show-bars", show.checked ? "1" : "0");
    if (view) drawTally(view.tally);
  });
  timerSelect.addEventListener("change", function () {
    store("round-seconds", timerSelect.value);
    if (view && view.round) {
      try { window.sessionStorage.removeItem(KEY + "-deadline-" + view.round); } catch (e) { /* */ }
    }
    deadline = null;
    countdown();
  });
  dark.addEventListener("change", function () {
    store("dark", dark.checked ? "1" : "0");
    document.body.classList.toggle("dark", dark.checked);
  });
  refresh().catch(function () { error("Reconnecting…"); }).then(function () { timer = setTimeout(poll, 1500); });
})();
