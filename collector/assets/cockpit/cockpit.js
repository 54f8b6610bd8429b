// zerofault cockpit: refreshes the page's content in place every `data-refresh` seconds.
// No full reload, no growing state: the new <main> replaces the old one, so a wall
// screen's memory stays flat over days. On a failed refresh the page keeps its figures
// and marks them stale (the header's time turns amber) until the next refresh succeeds.
(function () {
  "use strict";
  var body = document.body;
  var seconds = parseInt(body.getAttribute("data-refresh") || "30", 10);
  if (!(seconds >= 5)) { seconds = 30; }
  var busy = false;
  function refresh() {
    if (busy || document.hidden) { return; }
    busy = true;
    // A refresh that hangs is given up after one interval, so the page marks itself stale
    // and the next refresh can start, rather than waiting for ever.
    var abort = new AbortController();
    var timer = setTimeout(function () { abort.abort(); }, seconds * 1000);
    fetch(location.href, { cache: "no-store", credentials: "same-origin", signal: abort.signal })
      .then(function (r) {
        if (!r.ok) { throw new Error("HTTP " + r.status); }
        return r.text();
      })
      .then(function (text) {
        var doc = new DOMParser().parseFromString(text, "text/html");
        var fresh = doc.getElementById("main");
        var main = document.getElementById("main");
        if (fresh && main) { main.replaceWith(document.adoptNode(fresh)); }
        var asof = doc.getElementById("asof");
        var mine = document.getElementById("asof");
        if (asof && mine) { mine.textContent = asof.textContent; }
        body.classList.remove("stale");
      })
      .catch(function () { body.classList.add("stale"); })
      .then(function () { clearTimeout(timer); busy = false; });
  }
  setInterval(refresh, seconds * 1000);
}());
