// The REST API docs page: make Swagger UI's drawing accessible as it happens (see swagger-a11y.js).
document.addEventListener("DOMContentLoaded", function () {
  "use strict";
  var root = document.getElementById("swagger-ui");
  if (root && window.porticoSwaggerA11y) window.porticoSwaggerA11y(root);
});
