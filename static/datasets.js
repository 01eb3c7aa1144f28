// Hubfront: the Datasets pages. Every change goes through the REST API (/hub/api/portal/...) with the
// page's XSRF token (hf.call); what the API answers is inserted as text, never as HTML.
(function () {
  "use strict";
  var jh = window.jhdata || {};
  var call = hf.call, problem = hf.problem, el = hf.el;

  var showError = hf.showError, fieldErrors = hf.fieldErrors;

  function tags(text) {
    return (text || "").split(",").map(function (t) { return t.trim(); }).filter(Boolean);
  }

  // -- env editors (create form and a dataset's page) -----------------------------------------

  function envRow(tbody, entry, withVariable) {
    var tr = el("tr", "hf-env-row");
    function cell(child) { var td = el("td"); td.appendChild(child); tr.appendChild(td); return child; }
    var key = cell(el("input", "form-control form-control-sm font-monospace hf-env-key"));
    key.setAttribute("aria-label", "Key");
    key.value = entry.key || "";
    if (withVariable) tr.appendChild(el("td", "font-monospace small"));
    var value = cell(el("input", "form-control form-control-sm hf-env-value"));
    value.setAttribute("aria-label", "Value");
    var secret = cell(el("input", "form-check-input hf-env-secret"));
    secret.type = "checkbox";
    secret.setAttribute("aria-label", "Secret");
    secret.addEventListener("change", function () { value.type = secret.checked ? "password" : "text"; });
    var remove = cell(el("button", "btn btn-sm btn-link text-danger hf-env-remove", "Remove"));
    remove.type = "button";
    var none = tbody.querySelector(".hf-env-none");
    if (none) none.remove();
    tbody.appendChild(tr);
    key.focus();
  }

  function envEntries(tbody) {
    return Array.prototype.map.call(tbody.querySelectorAll(".hf-env-row"), function (tr) {
      var value = tr.querySelector(".hf-env-value").value;
      var secret = tr.querySelector(".hf-env-secret").checked;
      var keptSecret = tr.getAttribute("data-secret") === "1" && value === "";
      return { key: tr.querySelector(".hf-env-key").value.trim(), value: keptSecret ? null : value, secret: secret };
    });
  }

  document.addEventListener("click", function (ev) {
    var remove = ev.target.closest ? ev.target.closest(".hf-env-remove") : null;
    if (remove) remove.closest("tr").remove();
  });

  // -- the list page: create ---------------------------------------------------------------

  var list = document.getElementById("hf-datasets-page");
  var form = document.getElementById("hf-dataset-form");
  if (list && form) {
    var kind = form.querySelector('[name="kind"]');
    var envBody = form.querySelector("#hf-ds-env tbody");
    var showKind = function () {
      form.querySelectorAll(".hf-kind").forEach(function (n) { n.hidden = n.getAttribute("data-kind") !== kind.value; });
    };
    kind.addEventListener("change", showKind);
    showKind();
    form.querySelector("#hf-ds-env-add").addEventListener("click", function () { envRow(envBody, {}, false); });
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var v = function (name) { return form.querySelector('[name="' + name + '"]').value.trim(); };
      var body = { name: v("name"), kind: kind.value };
      if (v("description")) body.description = v("description");
      if (tags(v("tags")).length) body.tags = tags(v("tags"));
      if (kind.value === "git") {
        body.git_url = v("git_url");
        body.git_branch = v("git_branch") || "main";
        var every = v("sync_interval");
        body.sync_interval = every === "" ? 0 : Number(every);
      }
      if (kind.value === "env") body.env = envEntries(envBody);
      var button = form.querySelector("#hf-dataset-submit");
      button.disabled = true;
      call("POST", list.getAttribute("data-api"), body).then(function (res) {
        button.disabled = false;
        if (res.ok) { window.location.href = list.getAttribute("data-pages") + encodeURIComponent(res.data.name); return; }
        fieldErrors(form, res);
      });
    });
  }

  // -- a dataset's page ----------------------------------------------------------------------

  var page = document.getElementById("hf-dataset-page");
  if (!page) return;
  var api = page.getAttribute("data-api");
  var grantsApi = api + "/grants/";

  function act(method, url, body, after) {
    return call(method, url, body).then(function (res) {
      if (!res.ok) { showError(page, problem(res)); return res; }
      if (after) after(res); else window.location.reload();
      return res;
    });
  }

  var edit = document.getElementById("hf-ds-edit");
  if (edit) edit.addEventListener("submit", function (ev) {
    ev.preventDefault();
    act("PATCH", api, { description: edit.description.value.trim(), tags: tags(edit.tags.value) });
  });

  var grantForm = document.getElementById("hf-grant-form");
  if (grantForm) grantForm.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var group = grantForm.group.value;
    if (!group) { showError(page, "There is no other group to grant it to."); return; }
    act("PUT", grantsApi + encodeURIComponent(group), { mode: grantForm.mode.value });
  });
  page.querySelectorAll(".hf-grant-row").forEach(function (row) {
    var group = row.getAttribute("data-group");
    var mode = row.querySelector(".hf-grant-mode");
    if (mode) mode.addEventListener("change", function () {
      act("PUT", grantsApi + encodeURIComponent(group), { mode: mode.value });
    });
    var revoke = row.querySelector(".hf-grant-revoke");
    if (revoke) revoke.addEventListener("click", function () {
      if (window.confirm("Revoke group " + group + "'s use of this dataset? Its workloads lose access at once.")) {
        act("DELETE", grantsApi + encodeURIComponent(group));
      }
    });
  });

  var versionForm = document.getElementById("hf-version-form");
  if (versionForm) versionForm.addEventListener("submit", function (ev) {
    ev.preventDefault();
    versionForm.querySelector("button").disabled = true;
    act("POST", api + "/versions", { note: versionForm.note.value.trim() });
  });

  var sync = document.getElementById("hf-ds-sync");
  if (sync) sync.addEventListener("click", function () {
    sync.disabled = true;
    act("POST", api + "/sync", undefined, function () { watchSync(); });
  });
  // while a sync is asked for or running, follow its status (the runner writes it)
  function watchSync() {
    var status = document.getElementById("hf-ds-sync-status");
    status.textContent = "Waiting";
    var poll = function () {
      call("GET", api).then(function (res) {
        if (!res.ok || !res.data.git) return;
        var git = res.data.git;
        status.textContent = git.status || "Waiting";
        if (git.sync_requested || git.status === "Syncing" || git.status === "Waiting") setTimeout(poll, 2000);
        else window.location.reload();
      });
    };
    setTimeout(poll, 1000);
  }
  var syncStatus = document.getElementById("hf-ds-sync-status");
  if (syncStatus && /^(Waiting|Syncing)$/.test(syncStatus.textContent.trim())) watchSync();

  var envTable = document.getElementById("hf-ds-env");
  var envAdd = document.getElementById("hf-ds-env-add");
  if (envTable && envAdd) {
    var body = envTable.querySelector("tbody");
    envAdd.addEventListener("click", function () { envRow(body, {}, true); });
    document.getElementById("hf-ds-env-save").addEventListener("click", function () {
      act("PATCH", api, { env: envEntries(body) });
    });
  }

  var del = document.getElementById("hf-ds-delete");
  if (del) del.addEventListener("click", function () {
    var name = page.getAttribute("data-name");
    if (window.prompt("Delete dataset " + name + " with its files and versions? Type its name to confirm.") !== name) return;
    act("DELETE", api, undefined, function () { window.location.href = page.getAttribute("data-list"); });
  });

  // -- uploads (tus-js-client: resumable, chunked) -------------------------------------------

  var uploads = document.getElementById("hf-ds-uploads");
  function upload(file) {
    var target = file.webkitRelativePath || file.name;
    var li = el("li", "list-group-item hf-upload");
    var head = el("div", "d-flex gap-2");
    head.appendChild(el("span", "flex-grow-1 text-break", target));
    var status = el("span", "small text-nowrap hf-upload-status", "Waiting");
    head.appendChild(status);
    li.appendChild(head);
    var bar = el("div", "progress mt-1");
    bar.setAttribute("role", "progressbar");
    bar.setAttribute("aria-label", "Upload of " + target);
    var fill = el("div", "progress-bar");
    fill.style.width = "0%";
    bar.appendChild(fill);
    li.appendChild(bar);
    uploads.appendChild(li);
    var tus = new window.tus.Upload(file, {
      endpoint: page.getAttribute("data-uploads-api"),
      chunkSize: 8 * 1024 * 1024,
      retryDelays: [0, 1000, 3000, 5000, 10000],
      headers: { "X-XSRFToken": jh.xsrf_token || "" },
      metadata: { path: target, area: "dataset:" + page.getAttribute("data-name"), filename: file.name },
      fingerprint: function (f) {
        return Promise.resolve(["hubfront-dataset", page.getAttribute("data-group"), page.getAttribute("data-name"),
          target, f.size, f.lastModified].join("/"));
      },
      onProgress: function (sent, total) {
        var pct = total ? Math.floor((sent / total) * 100) : 100;
        fill.style.width = pct + "%";
        bar.setAttribute("aria-valuenow", String(pct));
        status.textContent = pct + "%";
      },
      onError: function (err) {
        var res = err && err.originalResponse;
        var text = res && res.getHeader("Hubfront-Error");
        if (!text && res) { try { text = JSON.parse(res.getBody() || "null").message; } catch (e) { text = ""; } }
        status.textContent = text || "Failed: " + ((err && err.message) || "the hub could not be reached");
        status.classList.add("text-danger");
        fill.classList.add("bg-danger");
      },
      onSuccess: function () {
        status.textContent = "Done";
        fill.classList.add("bg-success");
        fill.style.width = "100%";
        refreshSize();
        if (window.HubfrontFiles) window.HubfrontFiles.refresh();  // the files browser shows it
      },
    });
    tus.findPreviousUploads().then(function (previous) {
      if (previous.length) tus.resumeFromPreviousUpload(previous[0]);
      tus.start();
    });
  }
  function refreshSize() {
    call("GET", api).then(function (res) {
      var size = document.getElementById("hf-ds-size");
      if (res.ok && size) size.textContent = formatSize(res.data.size) + " in " + res.data.files + " file" + (res.data.files === 1 ? "" : "s");
    });
  }
  function formatSize(n) {
    var units = [["TiB", 1099511627776], ["GiB", 1073741824], ["MiB", 1048576], ["KiB", 1024]];
    for (var i = 0; i < units.length; i++) if (n >= units[i][1]) return (n / units[i][1]).toPrecision(3).replace(/(\.\d*?)0+$/, "$1").replace(/\.$/, "") + " " + units[i][0];
    return n + " B";
  }
  ["hf-ds-files", "hf-ds-folder"].forEach(function (id) {
    var input = document.getElementById(id);
    if (input && window.tus) input.addEventListener("change", function () {
      Array.prototype.forEach.call(input.files, upload);
      input.value = "";
    });
  });
})();
