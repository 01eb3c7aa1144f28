// Maintenance page: recompute quota use and clean now through the REST API (hf.call sends the XSRF header);
// answers are inserted as text, never as HTML.
(function () {
  "use strict";
  var api = (window.jhdata || {}).base_url + "api/portal/maintenance/";

  function run(button, path, result, show) {
    button.addEventListener("click", function () {
      button.disabled = true;
      result.textContent = "Working…";
      window.hf.call("POST", api + path, {}).then(function (res) {
        button.disabled = false;
        if (!res.ok) { result.textContent = window.hf.problem(res); return; }
        show(res.data);
      });
    });
  }

  // times as the user reads them (the browser's zone)
  document.querySelectorAll("#hf-maintenance [data-iso]").forEach(function (n) {
    n.textContent = window.hf.when(n.getAttribute("data-iso"), Intl.DateTimeFormat().resolvedOptions().timeZone);
  });

  var removedTable = document.getElementById("hf-recompute-removed");
  run(document.getElementById("hf-recompute-button"), "recompute", document.getElementById("hf-recompute-result"),
    function (data) {
      var rows = data.removed || [];
      document.getElementById("hf-recompute-result").textContent = rows.length
        ? "Removed " + rows.length + " reservation(s) of workloads that no longer run:"
        : "Nothing to fix: every reservation belongs to a running workload.";
      var body = removedTable.querySelector("tbody");
      body.textContent = "";
      rows.forEach(function (r) {
        var tr = document.createElement("tr");
        tr.className = "hf-removed";
        [r.kind, r.workload_id, r.username, r.group, r.text.cpu, r.text.memory, r.text.gpu].forEach(function (v) {
          tr.appendChild(window.hf.el("td", "", v));
        });
        body.appendChild(tr);
      });
      removedTable.classList.toggle("d-none", rows.length === 0);
    });

  run(document.getElementById("hf-clean-button"), "clean", document.getElementById("hf-clean-result"),
    function (data) {
      var jobs = data.marked || [];
      document.getElementById("hf-clean-result").textContent = jobs.length
        ? jobs.length + " finished job(s) handed to the runner for removal: " +
          jobs.map(function (j) { return "#" + j.id + " " + j.name + " (" + j.group + ")"; }).join(", ")
        : "Nothing to clean: no finished job is past the retention.";
    });

  var envs = document.getElementById("hf-envs-button");
  if (envs) {
    run(envs, "environments/clean", document.getElementById("hf-envs-result"), function (data) {
      var gone = data.removed || [];
      gone.forEach(function (e) {
        var tr = document.querySelector('#hf-environments tr[data-env="' + CSS.escape(e.name) + '"]');
        if (tr) tr.remove();
      });
      document.getElementById("hf-envs-result").textContent = gone.length
        ? "Removed " + gone.length + " environment(s): " + gone.map(function (e) { return e.name; }).join(", ")
        : "Nothing removed: every environment is in use.";
      envs.disabled = true;
    });
  }
})();
