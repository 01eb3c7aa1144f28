// Hubfront portal: small progressive enhancements, no framework.
(function () {
  "use strict";
  // The Group dropdown returns to the page it was used on.
  document.querySelectorAll("input.hf-next").forEach(function (input) {
    input.value = window.location.pathname + window.location.search;
  });
  // Highlight the side-menu entry of the current page.
  var path = window.location.pathname;
  document.querySelectorAll("#hf-sidemenu a.nav-link").forEach(function (a) {
    if (a.getAttribute("href") === path) a.classList.add("active");
  });
})();
// Buttons that change something hard to undo ask first (data-confirm="question").
document.addEventListener("click", function (ev) {
  var btn = ev.target.closest ? ev.target.closest("button[data-confirm]") : null;
  if (btn && !window.confirm(btn.getAttribute("data-confirm"))) ev.preventDefault();
});
