// Hubfront: one confirmation dialog for actions that are hard to undo (stopping a notebook, cancelling a
// job), a Bootstrap modal like the Files page's: hf.confirmAction({title, text, ok}) resolves to true
// when the person confirms, false when they cancel or close it. Text is always inserted as text.
(function () {
  "use strict";
  window.hf = window.hf || {};
  if (window.hf.confirmAction) return;
  var modalEl = null;
  var answer = null;

  function build() {
    modalEl = document.createElement("div");
    modalEl.className = "modal fade";
    modalEl.id = "hf-confirm-action";
    modalEl.tabIndex = -1;
    modalEl.setAttribute("aria-labelledby", "hf-confirm-action-title");
    modalEl.setAttribute("aria-hidden", "true");
    modalEl.innerHTML =
      '<div class="modal-dialog"><div class="modal-content">' +
      '<div class="modal-header"><h2 class="modal-title h5" id="hf-confirm-action-title"></h2>' +
      '<button type="button" class="btn-close" data-bs-dismiss="modal" aria-label="Close"></button></div>' +
      '<div class="modal-body"><p class="text-break mb-0" id="hf-confirm-action-text"></p></div>' +
      '<div class="modal-footer"><button type="button" class="btn btn-secondary btn-sm" data-bs-dismiss="modal"' +
      ' id="hf-confirm-action-cancel">Keep it</button>' +
      '<button type="button" class="btn btn-danger btn-sm" id="hf-confirm-action-ok"></button></div>' +
      "</div></div>";
    document.body.appendChild(modalEl);
    // Bootstrap ignores hide() while the show transition runs (a quick click on a slow machine): hide once shown
    modalEl.addEventListener("show.bs.modal", function () { modalEl.dataset.hfShowing = "1"; });
    modalEl.addEventListener("shown.bs.modal", function () { delete modalEl.dataset.hfShowing; });
    modalEl.addEventListener("hidden.bs.modal", function () { settle(false); });
    modalEl.querySelector("#hf-confirm-action-ok").addEventListener("click", function () {
      settle(true);
      hide();
    });
  }

  function modal() { return window.bootstrap.Modal.getOrCreateInstance(modalEl); }

  function hide() {
    if (modalEl.dataset.hfShowing) {
      modalEl.addEventListener("shown.bs.modal", function () { modal().hide(); }, { once: true });
    }
    modal().hide();
  }

  function settle(value) {
    var resolve = answer;
    answer = null;
    if (resolve) resolve(value);
  }

  window.hf.confirmAction = function (options) {
    if (!window.bootstrap) return Promise.resolve(window.confirm(options.text));
    if (!modalEl) build();
    settle(false);  // a dialog still open for something else is answered "no"
    modalEl.querySelector("#hf-confirm-action-title").textContent = options.title;
    modalEl.querySelector("#hf-confirm-action-text").textContent = options.text;
    modalEl.querySelector("#hf-confirm-action-ok").textContent = options.ok || "Confirm";
    return new Promise(function (resolve) {
      answer = resolve;
      modal().show();
    });
  };
})();
