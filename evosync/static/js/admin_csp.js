// Admin panel under a nonce-only Content-Security-Policy: Flask-Admin's templates still carry a few inline
// onclick handlers, which the browser refuses to run. This turns the known, harmless ones into listeners.
// Only these exact shapes are understood; anything else (e.g. injected markup) stays blocked.
(function () {
  "use strict";
  var STRING = "'((?:[^'\\\\]|\\\\.)*)'";
  var SHAPES = [
    [new RegExp("^\\s*return modelActions\\.execute\\(" + STRING + "\\);?\\s*$"), function (arg, event) {
      if (window.modelActions && window.modelActions.execute(arg) === false) event.preventDefault();
    }],
    [new RegExp("^\\s*return faHelpers\\.safeConfirm\\(" + STRING + "\\);?\\s*$"), function (arg, event) {
      if (!window.confirm(arg)) event.preventDefault();
    }],
    [new RegExp("^\\s*return confirm\\(" + STRING + "\\);?\\s*$"), function (arg, event) {
      if (!window.confirm(arg)) event.preventDefault();
    }],
    [new RegExp("^\\s*faForm\\.addInlineField\\(this, " + STRING + "\\);?\\s*$"), function (arg, event, el) {
      if (window.faForm) window.faForm.addInlineField(el, arg);
    }],
    [/^\s*return false;?\s*$/, function (arg, event) { event.preventDefault(); }]
  ];

  function unescape(text) {
    return text.replace(/\\(.)/g, "$1");
  }

  document.querySelectorAll("[onclick]").forEach(function (el) {
    var code = el.getAttribute("onclick");
    for (var i = 0; i < SHAPES.length; i++) {
      var match = SHAPES[i][0].exec(code);
      if (!match) continue;
      var handler = SHAPES[i][1];
      var arg = match[1] === undefined ? null : unescape(match[1]);
      el.removeAttribute("onclick");
      el.addEventListener("click", function (event) { handler(arg, event, el); });
      return;
    }
  });
})();
