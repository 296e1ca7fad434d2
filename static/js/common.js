// Shared helpers for every page: the API client (with the XSRF header), the way back to the
// login page, and confirmations.
//
// When the server refuses a call for authentication (the token was reset, the cookie is
// gone) the page goes to /login?next=<where it was: path, query and hash>, and logging in
// comes back there. api() does this on a 401 (or a 403 that names an authentication scheme
// in WWW-Authenticate); socket.js does it when /api/session answers 401.

const xsrf = document.querySelector('meta[name="xsrf-token"]')?.content ?? '';

export function isAuthRefusal(response) {
  return response.status === 401
    || (response.status === 403 && response.headers.has('WWW-Authenticate'));
}

let leaving = false;

// Leaves for the login page, once, remembering where the page was.
export function goToLogin() {
  if (leaving) return;
  leaving = true;
  const here = `${location.pathname}${location.search}${location.hash}`;
  location.assign(`/login?${new URLSearchParams({ next: here })}`);
}

export async function api(path, { method = 'GET', body } = {}) {
  const headers = { 'X-XSRFToken': xsrf, Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const response = await fetch(path, {
    method, headers, credentials: 'same-origin',
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (isAuthRefusal(response)) {
    goToLogin();
    const error = new Error('Your login has expired: log in again.');
    error.status = response.status;
    throw error;
  }
  const text = await response.text();
  const data = text ? JSON.parse(text) : null;
  if (!response.ok) {
    const error = new Error(data?.error ?? `${response.status} ${response.statusText}`);
    error.status = response.status;
    error.fields = data?.fields;
    error.code = data?.code; // the web API's refusals name their case (blocked_address, ...)
    throw error;
  }
  return data;
}

// Forms and buttons marked data-confirm ask before they act (deletes).
document.addEventListener('submit', (event) => {
  const message = event.target.dataset?.confirm;
  if (message && !window.confirm(message)) event.preventDefault();
});
