// Starts Swagger UI on /docs (a file, not an inline script: the page's CSP allows only this site's scripts).
"use strict";
window.addEventListener("DOMContentLoaded", function () {
  var root = document.getElementById("swagger-ui");
  var csrf = document.querySelector('meta[name="csrf-token"]');
  window.ui = SwaggerUIBundle({
    url: root.dataset.openapiUrl,
    dom_id: "#swagger-ui",
    deepLinking: true,
    filter: true, // a box that keeps the tags (objects) matching what is typed
    validatorUrl: null, // no badge fetched from validator.swagger.io
    requestInterceptor: function (request) {
      // Signed in with a session, writes need its CSRF token (API tokens need none).
      if (csrf && request.method !== "GET" && new URL(request.url, location.href).origin === location.origin) {
        request.headers["X-CSRF-Token"] = csrf.content;
      }
      return request;
    },
  });
});
