// Hubfront: the group admin's Images page. Adding and removing go through the REST API
// (/hub/api/portal/groups/<group>/images) with the page's XSRF token (hf.call).
(function () {
  "use strict";
  var page = document.getElementById("hf-images-page");
  if (!page) return;
  var api = page.dataset.api;
  var form = document.getElementById("hf-image-form");

  function showError(box, message) {
    box.textContent = message || "";
    box.hidden = !message;
  }

  // field errors from a 400/409 next to their inputs (packages.pip.1 under the packages box)
  function fieldErrors(res) {
    form.querySelectorAll(".is-invalid").forEach(function (n) { n.classList.remove("is-invalid"); });
    form.querySelectorAll("[data-error]").forEach(function (n) { n.textContent = ""; });
    var errors = (res.data && res.data.errors) || {};
    var unplaced = [];
    Object.keys(errors).forEach(function (field) {
      var top = field.split(".")[0];
      var slot = form.querySelector('[data-error="' + top + '"]');
      var input = form.querySelector('[name="' + top + '"]');
      var text = (top !== field ? field + ": " : "") + errors[field];
      if (slot) slot.textContent = slot.textContent ? slot.textContent + " · " + text : text;
      else unplaced.push(field + ": " + errors[field]);
      if (input) input.classList.add("is-invalid");
    });
    showError(form.querySelector(".hf-form-error"),
      unplaced.length ? unplaced.join("; ") : (Object.keys(errors).length ? "" : hf.problem(res)));
  }

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
      else fieldErrors(res);
    });
  });

  page.addEventListener("click", function (ev) {
    var button = ev.target.closest(".hf-image-delete");
    if (!button) return;
    var name = button.closest(".hf-image-row").dataset.name;
    if (!window.confirm("Remove image " + name + " from the group? Running notebooks keep it.")) return;
    hf.call("DELETE", api + "/" + encodeURIComponent(name)).then(function (res) {
      if (res.ok) window.location.reload();
      else showError(page.querySelector(".hf-action-error"), hf.problem(res));
    });
  });
})();
