// Audience page of a live session: one pair per round, four vote buttons, the reveal.
// Learns of new rounds from a server-sent event stream (a long poll where EventSource is missing
// or keeps failing); every value from the server is set with textContent or src.
// The phone's seat is a cookie the server sets on the first poll (one counted vote per round).
(function () {
  "use strict";
  var code = document.body.getAttribute("data-code");
  var base = "/api/live/" + encodeURIComponent(code);
  var LABELS = { left: "A", right: "B", tie: "Tie", both_bad: "Both bad" };
  var WORDS = { left: "A is better", right: "B is better", tie: "a tie", both_bad: "both bad" };
  var $ = function (id) { return document.getElementById(id); };
  var buttons = Array.prototype.slice.call(document.querySelectorAll(".vote"));
  var view = null, shownRound = -1, shownAt = 0, sending = false, timer = null, tooLate = false;
  var stream = null, streamFailures = 0;
  // A round change reaches the whole hall at once: each phone asks for its pair at a random
  // moment within SPREAD_MS, so a thousand requests arrive over a second and a half, not in one.
  var SPREAD_MS = 1500;


  function seconds(v) {
    if (v === null || v === undefined) return "latency unknown";
    return v < 1 ? Math.round(v * 1000) + " ms" : v.toFixed(1) + " s";
  }

  function note(text, kind) {
    var el = $("note");
    el.textContent = text;
    el.className = "note" + (kind ? " " + kind : "");
  }

  function drawTally(el, tally) {
    el.textContent = "";
    var total = Math.max(1, tally.votes);
    Object.keys(LABELS).forEach(function (choice) {
      var name = document.createElement("span"), track = document.createElement("div"),
          fill = document.createElement("div"), n = document.createElement("span");
      name.className = "name"; name.textContent = LABELS[choice];
      track.className = "track"; fill.className = "fill " + choice;
      fill.style.width = (100 * tally.counts[choice] / total) + "%";
      n.className = "n"; n.textContent = String(tally.counts[choice]);
      track.appendChild(fill);
      el.appendChild(name); el.appendChild(track); el.appendChild(n);
    });
  }

  function render(s) {
    view = s;
    var status = $("status");
    if (!s.pair) {
      $("pair").hidden = true;
      status.textContent = s.state === "closed" ? "This session has ended. Thank you!"
        : "Joined. Waiting for the presenter to start the first round…";
      return;
    }
    $("pair").hidden = false;
    if (s.round !== shownRound) {
      shownRound = s.round; shownAt = Date.now(); tooLate = false;
      $("instruction").textContent = s.pair.instruction;
      $("source").src = s.pair.source_url;
      $("img-a").src = s.pair.left_url;
      $("img-b").src = s.pair.right_url;
      note("");
      window.scrollTo(0, 0);
    }
    var open = s.state === "open" && !!s.pair.impression_id;
    var canVote = open && !s.your_vote && !sending;
    buttons.forEach(function (b) {
      b.disabled = !canVote;
      b.classList.toggle("chosen", b.getAttribute("data-choice") === s.your_vote);
    });
    var r = s.reveal;
    $("name-a").textContent = r ? r.left_model + " (" + seconds(r.left_latency_s) + ")" : "";
    $("name-b").textContent = r ? r.right_model + " (" + seconds(r.right_latency_s) + ")" : "";
    $("tally").hidden = !r;
    if (r) drawTally($("tally"), r.tally);

    if (s.state === "closed") status.textContent = "Round " + s.round + " · the session has ended. Thank you!";
    else if (r) status.textContent = "Round " + s.round + " · revealed. Waiting for the next round…";
    else if (s.your_vote) status.textContent = "Round " + s.round + " · waiting for the reveal…";
    else status.textContent = "Round " + s.round + " · which edit follows the instruction better?";

    if (s.your_vote) note("Vote recorded: " + WORDS[s.your_vote] + ".", "ok");
    else if (!open && (r || tooLate)) note("Voting on this round has ended.", "err");
  }

  function schedule(ms, fn) {
    clearTimeout(timer);
    timer = setTimeout(fn || poll, ms);
  }

  // The whole state once, then watch the room: one event stream (served from the server's
  // memory; nothing but a comment every 20 s while the room waits), so a waiting hall costs
  // next to nothing. The state is fetched again only when the round or its state changes.
  function poll() {
    fetch(base, { cache: "no-store", credentials: "same-origin" })
      .then(function (r) {
        if (r.status === 404) throw new Error("gone");
        if (!r.ok) throw new Error("status " + r.status);
        return r.json();
      })
      .then(function (s) { render(s); schedule(0, watch); })
      .catch(function (e) {
        if (e.message === "gone") { closeStream(); $("status").textContent = "This session no longer exists."; return; }
        $("status").textContent = "Reconnecting…";
        schedule(4000);
      });
  }

  function changed(w) {
    return view && (w.round !== view.round || w.state !== view.state);
  }

  function closeStream() {
    if (stream) { stream.close(); stream = null; }
  }

  function watch() {
    if (!view) { poll(); return; }
    if (view.state === "closed") { closeStream(); return; }
    if (window.EventSource && streamFailures < 3) { listen(); return; }
    var url = base + "/wait?round=" + encodeURIComponent(view.round) + "&state=" + encodeURIComponent(view.state);
    fetch(url, { cache: "no-store" })
      .then(function (r) { if (!r.ok) throw new Error("status " + r.status); return r.json(); })
      .then(function (w) { if (changed(w)) schedule(Math.random() * SPREAD_MS, poll); else schedule(0, watch); })
      .catch(function () { schedule(4000); });
  }

  function listen() {
    if (stream) return;                   // already open: it tells of every change
    stream = new EventSource(base + "/events");
    stream.onmessage = function (e) {
      streamFailures = 0;
      var w;
      try { w = JSON.parse(e.data); } catch (err) { return; }
      if (changed(w)) schedule(Math.random() * SPREAD_MS, poll);
    };
    stream.onerror = function () {        // the browser reconnects by itself; give up after 3
      if (stream && stream.readyState === EventSource.CLOSED) { stream = null; }
      streamFailures += 1;
      if (streamFailures >= 3) { closeStream(); schedule(4000, poll); }
    };
  }

  function vote(choice) {
    if (!view || !view.pair || !view.pair.impression_id || sending) return;
    sending = true;
    buttons.forEach(function (b) { b.disabled = true; });
    note("Sending…");
    fetch(base + "/votes", {
      method: "POST", headers: { "content-type": "application/json" },
      body: JSON.stringify({ impression_id: view.pair.impression_id, token: view.pair.token,
                             choice: choice, duration_ms: Date.now() - shownAt })
    }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (body) {
        sending = false;
        if (r.status === 200 || r.status === 201) {
          view.your_vote = body.choice;
        } else if (r.status === 409) {
          tooLate = true;
          view.state = "revealed";
        } else {
          note("Vote not recorded: " + (body.detail || ("error " + r.status)) + ".", "err");
          buttons.forEach(function (b) { b.disabled = false; });
          return;
        }
        render(view);
      });
    }).catch(function () {
      sending = false;
      note("No connection: the vote was not sent. Try again.", "err");
      buttons.forEach(function (b) { b.disabled = false; });
    });
  }

  buttons.forEach(function (b) {
    b.addEventListener("click", function () { vote(b.getAttribute("data-choice")); });
  });
  document.addEventListener("visibilitychange", function () { if (!document.hidden) poll(); });
  poll();
})();
