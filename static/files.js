// Hubfront: the Shared Files browser. Browse the group's storage, make folders, rename, move, delete,
// download, preview. Every change goes through the REST API (/hub/api/portal/groups/<g>/files/...)
// with the page's XSRF token; names are always inserted as text, never as HTML.
// files_upload.js (tus uploads) and files_shares.js (share links) use window.HubfrontFiles.
// A dataset's page shows the same browser on the dataset's files (…/datasets/<name>/files/): there
// ``data-root-label`` names the root, and without ``data-writable`` only reading is offered.
(function () {
  "use strict";
  var page = document.getElementById("hf-files-page");
  if (!page) return;
  var ds = page.dataset;
  var state = { folder: ds.folder || "", entries: [], writable: ds.writable !== "0" };
  var rootLabel = ds.rootLabel || "Shared Files";
  var rootIcon = ds.rootIcon || "fa-hard-drive";

  // -- helpers ---------------------------------------------------------------------------

  var hf = window.hf;
  var call = hf.call;
  var messageOf = hf.problem;
  var el = hf.el;

  function icon(name) {
    var i = el("i", "fa fa-fw " + name);
    i.setAttribute("aria-hidden", "true");
    return i;
  }

  function join(folder, name) { return folder ? folder + "/" + name : name; }
  function parentOf(path) { var i = path.lastIndexOf("/"); return i < 0 ? "" : path.slice(0, i); }
  function baseName(path) { return path.slice(path.lastIndexOf("/") + 1); }
  function encodePath(path) { return path.split("/").map(encodeURIComponent).join("/"); }
  function fileUrl(path) { return ds.filesApi + (path ? encodePath(path) : ""); }
  function pageUrl(path) { return ds.pageBase + (path ? "/" + encodePath(path) : ""); }

  function size(n) {
    if (n === null || n === undefined) return "—";
    var units = [["TiB", 1099511627776], ["GiB", 1073741824], ["MiB", 1048576], ["KiB", 1024]];
    for (var i = 0; i < units.length; i++) {
      if (n >= units[i][1]) return Number((n / units[i][1]).toPrecision(3)) + " " + units[i][0];
    }
    return n + " B";
  }

  // "2030-06-01 14:00": a time from the API in the user's zone
  function when(iso) { return hf.when(iso, ds.zone, true); }

  function showError(message, box) {
    box = box || page.querySelector(".hf-action-error");
    box.textContent = message || "";
    box.hidden = !message;
  }

  function isFolder(entry) { return entry.type === "folder"; }

  function modal(id) { return window.bootstrap.Modal.getOrCreateInstance(document.getElementById(id)); }

  var hideModal = hf.hideModal;  // also while the dialog is still opening (portal.js)

  // -- listing and breadcrumbs -------------------------------------------------------------

  function crumbs() {
    var list = document.getElementById("hf-files-crumbs");
    list.textContent = "";
    var parts = state.folder ? state.folder.split("/") : [];
    var items = [{ name: rootLabel, path: "" }];
    parts.forEach(function (part, i) { items.push({ name: part, path: parts.slice(0, i + 1).join("/") }); });
    items.forEach(function (item, i) {
      var li = el("li", "breadcrumb-item" + (i === items.length - 1 ? " active" : ""));
      if (i === items.length - 1) {
        li.setAttribute("aria-current", "page");
        if (!i) li.appendChild(icon(rootIcon));
        li.appendChild(document.createTextNode((i ? "" : " ") + item.name));
      } else {
        var a = el("a", "hf-crumb", i ? item.name : null);
        if (!i) { a.appendChild(icon(rootIcon)); a.appendChild(document.createTextNode(" " + item.name)); }
        a.href = pageUrl(item.path);
        a.dataset.path = item.path;
        li.appendChild(a);
      }
      list.appendChild(li);
    });
    var zip = document.getElementById("hf-download-folder");
    if (zip) zip.href = fileUrl(state.folder) + "?download=zip";
  }

  function actionButton(label, iconName, action, entry, cls) {
    var b = el("button", "btn btn-sm " + (cls || "btn-outline-secondary") + " hf-" + action);
    b.type = "button";
    b.title = label;
    b.setAttribute("aria-label", label + " " + entry.name);
    b.appendChild(icon(iconName));
    b.dataset.action = action;
    b.dataset.name = entry.name;
    return b;
  }

  function row(entry) {
    var tr = el("tr", "hf-entry");
    tr.dataset.name = entry.name;
    tr.dataset.type = isFolder(entry) ? "folder" : "file";
    var name = el("td", "hf-entry-name text-break");
    var path = join(state.folder, entry.name);
    var a = el("a", isFolder(entry) ? "hf-open-folder" : "hf-open-file");
    a.appendChild(icon(isFolder(entry) ? "fa-folder text-warning" : "fa-file text-secondary"));
    a.appendChild(document.createTextNode(" " + entry.name));
    a.href = isFolder(entry) ? pageUrl(path) : fileUrl(path);
    a.dataset.path = path;
    name.appendChild(a);
    tr.appendChild(name);
    tr.appendChild(el("td", "text-end text-nowrap hf-entry-size", isFolder(entry) ? "—" : size(entry.size)));
    tr.appendChild(el("td", "text-nowrap small hf-entry-mtime", when(entry.mtime)));
    var actions = el("td", "text-end text-nowrap");
    var group = el("div", "btn-group btn-group-sm");
    if (!isFolder(entry)) group.appendChild(actionButton("Preview", "fa-eye", "preview", entry));
    var dl = el("a", "btn btn-sm btn-outline-secondary hf-download");
    dl.href = fileUrl(path) + (isFolder(entry) ? "?download=zip" : "");
    dl.title = isFolder(entry) ? "Download as zip" : "Download";
    dl.setAttribute("aria-label", dl.title + " " + entry.name);
    dl.setAttribute("download", isFolder(entry) ? entry.name + ".zip" : entry.name);
    dl.appendChild(icon(isFolder(entry) ? "fa-file-zipper" : "fa-download"));
    group.appendChild(dl);
    if (ds.sharesApi) group.appendChild(actionButton("Share", "fa-link", "share", entry));
    if (state.writable) {  // read-only (a dataset the group may only read): nothing that would be refused
      group.appendChild(actionButton("Rename", "fa-i-cursor", "rename", entry));
      group.appendChild(actionButton("Move", "fa-arrow-right-arrow-left", "move", entry));
      group.appendChild(actionButton("Delete", "fa-trash", "delete", entry, "btn-outline-danger"));
    }
    actions.appendChild(group);
    tr.appendChild(actions);
    return tr;
  }

  function render() {
    var body = document.getElementById("hf-files-body");
    body.textContent = "";
    var entries = state.entries.slice().sort(function (a, b) {
      if (isFolder(a) !== isFolder(b)) return isFolder(a) ? -1 : 1;
      return a.name.localeCompare(b.name);
    });
    if (!entries.length) {
      var td = el("td", "text-muted text-center py-4",
        ds.uploadsApi && state.writable ? "This folder is empty. Drop files here, or use Upload." : "This folder is empty.");
      td.colSpan = 4;
      td.id = "hf-files-empty";
      var tr = el("tr");
      tr.appendChild(td);
      body.appendChild(tr);
    }
    entries.forEach(function (e) { body.appendChild(row(e)); });
  }

  function refresh() {
    return call("GET", fileUrl(state.folder)).then(function (res) {
      if (!res.ok) {
        showError(res.status === 404 && state.folder ? "There is no folder /" + state.folder + "." : messageOf(res));
        state.entries = [];
      } else {
        state.entries = (res.data && res.data.entries) || [];
        quota(res.data && res.data.storage);
      }
      render();
      return res;
    });
  }

  // over the group's storage quota the storage is read-only: the API's reason, as text
  // (looked at again every few seconds until it is writable: the guard unlocks soon after a delete)
  var quotaTimer = null;
  function quota(storage) {
    var box = document.getElementById("hf-quota-reason");
    if (storage && storage.writable !== undefined) writable(storage.writable);  // a dataset's, as the API says
    var locked = !!(storage && storage.read_only);
    box.textContent = locked ? storage.reason : "";
    box.hidden = !locked;
    if (locked && !quotaTimer) quotaTimer = window.setTimeout(function () { quotaTimer = null; refresh(); }, 3000);
  }

  // what may be changed: New folder, and each entry's Rename, Move and Delete (a dataset: its grant)
  function writable(yes) {
    state.writable = !!yes;
    var add = document.getElementById("hf-new-folder");
    if (add) add.hidden = !state.writable;
  }

  function go(path, push) {
    state.folder = path;
    page.dataset.folder = path;
    if (push) window.history.pushState({ folder: path }, "", pageUrl(path));
    showError("");
    crumbs();
    document.dispatchEvent(new CustomEvent("hf-folder", { detail: path }));
    return refresh();
  }

  window.addEventListener("popstate", function (ev) {
    go(ev.state && typeof ev.state.folder === "string" ? ev.state.folder : ds.folder || "", false);
  });

  // -- preview -----------------------------------------------------------------------------

  function csvTable(rows) {
    var table = el("table", "table table-sm table-bordered table-striped hf-csv-table mb-0");
    var body = el("tbody");
    rows.forEach(function (cells, i) {
      var tr = el("tr");
      (cells || []).forEach(function (cell) { tr.appendChild(el(i === 0 ? "th" : "td", "", cell)); });
      (i === 0 ? table.appendChild(el("thead")) : body).appendChild(tr);
    });
    table.appendChild(body);
    return table;
  }

  function preview(path) {
    var body = document.getElementById("hf-preview-body");
    var note = document.getElementById("hf-preview-note");
    document.getElementById("hf-preview-title").textContent = baseName(path);
    document.getElementById("hf-preview-download").href = fileUrl(path);
    body.textContent = "Loading…";
    note.textContent = "";
    modal("hf-preview-modal").show();
    call("GET", fileUrl(path) + "?preview=1").then(function (res) {
      body.textContent = "";
      var data = res.data || {};
      if (!res.ok) {
        body.appendChild(el("div", "alert alert-secondary mb-0 hf-preview-none", messageOf(res)));
        return;
      }
      if (data.kind === "image") {
        var img = el("img", "img-fluid hf-preview-image");
        img.alt = baseName(path);
        img.src = data.data || fileUrl(path); // big images: the file itself
        body.appendChild(img);
      } else if (data.kind === "csv") {
        var rows = data.rows || [];
        if (data.header) rows = [data.header].concat(rows);
        var wrap = el("div", "table-responsive hf-preview-csv");
        wrap.appendChild(csvTable(rows));
        body.appendChild(wrap);
      } else if (data.kind === "text") {
        body.appendChild(el("pre", "hf-preview-text mb-0", data.text));
      } else {
        body.appendChild(el("div", "alert alert-secondary mb-0 hf-preview-none",
          data.message || "No preview for this kind of file: download it instead."));
      }
      if (data.truncated) note.textContent = "Only the beginning of the file is shown.";
    });
  }

  // -- folder, rename, move, delete ---------------------------------------------------------

  var nameAction = null;

  function askName(title, label, value, help, okText, action) {
    document.getElementById("hf-name-title").textContent = title;
    document.getElementById("hf-name-label").textContent = label;
    document.getElementById("hf-name-help").textContent = help || "";
    document.getElementById("hf-name-ok").textContent = okText;
    var input = document.getElementById("hf-name-input");
    input.value = value || "";
    showError("", document.querySelector("#hf-name-form .hf-form-error"));
    nameAction = action;
    var m = document.getElementById("hf-name-modal");
    m.addEventListener("shown.bs.modal", function () { input.focus(); input.select(); }, { once: true });
    modal("hf-name-modal").show();
  }

  document.getElementById("hf-name-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var value = document.getElementById("hf-name-input").value.trim();
    var box = document.querySelector("#hf-name-form .hf-form-error");
    if (!value) { showError("Enter a name.", box); return; }
    nameAction(value).then(function (res) {
      if (!res.ok) { showError(messageOf(res), box); return; }
      hideModal("hf-name-modal");
      refresh();
    });
  });

  var newFolder = document.getElementById("hf-new-folder");
  if (newFolder) newFolder.addEventListener("click", function () {
    askName("New folder", "Name", "", "Made in /" + state.folder, "Create", function (name) {
      // the name goes as one segment ("/" encoded too), so a browser never resolves a ".." in it before the
      // hub sees it: the hub refuses it by name; ".." or "." alone would be resolved whatever the encoding
      if (/^\.\.?$/.test(name)) {
        return Promise.resolve({ ok: false, status: 400, data: { message: "Name: '" + name + "' is not allowed in a file name" } });
      }
      return call("POST", fileUrl(state.folder) + (state.folder ? "/" : "") + encodeURIComponent(name) + "?op=mkdir");
    });
  });

  function move(from, to) { return call("POST", fileUrl(from) + "?op=move", { to: to }); }

  var pendingDelete = null;
  document.getElementById("hf-confirm-ok").addEventListener("click", function () {
    var path = pendingDelete;
    hideModal("hf-confirm-modal");
    call("DELETE", fileUrl(path)).then(function (res) {
      if (!res.ok) showError(messageOf(res));
      refresh();
    });
  });

  document.getElementById("hf-files-body").addEventListener("click", function (ev) {
    var target = ev.target.closest("a, button");
    if (!target) return;
    if (target.classList.contains("hf-open-folder")) {
      ev.preventDefault();
      go(target.dataset.path, true);
      return;
    }
    if (target.classList.contains("hf-open-file")) {
      ev.preventDefault();
      preview(target.dataset.path);
      return;
    }
    var action = target.dataset.action;
    if (!action) return;
    var name = target.dataset.name;
    var path = join(state.folder, name);
    var entry = state.entries.filter(function (e) { return e.name === name; })[0] || {};
    if (action === "preview") preview(path);
    else if (action === "share") document.dispatchEvent(new CustomEvent("hf-share", { detail: path }));
    else if (action === "rename") {
      askName("Rename", "New name", name, "In /" + state.folder, "Rename", function (value) {
        return move(path, join(state.folder, value));
      });
    } else if (action === "move") {
      askName("Move", "Move to (path from the root of Shared Files)", path, "Folders on the way must exist.", "Move",
        function (value) { return move(path, value.replace(/^\/+/, "")); });
    } else if (action === "delete") {
      pendingDelete = path;
      document.getElementById("hf-confirm-title").textContent = isFolder(entry) ? "Delete folder?" : "Delete file?";
      document.getElementById("hf-confirm-text").textContent = isFolder(entry)
        ? "Delete the folder /" + path + " and everything in it? Every member of the group loses it; this cannot be undone."
        : "Delete /" + path + "? Every member of the group loses it; this cannot be undone.";
      modal("hf-confirm-modal").show();
    }
  });

  document.getElementById("hf-files-crumbs").addEventListener("click", function (ev) {
    var a = ev.target.closest("a.hf-crumb");
    if (!a) return;
    ev.preventDefault();
    go(a.dataset.path, true);
  });

  var shareFolder = document.getElementById("hf-share-folder");
  if (shareFolder) shareFolder.addEventListener("click", function () {
    document.dispatchEvent(new CustomEvent("hf-share", { detail: state.folder }));
  });

  window.HubfrontFiles = {
    call: call, messageOf: messageOf, el: el, icon: icon, join: join, size: size, when: when,
    showError: showError, fileUrl: fileUrl, parentOf: parentOf, refresh: refresh,
    folder: function () { return state.folder; },
  };
  window.history.replaceState({ folder: state.folder }, "", window.location.href);
  go(state.folder, false);
})();
