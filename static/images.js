// Hubfront: the group admin's Images page. Adding and removing go through the REST API
// (/hub/api/portal/groups/<group>/images) with the page's XSRF token (hf.call).
(function () {
  "use strict";
  var page = document.getElementById("hf-images-page");
  if (!page) return;
  var api = page.dataset.api;
  var form = document.getElementById("hf-image-form");

  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var body = { name: form.elements.name.value.trim() };
    ["display_name", "description", "image", "gpu_image"].forEach(function (f) {
      var v = form.elements[f].value.trim();
      if (v) body[f] = v;
    });
    var pip = form.elements.packages.value.split("\n").map(function (s) { return s.trim(); }).filter(Boolean);
    if (pip.length) body.packages = { pip: pip };
    hf.call("POST", api, body).then(function (res) {
      if (res.ok) window.location.reload();
      else hf.fieldErrors(form, res);
    });
  });

  page.addEventListener("click", function (ev) {
    var button = ev.target.closest(".hf-image-delete");
    if (!button) return;
    var name = button.closest(".hf-image-row").dataset.name;
    if (!window.confirm("Remove image " + name + " from the group? Running notebooks keep it.")) return;
    hf.call("DELETE", api + "/" + encodeURIComponent(name)).then(function (res) {
      if (res.ok) window.location.reload();
      else hf.showError(page, hf.problem(res));
    });
  });
})();
