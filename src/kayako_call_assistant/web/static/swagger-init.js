// Starts Swagger UI from a file rather than an inline script, so /docs works under the page CSP.
"use strict";
window.addEventListener("DOMContentLoaded", () => {
  window.SwaggerUIBundle({ url: "/openapi.json", dom_id: "#swagger-ui", deepLinking: true });
});
