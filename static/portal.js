// Hubfront portal: small progressive enhancements, no framework.
(function () {
  "use strict";
  // The Group dropdown returns to the page it was used on.
  document.querySelectorAll("input.hf-next").forEach(function (input) {
    input.value = window.location.pathname + window.location.search;
  });
  // Highlight the side-menu entry of the current page.
  var path = window.location.pathname;
  document.querySelectorAll("#hf-sidemenu a.nav-link").forEach(function (a) {
    if (a.getAttribute("href") === path) a.classList.add("active");
  });
})();
// Buttons that change something hard to undo ask first (data-confirm="question").
document.addEventListener("click", function (ev) {
  var btn = ev.target.closest ? ev.target.closest("button[data-confirm]") : null;
  if (btn && !window.confirm(btn.getAttribute("data-confirm"))) ev.preventDefault();
});
// The profile menu also opens on hover (pointer devices). Clicking and the keyboard
// (Enter/Space, arrow keys, Escape) work as before: it stays a Bootstrap dropdown.
(function () {
  "use strict";
  var item = document.getElementById("hf-profile-menu");
  var toggle = item && item.querySelector("[data-bs-toggle=dropdown]");
  if (!toggle || !window.bootstrap || !window.matchMedia("(hover: hover)").matches) return;
  var dropdown = window.bootstrap.Dropdown.getOrCreateInstance(toggle);
  var closing = null;
  var openedByHover = false;
  item.addEventListener("mouseenter", function () {
    clearTimeout(closing);
    if (!item.querySelector(".dropdown-menu.show")) {
      dropdown.show();
      openedByHover = true;
    }
  });
  item.addEventListener("mouseleave", function () {
    // a short grace period: the pointer crosses the gap between button and menu
    closing = setTimeout(function () { dropdown.hide(); openedByHover = false; }, 250);
  });
  // the click that follows a hover must not close what the hover just opened
  window.addEventListener("click", function (ev) {
    if (openedByHover && ev.target.closest && toggle.contains(ev.target)) {
      openedByHover = false;
      // Bootstrap toggles from a capturing listener on the document: stop the click before it
      ev.stopPropagation();
    }
  }, true);
})();
// Bootstrap ignores a dialog's hide() while its opening animation runs, so a Cancel or Close clicked then
// (a quick hand, a slow machine) would leave the dialog over the page: such a close waits for "shown".
(function () {
  "use strict";
  document.addEventListener("show.bs.modal", function (ev) { ev.target.dataset.hfShowing = "1"; });
  ["shown.bs.modal", "hidden.bs.modal"].forEach(function (name) {
    document.addEventListener(name, function (ev) { delete ev.target.dataset.hfShowing; });
  });
  document.addEventListener("click", function (ev) {
    var dismiss = ev.target.closest ? ev.target.closest('[data-bs-dismiss="modal"]') : null;
    var dialog = dismiss && dismiss.closest(".modal");
    if (dialog && dialog.dataset.hfShowing) window.hf.hideModal(dialog);
  });
})();
// What the feature scripts (jobs, deployments, files, datasets, …) share: window.hf.
// Every change goes through the REST API with the page's XSRF token; answers go in as text.
window.hf = (function () {
  "use strict";
  var jh = window.jhdata || {};

  // fetch with the XSRF header; a JSON body when one is given.
  function request(method, url, body) {
    var headers = { "X-XSRFToken": jh.xsrf_token || "" };
    var init = { method: method, credentials: "same-origin", headers: headers };
    if (body !== undefined) { headers["Content-Type"] = "application/json"; init.body = JSON.stringify(body); }
    return fetch(url, init);
  }

  // {ok, status, data}: data is the answer's JSON (or null), or {message} when the hub could not be reached.
  function call(method, url, body) {
    return request(method, url, body).then(function (r) {
      return r.text().then(function (t) {
        var data = null;
        try { data = t ? JSON.parse(t) : null; } catch (e) { /* not JSON: keep null */ }
        return { ok: r.ok, status: r.status, data: data };
      });
    }, function () {
      return { ok: false, status: 0, data: { message: "The hub could not be reached; try again." } };
    });
  }

  function problem(res) {
    return (res.data && res.data.message) || "The request failed (HTTP " + res.status + ").";
  }

  function el(tag, cls, text) {
    var n = document.createElement(tag);
    if (cls) n.className = cls;
    if (text !== undefined && text !== null) n.textContent = String(text);
    return n;
  }

  // An ISO time in the user's zone, as the server writes it: "2030-06-01 14:00:05 CEST" (short: no seconds, no zone).
  function when(iso, zone, short) {
    if (!iso) return "";
    var p = {};
    try {
      new Intl.DateTimeFormat("en-GB", { timeZone: zone || "UTC", hourCycle: "h23", timeZoneName: "short",
        year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit" })
        .formatToParts(new Date(iso)).forEach(function (x) { p[x.type] = x.value; });
    } catch (e) { return iso; }
    var text = p.year + "-" + p.month + "-" + p.day + " " + p.hour + ":" + p.minute;
    return short ? text : text + ":" + p.second + " " + (p.timeZoneName || zone);
  }

  // "2030-06-01T14:00" read as a wall time in ``zone`` (the user's, not the browser's): the UTC instant.
  function wallTimeToIso(local, zone) {
    var m = /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d)/.exec(local || "");
    if (!m) return null;
    var wall = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5]);
    var offset = function (t) {
      var p = {};
      new Intl.DateTimeFormat("en-GB", { timeZone: zone || "UTC", hourCycle: "h23", year: "numeric",
        month: "numeric", day: "numeric", hour: "numeric", minute: "numeric" })
        .formatToParts(new Date(t)).forEach(function (x) { p[x.type] = +x.value; });
      return Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute) - t;
    };
    var t = wall - offset(wall);
    return new Date(wall - offset(t)).toISOString();
  }

  // The picks of a .hf-dataset-picks block (templates/portal/dataset_picks.html): ["imagenet", "labels@v3"].
  function datasetPicks(box) {
    return Array.prototype.filter.call(box.querySelectorAll(".hf-dataset-pick"), function (p) {
      return p.querySelector("input[type=checkbox]").checked;
    }).map(function (p) {
      var version = p.querySelector(".hf-dataset-version");
      return p.getAttribute("data-name") + (version && version.value ? "@v" + version.value : "");
    });
  }

  // a message in the form's (or page's) alert box; without one, an alert
  function showError(root, message) {
    var box = root.querySelector(".hf-form-error") || document.querySelector(".hf-action-error");
    if (!box) { if (message) window.alert(message); return; }
    box.textContent = message || "";
    box.hidden = !message;
  }

  // a field's message for the form's alert: as the API worded it when it names its field in plain words
  // ("Command: enter a command to run", hub_ext.field_messages), else "field: message"
  function named(field, text) { return /^[A-Z][^:]{0,40}: /.test(text) ? text : field + ": " + text; }

  // field errors from a 400 next to their inputs, at the longest named part ("packages.pip.1" under
  // [data-error="packages.pip"] if there is one, else [data-error="packages"]); the rest in the form's alert.
  // An answer that is ok clears them.
  function fieldErrors(form, res) {
    form.querySelectorAll(".is-invalid").forEach(function (n) { n.classList.remove("is-invalid"); });
    form.querySelectorAll("[data-error]").forEach(function (n) { n.textContent = ""; });
    var errors = (res.data && res.data.errors) || {};
    var unplaced = [];
    Object.keys(errors).forEach(function (field) {
      var parts = field.split("."), top = parts[0], slot = null;
      for (var i = parts.length; i > 0 && !slot; i--) {
        top = parts.slice(0, i).join(".");
        slot = form.querySelector('[data-error="' + top + '"]');
      }
      if (!slot) top = parts[0];
      var input = form.querySelector('[name="' + top + '"]');
      var text = top !== field ? named(field, errors[field]) : errors[field];
      if (slot) slot.textContent = slot.textContent ? slot.textContent + " · " + text : text;
      else unplaced.push(named(field, errors[field]));
      if (input) input.classList.add("is-invalid");
    });
    showError(form, unplaced.length ? unplaced.join("; ") : (Object.keys(errors).length || res.ok ? "" : problem(res)));
  }

  // Stream a workload's log (?follow=1 from byte ``offset``) into ``onText`` until the hub ends it;
  // resolves to {offset, complete} (complete: the workload ended and all its output came).
  function followLog(url, offset, onText) {
    var decoder = new TextDecoder();
    return request("GET", url + (url.indexOf("?") < 0 ? "?" : "&") + "follow=1&offset=" + offset).then(function (r) {
      if (!r.ok || !r.body) return { offset: offset, complete: false };
      var reader = r.body.getReader();
      var pump = function () {
        return reader.read().then(function (chunk) {
          if (chunk.done) { onText(decoder.decode()); return { offset: offset, complete: true }; }
          offset += chunk.value.byteLength;
          onText(decoder.decode(chunk.value, { stream: true }));
          return pump();
        });
      };
      return pump();
    }).catch(function () { return { offset: offset, complete: false }; });
  }

  // Close a Bootstrap dialog (the element or its id), also while it is still opening.
  function hideModal(dialog) {
    if (typeof dialog === "string") dialog = document.getElementById(dialog);
    var modal = window.bootstrap.Modal.getOrCreateInstance(dialog);
    if (dialog.dataset.hfShowing) dialog.addEventListener("shown.bs.modal", function () { modal.hide(); }, { once: true });
    modal.hide();
  }

  // "1 h 02 min", "3 min 07 s", "12 s"
  function duration(seconds) {
    if (seconds === null || seconds === undefined) return "—";
    var s = Math.max(0, Math.floor(seconds)), h = Math.floor(s / 3600), m = Math.floor(s % 3600 / 60);
    var pad = function (n) { return (n < 10 ? "0" : "") + n; };
    if (h) return h + " h " + pad(m) + " min";
    if (m) return m + " min " + pad(s % 60) + " s";
    return s + " s";
  }

  return { request: request, call: call, problem: problem, el: el, when: when, wallTimeToIso: wallTimeToIso,
    datasetPicks: datasetPicks, showError: showError, fieldErrors: fieldErrors, named: named, followLog: followLog,
    duration: duration, hideModal: hideModal };
})();
// A form posted as is (the spawn form, the home's Start dialog) sends its dataset picks in the hidden
// "datasets" input, joined by commas; picking a version picks the dataset.
document.addEventListener("change", function (ev) {
  var select = ev.target.closest ? ev.target.closest(".hf-dataset-version") : null;
  var box = select && select.value ? select.closest(".hf-dataset-pick") : null;
  if (box) box.querySelector("input[type=checkbox]").checked = true;
});
document.addEventListener("submit", function (ev) {
  ev.target.querySelectorAll(".hf-dataset-picks").forEach(function (box) {
    var input = box.querySelector('input[type=hidden][name="datasets"]');
    if (input) input.value = window.hf.datasetPicks(box).join(",");
  });
});
// Keep running (a notebook about to be stopped for being idle: the banner on every page, the Notebooks
// page, home): the idle clock starts again; the warning is replaced by when it now stops, or by why not.
(function () {
  "use strict";
  document.addEventListener("click", function (ev) {
    var btn = ev.target.closest ? ev.target.closest(".hf-keep-running") : null;
    if (!btn) return;
    var base = (window.jhdata && window.jhdata.base_url) || "/hub/";
    btn.disabled = true;
    window.hf.call("POST", base + "api/portal/me/notebooks/" + encodeURIComponent(btn.dataset.server) + "/keep", {})
      .then(function (res) {
        var box = btn.closest(".hf-banner, .hf-idle-warning, .hf-idle-card") || btn.parentNode;
        var text = res.ok ? "Kept running — " + res.data.stops + "." : window.hf.problem(res);
        document.querySelectorAll('.hf-keep-running[data-server="' + CSS.escape(btn.dataset.server) + '"]')
          .forEach(function (other) {
            var holder = other.closest(".hf-banner, .hf-idle-warning, .hf-idle-card") || other.parentNode;
            if (holder !== box && res.ok) holder.remove();
          });
        box.className = (res.ok ? "alert alert-success" : "alert alert-danger") + " py-1 px-2 mb-0 hf-kept";
        box.setAttribute("role", "status");
        box.textContent = text;
      });
  });
})();
// Copy buttons (button.hf-copy data-copy="#field"): the text of the field (an input, a textarea or a
// <pre>) to the clipboard, with one click; the text stays selected, for a paste by hand.
document.addEventListener("click", function (ev) {
  var button = ev.target.closest ? ev.target.closest("button.hf-copy") : null;
  var field = button && document.querySelector(button.dataset.copy);
  if (!field) return;
  var text = "value" in field ? field.value : field.textContent;
  if (field.select) {
    field.select();
  } else {
    var range = document.createRange();
    range.selectNodeContents(field);
    window.getSelection().removeAllRanges();
    window.getSelection().addRange(range);
  }
  var done = function () { button.textContent = "Copied"; };
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(text).then(done, function () { document.execCommand("copy"); done(); });
  } else {
    document.execCommand("copy");
    done();
  }
});
