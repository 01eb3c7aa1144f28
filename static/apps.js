// Hubfront: the Apps page. Installing, settings, start/stop, binding as the Models registry and
// uninstalling go through the REST API (/hub/api/portal/groups/<group>/apps) with the page's XSRF
// token (hf.call); a page that shows an app on its way somewhere reloads until it got there.
(function () {
  "use strict";
  var page = document.getElementById("hf-apps-page");
  if (!page) return;
  var api = page.dataset.api;

  function envOf(text) {
    var env = {};
    text.split("\n").forEach(function (line) {
      var i = line.indexOf("=");
      if (line.trim() && i > 0) env[line.slice(0, i).trim()] = line.slice(i + 1);
    });
    return env;
  }

  page.querySelectorAll(".hf-install-form").forEach(function (form) {
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var body = { template: form.dataset.template, name: form.elements.name.value.trim(),
                   instance_type: form.elements.instance_type.value, access: form.elements.access.value,
                   resource_group: form.elements.resource_group.value };
      var env = {};
      form.querySelectorAll(".hf-env").forEach(function (input) { if (input.value) env[input.dataset.env] = input.value; });
      if (Object.keys(env).length) body.env = env;
      hf.call("POST", api, body).then(function (res) {
        if (res.ok) window.location.reload();
        else hf.fieldErrors(form, res);
      });
    });
  });

  page.querySelectorAll(".hf-app-settings").forEach(function (form) {
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var name = form.closest(".hf-app").dataset.name;
      var body = { instance_type: form.elements.instance_type.value, access: form.elements.access.value,
                   resource_group: form.elements.resource_group.value, env: envOf(form.elements.env.value),
                   idle_timeout: form.elements.idle_timeout.value.trim() || "never" };
      hf.call("PATCH", api + "/" + encodeURIComponent(name), body).then(function (res) {
        if (res.ok) window.location.reload();
        else hf.fieldErrors(form, res);
      });
    });
  });

  function act(method, name, suffix, body) {
    hf.call(method, api + "/" + encodeURIComponent(name) + suffix, body).then(function (res) {
      if (res.ok) window.location.reload();
      else hf.showError(page, hf.problem(res));
    });
  }

  page.addEventListener("click", function (ev) {
    var button = ev.target.closest("button");
    var card = button && button.closest(".hf-app");
    if (!card) return;
    var name = card.dataset.name;
    if (button.classList.contains("hf-app-stop")) act("POST", name, "/stop", {});
    else if (button.classList.contains("hf-app-start")) act("POST", name, "/start", {});
    else if (button.classList.contains("hf-app-bind")) act("POST", name, "/registry", { bind: button.dataset.bind === "true" });
    else if (button.classList.contains("hf-app-uninstall")) {
      if (!window.confirm("Uninstall app " + name + "?")) return;
      var wipe = window.confirm("Also delete its data (apps/" + name + "/ in the group's storage)? " +
                                "OK deletes it, Cancel keeps it.");
      act("DELETE", name, wipe ? "?delete_data=1" : "");
    } else if (button.classList.contains("hf-app-logtoggle")) {
      var box = card.querySelector(".hf-app-log");
      box.hidden = !box.hidden;
      if (!box.hidden && !box.dataset.following) follow(box);
    }
  });

  // the log as it grows: one streaming request (?follow=1) the hub ends once the app is stopped
  function follow(box) {
    box.dataset.following = "1";
    var decoder = new TextDecoder();
    hf.request("GET", box.dataset.url + "?follow=1").then(function (r) {
      if (!r.ok || !r.body) throw new Error("HTTP " + r.status);
      var reader = r.body.getReader();
      var pump = function () {
        return reader.read().then(function (chunk) {
          if (chunk.done) return;
          var atEnd = box.scrollTop + box.clientHeight >= box.scrollHeight - 4;
          box.textContent += decoder.decode(chunk.value, { stream: true });
          if (atEnd) box.scrollTop = box.scrollHeight;
          return pump();
        });
      };
      return pump();
    }).catch(function () { box.textContent += "\n[the log could not be read]"; });
  }

  // apps on their way (installing, starting, stopping) or being restarted: look again shortly
  var moving = page.querySelector('.hf-app[data-phase="Installing"], .hf-app[data-phase="Starting"], ' +
                                  '.hf-app[data-phase="Stopping"], .hf-app:not([data-restarts="0"]):not([data-phase="Failed"])');
  if (moving) {
    setInterval(function () {
      hf.call("GET", api).then(function (res) {
        if (!res.ok || !res.data) return;
        var changed = res.data.apps.some(function (a) {
          var card = page.querySelector('.hf-app[data-name="' + a.name + '"]');
          return !card || card.dataset.phase !== a.phase || card.dataset.restarts !== String(a.restarts);
        });
        if (changed && !page.querySelector(".hf-app-log:not([hidden])")) window.location.reload();
      });
    }, 3000);
  }
})();
