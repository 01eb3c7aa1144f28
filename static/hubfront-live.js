// Hubfront: dismissing announcement banners, and panels that refresh themselves.
// Data from the API is always inserted as text, never as HTML.
(function () {
  "use strict";
  if (window.hubfrontLive) return;
  window.hubfrontLive = true;
  var jh = window.jhdata || {};
  var base = jh.base_url || "/hub/";

  function api(method, path) {
    return fetch(base + "api/portal/" + path, {
      method: method,
      credentials: "same-origin",
      headers: { "X-XSRFToken": jh.xsrf_token || "" },
    });
  }

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  // Announcement banners: remembered per user on the server.
  document.addEventListener("click", function (ev) {
    var btn = ev.target.closest ? ev.target.closest(".hf-dismiss") : null;
    if (!btn) return;
    var m = /^announcement-(\d+)$/.exec(btn.getAttribute("data-banner") || "");
    if (!m) return;
    btn.disabled = true;
    api("POST", "announcements/" + m[1] + "/dismiss").then(function (r) {
      if (r.ok) {
        var banner = btn.closest(".hf-banner");
        var panel = btn.closest("[data-panel]");  // the home's Announcements panel: gone with its last one
        if (banner) banner.remove();
        if (panel && !panel.querySelector(".hf-banner")) panel.remove();
      } else {
        btn.disabled = false;
      }
    });
  });

  function poll(node, fn) {
    var ms = parseInt(node.getAttribute("data-refresh-ms") || "0", 10);
    if (ms > 0) {
      setInterval(function () {
        if (!document.hidden) fn();
      }, ms);
    }
  }

  // Recent activities (home).
  function activityItem(a) {
    var li = el("li", "list-group-item d-flex align-items-start gap-2 hf-activity");
    li.setAttribute("data-id", a.id);
    li.setAttribute("data-status", a.status);
    var badge;
    if (a.live === "running") badge = el("span", "badge hf-running hf-live", "running");
    else if (a.status === "error") badge = el("span", "badge text-bg-danger hf-live", "error");
    else if (a.status === "ok") badge = el("span", "badge text-bg-primary hf-live", a.verb || a.action);
    else badge = el("span", "badge text-bg-secondary hf-live", a.verb || a.action);
    li.appendChild(badge);
    var body = el("div", "flex-grow-1");
    var msg;
    if (a.link) {
      msg = el("a", "hf-activity-message", a.message);
      msg.setAttribute("href", a.link);
    } else {
      msg = el("span", "hf-activity-message", a.message);
    }
    body.appendChild(msg);
    var meta = el("div", "small text-muted");
    meta.appendChild(el("span", "hf-activity-kind", a.kind));
    meta.appendChild(document.createTextNode(" · "));
    meta.appendChild(el("span", "hf-activity-user", a.username));
    meta.appendChild(document.createTextNode(" · "));
    var time = el("time", "", a.time);
    time.setAttribute("datetime", a.created);
    meta.appendChild(time);
    body.appendChild(meta);
    li.appendChild(body);
    return li;
  }

  var recent = document.getElementById("hf-recent");
  if (recent) {
    var refreshRecent = function () {
      var scope = recent.getAttribute("data-scope") || "mine";
      var q = "group=" + encodeURIComponent(recent.getAttribute("data-group")) +
        "&limit=" + encodeURIComponent(recent.getAttribute("data-limit") || "10") + "&scope=" + scope;
      api("GET", "me/activities?" + q)
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (data) {
          if (!data) return;
          var list = recent.querySelector(".hf-activity-list");
          list.replaceChildren();
          if (!data.activities.length) {
            list.appendChild(el("li", "list-group-item text-muted hf-activity-empty",
              scope === "group" ? "Nothing yet in this group." : "Nothing of yours yet in this group."));
          }
          data.activities.forEach(function (a) { list.appendChild(activityItem(a)); });
        });
    };
    poll(recent, refreshRecent);
    var everyone = document.getElementById("hf-recent-everyone");
    if (everyone) {
      everyone.addEventListener("change", function () {
        recent.setAttribute("data-scope", everyone.checked ? "group" : "mine");
        refreshRecent();
      });
    }
  }

  // System Resources: fields named by data-field are refreshed from the API.
  var system = document.getElementById("hf-system");
  if (system) {
    poll(system, function () {
      api("GET", "system/resources")
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (data) {
          if (!data) return;
          system.querySelectorAll("[data-field]").forEach(function (node) {
            var value = data.text ? data.text[node.getAttribute("data-field")] : undefined;
            if (value !== undefined) node.textContent = value;
          });
          system.querySelectorAll("[data-percent]").forEach(function (bar) {
            var value = data.percent ? data.percent[bar.getAttribute("data-percent")] : undefined;
            if (value !== undefined && value !== null) bar.style.width = value + "%";
          });
          var stamp = system.querySelector(".hf-refreshed");
          if (stamp) stamp.textContent = " · updated " + new Date().toLocaleTimeString();
        });
    });
  }
})();
