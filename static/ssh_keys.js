// Hubfront: the SSH keys page. Removing a key asks first (copy buttons: portal.js).
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
})();
