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

// Image builds: the Build image form, the group's builds, and one build with its live log, elapsed time,
// Cancel and Rebuild (REST .../images/<image>/builds[/<number>[/log|/cancel|/rebuild]]).
(function () {
  "use strict";
  var page = document.getElementById("hf-images-page");
  var table = document.getElementById("hf-builds");
  if (!page || !table) return;
  var api = page.dataset.api, zone = page.dataset.zone;
  var badges = JSON.parse(table.dataset.badges), builds = JSON.parse(table.dataset.builds);
  var DONE = ["Succeeded", "Failed", "Cancelled"];
  var el = hf.el;
  var buildsOf = function (image) { return api + "/" + encodeURIComponent(image) + "/builds"; };

  // -- the form --------------------------------------------------------------------------------
  var form = document.getElementById("hf-build-form");
  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var image = form.elements.image.value.trim();
    var body = { base: form.elements.base.value, packages: {} };
    ["pip", "apt", "conda"].forEach(function (m) {
      var box = form.elements["packages." + m];
      var specs = box && !box.disabled ? box.value.split("\n").map(function (s) { return s.trim(); }).filter(Boolean) : [];
      if (specs.length) body.packages[m] = specs;
    });
    ["display_name", "description"].forEach(function (f) {
      var v = form.elements[f].value.trim();
      if (v) body[f] = v;
    });
    if (!image) { hf.fieldErrors(form, { data: { errors: { image: "name the image to build" } } }); return; }
    hf.call("POST", buildsOf(image), body).then(function (res) {
      if (!res.ok) { hf.fieldErrors(form, res); return; }
      hf.fieldErrors(form, res);  // clears the form's errors
      builds.unshift(res.data);
      renderTable();
      open(res.data.image, res.data.number);
      history.replaceState(null, "", "?image=" + encodeURIComponent(res.data.image) + "&build=" + res.data.number);
    });
  });

  // -- the list ----------------------------------------------------------------------------------
  var badge = function (phase) { return el("span", "badge " + (badges[phase] || "text-bg-secondary"), phase); };
  var specs = function (p) {
    return ["pip", "apt", "conda"].filter(function (m) { return p[m] && p[m].length; })
      .map(function (m) { return m + ": " + p[m].join(", "); }).join("; ") || "—";
  };
  function renderTable() {
    var body = table.querySelector("tbody");
    body.replaceChildren();
    if (!builds.length) {
      var cell = el("td", "text-muted", "No builds yet: Build image makes one.");
      cell.colSpan = 8;
      body.appendChild(el("tr")).appendChild(cell);
    }
    builds.forEach(function (b) {
      var tr = el("tr", "hf-build-row");
      tr.dataset.image = b.image; tr.dataset.number = b.number;
      tr.appendChild(el("td", "font-monospace", b.image));
      tr.appendChild(el("td", "", "#" + b.number));
      var phase = el("td");
      phase.appendChild(badge(b.phase));
      if (b.queue_position) phase.appendChild(el("span", "small text-muted ms-1", "queued #" + b.queue_position));
      tr.appendChild(phase);
      tr.appendChild(el("td", "", b.base));
      tr.appendChild(el("td", "font-monospace small", specs(b.packages)));
      tr.appendChild(el("td", "small", hf.when(b.created, zone, true)));
      tr.appendChild(el("td", "small", hf.duration(b.elapsed_seconds)));
      var act = el("td", "text-end");
      var show = el("button", "btn btn-sm btn-outline-secondary hf-build-open", "Log");
      show.type = "button";
      act.appendChild(show);
      tr.appendChild(act);
      body.appendChild(tr);
    });
  }
  table.addEventListener("click", function (ev) {
    var row = ev.target.closest(".hf-build-row");
    if (row) {
      open(row.dataset.image, +row.dataset.number);
      history.replaceState(null, "", "?image=" + encodeURIComponent(row.dataset.image) + "&build=" + row.dataset.number);
    }
  });
  function refreshList() {
    var images = {};
    builds.forEach(function (b) { images[b.image] = images[b.image] || DONE.indexOf(b.phase) < 0; });
    var busy = Object.keys(images).filter(function (i) { return images[i]; });
    busy.forEach(function (image) {
      hf.call("GET", buildsOf(image)).then(function (res) {
        if (!res.ok) return;
        builds = builds.filter(function (b) { return b.image !== image; }).concat(res.data.builds);
        builds.sort(function (a, b) { return a.image === b.image ? b.number - a.number : (a.image < b.image ? -1 : 1); });
        renderTable();
      });
    });
  }

  // -- one build ------------------------------------------------------------------------------
  var panel = document.getElementById("hf-build"), logBox = document.getElementById("hf-build-log");
  var current = null; // {image, number, data, offset, following, complete, token}
  var field = function (name) { return panel.querySelector('[data-field="' + name + '"]'); };

  function open(image, number) {
    current = { image: image, number: number, data: null, offset: 0, following: false, complete: false, token: {} };
    logBox.textContent = "";
    panel.hidden = false;
    field("title").textContent = image + " #" + number;
    tick();
  }
  function render(b) {
    current.data = b;
    var ph = document.getElementById("hf-build-phase");
    ph.className = "badge " + (badges[b.phase] || "text-bg-secondary");
    ph.textContent = b.phase;
    field("queue").textContent = b.queue_position ? "queued: #" + b.queue_position + " to start" : "";
    field("ref").textContent = b.ref;
    field("message").textContent = DONE.indexOf(b.phase) >= 0 && b.phase !== "Succeeded" ? b.message : "";
    field("message").hidden = !field("message").textContent;
    var done = DONE.indexOf(b.phase) >= 0;
    document.getElementById("hf-build-cancel").hidden = done || b.cancel_requested;
    document.getElementById("hf-build-live").hidden = done;
    elapsed();
  }
  function elapsed() {
    if (!current || !current.data) return;
    var b = current.data, done = DONE.indexOf(b.phase) >= 0;
    field("elapsed").textContent = hf.duration(done || !b.started ? b.elapsed_seconds
      : (Date.now() - Date.parse(b.started)) / 1000);
  }
  function follow() {
    if (!current || current.following || current.complete) return;
    var mine = current;
    mine.following = true;
    hf.followLog(buildsOf(mine.image) + "/" + mine.number + "/log", mine.offset, function (text) {
      if (current !== mine || !text) return;
      var atBottom = logBox.scrollHeight - logBox.scrollTop - logBox.clientHeight < 40;
      logBox.appendChild(document.createTextNode(text));
      if (atBottom) logBox.scrollTop = logBox.scrollHeight;
    }).then(function (r) { mine.following = false; mine.offset = r.offset; mine.complete = r.complete; });
  }
  function tick() {
    if (!current) return;
    var mine = current;
    hf.call("GET", buildsOf(mine.image) + "/" + mine.number).then(function (res) {
      if (current !== mine) return;
      if (!res.ok) { hf.showError(page, hf.problem(res)); return; }
      render(res.data);
      if (res.data.phase !== "Pending" || res.data.log_size > mine.offset) follow();
    });
  }
  function act(what) {
    if (!current) return;
    hf.call("POST", buildsOf(current.image) + "/" + current.number + "/" + what).then(function (res) {
      if (!res.ok) { hf.showError(page, hf.problem(res)); return; }
      if (what === "rebuild") {
        builds.unshift(res.data);
        renderTable();
        open(res.data.image, res.data.number);
      } else { render(res.data); refreshList(); }
    });
  }
  document.getElementById("hf-build-cancel").addEventListener("click", function () { act("cancel"); });
  document.getElementById("hf-build-rebuild").addEventListener("click", function () { act("rebuild"); });
  document.getElementById("hf-build-close").addEventListener("click", function () { panel.hidden = true; current = null; });

  renderTable();
  var q = new URLSearchParams(window.location.search);
  if (q.get("image") && q.get("build")) open(q.get("image"), +q.get("build"));
  setInterval(elapsed, 1000);
  setInterval(function () {
    if (document.hidden) return;
    refreshList();
    if (current && (!current.data || DONE.indexOf(current.data.phase) < 0 || current.following)) tick();
  }, 2000);
})();
