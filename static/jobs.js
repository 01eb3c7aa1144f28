// Hubfront: the Jobs and Recurring Jobs pages. Every change goes through the REST API
// (/hub/api/portal/...) with the page's XSRF token; data is always inserted as text, never as HTML.
(function () {
  "use strict";
  var jh = window.jhdata || {};
  var PHASE_BADGES = {
    Pending: "text-bg-secondary", Preparing: "text-bg-info", Running: "text-bg-primary",
    Succeeded: "hf-bg-succeeded", Failed: "text-bg-danger", Cancelled: "text-bg-warning",
  };
  var DONE = ["Succeeded", "Failed", "Cancelled"];
  var POLL_MS = 2000;

  var request = hf.request, call = hf.call, el = hf.el, when = hf.when, messageOf = hf.problem;

  function badge(phase) {
    var b = el("span", "badge hf-phase " + (PHASE_BADGES[phase] || "text-bg-secondary"), phase);
    return b;
  }

  function showError(container, message) {
    var box = container.querySelector(".hf-action-error, .hf-form-error");
    if (!box) { window.alert(message); return; }
    box.textContent = message;
    box.hidden = !message;
  }

  // -- the job template forms (submit a job, create or edit a recurring job) --------------

  function parseEnv(text) {
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

  function clearErrors(form) {
    form.querySelectorAll(".is-invalid").forEach(function (n) { n.classList.remove("is-invalid"); });
    form.querySelectorAll("[data-error-for]").forEach(function (n) { n.textContent = ""; });
    var box = form.querySelector(".hf-form-error");
    if (box) { box.textContent = ""; box.hidden = true; }
  }

  // Each {field: message} next to its field; anything without a field goes in the form's alert.
  function fieldErrors(form, errors) {
    var rest = [];
    var cron = form.querySelector('[name="cron"]');
    var custom = cron && !cron.closest(".hf-cron").hidden;
    Object.keys(errors).forEach(function (key) {
      var field = key.split(".")[0];
      // a custom recurrence is refused under the cron expression typed, not under the preset's select
      if (field === "recurrence" && custom) field = "cron";
      var slot = form.querySelector('[data-error-for="' + field + '"]');
      if (!slot) { rest.push(hf.named(key, errors[key])); return; }
      slot.textContent = key.indexOf(".") < 0 ? errors[key] : hf.named(key.slice(key.indexOf(".") + 1), errors[key]);
      var input = form.querySelector('[name="' + field + '"]') ||
        (field === "recurrence" ? form.querySelector('[name="recurrence_preset"]') : null);
      if (input) input.classList.add("is-invalid");
    });
    if (rest.length) {
      var box = form.querySelector(".hf-form-error");
      box.textContent = rest.join("; ");
      box.hidden = false;
    }
    var first = form.querySelector(".is-invalid");
    if (first) first.focus();
  }

  function formBody(form) {
    var value = function (name) {
      var input = form.querySelector('[name="' + name + '"]');
      return input ? input.value : undefined;
    };
    var body = { name: value("name"), command: value("command"), image: value("image"),
      instance_type: value("instance_type") };
    if (value("resource_group")) body.resource_group = value("resource_group");
    var timeout = (value("timeout") || "").trim();
    if (timeout) body.timeout = /^\d+$/.test(timeout) ? parseInt(timeout, 10) : timeout;
    var env = parseEnv(value("env"));
    if (env.error) return { errors: { env: env.error } };
    body.env = env.env;
    var picks = form.querySelector(".hf-dataset-picks");
    if (picks) body.datasets = hf.datasetPicks(picks);  // ["imagenet", "labels@v3"]
    var preset = form.querySelector('[name="recurrence_preset"]');
    if (preset) {
      body.recurrence = preset.value === "custom" ? (value("cron") || "").trim() : preset.value;
      if (preset.value === "custom" && !body.recurrence) {
        return { errors: { recurrence: "Recurrence: enter a cron expression of 5 fields (minute hour day-of-month month day-of-week)" } };
      }
      body.time_zone = value("time_zone");
      body.overlap = value("overlap");
    }
    return { body: body };
  }

  document.querySelectorAll("form.hf-template-form").forEach(function (form) {
    var preset = form.querySelector(".hf-recurrence");
    if (preset) {
      preset.addEventListener("change", function () {
        var cron = form.querySelector(".hf-cron");
        cron.hidden = preset.value !== "custom";
        if (!cron.hidden) cron.querySelector("input").focus();
      });
    }
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      clearErrors(form);
      var built = formBody(form);
      if (built.errors) { fieldErrors(form, built.errors); return; }
      var button = form.querySelector("button[type=submit]");
      var label = button.textContent;
      button.disabled = true;
      button.textContent = "Sending…";
      call(form.getAttribute("data-method") || "POST", form.getAttribute("data-api"), built.body).then(function (res) {
        if (res.ok && res.data && res.data.link) {
          window.location.assign(res.data.link);
          return;
        }
        button.disabled = false;
        button.textContent = label;
        if (res.data && res.data.errors) fieldErrors(form, res.data.errors);
        else showError(form, messageOf(res));
      });
    });
  });

  // On the Jobs page, "#submit" (the Quickstart shortcut) opens the form.
  if (window.location.hash === "#submit") {
    var card = document.getElementById("hf-submit-card");
    if (card) card.classList.add("show");
  }

  // -- Jobs: the list, refreshed -----------------------------------------------------------

  // Cancelling asks first (hf.confirmAction, static/confirm.js), as stopping a notebook does.
  function confirmCancel(id) {
    if (!window.hf.confirmAction) return Promise.resolve(true);
    return window.hf.confirmAction({
      title: "Cancel job " + id + "?",
      text: "Cancel job " + id + "? It is stopped now; what it has not written out yet is lost.",
      ok: "Cancel the job",
    });
  }

  function cancelJob(id, button, container) {
    confirmCancel(id).then(function (yes) {
      if (!yes) return;
      button.disabled = true;
      call("POST", (jh.base_url || "/hub/") + "api/portal/jobs/" + encodeURIComponent(id) + "/cancel").then(function (res) {
        if (!res.ok) { button.disabled = false; showError(container, messageOf(res)); }
        if (container.refresh) container.refresh();
      });
    });
  }

  function jobRow(j, everyone, zone) {
    var tr = el("tr", "hf-job");
    tr.setAttribute("data-id", j.id);
    tr.setAttribute("data-phase", j.phase);
    var name = el("td", "hf-job-cell");
    var link = el("a", "hf-job-name", j.name);
    link.setAttribute("href", j.link);
    name.appendChild(link);
    name.appendChild(document.createTextNode(" "));
    name.appendChild(el("span", "text-muted small text-nowrap", "#" + j.id));
    tr.appendChild(name);
    if (everyone) tr.appendChild(el("td", "hf-job-owner", j.username));
    var phase = el("td");
    phase.appendChild(badge(j.phase));
    var done = DONE.indexOf(j.phase) >= 0;
    if (j.cancel_requested && !done) phase.appendChild(el("div", "small text-muted", "cancelling…"));
    tr.appendChild(phase);
    var detail = el("td", "hf-job-detail small");
    if (j.queue) {
      var q = el("div", "hf-queue");
      q.appendChild(el("strong", "", (j.queue.position ? "#" + j.queue.position + " in the queue" : "In the queue")));
      q.appendChild(document.createTextNode(" · " + j.queue.message));
      detail.appendChild(q);
    } else {
      var message = j.message !== j.phase ? j.message : ""; // the runner's message may just repeat the phase
      if (j.reason) detail.appendChild(el("strong", "hf-reason", j.reason));
      if (j.reason && message) detail.appendChild(document.createTextNode(": "));
      if (message) detail.appendChild(document.createTextNode(message));
    }
    tr.appendChild(detail);
    tr.appendChild(el("td", "", j.instance_type));
    tr.appendChild(el("td", "text-nowrap small", when(j.created, zone, true)));
    tr.appendChild(el("td", "text-nowrap small", when(j.started, zone, true) || "—"));
    tr.appendChild(el("td", "text-nowrap small", when(j.finished, zone, true) || "—"));
    var actions = el("td", "text-end");
    if (!done && !j.cancel_requested) {
      var cancel = el("button", "btn btn-sm btn-outline-danger hf-cancel", "Cancel");
      cancel.type = "button";
      cancel.setAttribute("data-id", j.id);
      actions.appendChild(cancel);
    }
    tr.appendChild(actions);
    return tr;
  }

  var jobsTable = document.getElementById("hf-jobs");
  if (jobsTable) {
    var everyone = jobsTable.getAttribute("data-everyone") === "1";
    var zone = jobsTable.getAttribute("data-zone");
    var main = jobsTable.closest(".hf-main");
    jobsTable.refresh = function () {
      return call("GET", jobsTable.getAttribute("data-api") + "?limit=50").then(function (res) {
        if (!res.ok || !res.data) return;
        var body = jobsTable.querySelector("tbody");
        body.replaceChildren();
        if (!res.data.jobs.length) {
          var empty = el("tr", "hf-jobs-empty");
          var cell = el("td", "text-muted", "No jobs yet in this group.");
          cell.colSpan = 9;
          empty.appendChild(cell);
          body.appendChild(empty);
        }
        res.data.jobs.forEach(function (j) { body.appendChild(jobRow(j, everyone, zone)); });
      });
    };
    jobsTable.addEventListener("click", function (ev) {
      var button = ev.target.closest ? ev.target.closest(".hf-cancel") : null;
      if (button) cancelJob(button.getAttribute("data-id"), button, main);
    });
    main.refresh = jobsTable.refresh;
    setInterval(function () { if (!document.hidden) jobsTable.refresh(); }, POLL_MS);
  }

  // -- One job: fields, live log, artifacts, actions ----------------------------------------

  var jobPage = document.getElementById("hf-job");
  if (jobPage) {
    var api = jobPage.getAttribute("data-api");
    var jobZone = jobPage.getAttribute("data-zone");
    var logBox = document.getElementById("hf-log");
    var offset = 0;
    var following = false;
    var logComplete = false; // the hub ended the stream: the job has ended and all its output is shown
    var finished = DONE.indexOf(jobPage.getAttribute("data-phase")) >= 0;
    var artifactsShown = false;

    var appendLog = function (text) {
      if (!text) return;
      var atBottom = logBox.scrollHeight - logBox.scrollTop - logBox.clientHeight < 40;
      logBox.appendChild(document.createTextNode(text));
      if (atBottom) logBox.scrollTop = logBox.scrollHeight;
    };

    // Follow the log: one streaming request (?follow=1) that the hub ends when the job ends;
    // should it break off, the poll picks up from the bytes already shown (?offset=N).
    var followLog = function () {
      if (following || logComplete) return;
      following = true;
      var decoder = new TextDecoder();
      request("GET", logBox.getAttribute("data-url") + "?follow=1&offset=" + offset)
        .then(function (r) {
          if (!r.ok || !r.body) throw new Error("HTTP " + r.status);
          var reader = r.body.getReader();
          var pump = function () {
            return reader.read().then(function (chunk) {
              if (chunk.done) { appendLog(decoder.decode()); logComplete = true; return; }
              offset += chunk.value.byteLength;
              appendLog(decoder.decode(chunk.value, { stream: true }));
              return pump();
            });
          };
          return pump();
        })
        .catch(function () { /* the next poll tries again */ })
        .then(function () { following = false; });
    };

    var showArtifacts = function () {
      var box = document.getElementById("hf-artifacts");
      call("GET", box.getAttribute("data-url")).then(function (res) {
        if (!res.ok || !res.data) return;
        artifactsShown = true;
        var list = document.getElementById("hf-artifact-list");
        list.replaceChildren();
        if (!res.data.artifacts.length) list.appendChild(el("li", "text-muted", "The job left no files in ./artifacts/."));
        res.data.artifacts.forEach(function (a) {
          var li = el("li", "hf-artifact");
          var link = el("a", "", a.path);
          link.setAttribute("href", a.url);
          link.setAttribute("download", a.path.split("/").pop());
          li.appendChild(el("i", "fa fa-file-arrow-down fa-fw text-muted"));
          li.appendChild(link);
          li.appendChild(el("span", "small text-muted ms-2", a.size + " bytes"));
          list.appendChild(li);
        });
        var note = document.getElementById("hf-artifacts-note");
        note.textContent = res.data.note || "";
        note.hidden = !res.data.note;
      });
    };

    var setField = function (name, value) {
      var node = jobPage.querySelector('[data-field="' + name + '"]');
      if (node) node.textContent = value;
    };

    var render = function (j) {
      var phase = document.getElementById("hf-job-phase");
      phase.className = "badge fs-6 " + (PHASE_BADGES[j.phase] || "text-bg-secondary");
      phase.textContent = j.phase;
      jobPage.setAttribute("data-phase", j.phase);
      var done = DONE.indexOf(j.phase) >= 0;
      setField("reason", j.reason || "—");
      setField("message", j.message && j.message !== j.phase ? j.message : "—");
      setField("exit_code", j.exit_code === null || j.exit_code === undefined ? "—" : String(j.exit_code));
      var queue = document.getElementById("hf-job-queue");
      queue.hidden = !j.queue;
      if (j.queue) {
        setField("queue-position", j.queue.position ? ": #" + j.queue.position : "");
        setField("queue-message", j.queue.message);
      }
      ["created", "admitted", "started", "finished"].forEach(function (k) {
        var cell = jobPage.querySelector('[data-time="' + k + '"]');
        if (cell) cell.textContent = when(j[k], jobZone) || "—";
      });
      document.getElementById("hf-job-cancel").hidden = done || j.cancel_requested;
      document.getElementById("hf-job-cancelling").hidden = !(j.cancel_requested && !done);
      document.getElementById("hf-log-live").hidden = done;
      finished = done;
    };

    var tick = function () {
      call("GET", api).then(function (res) {
        if (res.status === 404) { setField("message", "This job no longer exists."); return; }
        if (!res.ok || !res.data) return;
        render(res.data);
        if (res.data.phase !== "Pending" || res.data.log_size > offset) followLog();
        if (finished && !following && !artifactsShown) showArtifacts();
      });
    };

    followLog();
    if (finished) showArtifacts();
    var timer = setInterval(function () {
      if (finished && artifactsShown && logComplete) { clearInterval(timer); return; }
      if (!document.hidden) tick();
    }, POLL_MS);

    var cancelButton = document.getElementById("hf-job-cancel");
    cancelButton.addEventListener("click", function () {
      confirmCancel(jobPage.dataset.id).then(function (yes) {
        if (!yes) return;
        cancelButton.disabled = true;
        call("POST", api + "/cancel").then(function (res) {
          cancelButton.disabled = false;
          if (!res.ok) showError(jobPage, messageOf(res));
          else render(res.data);
        });
      });
    });
    var rerun = document.getElementById("hf-job-rerun");
    if (rerun) {
      rerun.addEventListener("click", function () {
        rerun.disabled = true;
        call("POST", api + "/rerun").then(function (res) {
          if (res.ok && res.data) { window.location.assign(res.data.link); return; }
          rerun.disabled = false;
          showError(jobPage, messageOf(res));
        });
      });
    }
    var del = document.getElementById("hf-job-delete");
    if (del) {
      del.addEventListener("click", function () {
        var running = DONE.indexOf(jobPage.getAttribute("data-phase")) < 0;
        var question = "Delete this job with its log and artifacts?" + (running ? " It is still running: it will be stopped." : "");
        if (!window.confirm(question)) return;
        del.disabled = true;
        call("DELETE", api).then(function (res) {
          if (res.ok) { window.location.assign(jobPage.getAttribute("data-jobs")); return; }
          del.disabled = false;
          showError(jobPage, messageOf(res));
        });
      });
    }
  }

  // -- One recurring job: run now, delete ------------------------------------------------

  var schedulePage = document.getElementById("hf-schedule");
  if (schedulePage) {
    var sapi = schedulePage.getAttribute("data-api");
    var runNow = document.getElementById("hf-schedule-run");
    if (runNow) {
      runNow.addEventListener("click", function () {
        runNow.disabled = true;
        call("POST", sapi + "/run").then(function (res) {
          if (res.ok && res.data) { window.location.assign(res.data.link); return; }
          runNow.disabled = false;
          showError(schedulePage, res.data && res.data.errors ? Object.keys(res.data.errors).map(function (k) {
            return hf.named(k, res.data.errors[k]);
          }).join("; ") : messageOf(res));
        });
      });
    }
    var sdel = document.getElementById("hf-schedule-delete");
    if (sdel) {
      sdel.addEventListener("click", function () {
        if (!window.confirm("Delete this recurring job? Jobs it already started are kept.")) return;
        sdel.disabled = true;
        call("DELETE", sapi).then(function (res) {
          if (res.ok) { window.location.assign(schedulePage.getAttribute("data-list")); return; }
          sdel.disabled = false;
          showError(schedulePage, messageOf(res));
        });
      });
    }
  }
})();
