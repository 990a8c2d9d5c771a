// Catalog toggles without a page reload: the plain forms still work when this script does not run.
(function () {
  "use strict";

  function csrfToken(form) {
    var field = form.querySelector('input[name="csrf_token"]');
    return field ? field.value : "";
  }

  function render(form, enabled) {
    form.querySelector('input[name="enabled"]').value = enabled ? "0" : "1";
    var box = form.querySelector(".js-toggle-switch");
    if (box) box.checked = enabled;
    var button = form.querySelector(".js-toggle-button");
    if (button) {
      button.classList.toggle("btn-outline-secondary", enabled);
      button.classList.toggle("btn-outline-success", !enabled);
      button.textContent = enabled ? button.dataset.offLabel : button.dataset.onLabel;
    }
  }

  function showEffective(groups) {
    // groups: {group id: effectively enabled}; mark switches that are on but overruled by a parent.
    Object.keys(groups || {}).forEach(function (id) {
      var form = document.querySelector('form.js-toggle[data-kind="group"][data-id="' + CSS.escape(id) + '"]');
      if (!form) return;
      var own = form.querySelector(".js-toggle-switch").checked;
      var note = form.querySelector(".js-toggle-note");
      if (note) note.classList.toggle("d-none", !own || groups[id]);
    });
  }

  function submit(form, enabled) {
    var body = new URLSearchParams();
    body.set("enabled", enabled ? "1" : "0");
    body.set("csrf_token", csrfToken(form));
    form.classList.add("opacity-50");
    return fetch(form.action, {
      method: "POST",
      headers: {
        "Accept": "application/json",
        "X-Requested-With": "XMLHttpRequest",
        "X-CSRFToken": csrfToken(form),
        "Content-Type": "application/x-www-form-urlencoded"
      },
      body: body,
      credentials: "same-origin"
    }).then(function (response) {
      if (!response.ok) throw new Error("HTTP " + response.status);
      return response.json();
    }).then(function (data) {
      render(form, data.enabled);
      showEffective(data.groups);
    }).catch(function () {
      form.submit(); // fall back to the plain form: the server answers with a page and a message
    }).finally(function () {
      form.classList.remove("opacity-50");
    });
  }

  document.querySelectorAll("form.js-toggle").forEach(function (form) {
    var button = form.querySelector(".js-toggle-button");
    var box = form.querySelector(".js-toggle-switch");
    if (button) {
      // Labels come from the server-rendered (translated) text of the button.
      var enabled = box && box.checked;
      button.dataset.onLabel = enabled ? "" : button.textContent.trim();
      button.dataset.offLabel = enabled ? button.textContent.trim() : "";
      button.classList.add("d-none"); // the switch is enough when JavaScript runs
    }
    if (box) {
      box.addEventListener("change", function () { submit(form, box.checked); });
    }
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      submit(form, form.querySelector('input[name="enabled"]').value === "1");
    });
  });
})();
