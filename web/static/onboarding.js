/* The history import's progress bar: each import on the page asks its own progress address
   (the import's events, whichever process runs it) every second while it runs, and the page
   is loaded again once it stopped, so its buttons match its state. */
(function () {
  function follow(box) {
    var bar = box.querySelector("progress"), count = box.querySelector(".import-count");
    var state = box.querySelector(".import-state");
    function tick() {
      fetch(box.getAttribute("data-progress"), {cache: "no-store"})
        .then(function (answer) { return answer.ok ? answer.json() : null; })
        .then(function (progress) {
          // A box may follow a part of the answer: applying a dry run's draft ("apply").
          var part = box.getAttribute("data-part");
          if (progress && part) { progress = progress[part]; }
          if (!progress) { return; }
          bar.max = progress.total || 1;
          bar.value = progress.total ? progress.position : 1;
          count.textContent = progress.position + " / " + progress.total;
          if (progress.state !== state.getAttribute("data-state")) { location.reload(); return; }
          if (progress.state === "running") { setTimeout(tick, 1000); }
        })
        .catch(function () { setTimeout(tick, 3000); });
    }
    if (state.getAttribute("data-state") === "running") { setTimeout(tick, 500); }
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-progress]").forEach(follow);
  });
})();
