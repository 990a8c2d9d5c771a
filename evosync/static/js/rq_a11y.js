// rq-dashboard at /admin/rq (third-party): a name for its instance picker, its page content inside a main landmark,
// and its scrolling tables reachable with the keyboard (issue 25). Loaded after rq-dashboard's own markup.
(function () {
  "use strict";
  var picker = document.getElementById("rq-instances");
  if (picker && !picker.hasAttribute("aria-label")) {
    picker.setAttribute("aria-label", "Redis instance");
  }
  var content = document.querySelector("body > .container");
  if (content && !document.querySelector("main, [role=main]")) {
    content.setAttribute("role", "main");
  }
  document.querySelectorAll(".table-responsive, .table-responsive-md").forEach(function (box) {
    if (!box.hasAttribute("tabindex")) {
      box.setAttribute("tabindex", "0");
      box.setAttribute("role", "region");
      box.setAttribute("aria-label", "Table");
    }
  });
})();
