// Portico portal behaviour. Progressive enhancement only: every page works without it.
// Loaded as a file from 'self' (the CSP forbids inline scripts).
(function () {
  "use strict";

  // Copy buttons: <button data-copy="element-id">. Used on the reveal-once pages for keys and tokens.
  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text);
    }
    // Plain-HTTP development servers have no Clipboard API: fall back to a selection and execCommand.
    return new Promise(function (resolve, reject) {
      var area = document.createElement("textarea");
      area.value = text;
      area.setAttribute("readonly", "");
      area.className = "sr-only";
      document.body.appendChild(area);
      area.select();
      try {
        document.execCommand("copy") ? resolve() : reject(new Error("copy refused"));
      } catch (error) {
        reject(error);
      } finally {
        document.body.removeChild(area);
      }
    });
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy]");
    if (!button) return;
    var source = document.getElementById(button.getAttribute("data-copy"));
    if (!source) return;
    var label = button.textContent;
    copyText(source.textContent.trim()).then(
      function () {
        button.setAttribute("data-copied", "");
        button.textContent = "Copied";
        window.setTimeout(function () {
          button.removeAttribute("data-copied");
          button.textContent = label;
        }, 2000);
      },
      function () {
        var range = document.createRange();
        range.selectNodeContents(source);
        var selection = window.getSelection();
        selection.removeAllRanges();
        selection.addRange(range);
        button.textContent = "Press Ctrl+C";
      }
    );
  });

  // <details data-menu> dropdowns: close on a click elsewhere, on Escape, and when another one opens.
  function closeMenus(except) {
    document.querySelectorAll("details[data-menu][open]").forEach(function (menu) {
      if (menu !== except) menu.removeAttribute("open");
    });
  }
  document.addEventListener("click", function (event) {
    closeMenus(event.target.closest("details[data-menu]"));
  });
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape") closeMenus(null);
  });
})();
