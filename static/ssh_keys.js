// Hubfront: the SSH keys page. Removing a key asks first; the command line copies with one click.
(function () {
  "use strict";
  document.querySelectorAll("form.hf-ssh-remove").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (form.dataset.confirmed === "1" || !(window.hf && window.hf.confirmAction)) return;
      event.preventDefault();
      window.hf.confirmAction({
        title: "Remove SSH key",
        text: "Remove the key " + form.dataset.keyName + "? It can no longer sign in.",
        ok: "Remove",
      }).then(function (yes) {
        if (!yes) return;
        form.dataset.confirmed = "1";
        form.submit();
      });
    });
  });
  document.querySelectorAll("button.hf-copy").forEach(function (button) {
    button.addEventListener("click", function () {
      var input = document.querySelector(button.dataset.copy);
      if (!input) return;
      input.select();
      var done = function () { button.textContent = "Copied"; };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(input.value).then(done, function () { document.execCommand("copy"); done(); });
      } else {
        document.execCommand("copy");
        done();
      }
    });
  });
})();
