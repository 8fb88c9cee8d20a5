// /dynamic: load more (fetch), counter, toggle panel, delayed element, live clock.
(function () {
  "use strict";
  var $ = function (id) { return document.getElementById(id); };

  var more = $("load-more");
  more.addEventListener("click", function () {
    more.disabled = true;
    fetch("/dynamic/items?offset=" + more.dataset.next + "&limit=5")
      .then(function (r) { return r.json(); })
      .then(function (data) {
        data.items.forEach(function (text) {
          var li = document.createElement("li");
          li.textContent = text;
          $("feed").appendChild(li);
        });
        more.dataset.next = String(data.next);
        $("feed-status").textContent = $("feed").children.length + " items shown";
        if (data.more) { more.disabled = false; } else { more.remove(); $("feed-status").textContent += " · that's everything"; }
      })
      .catch(function () { more.disabled = false; $("feed-status").textContent = "Could not load more items."; });
  });

  var count = 0;
  $("increment").addEventListener("click", function () { count += 1; $("count").textContent = String(count); });
  // #dead intentionally has no handler: clicking it changes nothing.

  $("toggle-panel").addEventListener("click", function () {
    var panel = $("advanced");
    panel.hidden = !panel.hidden;
    this.setAttribute("aria-expanded", String(!panel.hidden));
    this.textContent = panel.hidden ? "Show advanced options" : "Hide advanced options";
  });
  $("archive").addEventListener("click", function () { $("panel-status").textContent = "Workspace archived."; });
  $("export").addEventListener("click", function () { $("panel-status").textContent = "Export started."; });

  setTimeout(function () {
    $("late-slot").innerHTML =
      '<p>Based on your activity, you might like <a href="/shop/category/headphones" id="late-link">our headphones</a>.</p>' +
      '<button type="button" class="button" id="late-button">Dismiss recommendation</button>';
    $("late-button").addEventListener("click", function () { $("late-slot").textContent = "Recommendation dismissed."; });
  }, 300);

  function tick() { $("clock").textContent = new Date().toLocaleTimeString("en-GB"); }
  tick();
  setInterval(tick, 1000);
})();
