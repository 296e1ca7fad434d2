// The API page: Swagger UI (static/vendor/swagger-ui, a classic script that defines
// SwaggerUIBundle) rendering the server's OpenAPI document. "Try it out" runs in this page,
// so the login cookie goes with each request; Tornado also wants the `_xsrf` cookie's value
// echoed in X-XSRFToken on anything but GET/HEAD/OPTIONS, which the interceptor adds.

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

function cookie(name) {
  for (const part of document.cookie.split(';')) {
    const [key, ...value] = part.trim().split('=');
    if (key === name) return decodeURIComponent(value.join('='));
  }
  return '';
}

function withSession(request) {
  const method = (request.method || 'GET').toUpperCase();
  if (!SAFE_METHODS.has(method)) {
    // The page's meta tag holds a token valid for the same cookie, should the cookie be
    // unreadable (it is set when this page is rendered, so it should not be).
    const token = cookie('_xsrf')
      || document.querySelector('meta[name="xsrf-token"]')?.content || '';
    request.headers['X-XSRFToken'] = token;
  }
  request.credentials = 'same-origin';
  return request;
}

const root = document.getElementById('swagger-ui');
const status = document.getElementById('api-docs-status');

function failed(message) {
  status.textContent = message;
  status.className = 'notice error';
  status.hidden = false;
}

if (typeof window.SwaggerUIBundle !== 'function') {
  failed('The API browser (swagger-ui-bundle.js) did not load; the document itself is at '
    + root.dataset.specUrl + '.');
} else {
  window.SwaggerUIBundle({
    url: root.dataset.specUrl,
    domNode: root,
    deepLinking: true,
    // Lists operations folded by tag; "Try it out" needs no Authorize step: the cookie is sent.
    docExpansion: 'list',
    defaultModelsExpandDepth: 0,
    tryItOutEnabled: false,
    withCredentials: true,
    requestInterceptor: withSession,
    onComplete: () => { status.hidden = true; },
    presets: [window.SwaggerUIBundle.presets.apis],
    layout: 'BaseLayout',
  });
}
