// The Web page: fetch a URL through POST /api/web/fetch and show what was read (title,
// metadata, the Markdown rendered safely, the screenshot, the PDF, the links, the steps), or
// the refusal with its code; the history of fetches (GET /api/web/fetches), each reopened
// with a click; "Add to knowledge base" (POST /api/knowledge-sources, kind "url").
//
// Everything that comes from the page goes in with textContent, except its Markdown, which
// markdown.js renders and sanitises (without images: see there). ?fetch=<id> in the address
// reopens a fetch, so a result can be linked to and survives a reload.

import { api } from './common.js';
import { renderMarkdown } from './markdown.js';

const HISTORY_PAGE = 20;
const MAX_LINKS = 300;
const META_LABELS = {
  author: 'Author', date: 'Date', language: 'Language', canonicalUrl: 'Canonical URL',
  canonical: 'Canonical URL', description: 'Description', sitename: 'Site', siteName: 'Site',
  hostname: 'Host', categories: 'Categories', tags: 'Tags', contentType: 'Content type',
};

const $ = (id) => document.getElementById(id);
const form = $('web-form');
const urlInput = $('web-url');
const fetchButton = $('web-fetch');
const statusLine = $('web-status');
const errorBox = $('web-error');
const result = $('web-result');
const historyList = $('history-list');
const historyStatus = $('history-status');
const moreButton = $('history-more');
const kbForm = $('kb-add');
const kbStatus = $('kb-add-status');

const state = { shown: null, historyItems: [], total: 0 };

function link(href, text, external = true) {
  const element = document.createElement('a');
  element.href = href;
  element.textContent = text;
  if (external) {
    element.target = '_blank';
    element.rel = 'noopener noreferrer nofollow';
  }
  return element;
}

function when(iso) {
  if (!iso) return '';
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString();
}

// -- errors ----------------------------------------------------------------------------------

function showError(code, message) {
  errorBox.hidden = !message;
  errorBox.querySelector('.code').textContent = code ? `${code}:` : '';
  errorBox.querySelector('.message').textContent = message ?? '';
  errorBox.dataset.code = code ?? '';
}

function fieldsText(fields) {
  return Object.entries(fields ?? {})
    .map(([name, problems]) => `${name}: ${[].concat(problems).flat().join(' ')}`).join('; ');
}

// -- the result ------------------------------------------------------------------------------

function metaRow(list, label, value) {
  if (value === null || value === undefined || value === '') return;
  const term = document.createElement('dt');
  term.textContent = label;
  const detail = document.createElement('dd');
  if (typeof value === 'string' && /^https?:\/\//.test(value)) detail.append(link(value, value));
  else detail.textContent = Array.isArray(value) ? value.join(', ') : String(value);
  list.append(term, detail);
}

function renderMeta(page) {
  const list = $('result-meta');
  list.replaceChildren();
  metaRow(list, 'HTTP status', page.statusCode);
  metaRow(list, 'Renderer', page.renderer);
  metaRow(list, 'Fetched', when(page.fetchedAt) + (page.fromCache ? ' (from the cache)' : ''));
  for (const [key, value] of Object.entries(page.metadata ?? {})) {
    if (key === 'title' || (typeof value === 'object' && !Array.isArray(value))) continue;
    metaRow(list, META_LABELS[key] ?? key, value);
  }
}

function linkOf(item) {
  if (typeof item === 'string') return { url: item, text: '' };
  return { url: item?.url ?? item?.href ?? '', text: item?.text ?? item?.title ?? '' };
}

function renderLinks(links) {
  const list = $('result-links');
  list.replaceChildren();
  const all = (links ?? []).map(linkOf).filter((l) => /^https?:\/\//.test(l.url));
  $('result-link-count').textContent = `(${all.length})`;
  for (const { url, text } of all.slice(0, MAX_LINKS)) {
    const item = document.createElement('li');
    item.append(link(url, text.trim() || url));
    if (text.trim()) {
      const address = document.createElement('span');
      address.className = 'muted small address';
      address.textContent = url;
      item.append(' ', address);
    }
    const again = document.createElement('button');
    again.type = 'button';
    again.className = 'secondary small fetch-link';
    again.textContent = 'Fetch';
    again.setAttribute('aria-label', `Fetch ${url}`);
    again.addEventListener('click', () => {
      urlInput.value = url;
      form.requestSubmit();
    });
    item.append(' ', again);
    list.append(item);
  }
  if (all.length > MAX_LINKS) {
    const rest = document.createElement('li');
    rest.className = 'muted';
    rest.textContent = `… and ${all.length - MAX_LINKS} more.`;
    list.append(rest);
  }
  if (!all.length) {
    const none = document.createElement('li');
    none.className = 'muted';
    none.textContent = 'The page links nowhere.';
    list.append(none);
  }
}

function renderSteps(steps) {
  const section = $('result-steps');
  const body = $('result-steps-body');
  body.replaceChildren();
  section.hidden = !steps?.length;
  for (const step of steps ?? []) {
    const row = document.createElement('tr');
    const outcome = step.skipped ? 'skipped' : (step.ok ? 'ok' : 'failed');
    const badge = document.createElement('span');
    badge.className = `badge ${outcome}`;
    badge.textContent = outcome;
    const cells = [String(step.index ?? ''), step.type ?? '', badge,
      step.durationMs != null ? `${step.durationMs} ms` : '',
      step.error ?? (step.value != null ? JSON.stringify(step.value) : '')];
    for (const content of cells) {
      const cell = document.createElement('td');
      cell.append(content);
      row.append(cell);
    }
    body.append(row);
  }
}

function showResult(page) {
  state.shown = page;
  result.hidden = false;
  const address = page.finalUrl || page.url;
  $('result-title').textContent = page.title || address;
  const urlLink = $('result-url');
  urlLink.href = address;
  urlLink.textContent = address;
  $('result-asked').textContent = page.finalUrl && page.finalUrl !== page.url
    ? ` (asked for ${page.url})` : '';
  renderMeta(page);
  const pdf = $('result-pdf');
  pdf.hidden = !page.pdfUrl;
  if (page.pdfUrl) pdf.href = page.pdfUrl;
  const shot = $('result-screenshot');
  shot.hidden = !page.screenshotUrl;
  if (page.screenshotUrl) {
    $('result-screenshot-link').href = page.screenshotUrl;
    const image = $('result-screenshot-image');
    image.src = page.screenshotUrl;
    image.alt = `Screenshot of ${page.title || address}`;
  }
  renderSteps(page.steps);
  const markdown = page.markdown ?? '';
  renderMarkdown($('result-markdown'), markdown || '*No readable text was found.*',
    { media: false });
  $('result-raw').textContent = markdown;
  renderLinks(page.links);
  kbStatus.replaceChildren();
  markCurrent();
  const params = new URLSearchParams({ fetch: page.id });
  history.replaceState(null, '', `${location.pathname}?${params}`);
}

// -- fetching --------------------------------------------------------------------------------

function readForm() {
  const fields = form.elements;
  const body = { url: fields.url.value.trim(), render: fields.render.value,
    pdf: fields.pdf.checked, respectRobots: fields.respectRobots.checked };
  if (fields.screenshot.value) body.screenshot = fields.screenshot.value;
  const age = fields.maxAgeSeconds.value.trim();
  if (age) body.maxAgeSeconds = Number.parseInt(age, 10);
  return body;
}

async function fetchPage(event) {
  event.preventDefault();
  if (!form.reportValidity()) return;
  const body = readForm();
  showError(null, '');
  statusLine.textContent = `Fetching ${body.url}…`;
  fetchButton.disabled = true;
  form.setAttribute('aria-busy', 'true');
  try {
    const page = await api('/api/web/fetch', { method: 'POST', body });
    statusLine.textContent = page.fromCache ? 'Shown from the cache.' : 'Fetched.';
    showResult(page);
    $('result-title').focus();
  } catch (error) {
    statusLine.textContent = '';
    const detail = error.fields ? ` ${fieldsText(error.fields)}` : '';
    showError(error.code ?? (error.fields ? 'invalid_input' : `HTTP ${error.status ?? '?'}`),
      `${error.message}${detail}`);
  } finally {
    fetchButton.disabled = false;
    form.removeAttribute('aria-busy');
    loadHistory(true);
  }
}

form.addEventListener('submit', fetchPage);

async function openFetch(id) {
  showError(null, '');
  statusLine.textContent = 'Opening…';
  try {
    showResult(await api(`/api/web/fetches/${id}`));
    statusLine.textContent = '';
  } catch (error) {
    statusLine.textContent = '';
    showError(error.code ?? (error.status === 404 ? 'not_found' : `HTTP ${error.status}`),
      error.message);
  }
}

// -- history ---------------------------------------------------------------------------------

function markCurrent() {
  for (const item of historyList.querySelectorAll('li[data-id]')) {
    const current = state.shown && Number(item.dataset.id) === state.shown.id;
    const opener = item.querySelector('button.open');
    if (current) opener.setAttribute('aria-current', 'true');
    else opener.removeAttribute('aria-current');
    item.classList.toggle('current', Boolean(current));
  }
}

function openItem(item) {
  if (item.code || item.error) {
    // A refused fetch has nothing to show but why.
    state.shown = null;
    result.hidden = true;
    urlInput.value = item.url;
    showError(item.code, item.error || 'The fetch failed.');
    markCurrent();
    return;
  }
  openFetch(item.id);
}

function historyEntry(item) {
  const entry = document.createElement('li');
  entry.dataset.id = item.id;
  const failed = Boolean(item.code || item.error);
  entry.classList.toggle('failed', failed);
  const opener = document.createElement('button');
  opener.type = 'button';
  opener.className = 'open';
  opener.textContent = item.title || item.url;
  opener.title = item.url;
  opener.addEventListener('click', () => openItem(item));
  const meta = document.createElement('span');
  meta.className = 'muted small history-meta';
  const badge = document.createElement('span');
  badge.className = `badge ${failed ? 'failed' : 'ok'}`;
  badge.textContent = failed ? (item.code || 'failed') : (item.statusCode ?? 'ok');
  meta.append(badge, ` ${item.renderer ?? ''} · ${when(item.fetchedAt)}`);
  const remove = document.createElement('button');
  remove.type = 'button';
  remove.className = 'secondary small delete';
  remove.textContent = 'Delete';
  remove.setAttribute('aria-label', `Delete the fetch of ${item.url}`);
  remove.addEventListener('click', () => deleteFetch(item));
  entry.append(opener, meta, remove);
  return entry;
}

async function loadHistory(fromStart = false) {
  const offset = fromStart ? 0 : state.historyItems.length;
  try {
    const page = await api(`/api/web/fetches?limit=${HISTORY_PAGE}&offset=${offset}`);
    state.historyItems = fromStart ? page.items : [...state.historyItems, ...page.items];
    state.total = page.total;
  } catch (error) {
    historyStatus.textContent = `History unavailable: ${error.message}`;
    return;
  }
  historyList.replaceChildren(...state.historyItems.map(historyEntry));
  historyStatus.textContent = state.total
    ? `${state.total} fetch${state.total === 1 ? '' : 'es'}, newest first.`
    : 'No fetches yet.';
  moreButton.hidden = state.historyItems.length >= state.total;
  markCurrent();
}

async function deleteFetch(item) {
  if (!window.confirm(`Delete the fetch of ${item.url} and its files?`)) return;
  try {
    await api(`/api/web/fetches/${item.id}`, { method: 'DELETE' });
  } catch (error) {
    historyStatus.textContent = `Not deleted: ${error.message}`;
    return;
  }
  if (state.shown?.id === item.id) {
    state.shown = null;
    result.hidden = true;
    history.replaceState(null, '', location.pathname);
  }
  await loadHistory(true);
}

moreButton.addEventListener('click', () => loadHistory(false));

// -- add to a knowledge base -----------------------------------------------------------------

async function addToKnowledgeBase(event) {
  event.preventDefault();
  const page = state.shown;
  const select = $('kb-base');
  if (!page || !select) return;
  const base = select.options[select.selectedIndex];
  const body = { knowledgeBaseId: Number(select.value), kind: 'url', url: page.url,
    render: page.renderer === 'browser' ? 'browser' : 'auto' };
  if (page.title) body.title = page.title;
  kbStatus.classList.remove('error');
  kbStatus.textContent = 'Adding…';
  try {
    await api('/api/knowledge-sources', { method: 'POST', body });
    kbStatus.replaceChildren(`Added to ${base.textContent}: it is fetched and indexed in the `
      + 'background. ', link(`/knowledge-bases/${select.value}`, `Open ${base.textContent}`,
      false));
  } catch (error) {
    kbStatus.classList.add('error');
    kbStatus.textContent = `Not added: ${error.message} ${fieldsText(error.fields)}`.trim();
  }
}

kbForm.addEventListener('submit', addToKnowledgeBase);

// -- start -----------------------------------------------------------------------------------

const wanted = Number(new URLSearchParams(location.search).get('fetch'));
loadHistory(true);
if (wanted) openFetch(wanted);
