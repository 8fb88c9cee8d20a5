// Library form: icon-only toolbar buttons.
(function () {
  "use strict";
  var status = document.getElementById("tool-status");
  var form = document.getElementById("card-form");
  document.getElementById("help-btn").addEventListener("click", function () {
    var panel = document.getElementById("help-panel");
    panel.hidden = !panel.hidden;
  });
  document.getElementById("print-btn").addEventListener("click", function () {
    status.textContent = "Print preview is not available in this demo.";
  });
  document.getElementById("draft-btn").addEventListener("click", function () {
    var data = {};
    new FormData(form).forEach(function (value, key) {
      if (typeof value === "string" && key !== "pin") { data[key] = value; }
    });
    try { localStorage.setItem("library-card-draft", JSON.stringify(data)); } catch (e) { /* private mode */ }
    status.textContent = "Draft saved at " + new Date().toLocaleTimeString() + ".";
  });
})();
