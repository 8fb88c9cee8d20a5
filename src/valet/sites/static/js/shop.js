// Voltline progressive enhancements: auto-apply sort, wishlist toggle, card number spacing.
(function () {
  "use strict";
  var sort = document.getElementById("sort");
  if (sort && sort.form) {
    sort.addEventListener("change", function () { sort.form.requestSubmit(); });
  }
  document.querySelectorAll("button.wishlist").forEach(function (btn) {
    btn.addEventListener("click", function () {
      var on = btn.getAttribute("aria-pressed") !== "true";
      btn.setAttribute("aria-pressed", on ? "true" : "false");
      btn.textContent = on ? "Saved for later" : "Save for later";
    });
  });
  var card = document.getElementById("card-number");
  if (card) {
    card.addEventListener("blur", function () {
      var digits = card.value.replace(/\D/g, "");
      if (digits.length >= 12) { card.value = digits.replace(/(\d{4})(?=\d)/g, "$1 "); }
    });
  }
})();
