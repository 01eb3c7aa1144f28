// Hubfront: the Deployments pages. Every change goes through the REST API (/hub/api/portal/...)
// with the page's XSRF token; what the API answers is inserted as text, never as HTML.
(function () {
  "use strict";
  var jh = window.jhdata || {};
  var BADGES = {
    Deploying: "text-bg-info", Deployed: "hf-bg-succeeded", Updating: "text-bg-primary",
    ScaledToZero: "text-bg-light border", Stopping: "text-bg-warning", Stopped: "text-bg-secondary",
    Failed: "text-bg-danger",
  };
  var LABELS = { ScaledToZero: "Scaled to zero" };  // a phase's words where they are not its name
  var phaseText = function (phase) { return LABELS[phase] || phase; };
  var EVERY_MS = 2000;

  var api = hf.call, send = hf.request, problem = hf.problem, node = hf.el, inZone = hf.when,
    wallTimeToIso = hf.wallTimeToIso;

  function setText(root, selector, text) {
    var n = root.querySelector(selector);
    if (n) n.textContent = text;
  }

  function alertIn(root, message) {
    var box = root.querySelector(".hf-action-error, .hf-form-error");
    if (!box) { window.alert(message); return; }
    box.textContent = message || "";
    box.hidden = !message;
  }

  // -- copy buttons ---------------------------------------------------------------------------

  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) return navigator.clipboard.writeText(text);
    var area = node("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "fixed";
    area.style.opacity = "0";
    document.body.appendChild(area);
    area.select();
    var done = document.execCommand("copy");
    area.remove();
    return done ? Promise.resolve() : Promise.reject(new Error("copy refused"));
  }

  document.addEventListener("click", function (ev) {
    var button = ev.target.closest ? ev.target.closest(".hf-copy") : null;
    if (!button) return;
    var from = button.getAttribute("data-copy-from");
    var source = from ? document.querySelector(from) : null;
    var text = source ? (source.value !== undefined ? source.value : source.textContent) : button.getAttribute("data-copy");
    copyText(text || "").then(function () {
      button.classList.add("hf-copied");
      button.setAttribute("title", "Copied");
      setTimeout(function () { button.classList.remove("hf-copied"); button.setAttribute("title", "Copy to the clipboard"); }, 1500);
    }, function () { button.setAttribute("title", "Copying failed: select the text and copy it"); });
  });

  // -- the deployment form (create, edit) ----------------------------------------------------

  function envOf(text) {
    var env = {};
    var lines = (text || "").split("\n");
    for (var i = 0; i < lines.length; i++) {
      var line = lines[i].trim();
      if (!line || line.charAt(0) === "#") continue;
      var eq = line.indexOf("=");
      if (eq <= 0) return { error: "line " + (i + 1) + ": expected NAME=value" };
      env[line.slice(0, eq).trim()] = line.slice(eq + 1);
    }
    return { env: env };
  }

  function sameEnv(a, b) {
    var keys = Object.keys(a || {}).sort();
    return JSON.stringify(keys) === JSON.stringify(Object.keys(b || {}).sort()) &&
      keys.every(function (k) { return a[k] === b[k]; });
  }

  function unmark(form) {
    form.querySelectorAll(".is-invalid").forEach(function (n) { n.classList.remove("is-invalid"); });
    form.querySelectorAll("[data-error-for]").forEach(function (n) { n.textContent = ""; n.classList.remove("d-block"); });
    alertIn(form, "");
  }

  // {field: message} under each field; the source rule is told at the source that is shown.
  function markErrors(form, errors) {
    var source = chosenSource(form);
    var rest = [];
    Object.keys(errors).forEach(function (key) {
      var field = key.split(".")[0];
      if (field === "model_uri" && source === "command") field = "command";
      else if (field === "command" && source === "model") field = "model_uri";
      var slot = form.querySelector('[data-error-for="' + field + '"]');
      var input = form.querySelector('[name="' + field + '"]');
      if (!slot) { rest.push(hf.named(key, errors[key])); return; }
      slot.textContent = key.indexOf(".") > 0 ? hf.named(key.slice(key.indexOf(".") + 1), errors[key]) : errors[key];
      slot.classList.add("d-block");
      if (input) input.classList.add("is-invalid");
    });
    if (rest.length) alertIn(form, rest.join("; "));
    var first = form.querySelector(".is-invalid");
    if (first) first.focus();
  }

  function chosenSource(form) {
    var checked = form.querySelector('input[name="source"]:checked');
    return checked ? checked.value : "command";
  }

  function showSource(form) {
    var source = chosenSource(form);
    form.querySelector(".hf-source-command").hidden = source !== "command";
    form.querySelector(".hf-source-model").hidden = source !== "model";
  }

  // What the form says, as the API takes it (empty optional fields left out).
  function fieldsOf(form) {
    var value = function (name) {
      var input = form.querySelector('[name="' + name + '"]');
      return input ? input.value.trim() : "";
    };
    var checked = function (name) {
      var input = form.querySelector('input[name="' + name + '"]:checked');
      return input ? input.value : undefined;
    };
    var env = envOf(form.querySelector('[name="env"]').value);
    if (env.error) return { errors: { env: env.error } };
    var whole = function (name) {  // a number field: as a number when it is one (else as typed, for the API to word)
      var v = value(name);
      return /^\d+$/.test(v) ? parseInt(v, 10) : v;
    };
    var fields = { name: value("name"), description: value("description"), instance_type: value("instance_type"),
      resource_group: value("resource_group"), image: value("image"), replicas: whole("replicas"),
      env: env.env, access: checked("access") };
    ["min_replicas", "scale_down_after", "cold_start_timeout"].forEach(function (name) {
      if (form.querySelector('[name="' + name + '"]') && value(name) !== "") fields[name] = whole(name);
    });
    if (value("health_path")) fields.health_path = value("health_path");
    if (chosenSource(form) === "model") {
      fields.model_uri = value("model_uri");
      if (!fields.model_uri) return { errors: { model_uri: "Model URI: enter a model version, such as models:/iris/3" } };
    }
    else fields.command = form.querySelector('[name="command"]').value;
    if (form.querySelector('[name="id"]')) fields.id = value("id");
    return { fields: fields };
  }

  // Seconds of a duration as the API takes it ("30m", "1h", "90"); null when it is not one (the API words why).
  function seconds(v) {
    var m = /^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$/.exec(String(v));
    return m ? Math.round(parseFloat(m[1]) * { "": 1, s: 1, m: 60, h: 3600, d: 86400 }[m[2]]) : null;
  }

  // PATCH sends only what differs from the deployment as the page got it.
  function changesOf(fields, was) {
    var body = {};
    ["name", "description", "instance_type", "resource_group", "image", "replicas", "access", "health_path",
      "min_replicas"].forEach(function (k) {
      if (fields[k] !== undefined && fields[k] !== (was[k] === null ? "" : was[k])) body[k] = fields[k];
    });
    ["scale_down_after", "cold_start_timeout"].forEach(function (k) {
      if (fields[k] !== undefined && seconds(fields[k]) !== was[k]) body[k] = fields[k];
    });
    if (!sameEnv(fields.env, was.env)) body.env = fields.env;
    var wasModel = !!was.model_uri;
    if (fields.model_uri !== undefined) {
      if (!wasModel || fields.model_uri !== was.model_uri) body.model_uri = fields.model_uri;
      if (!wasModel) body.command = null;
    } else {
      if (wasModel || fields.command !== (was.command || "")) body.command = fields.command;
      if (wasModel) body.model_uri = null;
    }
    return body;
  }

  document.querySelectorAll("form.hf-deployment-form").forEach(function (form) {
    form.querySelectorAll(".hf-source").forEach(function (radio) {
      radio.addEventListener("change", function () { showSource(form); });
    });
    var original = form.querySelector("script.hf-original");
    var was = original ? JSON.parse(original.textContent) : null;
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      unmark(form);
      var built = fieldsOf(form);
      if (built.errors) { markErrors(form, built.errors); return; }
      var body = built.fields;
      if (was) {
        body = changesOf(body, was);
        if (!Object.keys(body).length) { alertIn(form, "Nothing was changed."); return; }
      } else if (!body.description) {
        delete body.description;
      }
      var button = form.querySelector("button[type=submit]");
      var label = button.textContent;
      button.disabled = true;
      button.textContent = "Sending…";
      api(form.getAttribute("data-method"), form.getAttribute("data-api"), body).then(function (res) {
        if (res.ok && res.data) {
          if (was) window.location.reload();
          else window.location.assign(form.getAttribute("data-pages") + encodeURIComponent(res.data.id));
          return;
        }
        button.disabled = false;
        button.textContent = label;
        if (res.data && res.data.errors) markErrors(form, res.data.errors);
        else alertIn(form, problem(res));
      });
    });
  });

  if (window.location.hash === "#create") {
    var createCard = document.getElementById("hf-create-card");
    if (createCard) createCard.classList.add("show");
  }

  // -- the list, refreshed -------------------------------------------------------------------

  function copyButton(text, label) {
    var b = node("button", "btn btn-sm btn-outline-secondary hf-copy");
    b.type = "button";
    b.setAttribute("data-copy", text);
    b.setAttribute("title", "Copy to the clipboard");
    b.setAttribute("aria-label", label);
    b.appendChild(node("i", "fa fa-copy"));
    return b;
  }

  function accessBadge(access) {
    var b = node("span", "badge rounded-pill hf-access " + (access === "private" ? "text-bg-warning" : "text-bg-light border"));
    b.appendChild(node("i", "fa " + (access === "private" ? "fa-lock" : "fa-globe")));
    b.appendChild(document.createTextNode(" " + access));
    return b;
  }

  function listRow(d, pages, zone) {
    var tr = node("tr", "hf-deployment");
    tr.setAttribute("data-id", d.id);
    tr.setAttribute("data-phase", d.phase);
    var name = node("td", "hf-dep-cell");
    var link = node("a", "hf-dep-name", d.name);
    link.href = pages + encodeURIComponent(d.id);
    name.appendChild(link);
    name.appendChild(node("div", "text-muted small font-monospace", d.id));
    tr.appendChild(name);
    var phase = node("td");
    phase.appendChild(node("span", "badge hf-phase " + (BADGES[d.phase] || "text-bg-secondary"), phaseText(d.phase)));
    if (d.reason) phase.appendChild(node("div", "small text-danger-emphasis hf-reason", d.reason));
    if (d.restart_note) phase.appendChild(node("div", "small text-warning-emphasis hf-restarts", d.restart_note));
    tr.appendChild(phase);
    tr.appendChild(node("td", "text-nowrap hf-replicas", d.available + " / " + d.replicas));
    var access = node("td");
    access.appendChild(accessBadge(d.access));
    tr.appendChild(access);
    tr.appendChild(node("td", "hf-owner", d.username));
    var endpoint = node("td", "hf-endpoint-cell");
    var wrap = node("div", "d-flex align-items-center gap-1");
    var code = node("code", "hf-endpoint text-truncate", d.endpoint);
    code.title = d.endpoint;
    wrap.appendChild(code);
    wrap.appendChild(copyButton(d.endpoint, "Copy the endpoint URL"));
    endpoint.appendChild(wrap);
    tr.appendChild(endpoint);
    tr.appendChild(node("td", "text-nowrap small hf-updated", inZone(d.updated, zone, true)));
    return tr;
  }

  var table = document.getElementById("hf-deployments");
  if (table) {
    var refreshList = function () {
      api("GET", table.getAttribute("data-api")).then(function (res) {
        if (!res.ok || !res.data) return;
        var body = table.querySelector("tbody");
        var rows = res.data.deployments.map(function (d) {
          return listRow(d, table.getAttribute("data-pages"), table.getAttribute("data-zone"));
        });
        if (!rows.length) {
          var empty = node("tr", "hf-deployments-empty");
          var cell = node("td", "text-muted", "No deployments yet in this group.");
          cell.colSpan = 7;
          empty.appendChild(cell);
          rows.push(empty);
        }
        body.replaceChildren.apply(body, rows);
      });
    };
    setInterval(function () { if (!document.hidden) refreshList(); }, EVERY_MS);
  }
  var createForm = document.getElementById("hf-deployment-form");
  if (createForm && table) createForm.setAttribute("data-pages", table.getAttribute("data-pages"));

  // -- one deployment -----------------------------------------------------------------------

  var page = document.getElementById("hf-deployment");
  if (page) deploymentPage(page);

  function deploymentPage(page) {
    var base = page.getAttribute("data-api");
    var zone = page.getAttribute("data-zone");
    var logBox = document.getElementById("hf-log");
    var offset = 0;
    var following = false;
    var phase = page.getAttribute("data-phase");

    var appendLog = function (text) {
      if (!text) return;
      var atEnd = logBox.scrollHeight - logBox.scrollTop - logBox.clientHeight < 40;
      logBox.appendChild(document.createTextNode(text));
      if (atEnd) logBox.scrollTop = logBox.scrollHeight;
    };

    // One streaming request (?follow=1) that the hub ends once the deployment is stopped and its
    // output read; after a break (or a new start) the poll opens the next one from the bytes shown.
    var followLog = function () {
      if (following) return;
      following = true;
      var decoder = new TextDecoder();
      send("GET", logBox.getAttribute("data-url") + "?follow=1&offset=" + offset).then(function (r) {
        if (!r.ok || !r.body) throw new Error("HTTP " + r.status);
        var reader = r.body.getReader();
        var pump = function () {
          return reader.read().then(function (chunk) {
            if (chunk.done) { appendLog(decoder.decode()); return; }
            offset += chunk.value.byteLength;
            appendLog(decoder.decode(chunk.value, { stream: true }));
            return pump();
          });
        };
        return pump();
      }).catch(function () { /* the next poll tries again */ }).then(function () { following = false; });
    };

    var show = function (d) {
      phase = d.phase;
      page.setAttribute("data-phase", d.phase);
      var badge = document.getElementById("hf-dep-phase");
      badge.className = "badge fs-6 " + (BADGES[d.phase] || "text-bg-secondary");
      badge.textContent = phaseText(d.phase);
      badge.setAttribute("data-phase", d.phase);
      showZero(d.scale_to_zero);
      var status = document.getElementById("hf-dep-status");
      status.hidden = !(d.reason || d.message);
      status.className = "alert py-2 hf-status " + (d.phase === "Failed" ? "alert-danger" : "alert-light border");
      var reason = status.querySelector('[data-field="reason"]');
      reason.textContent = d.reason || "";
      reason.hidden = !d.reason;
      setText(status, '[data-field="message"]', d.message || "");
      var restarts = document.getElementById("hf-dep-restarts");
      if (restarts) { restarts.textContent = d.restart_note || ""; restarts.hidden = !d.restart_note; }
      ["available", "replicas", "revision"].forEach(function (k) { setText(page, '[data-field="' + k + '"]', d[k]); });
      setText(page, '[data-field="serving_revision"]', d.serving_revision || "none yet");
      setText(page, '[data-time="updated"]', inZone(d.updated, zone));
      Object.keys(d.traffic).forEach(function (k) {
        var v = d.traffic[k];
        var shown = /^latency/.test(k) ? (v === null || v === undefined ? "—" : v.toFixed(1) + " ms") : v;
        setText(page, '[data-traffic="' + k + '"]', shown);
      });
      page.querySelectorAll(".hf-serving").forEach(function (n) { n.remove(); });
      var serving = page.querySelector('#hf-history tr[data-revision="' + d.serving_revision + '"] td');
      if (serving) serving.appendChild(node("span", "badge text-bg-success hf-serving ms-1", "serving"));
      var stop = document.getElementById("hf-dep-stop");
      var start = document.getElementById("hf-dep-start");
      if (stop) stop.hidden = d.stopped;
      if (start) start.hidden = !d.stopped;
      var startWhy = document.getElementById("hf-dep-start-why");  // why Start is not offered, while stopped
      if (startWhy) startWhy.hidden = !d.stopped;
      page.setAttribute("data-stopped", d.stopped ? "1" : "0");
      document.getElementById("hf-log-live").hidden = d.phase === "Stopped";
    };

    // the Scale to zero card: what it does now, its last cold start, wakes and last request
    var showZero = function (z) {
      var line = document.getElementById("hf-dep-zero");
      if (!line || !z) return;
      line.setAttribute("data-zero", z.at_zero ? "1" : "0");
      line.classList.toggle("fw-semibold", z.at_zero);
      var icon = line.querySelector(".fa-moon");
      if (z.at_zero && !icon) line.insertBefore(node("i", "fa fa-moon me-1"), line.firstChild);
      if (!z.at_zero && icon) icon.remove();
      setText(line, '[data-zero="text"]', z.text);
      var card = document.getElementById("hf-scale-card");
      setText(card, '[data-zero="last_cold_start"]', z.last_cold_start || "none yet");
      var at = card.querySelector('[data-zero="last_cold_start_at"]');
      if (z.last_cold_start_at) {
        if (!at) {
          at = node("span", "text-muted");
          at.setAttribute("data-zero", "last_cold_start_at");
          document.getElementById("hf-dep-cold-start").append(" ", at);
        }
        at.textContent = "(" + inZone(z.last_cold_start_at, zone, true) + ")";
      }
      setText(card, '[data-zero="wakes"]', z.wakes);
      setText(card, '[data-zero="last_request"]', z.last_request ? inZone(z.last_request, zone, true) : "none counted yet");
    };

    var tick = function () {
      api("GET", base).then(function (res) {
        if (res.status === 404) { alertIn(page, "This deployment no longer exists."); return; }
        if (!res.ok || !res.data) return;
        show(res.data);
        if (res.data.phase !== "Stopped") followLog();
      });
    };

    followLog();
    setInterval(function () { if (!document.hidden) tick(); }, EVERY_MS);

    var action = function (id, method, path, then) {
      var button = document.getElementById(id);
      if (!button) return;
      button.addEventListener("click", function () {
        if (method === "DELETE" && !window.confirm("Delete this deployment? Its replicas stop, its endpoint goes away, and its clients, history and log are removed.")) return;
        button.disabled = true;
        api(method, base + path).then(function (res) {
          button.disabled = false;
          if (!res.ok) { alertIn(page, problem(res)); return; }
          alertIn(page, "");
          then(res);
        });
      });
    };
    action("hf-dep-stop", "POST", "/stop", function (res) { show(res.data); });
    action("hf-dep-start", "POST", "/start", function (res) { show(res.data); followLog(); });
    action("hf-dep-delete", "DELETE", "", function () { window.location.assign(page.getAttribute("data-list")); });

    page.addEventListener("click", function (ev) {
      var button = ev.target.closest ? ev.target.closest(".hf-rollback") : null;
      if (!button) return;
      var revision = parseInt(button.getAttribute("data-revision"), 10);
      if (!window.confirm("Roll back to revision " + revision + "? Its settings are rolled out as a new revision.")) return;
      button.disabled = true;
      api("POST", base + "/rollback", { revision: revision }).then(function (res) {
        if (res.ok) { window.location.reload(); return; }
        button.disabled = false;
        alertIn(page, problem(res));
      });
    });

    var clientsCard = document.getElementById("hf-clients-card");
    if (clientsCard) clientsPanel(clientsCard, zone);
  }

  // -- clients of a private deployment ---------------------------------------------------------

  function clientRow(c, mayChange, zone) {
    var tr = node("tr", "hf-client");
    tr.setAttribute("data-name", c.name);
    tr.appendChild(node("td", "font-monospace", c.name));
    var created = node("td", "small", inZone(c.created, zone, true) + " ");
    created.appendChild(node("span", "text-muted", "by " + c.created_by));
    tr.appendChild(created);
    tr.appendChild(node("td", "small", inZone(c.expires, zone, true) || "never"));
    var state = node("td", "small hf-client-state");
    if (c.revoked) state.appendChild(node("span", "text-danger-emphasis", "revoked " + inZone(c.revoked, zone, true)));
    else if (c.expires && new Date(c.expires) <= new Date()) state.appendChild(node("span", "text-warning-emphasis", "expired"));
    else state.appendChild(node("span", "hf-ok", "active"));
    tr.appendChild(state);
    var cell = node("td", "text-end");
    if (mayChange && !c.revoked) {
      var revoke = node("button", "btn btn-sm btn-outline-danger hf-revoke", "Revoke");
      revoke.type = "button";
      revoke.setAttribute("data-name", c.name);
      cell.appendChild(revoke);
    }
    tr.appendChild(cell);
    return tr;
  }

  function clientsPanel(card, zone) {
    var url = card.getAttribute("data-api");
    var table = document.getElementById("hf-clients");
    var mayChange = table.getAttribute("data-may-change") === "1";
    var reload = function () {
      return api("GET", url).then(function (res) {
        if (!res.ok || !res.data) return;
        var rows = res.data.clients.map(function (c) { return clientRow(c, mayChange, zone); });
        var body = table.querySelector("tbody");
        body.replaceChildren.apply(body, rows);
      });
    };
    var tokenBox = document.getElementById("hf-client-token-box");
    var forget = function () {
      document.getElementById("hf-client-token").value = "";
      tokenBox.hidden = true;
    };
    document.getElementById("hf-client-token-done").addEventListener("click", forget);
    table.addEventListener("click", function (ev) {
      var button = ev.target.closest ? ev.target.closest(".hf-revoke") : null;
      if (!button) return;
      var name = button.getAttribute("data-name");
      if (!window.confirm("Revoke client " + name + "? Its token stops working at once.")) return;
      button.disabled = true;
      api("DELETE", url + "/" + encodeURIComponent(name)).then(function (res) {
        if (!res.ok) { button.disabled = false; alertIn(card, problem(res)); return; }
        reload();
      });
    });
    var form = document.getElementById("hf-client-form");
    if (!form) return;
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      unmark(form);
      var body = { name: form.querySelector('[name="name"]').value.trim() };
      var expires = form.querySelector('[name="expires"]').value;
      if (expires) body.expires = wallTimeToIso(expires, zone);
      var button = form.querySelector("button[type=submit]");
      button.disabled = true;
      api("POST", url, body).then(function (res) {
        button.disabled = false;
        if (!res.ok) {
          if (res.data && res.data.errors) markErrors(form, res.data.errors);
          else alertIn(form, problem(res));
          return;
        }
        form.reset();
        document.getElementById("hf-client-token-name").textContent = res.data.name;
        document.getElementById("hf-client-token").value = res.data.token;
        tokenBox.hidden = false;
        reload();
      });
    });
  }
})();
