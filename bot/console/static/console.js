// Sigap 112 operator console: live updates (server-sent events), the reply counter, quick replies
// and the clocks. Every view it loads is rendered and escaped by the server; this script never
// builds markup out of a reporter's words.
"use strict";

(function () {
  var body = document.body;
  var live = body.getAttribute("data-live");

  function reload(id) {
    var box = document.getElementById(id);
    if (!box) { return; }
    fetch(box.getAttribute("data-src"), { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
      .then(function (html) { box.innerHTML = html; tick(); })
      .catch(function () { /* the next event or the periodic refresh tries again */ });
  }

  function refresh() {
    if (live === "board") { reload("rows"); }
    if (live === "conversation") { reload("transcript"); }
  }

  if (live && window.EventSource) {
    var source = new EventSource("/console/events");
    source.addEventListener("change", function (event) {
      var data = JSON.parse(event.data);
      if (live === "board") { reload("rows"); }
      if (live === "conversation" && data.conversation === body.getAttribute("data-conversation")) {
        reload("transcript");
      }
    });
    window.addEventListener("beforeunload", function () { source.close(); });
  }
  if (live) { setInterval(refresh, 30000); }

  // Minutes since the first message; deadlines turn red once passed.
  function tick() {
    var now = Date.now();
    document.querySelectorAll("time.since").forEach(function (el) {
      var at = Date.parse(el.getAttribute("datetime"));
      if (!isNaN(at)) { el.textContent = Math.max(0, Math.floor((now - at) / 60000)) + " min"; }
    });
    document.querySelectorAll("time.deadline").forEach(function (el) {
      var at = Date.parse(el.getAttribute("datetime"));
      if (!isNaN(at) && at < now) { el.classList.add("late"); }
    });
  }
  tick();
  setInterval(tick, 15000);

  // GSM-7: the basic set counts one septet, the extension set two; other characters are
  // replaced by the server before sending, so they count one.
  var EXTENDED = "^{}\\[~]|\u20ac\f";
  function septets(text) {
    var n = 0;
    for (var i = 0; i < text.length; i++) { n += EXTENDED.indexOf(text[i]) >= 0 ? 2 : 1; }
    return n;
  }
  var box = document.getElementById("reply-text");
  var counter = document.getElementById("counter");
  function count() {
    if (!box || !counter) { return; }
    var sms = box.getAttribute("data-sms") === "yes";
    var used = sms ? septets(box.value) : box.value.length;
    var limit = parseInt(box.getAttribute("data-limit"), 10);
    counter.textContent = String(used);
    counter.className = used > limit ? "over" : "";
    if (sms) {
      var parts = used <= 160 ? 1 : Math.ceil(used / 153);
      counter.textContent = used + " (" + parts + " SMS)";
    }
  }
  if (box) { box.addEventListener("input", count); count(); }
  document.querySelectorAll("button.quick-reply").forEach(function (button) {
    button.addEventListener("click", function () {
      if (box) { box.value = button.getAttribute("data-text"); count(); box.focus(); }
    });
  });
})();
