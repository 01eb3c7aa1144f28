// Hubfront: My Folders page and the home's Invitations panel. Every change goes through the REST API
// (/hub/api/portal/folders, /folder-invitations) with the XSRF header; then the page shows the new state.
(function () {
  "use strict";
  var root = document.getElementById("hf-folders-page") || document.getElementById("hf-folder-invitations");
  if (!root || root.dataset.bound) return;
  root.dataset.bound = "1";
  var api = root.dataset.api;

  function showError(message) {
    var box = root.querySelector(".hf-folders-error");
    if (!box) { window.alert(message); return; }
    box.textContent = message;
    box.hidden = !message;
  }

  function clearErrors(form) {
    form.querySelectorAll(".is-invalid").forEach(function (n) { n.classList.remove("is-invalid"); });
    showError("");
  }

  // each {field: message} under its field; the rest in the page's alert
  function fieldErrors(form, res) {
    var errors = (res.data && res.data.errors) || {};
    var rest = [];
    Object.keys(errors).forEach(function (field) {
      var slot = form && form.querySelector('[data-error-for="' + field + '"]');
      var input = form && form.querySelector('[name="' + field + '"]');
      if (!slot || !input) { rest.push(field + ": " + errors[field]); return; }
      slot.textContent = errors[field];
      input.classList.add("is-invalid");
    });
    if (rest.length || !Object.keys(errors).length) showError(rest.join("; ") || hf.problem(res));
  }

  function done(form) {
    return function (res) {
      if (res.ok) { window.location.reload(); return; }
      fieldErrors(form, res);
    };
  }

  var create = document.getElementById("hf-folder-create");
  if (create) {
    create.addEventListener("submit", function (ev) {
      ev.preventDefault();
      clearErrors(create);
      hf.call("POST", api + "folders", { name: create.elements.name.value.trim() }).then(done(create));
    });
  }

  root.querySelectorAll("form.hf-invite").forEach(function (form) {
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      clearErrors(form);
      var body = { invitee: form.elements.invitee.value.trim(), permission: form.elements.permission.value };
      hf.call("POST", api + "folders/" + encodeURIComponent(form.dataset.folder) + "/invitations", body)
        .then(done(form));
    });
  });

  root.querySelectorAll("select.hf-permission").forEach(function (select) {
    select.addEventListener("change", function () {
      hf.call("PATCH", api + "folder-invitations/" + select.dataset.id, { permission: select.value }).then(done(null));
    });
  });

  function action(cls, method, suffix) {
    root.querySelectorAll(cls).forEach(function (button) {
      button.addEventListener("click", function () {
        button.disabled = true;
        hf.call(method, api + "folder-invitations/" + button.dataset.id + suffix, method === "POST" ? {} : undefined)
          .then(function (res) { button.disabled = false; done(null)(res); });
      });
    });
  }
  action(".hf-revoke", "DELETE", "");
  action(".hf-fi-decline", "POST", "/decline");

  // Accepting says so where the invitation was: whose folder it is and where workloads see it.
  root.querySelectorAll(".hf-fi-accept").forEach(function (button) {
    button.addEventListener("click", function () {
      var item = button.closest(".hf-received");
      button.disabled = true;
      hf.call("POST", api + "folder-invitations/" + button.dataset.id + "/accept", {}).then(function (res) {
        button.disabled = false;
        if (!res.ok) { done(null)(res); return; }
        var owner = item.dataset.owner, folder = item.dataset.folder;
        var note = document.createElement("div");
        note.className = "me-auto text-success hf-fi-accepted";
        note.setAttribute("role", "status");
        var path = document.createElement("code");
        path.textContent = "~/shared-with-me/" + owner + "/" + folder;
        note.append("\u2713 Accepted: " + owner + "\u2019s folder " + folder + " is now at ", path,
                    " in your notebooks and jobs.");
        item.dataset.state = "accepted";
        item.replaceChildren(note);
      });
    });
  });
  action(".hf-fi-leave", "POST", "/leave");
})();
