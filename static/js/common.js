// Shared helpers for every page: the API client (with the XSRF header) and confirmations.

const xsrf = document.querySelector('meta[name="xsrf-token"]')?.content ?? '';

export async function api(path, { method = 'GET', body } = {}) {
  const headers = { 'X-XSRFToken': xsrf, Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const response = await fetch(path, {
    method, headers, credentials: 'same-origin',
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  const data = text ? JSON.parse(text) : null;
  if (!response.ok) {
    const error = new Error(data?.error ?? `${response.status} ${response.statusText}`);
    error.status = response.status;
    error.fields = data?.fields;
    throw error;
  }
  return data;
}

// Forms and buttons marked data-confirm ask before they act (deletes).
document.addEventListener('submit', (event) => {
  const message = event.target.dataset?.confirm;
  if (message && !window.confirm(message)) event.preventDefault();
});
