// Admin panel: names for the controls that Flask-Admin's list template labels only with a title (the row checkboxes
// and "select all"), so that screen readers announce them (issue 25).
(function () {
  "use strict";
  document.querySelectorAll("input.action-checkbox[title], input.action-rowtoggle[title]").forEach(function (box) {
    if (!box.hasAttribute("aria-label")) box.setAttribute("aria-label", box.getAttribute("title"));
  });
})();
