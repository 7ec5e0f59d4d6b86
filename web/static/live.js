/* Live progress: poll /api/counts; when the read model moved on since this page was made
   (its position), fetch this same page again and swap only its [data-live] parts (rendered by
   the server, so escaped like the rest), keeping the reader's scroll and filter fields. */
(function () {
  var every = 2000, shown = document.body.getAttribute("data-position"), rendered = {};
  var parts = document.querySelectorAll("[data-live][id]");
  parts.forEach(function (part) { rendered[part.id] = part.innerHTML; });
  function swap(html) {
    var fresh = new DOMParser().parseFromString(html, "text/html");
    parts.forEach(function (part) {
      var next = fresh.getElementById(part.id);
      if (!next || next.innerHTML === rendered[part.id]) { return; }  // unchanged: leave it
      var open = Array.prototype.map.call(part.querySelectorAll("details"),
                                          function (d) { return d.open; });
      // A merchant ticking documents for "Process selected" must not lose the ticks when a
      // new order arrives: keep them by name and value, the rows may have moved.
      var ticked = {};
      part.querySelectorAll("input[type=checkbox]").forEach(function (box) {
        ticked[box.name + "=" + box.value] = box.checked;
      });
      part.innerHTML = rendered[part.id] = next.innerHTML;
      part.querySelectorAll("details").forEach(function (d, i) { d.open = !!open[i]; });
      part.querySelectorAll("input[type=checkbox]").forEach(function (box) {
        var key = box.name + "=" + box.value;
        if (key in ticked) { box.checked = ticked[key]; }
      });
    });
    shown = fresh.body.getAttribute("data-position");
  }
  function tick() {
    if (document.hidden) { return setTimeout(tick, every); }
    fetch("/api/counts", {cache: "no-store"}).then(function (response) {
      var now = response.headers.get("X-Koppel-Position");
      return response.json().then(function (counts) {
        Object.keys(counts).forEach(function (key) {
          var badge = document.getElementById("count-" + key);
          if (badge) {
            badge.textContent = counts[key];
            if (key === "errors") { badge.classList.toggle("alert", counts[key] > 0); }
          }
        });
        if (now !== shown && parts.length) {
          return fetch(location.href, {cache: "no-store"})
            .then(function (page) { return page.ok ? page.text() : null; })
            .then(function (html) { if (html) { swap(html); } });
        }
      });
    }).catch(function () {}).then(function () { setTimeout(tick, every); });
  }
  setTimeout(tick, every);
})();
