// Hubfront: uploads on the Shared Files page, with tus-js-client (resumable, chunked).
// Files and whole folders come from the two file inputs or from drag and drop (folders are walked
// with webkitGetAsEntry); each file goes to <folder>/<its relative path> with a progress bar.
// An upload interrupted (a dropped connection, a closed tab) resumes where it stopped: the
// fingerprint names the group, the target path and the file, so the same file picked again resumes.
(function () {
  "use strict";
  var page = document.getElementById("hf-files-page");
  var F = window.HubfrontFiles;
  if (!page || !F) return;
  var jh = window.jhdata || {};
  var ds = page.dataset;
  var PARALLEL = 3;
  var queue = [];
  var running = 0;
  var refreshTimer = null;

  function list() { return document.getElementById("hf-uploads-list"); }

  function errorText(err) {
    var res = err && err.originalResponse;
    if (res) {
      var header = res.getHeader("Hubfront-Error");
      if (header) return header;
      try {
        var data = JSON.parse(res.getBody() || "null");
        if (data && data.message) return data.message;
      } catch (e) { /* not JSON */ }
      return "The upload was refused (HTTP " + res.getStatus() + ").";
    }
    return "The upload stopped: " + ((err && err.message) || "the hub could not be reached") + ".";
  }

  function laterRefresh() {
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(F.refresh, 300);
  }

  function addRow(target, file) {
    document.getElementById("hf-uploads").hidden = false;
    var li = F.el("li", "list-group-item hf-upload");
    li.dataset.path = target;
    var head = F.el("div", "d-flex align-items-center gap-2");
    head.appendChild(F.el("span", "text-break flex-grow-1 hf-upload-name", "/" + target));
    head.appendChild(F.el("span", "text-muted small text-nowrap", F.size(file.size)));
    var status = F.el("span", "small text-nowrap hf-upload-status", "Waiting");
    head.appendChild(status);
    var cancel = F.el("button", "btn btn-sm btn-link text-danger p-0 hf-upload-cancel", "Cancel");
    cancel.type = "button";
    head.appendChild(cancel);
    li.appendChild(head);
    var bar = F.el("div", "progress mt-1 hf-upload-progress");
    bar.setAttribute("role", "progressbar");
    bar.setAttribute("aria-label", "Upload of " + target);
    bar.setAttribute("aria-valuemin", "0");
    bar.setAttribute("aria-valuemax", "100");
    bar.setAttribute("aria-valuenow", "0");
    var fill = F.el("div", "progress-bar progress-bar-striped progress-bar-animated");
    fill.style.width = "0%";
    bar.appendChild(fill);
    li.appendChild(bar);
    var message = F.el("div", "small text-danger mt-1 hf-upload-error");
    message.hidden = true;
    li.appendChild(message);
    list().appendChild(li);
    return { li: li, status: status, cancel: cancel, bar: bar, fill: fill, message: message };
  }

  function progress(ui, sent, total) {
    var pct = total ? Math.floor((sent / total) * 100) : 100;
    ui.fill.style.width = pct + "%";
    ui.bar.setAttribute("aria-valuenow", String(pct));
    ui.status.textContent = pct + " %";
  }

  function finish(ui, cls, text) {
    ui.li.classList.add("hf-upload-done");
    ui.fill.classList.remove("progress-bar-animated", "progress-bar-striped");
    ui.fill.classList.add(cls);
    ui.status.textContent = text;
    ui.cancel.hidden = true;
    running -= 1;
    next();
  }

  function start(item) {
    var ui = item.ui;
    var upload = new window.tus.Upload(item.file, {
      endpoint: ds.uploadsApi,
      chunkSize: Number(ds.chunkSize) || 8388608,
      retryDelays: [0, 1000, 3000, 5000, 10000],
      headers: { "X-XSRFToken": jh.xsrf_token || "" },
      metadata: { path: item.target, area: "", filename: item.file.name, filetype: item.file.type || "" },
      storeFingerprintForResuming: true,
      removeFingerprintOnSuccess: true,
      fingerprint: function (file) {
        return Promise.resolve(["hubfront", ds.group, item.target, file.size, file.lastModified].join("|"));
      },
      onProgress: function (sent, total) { progress(ui, sent, total); },
      onSuccess: function () {
        progress(ui, 1, 1);
        finish(ui, "bg-success", "100 % · done");
        laterRefresh();
      },
      onError: function (err) {
        var text = errorText(err);
        ui.message.textContent = text;
        ui.message.hidden = false;
        F.showError(text);
        finish(ui, "bg-danger", "Failed");
      },
    });
    ui.cancel.addEventListener("click", function () {
      upload.abort(true).then(function () { finish(ui, "bg-secondary", "Cancelled"); });
    }, { once: true });
    ui.status.textContent = "Starting";
    upload.findPreviousUploads().then(function (previous) {
      if (previous.length) {
        upload.resumeFromPreviousUpload(previous[0]);
        ui.status.textContent = "Resuming";
      }
      upload.start();
    });
  }

  function next() {
    while (running < PARALLEL && queue.length) {
      running += 1;
      start(queue.shift());
    }
  }

  // files: [{file, rel}] with rel the path below the folder in focus (may hold folders)
  function enqueue(files) {
    if (!window.tus || !window.tus.isSupported) {
      F.showError("Uploads need tus-js-client, which the hub could not serve (run npm install where the hub runs).");
      return;
    }
    F.showError("");
    var folder = F.folder();
    files.forEach(function (f) {
      var target = F.join(folder, f.rel.replace(/^\/+/, ""));
      queue.push({ file: f.file, target: target, ui: addRow(target, f.file) });
    });
    next();
  }

  function fromInput(input) {
    var files = Array.prototype.map.call(input.files, function (file) {
      return { file: file, rel: file.webkitRelativePath || file.name };
    });
    input.value = "";
    enqueue(files);
  }

  document.getElementById("hf-upload-files").addEventListener("change", function (ev) { fromInput(ev.target); });
  document.getElementById("hf-upload-folder").addEventListener("change", function (ev) { fromInput(ev.target); });

  // -- drag and drop: walk dropped folders --------------------------------------------------

  function readAll(reader) {
    return new Promise(function (resolve, reject) {
      var all = [];
      (function more() {
        reader.readEntries(function (batch) {
          if (!batch.length) { resolve(all); return; }
          all = all.concat(Array.prototype.slice.call(batch));
          more();
        }, reject);
      })();
    });
  }

  function walk(entry, prefix) {
    if (entry.isFile) {
      return new Promise(function (resolve) {
        entry.file(function (file) { resolve([{ file: file, rel: prefix + file.name }]); },
          function () { resolve([]); });
      });
    }
    if (entry.isDirectory) {
      return readAll(entry.createReader()).then(function (children) {
        return Promise.all(children.map(function (c) { return walk(c, prefix + entry.name + "/"); }));
      }).then(function (lists) { return [].concat.apply([], lists); });
    }
    return Promise.resolve([]);
  }

  var zone = document.getElementById("hf-dropzone");
  var depth = 0;
  zone.addEventListener("dragenter", function (ev) { ev.preventDefault(); depth += 1; zone.classList.add("hf-dragging"); });
  zone.addEventListener("dragover", function (ev) { ev.preventDefault(); ev.dataTransfer.dropEffect = "copy"; });
  zone.addEventListener("dragleave", function () {
    depth = Math.max(0, depth - 1);
    if (!depth) zone.classList.remove("hf-dragging");
  });
  zone.addEventListener("drop", function (ev) {
    ev.preventDefault();
    depth = 0;
    zone.classList.remove("hf-dragging");
    var items = ev.dataTransfer.items;
    var entries = items ? Array.prototype.map.call(items, function (it) {
      return it.webkitGetAsEntry ? it.webkitGetAsEntry() : null;
    }).filter(Boolean) : [];
    if (!entries.length) {
      enqueue(Array.prototype.map.call(ev.dataTransfer.files, function (file) { return { file: file, rel: file.name }; }));
      return;
    }
    Promise.all(entries.map(function (e) { return walk(e, ""); })).then(function (lists) {
      enqueue([].concat.apply([], lists));
    });
  });

  document.getElementById("hf-uploads-clear").addEventListener("click", function () {
    list().querySelectorAll(".hf-upload-done").forEach(function (li) { li.remove(); });
    if (!list().children.length) document.getElementById("hf-uploads").hidden = true;
  });
})();
