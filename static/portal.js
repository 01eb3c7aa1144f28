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
// The profile menu also opens on hover (pointer devices). Clicking and the keyboard
// (Enter/Space, arrow keys, Escape) work as before: it stays a Bootstrap dropdown.
(function () {
  "use strict";
  var item = document.getElementById("hf-profile-menu");
  var toggle = item && item.querySelector("[data-bs-toggle=dropdown]");
  if (!toggle || !window.bootstrap || !window.matchMedia("(hover: hover)").matches) return;
  var dropdown = window.bootstrap.Dropdown.getOrCreateInstance(toggle);
  var closing = null;
  var openedByHover = false;
  item.addEventListener("mouseenter", function () {
    clearTimeout(closing);
    if (!item.querySelector(".dropdown-menu.show")) {
      dropdown.show();
      openedByHover = true;
    }
  });
  item.addEventListener("mouseleave", function () {
    // a short grace period: the pointer crosses the gap between button and menu
    closing = setTimeout(function () { dropdown.hide(); openedByHover = false; }, 250);
  });
  // the click that follows a hover must not close what the hover just opened
  window.addEventListener("click", function (ev) {
    if (openedByHover && ev.target.closest && toggle.contains(ev.target)) {
      openedByHover = false;
      // Bootstrap toggles from a capturing listener on the document: stop the click before it
      ev.stopPropagation();
    }
  }, true);
})();
