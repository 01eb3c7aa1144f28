// Hubfront: the home's Start dialog. Picking another group loads that group's launch form
// (/hub/portal/start?group=...); the form posts to the spawn URL like the Notebooks page's.
(function () {
  "use strict";
  var select = document.getElementById("hf-start-group");
  var body = document.getElementById("hf-start-body");
  if (!select || !body) return;

  // scripts of an inserted fragment do not run by themselves: run the form's (it filters images by type)
  function runScripts(node) {
    node.querySelectorAll("script").forEach(function (old) {
      var s = document.createElement("script");
      s.textContent = old.textContent;
      old.replaceWith(s);
    });
  }

  select.addEventListener("change", function () {
    select.disabled = true;
    fetch(select.dataset.url + "?group=" + encodeURIComponent(select.value), { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : Promise.reject(new Error("HTTP " + r.status)); })
      .then(function (html) { body.innerHTML = html; runScripts(body); })
      .catch(function (e) { body.textContent = "The launch form could not be loaded (" + e.message + ")."; })
      .finally(function () { select.disabled = false; });
  });
})();
