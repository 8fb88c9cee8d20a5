// Custom elements for /frames: one open shadow root, one closed.
(function () {
  "use strict";
  var STYLE =
    ":host{display:block;font-family:system-ui,sans-serif}" +
    "label{display:block;font-weight:600;margin-bottom:.3rem}" +
    "input{font:inherit;padding:.5rem .6rem;border:1px solid #b9c0cc;border-radius:6px;width:100%;box-sizing:border-box}" +
    "button{font:inherit;font-weight:600;margin-top:.6rem;padding:.5rem 1rem;border-radius:8px;border:1px solid #5b3fb0;background:#5b3fb0;color:#fff;cursor:pointer}" +
    "p{min-height:1.5em;font-weight:600;margin:.6rem 0 0}";

  class ProfileWidget extends HTMLElement {
    constructor() {
      super();
      var root = this.attachShadow({ mode: "open" });
      root.innerHTML =
        "<style>" + STYLE + "</style>" +
        '<label for="shadow-name">Shadow name</label>' +
        '<input id="shadow-name" type="text" placeholder="Your display name">' +
        '<button type="button" id="shadow-action">Shadow action</button>' +
        '<p id="shadow-result" role="status"></p>';
      root.getElementById("shadow-action").addEventListener("click", function () {
        root.getElementById("shadow-result").textContent =
          "Shadow clicked: " + root.getElementById("shadow-name").value;
      });
    }
  }

  class SecureWidget extends HTMLElement {
    constructor() {
      super();
      var root = this.attachShadow({ mode: "closed" });
      root.innerHTML =
        "<style>" + STYLE + "button{background:#1e7d3c;border-color:#1e7d3c}</style>" +
        '<button type="button" id="closed-action">Closed shadow action</button>' +
        '<p id="closed-result" role="status"></p>';
      var clicks = 0;
      root.getElementById("closed-action").addEventListener("click", function () {
        clicks += 1;
        root.getElementById("closed-result").textContent = "Closed clicked " + clicks + "×";
      });
    }
  }

  customElements.define("profile-widget", ProfileWidget);
  customElements.define("secure-widget", SecureWidget);
})();
