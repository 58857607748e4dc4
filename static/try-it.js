// The try-it console on an API's catalog page: Swagger UI rendered from the API's OpenAPI document, sending
// real requests to the public gateway with the key the developer pastes. The key lives only in this page's
// memory; it is added to each request here and never sent to the portal. Loaded as a file (strict CSP).
(function () {
  "use strict";

  var root = document.getElementById("console");
  if (!root || !window.SwaggerUIBundle) return;
  var keyInput = document.getElementById("console-key");
  var applicationSelect = document.getElementById("console-application");
  var applicationLink = document.getElementById("console-application-link");
  var denial = document.getElementById("console-denial");

  if (applicationSelect && applicationLink) {
    applicationSelect.addEventListener("change", function () {
      applicationLink.href = root.dataset.applicationUrl.replace(/\/0\/$/, "/" + applicationSelect.value + "/");
    });
  }

  function headerValue(headers, name) {
    var wanted = name.toLowerCase();
    for (var key in headers || {}) {
      if (key.toLowerCase() === wanted) return String(headers[key]);
    }
    return "";
  }

  // A refusal is a problem+json document: show it, with a link to the page that explains its cause.
  function showDenial(response) {
    var problem = response.obj;
    var isProblem = headerValue(response.headers, "content-type").indexOf("application/problem+json") === 0;
    if (!isProblem || !problem || typeof problem.type !== "string") {
      denial.hidden = true;
      return;
    }
    var cause = problem.type.replace(/\/+$/, "").split("/").pop();
    document.getElementById("console-denial-title").textContent = problem.title || cause;
    document.getElementById("console-denial-status").textContent = String(response.status);
    document.getElementById("console-denial-link").href = root.dataset.problemPagesUrl + encodeURIComponent(cause) + "/";
    document.getElementById("console-denial-body").textContent = JSON.stringify(problem, null, 2);
    denial.hidden = false;
  }

  if (window.porticoSwaggerA11y) window.porticoSwaggerA11y(root);

  fetch(root.dataset.specUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
    .then(function (answer) {
      if (!answer.ok) throw new Error("the API's document could not be loaded (" + answer.status + ")");
      return answer.json();
    })
    .then(function (spec) {
      // Every operation is sent through the gateway, whatever servers the publisher's document names.
      spec.servers = [{ url: root.dataset.serverUrl }];
      window.SwaggerUIBundle({
        domNode: root,
        spec: spec,
        deepLinking: false,
        tryItOutEnabled: true,
        syntaxHighlight: false, // its colour themes are below WCAG AA contrast; plain text reads everywhere
        requestInterceptor: function (request) {
          var key = keyInput ? keyInput.value.trim() : "";
          if (key) request.headers[root.dataset.keyHeader] = key;
          return request;
        },
        responseInterceptor: function (response) {
          showDenial(response);
          return response;
        },
      });
    })
    .catch(function (error) {
      root.textContent = "The console could not start: " + error.message;
    });
})();
