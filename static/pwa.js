// Hubfront as a desktop app (hub_ext.portal.desktop): every portal page registers the service worker
// (it keeps the portal's CSS, JS and icons, nothing else), and the home's Desktop & SSH panel offers
// "Install app" where the browser fires beforeinstallprompt, or says that the app is installed.
(function () {
  "use strict";
  var base = (window.jhdata && window.jhdata.base_url) || "/hub/";
  if ("serviceWorker" in navigator && window.isSecureContext) {
    navigator.serviceWorker.register(base + "portal/sw.js", { scope: base }).catch(function (err) {
      if (window.console) console.warn("Hubfront: no service worker:", err);
    });
  }
  var button = document.getElementById("hf-install-app");
  var offer = document.getElementById("hf-app-offer");
  var installed = document.getElementById("hf-app-installed");
  var hint = document.getElementById("hf-app-hint");
  if (!button) return;
  var prompt = null;
  function standalone() {
    return window.matchMedia("(display-mode: standalone)").matches || window.navigator.standalone === true;
  }
  function showInstalled() {
    offer.hidden = true;
    installed.hidden = false;
  }
  if (standalone()) showInstalled();
  window.addEventListener("beforeinstallprompt", function (event) {
    event.preventDefault(); // the panel's button asks instead of the browser's own bar
    prompt = event;
    button.hidden = false;
    hint.textContent = "Your browser can install Hubfront as an app, in a window of its own.";
  });
  window.addEventListener("appinstalled", function () {
    prompt = null;
    showInstalled();
  });
  button.addEventListener("click", function () {
    if (!prompt) return;
    var asked = prompt;
    prompt = null;
    asked.prompt();
    asked.userChoice.then(function (choice) {
      if (choice.outcome === "accepted") showInstalled();
      else button.hidden = true;
    });
  });
})();
