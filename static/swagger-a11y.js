// Swagger UI leaves some controls unnamed for screen readers and some scrolling blocks out of the keyboard's
// reach; this names and reaches them as Swagger UI draws them. Used by the REST API docs and the try-it console.
(function () {
  "use strict";

  function makeAccessible(root) {
    root.querySelectorAll("textarea.body-param__text:not([aria-label])").forEach(function (area) {
      area.setAttribute("aria-label", "Request body");
    });
    root.querySelectorAll("pre.microlight:not([tabindex]), .highlight-code > pre:not([tabindex])").forEach(function (block) {
      block.setAttribute("tabindex", "0");
    });
  }

  window.porticoSwaggerA11y = function (root) {
    makeAccessible(root);
    new MutationObserver(function () {
      makeAccessible(root);
    }).observe(root, { childList: true, subtree: true });
  };
})();
