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

// Hubfront: the Resource Dashboard's Resource Group field. Picking another resource group shows what its
// nodes hold and what you and the group use there (GET …/usage?resource_group=…).
(function () {
  "use strict";
  var box = document.getElementById("hf-resource-group-box");
  var pick = document.getElementById("hf-rg-pick");
  if (!box || !pick) return;
  function show(rg) {
    document.getElementById("hf-rg-description").textContent = rg.description || "";
    document.getElementById("hf-rg-nodes").textContent = String(rg.capacity.nodes);
    var error = document.getElementById("hf-rg-error");
    error.textContent = rg.capacity.error || "";
    error.hidden = !rg.capacity.error;
    rg.used.forEach(function (row) {
      var tr = box.querySelector('tr[data-resource="' + row.resource + '"]');
      if (!tr) return;
      tr.querySelector(".hf-rg-capacity").textContent = rg.capacity.text[row.resource] || "—";
      tr.querySelector(".hf-rg-user").textContent = row.user_text;
      tr.querySelector(".hf-rg-group").textContent = row.group_text;
    });
  }
  pick.addEventListener("change", function () {
    pick.disabled = true;
    window.hf.call("GET", box.dataset.url + "?resource_group=" + encodeURIComponent(pick.value)).then(function (res) {
      if (res.ok) { show(res.data.resource_group); } else {
        var error = document.getElementById("hf-rg-error");
        error.textContent = window.hf.problem(res); error.hidden = false;
      }
      pick.disabled = false;
    });
  });
})();
