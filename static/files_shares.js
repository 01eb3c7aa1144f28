// Hubfront: the Share links panel of the Shared Files page. Make a link (optional expiry and
// password; the link is shown once), copy it, list the group's links, revoke one.
(function () {
  "use strict";
  var page = document.getElementById("hf-files-page");
  var F = window.HubfrontFiles;
  if (!page || !F) return;
  var ds = page.dataset;
  var form = document.getElementById("hf-share-form");
  var pathInput = document.getElementById("hf-share-path");
  var formError = form.querySelector(".hf-form-error");
  var STATE_BADGES = { active: "text-bg-success", expired: "text-bg-warning", revoked: "text-bg-secondary" };

  function mayRevoke(share) {
    return share.username === ds.user || ds.groupAdmin === "true";
  }

  function row(share) {
    var tr = F.el("tr", "hf-share-row");
    tr.dataset.id = share.id;
    tr.dataset.state = share.state;
    var path = F.el("td", "font-monospace text-break hf-share-path", "/" + share.path);
    tr.appendChild(path);
    tr.appendChild(F.el("td", "", share.username));
    tr.appendChild(F.el("td", "text-nowrap small", F.when(share.created)));
    tr.appendChild(F.el("td", "text-nowrap small", share.expires ? F.when(share.expires) : "never"));
    var pw = F.el("td");
    if (share.password) pw.appendChild(F.icon("fa-lock"));
    pw.appendChild(document.createTextNode(share.password ? " yes" : "no"));
    tr.appendChild(pw);
    tr.appendChild(F.el("td", "text-end", String(share.downloads)));
    var st = F.el("td");
    st.appendChild(F.el("span", "badge hf-share-state " + (STATE_BADGES[share.state] || "text-bg-light"), share.state));
    tr.appendChild(st);
    var act = F.el("td", "text-end");
    if (share.state !== "revoked" && mayRevoke(share)) {
      var b = F.el("button", "btn btn-sm btn-outline-danger hf-share-revoke", "Revoke");
      b.type = "button";
      b.dataset.id = share.id;
      b.dataset.path = share.path;
      act.appendChild(b);
    }
    tr.appendChild(act);
    return tr;
  }

  function load() {
    return F.call("GET", ds.sharesApi).then(function (res) {
      var body = document.getElementById("hf-shares-body");
      body.textContent = "";
      var shares = (res.ok && res.data && res.data.shares) || [];
      if (!res.ok) F.showError(F.messageOf(res), formError);
      if (!shares.length) {
        var td = F.el("td", "text-muted text-center py-3", "No share links yet.");
        td.colSpan = 8;
        td.id = "hf-shares-empty";
        var tr = F.el("tr");
        tr.appendChild(td);
        body.appendChild(tr);
      }
      shares.forEach(function (s) { body.appendChild(row(s)); });
    });
  }

  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    F.showError("", formError);
    var body = { path: pathInput.value.trim().replace(/^\/+/, "") };
    var expires = document.getElementById("hf-share-expires").value;
    if (expires) body.expires = window.hf.wallTimeToIso(expires, ds.zone); // a wall time in the user's zone
    var password = document.getElementById("hf-share-password").value;
    if (password) body.password = password;
    F.call("POST", ds.sharesApi, body).then(function (res) {
      if (!res.ok) { F.showError(F.messageOf(res), formError); return; }
      document.getElementById("hf-share-url").value = window.location.origin + res.data.url;
      document.getElementById("hf-share-made").hidden = false;
      document.getElementById("hf-share-password").value = "";
      load();
    });
  });

  document.getElementById("hf-share-copy").addEventListener("click", function () {
    var input = document.getElementById("hf-share-url");
    input.select();
    var done = function () {
      var btn = document.getElementById("hf-share-copy");
      btn.lastChild.textContent = " Copied";
      setTimeout(function () { btn.lastChild.textContent = " Copy"; }, 2000);
    };
    if (navigator.clipboard && window.isSecureContext) navigator.clipboard.writeText(input.value).then(done, function () {});
    else if (document.execCommand("copy")) done();
  });

  document.getElementById("hf-shares-body").addEventListener("click", function (ev) {
    var b = ev.target.closest("button.hf-share-revoke");
    if (!b || !window.confirm("Revoke the link to /" + b.dataset.path + "? Whoever opens it is told it was revoked.")) return;
    F.call("DELETE", ds.sharesApi + "/" + encodeURIComponent(b.dataset.id)).then(function (res) {
      if (!res.ok) F.showError(F.messageOf(res), formError);
      load();
    });
  });

  // "Share" on a row or "Share folder": the form, filled in with that path
  document.addEventListener("hf-share", function (ev) {
    pathInput.value = ev.detail ? "/" + ev.detail : "";
    document.getElementById("hf-share-made").hidden = true;
    document.getElementById("hf-shares").scrollIntoView({ behavior: "smooth", block: "start" });
    document.getElementById("hf-share-expires").focus();
  });
  document.addEventListener("hf-folder", function (ev) { pathInput.value = "/" + ev.detail; });

  pathInput.value = "/" + F.folder();
  load();
})();
