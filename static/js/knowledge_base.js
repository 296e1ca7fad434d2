// A knowledge base's page: its sources' indexing progress live over /ws, and file uploads
// that stay on the page.
//
// The page subscribes to the base (`knowledge:subscribe`, again after every reconnect) and
// moves each source's progress bar with the `knowledge:update` frames: chunks cut, then
// chunks embedded, then done (the bar full) or failed (the reason shown). When a source
// finishes, or the socket comes back, the table is redrawn from GET /api/knowledge-bases/<id>
// (sizes, titles of fetched pages, sources added elsewhere). The upload form posts to
// POST /api/knowledge-bases/<id>/files; without this script it posts as a plain form.
// Everything from the server is inserted as text, never as HTML.

import { goToLogin, isAuthRefusal } from './common.js';
import { Socket, describeStatus } from './socket.js';

const table = document.getElementById('kb-sources');
const baseId = Number(table?.dataset.baseId);
const live = document.getElementById('kb-live');
const latest = new Map(); // source id -> its latest progress payload
const PHASES = {
  chunking: 'cutting into chunks', embedding: 'embedding', done: 'indexed', failed: 'failed',
};

function row(sourceId) {
  return document.getElementById(`source-${sourceId}`);
}

function progressBox(tr) {
  let box = tr.querySelector('.indexing-progress');
  if (!box) {
    box = document.createElement('div');
    box.className = 'indexing-progress';
    const bar = document.createElement('progress');
    bar.max = 1;
    bar.setAttribute('aria-label', `Indexing ${tr.querySelector('a.title')?.textContent ?? ''}`);
    const phase = document.createElement('span');
    phase.className = 'phase';
    box.append(bar, phase);
    tr.querySelector('td.status').append(box);
  }
  return box;
}

function setBadge(tr, status) {
  const badge = tr.querySelector('td.status .badge');
  badge.className = `badge ${status}`;
  badge.textContent = status;
}

function setError(tr, message) {
  const error = tr.querySelector('td .field-error');
  error.textContent = message ?? '';
  error.hidden = !message;
}

// One progress payload: {sourceId, status, phase, done, total, chunkCount, error}.
function apply(payload) {
  latest.set(payload.sourceId, payload);
  const tr = row(payload.sourceId);
  if (!tr) {
    refreshSoon(); // a source added elsewhere: the table gets its row
    return;
  }
  setBadge(tr, payload.status);
  tr.querySelector('td.chunks').textContent = String(payload.chunkCount ?? 0);
  setError(tr, payload.error);
  const box = progressBox(tr);
  const bar = box.querySelector('progress');
  const finished = payload.phase === 'done' || payload.phase === 'failed';
  box.dataset.phase = payload.phase;
  if (finished) {
    bar.max = 1;
    bar.value = payload.phase === 'done' ? 1 : 0;
    box.querySelector('.phase').textContent = payload.phase === 'done'
      ? `${PHASES.done}: ${payload.chunkCount} chunk${payload.chunkCount === 1 ? '' : 's'}`
      : PHASES.failed;
    refreshSoon();
  } else if (payload.total > 0) {
    bar.max = payload.total;
    bar.value = payload.done;
    box.querySelector('.phase').textContent =
      `${PHASES[payload.phase] ?? payload.phase}: ${payload.done} of ${payload.total}`;
  } else {
    bar.removeAttribute('value'); // indeterminate until the chunks are counted
    box.querySelector('.phase').textContent = PHASES[payload.phase] ?? payload.phase;
  }
}

// -- the table from the API ------------------------------------------------------------------

function sourceUrl(sourceId, action = '') {
  return `/knowledge-bases/${baseId}/sources/${sourceId}${action}`;
}

function newRow(source) {
  const tr = document.getElementById('kb-row').content.firstElementChild.cloneNode(true);
  tr.id = `source-${source.id}`;
  tr.dataset.sourceId = String(source.id);
  tr.querySelector('a.title').href = sourceUrl(source.id);
  tr.querySelector('form.delete').action = sourceUrl(source.id, '/delete');
  tr.querySelector('form.delete').dataset.confirm = `Delete the source “${source.title}”?`;
  tr.querySelector('form.refetch').action = sourceUrl(source.id, '/refetch');
  table.tBodies[0].append(tr);
  table.hidden = false;
  document.getElementById('kb-no-sources')?.remove();
  return tr;
}

// Draws a source as GET /api/knowledge-bases/<id> (or the upload) returns it.
function draw(source) {
  const tr = row(source.id) ?? newRow(source);
  tr.querySelector('a.title').textContent = source.title;
  const url = tr.querySelector('a.url');
  if (url && source.url) {
    url.href = source.url;
    url.textContent = source.url;
    url.hidden = false;
    tr.querySelector('br.url').hidden = false;
  }
  const kind = tr.querySelector('td.kind');
  if (kind) kind.textContent = source.format ? `${source.kind} (${source.format})` : source.kind;
  tr.querySelector('form.refetch')?.toggleAttribute('hidden', source.kind !== 'url');
  tr.querySelector('td.size').textContent = `${source.size ?? 0} chars`;
  const payload = latest.get(source.id);
  const inFlight = payload && payload.phase !== 'done' && payload.phase !== 'failed';
  if (inFlight) {
    apply(payload);
    return;
  }
  setBadge(tr, source.status);
  tr.querySelector('td.chunks').textContent = String(source.chunkCount ?? 0);
  setError(tr, source.error ?? payload?.error);
  const box = tr.querySelector('.indexing-progress');
  // A bar that saw its source finish stays full; one drawn before (waiting) goes.
  if (source.status === 'failed' || (source.status === 'ready' && box?.dataset.phase !== 'done')) {
    box?.remove();
  }
  if (source.status === 'pending' || source.status === 'indexing') {
    const waiting = progressBox(tr);
    waiting.querySelector('progress').removeAttribute('value');
    waiting.querySelector('.phase').textContent = source.status === 'pending'
      ? 'fetching' : 'waiting to be indexed';
  }
}

let refreshing = null;
let again = false;

async function refresh() {
  try {
    const response = await fetch(`/api/knowledge-bases/${baseId}`, {
      credentials: 'same-origin', headers: { Accept: 'application/json' }, cache: 'no-store',
    });
    if (isAuthRefusal(response)) {
      goToLogin();
      return;
    }
    if (!response.ok) return;
    const base = await response.json();
    const ids = new Set(base.sources.map((source) => source.id));
    base.sources.forEach(draw);
    for (const tr of [...table.tBodies[0].rows]) {
      if (!ids.has(Number(tr.dataset.sourceId))) tr.remove(); // deleted elsewhere
    }
  } catch {
    // The server is away: the socket says so, and redraws when it is back.
  }
  watchFetches();
}

// A web page being fetched has no progress to report until it is indexed, and a fetch that
// fails ends before indexing starts, with no frame: while a source is pending, the table is
// read again now and then.
let fetchTimer = null;

function watchFetches() {
  clearTimeout(fetchTimer);
  if (table.querySelector('.badge.pending')) fetchTimer = setTimeout(refreshSoon, 3000);
}

// One redraw at a time; requests meanwhile make one more after it.
function refreshSoon() {
  if (refreshing) {
    again = true;
    return;
  }
  refreshing = refresh().finally(() => {
    refreshing = null;
    if (again) {
      again = false;
      refreshSoon();
    }
  });
}

// -- uploads ---------------------------------------------------------------------------------

function showFieldError(form, name, message) {
  const input = form.querySelector(`[name="${name}"]`) ?? form.querySelector('[name="file"]');
  const field = input.closest('.field');
  let error = field.querySelector('.field-error');
  if (!error) {
    error = document.createElement('p');
    error.className = 'field-error';
    error.id = `${input.id}-error`;
    field.append(error);
  }
  error.textContent = message;
  input.classList.add('invalid');
  input.setAttribute('aria-invalid', 'true');
}

function clearErrors(form) {
  form.querySelectorAll('.field-error').forEach((error) => error.remove());
  form.querySelectorAll('.invalid').forEach((input) => {
    input.classList.remove('invalid');
    input.removeAttribute('aria-invalid');
  });
}

function say(form, message, isError = false) {
  let line = form.querySelector('.upload-status');
  if (!line) {
    line = document.createElement('p');
    line.className = 'upload-status';
    line.setAttribute('role', 'status');
    form.querySelector('.actions').before(line);
  }
  line.textContent = message;
  line.classList.toggle('field-error', isError);
}

async function upload(form) {
  const file = form.querySelector('input[type="file"]').files[0];
  const limit = Number(form.dataset.maxBytes);
  clearErrors(form);
  if (!file) {
    showFieldError(form, 'file', 'Choose a file to upload.');
    return;
  }
  if (file.size > limit) { // the server would refuse it before reading it (413)
    showFieldError(form, 'file', `The file is larger than the limit of ${limit / 1e6} MB.`);
    return;
  }
  const body = new FormData();
  body.append('file', file);
  body.append('title', form.querySelector('[name="title"]').value);
  const button = form.querySelector('button[type="submit"]');
  button.disabled = true;
  say(form, `Uploading “${file.name}”…`);
  try {
    const xsrf = document.querySelector('meta[name="xsrf-token"]')?.content ?? '';
    const response = await fetch(`/api/knowledge-bases/${baseId}/files`, {
      method: 'POST', body, credentials: 'same-origin',
      headers: { 'X-XSRFToken': xsrf, Accept: 'application/json' },
    });
    if (isAuthRefusal(response)) {
      goToLogin();
      return;
    }
    const data = await response.json().catch(() => ({}));
    if (!response.ok) {
      const fields = Object.entries(data.fields ?? {});
      fields.forEach(([name, messages]) => showFieldError(form, name, messages.join(' ')));
      say(form, fields.length ? 'Not added: see the messages above.'
        : `Not added: ${data.error ?? `${response.status} ${response.statusText}`}`, true);
      return;
    }
    form.reset();
    draw(data);
    say(form, data.status === 'failed' ? `“${data.title}” could not be read: ${data.error}`
      : `Added “${data.title}”; indexing it now.`, data.status === 'failed');
  } catch {
    say(form, 'Not added: the server did not answer. Try again.', true);
  } finally {
    button.disabled = false;
  }
}

// -- the socket ------------------------------------------------------------------------------

function start() {
  const socket = new Socket();
  socket.on('knowledge:subscribed', (data) => {
    live.dataset.subscribed = 'true';
    data.sources.forEach(apply);
    refreshSoon(); // what finished while the socket was down
  });
  socket.on('knowledge:update', (data) => {
    if (data.knowledgeBaseId === baseId) apply(data);
  });
  socket.onStatus((state, detail) => {
    if (state === 'open') socket.send('knowledge:subscribe', { knowledgeBaseId: baseId });
    if (state === 'connecting') return;
    if (state !== 'open') delete live.dataset.subscribed;
    live.hidden = false;
    live.textContent = state === 'open' ? 'Live updates: on'
      : `Live updates: off. ${describeStatus(state, detail)} The table shows what it last saw.`;
    live.classList.toggle('down', state !== 'open');
    live.dataset.state = state;
  });
  socket.start();
  watchFetches();
  const form = document.getElementById('add-file');
  form?.addEventListener('submit', (event) => {
    event.preventDefault();
    upload(form);
  });
}

if (table && baseId) start();
