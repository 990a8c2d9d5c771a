// Sync pages: "are you sure" on confirm forms, and the live progress bar that polls /api/sync/status
// every ~2 s while a sync runs.
// Without JavaScript the page shows the same numbers and reloads itself (a <noscript> refresh).
(function () {
  "use strict";
  var script = document.currentScript;

  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  });

  // The bar's starting width comes as data-width: the Content-Security-Policy allows no style attributes.
  document.querySelectorAll(".js-progress-bar[data-width]").forEach(function (el) {
    el.style.width = el.dataset.width + "%";
  });

  var box = document.getElementById("sync-progress");
  if (!box || !script) return;
  var words = script.dataset;
  var bar = box.querySelector(".js-progress-bar");
  var text = box.querySelector(".js-progress-text");
  var holder = box.querySelector("[role=progressbar]");
  var runId = Number(box.dataset.runId);
  var failures = 0;

  function fill(template, values) {
    return template.replace(/\{(\w+)\}/g, function (_, key) {
      return values[key] === undefined ? "" : String(values[key]);
    });
  }

  function show(run) {
    var total = run.progress_total || 0;
    var done = run.progress_done || 0;
    var pct = total ? Math.min(100, Math.round((done * 100) / total)) : 0;
    bar.style.width = (total ? pct : 100) + "%";
    holder.setAttribute("aria-valuenow", String(pct));
    var line = total ? fill(words.steps, { done: done, total: total }) : words.planning;
    line += " " + fill(words.counts, { c: run.created, u: run.updated, r: run.removed, f: run.failed });
    text.textContent = line; // text, never HTML
  }

  function poll() {
    fetch(box.dataset.statusUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.json();
      })
      .then(function (answer) {
        failures = 0;
        if (answer.run && answer.run.id === runId) {
          show(answer.run);
          window.setTimeout(poll, 2000);
        } else {
          window.location.reload(); // finished (or replaced): the page shows the result
        }
      })
      .catch(function () {
        failures += 1;
        text.textContent = words.lost;
        window.setTimeout(poll, Math.min(30000, 2000 * Math.pow(2, failures)));
      });
  }

  window.setTimeout(poll, 2000);
})();
