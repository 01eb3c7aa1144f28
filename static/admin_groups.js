// Hubfront: the Groups console. Every change goes through the REST API with the page's XSRF token (hf.call):
// /hub/api/portal/admin/groups[/<group>[/members[/<user>]]] and /hub/api/portal/groups/<group>/policy.
// Field errors of a 400 land next to their inputs (hf.fieldErrors).
(function () {
  "use strict";
  var list = document.getElementById("hf-admin-groups");
  if (!list) return;
  var api = list.dataset.api;

  var create = document.getElementById("hf-group-create");
  if (create) {
    create.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var body = { name: create.elements.name.value.trim(), display_name: create.elements.display_name.value };
      hf.call("POST", api, body).then(function (res) {
        hf.fieldErrors(create, res);
        if (res.ok) window.location.assign(list.dataset.page + "/" + encodeURIComponent(res.data.name));
      });
    });
  }

  list.addEventListener("click", function (ev) {
    var button = ev.target.closest(".hf-group-delete");
    if (!button) return;
    var name = button.dataset.group;
    if (!window.confirm("Delete group " + name + "? Its members lose access to it; its files stay on disk.")) return;
    hf.call("DELETE", api + "/" + encodeURIComponent(name)).then(function (res) {
      if (res.ok) window.location.reload();
      else hf.showError(list, hf.problem(res));
    });
  });
})();

(function () {
  "use strict";
  var page = document.getElementById("hf-admin-group");
  if (!page) return;
  var groupApi = page.dataset.groupApi;

  // -- the policy form: one PATCH of every field the viewer may change ---------------------------
  var form = document.getElementById("hf-policy-console");

  function set(doc, path, value) {
    var parts = path.split("."), node = doc;
    for (var i = 0; i < parts.length - 1; i++) node = node[parts[i]] = node[parts[i]] || {};
    node[parts[parts.length - 1]] = value;
  }

  function read(node) {
    var kind = node.dataset.kind;
    if (kind === "bool") return node.checked;
    if (kind === "string") return node.value.trim();
    if (kind === "names") {
      var all = node.querySelector("input.hf-all");
      if (all && all.checked) return ["*"];
      return Array.prototype.filter.call(node.querySelectorAll("input[type=checkbox]:not(.hf-all)"),
        function (box) { return box.checked; }).map(function (box) { return box.value; });
    }
    return node.value.trim() || null;  // amount, text, choice: empty is unlimited / the default
  }

  function patchOf(root) {
    var doc = {};
    root.querySelectorAll("[data-policy]").forEach(function (node) {
      if (!node.hasAttribute("data-readonly")) set(doc, node.dataset.policy, read(node));
    });
    return doc;
  }

  // "All" ticks every box of its list and locks them; the default instance type offers only allowed ones
  function syncNames(fieldset) {
    var all = fieldset.querySelector("input.hf-all");
    var readonly = fieldset.hasAttribute("data-readonly");
    fieldset.querySelectorAll("input[type=checkbox]:not(.hf-all)").forEach(function (box) {
      if (all.checked) box.checked = true;
      box.disabled = readonly || all.checked;
    });
  }
  function syncDefault() {
    var types = document.getElementById("hf-p-instance_types");
    var select = document.getElementById("hf-p-default_instance_type");
    if (!types || !select) return;
    var allowed = read(types);
    Array.prototype.forEach.call(select.options, function (opt) {
      opt.disabled = !!opt.value && allowed.indexOf("*") < 0 && allowed.indexOf(opt.value) < 0;
    });
  }
  form.querySelectorAll("fieldset.hf-names").forEach(function (fieldset) {
    syncNames(fieldset);
    fieldset.addEventListener("change", function (ev) {
      if (ev.target.classList.contains("hf-all")) syncNames(fieldset);
      syncDefault();
    });
  });
  syncDefault();

  var saved = document.getElementById("hf-policy-saved");
  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    saved.hidden = true;
    hf.call("PATCH", page.dataset.policyApi, patchOf(form)).then(function (res) {
      hf.fieldErrors(form, res);
      saved.hidden = !res.ok;
    });
  });

  // -- name: rename and delete -------------------------------------------------------------------
  var rename = document.getElementById("hf-group-rename");
  if (rename) {
    rename.addEventListener("submit", function (ev) {
      ev.preventDefault();
      hf.call("PATCH", groupApi, { display_name: rename.elements.display_name.value }).then(function (res) {
        hf.fieldErrors(rename, res);
        if (res.ok) window.location.reload();
      });
    });
    document.getElementById("hf-group-delete-one").addEventListener("click", function () {
      if (!window.confirm("Delete group " + page.dataset.group + "? Its members lose access to it; its files stay on disk.")) return;
      hf.call("DELETE", groupApi).then(function (res) {
        if (res.ok) window.location.assign(page.dataset.list);
        else hf.showError(rename, hf.problem(res));
      });
    });
  }

  // -- members and group admins ------------------------------------------------------------------
  var add = document.getElementById("hf-member-add");
  if (add) {
    add.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var body = { user: add.elements.user.value.trim(), admin: add.elements.admin.checked };
      hf.call("POST", groupApi + "/members", body).then(function (res) {
        hf.fieldErrors(add, res);
        if (res.ok) window.location.reload();
      });
    });
  }
  var members = document.getElementById("hf-members");
  members.addEventListener("click", function (ev) {
    var button = ev.target.closest("button");
    var row = button && button.closest("tr[data-user]");
    if (!row) return;
    var url = groupApi + "/members/" + encodeURIComponent(row.dataset.user), call = null;
    if (button.classList.contains("hf-member-role")) {
      call = hf.call("PATCH", url, { admin: button.dataset.admin === "1" });
    } else if (button.classList.contains("hf-member-remove")) {
      if (!window.confirm("Remove " + row.dataset.user + " from group " + page.dataset.group + "?")) return;
      call = hf.call("DELETE", url);
    }
    if (call) call.then(function (res) {
      if (res.ok) window.location.reload();
      else hf.showError(document.getElementById("hf-members-card"), hf.problem(res));
    });
  });
})();
