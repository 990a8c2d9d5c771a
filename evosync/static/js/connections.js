// Inline "Test" buttons of /connections: POST with the CSRF token, show the JSON answer without a reload.
// Without JavaScript the same forms post normally and the answer comes back as a flash message.
(function () {
  "use strict";
  var script = document.currentScript;
  var words = {
    checking: (script && script.dataset.checking) || "Checking…",
    failed: (script && script.dataset.failed) || "Could not reach EvoSync.",
    expired: (script && script.dataset.expired) || "Your session has expired. Reload the page and try again.",
  };

  function show(box, ok, message) {
    box.replaceChildren();
    var alert = document.createElement("div");
    alert.className = "alert mb-0 " + (ok === null ? "alert-info" : ok ? "alert-success" : "alert-danger");
    alert.textContent = message; // text, never HTML: messages may quote a community's name
    box.appendChild(alert);
  }

  document.querySelectorAll("form[data-inline-test]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var box = document.getElementById(form.dataset.inlineTest);
      var button = form.querySelector("button[type=submit]");
      var token = form.querySelector("input[name=csrf_token]");
      button.disabled = true;
      show(box, null, words.checking);
      fetch(form.action, {
        method: "POST",
        credentials: "same-origin",
        headers: { Accept: "application/json", "X-CSRFToken": token ? token.value : "" },
      })
        .then(function (response) {
          if (response.status === 400 || response.status === 401) return { ok: false, message: words.expired };
          if (!response.ok) return { ok: false, message: words.failed };
          return response.json();
        })
        .then(function (answer) { show(box, Boolean(answer.ok), answer.message); })
        .catch(function () { show(box, false, words.failed); }) // network down, or not JSON
        .finally(function () { button.disabled = false; });
    });
  });

  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  });
})();
