// One task's page: renders it from the API, follows it over /ws, and runs its buttons.
// Subtasks are laid out by dependency level, those of one level side by side (they run at
// the same time). Answers that need review carry Accept, Edit and Retry with feedback.
// Model output is inserted with textContent only.

import { api } from './common.js';
import { badge, renderClaims, verdictClass } from './claims.js';
import { debounce, seconds, showLive, taskSocket } from './task_socket.js';

const root = document.getElementById('task');
const taskId = Number(root.dataset.taskId);
const $ = (id) => document.getElementById(id);
const ACTIVE = ['planning', 'running'];
const EMPTY = 'No subtasks yet: press Plan (or Run) and a model breaks the task down.';

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === 'text') node.textContent = value;
    else if (key === 'class') node.className = value;
    else node.setAttribute(key, value);
  }
  children.filter(Boolean).forEach((child) => node.append(child));
  return node;
}

function verdictBlock(v, score) {
  if (!v?.verdict) return null; // an unchecked answer's report lists its passages only
  if (v.tool) { // a tool step's check is the tool's own success or failure
    return el('div', { class: `verdict ${verdictClass(v.verdict)}` },
      el('strong', { text: 'Tool: ' }), badge(v.verdict),
      v.code ? document.createTextNode(` (${v.code})`) : null);
  }
  const shown = score ?? v.score;
  let line = ` score ${Number(shown).toFixed(2)}`;
  if (v.samples) line += `, ${v.samples} samples`;
  if (v.reasked && v.first) line += `, re-asked once (first: ${v.first.verdict})`;
  else if (v.reasked) line += ', re-asked once (the first answer kept)';
  if (v.accepted) line += '; accepted as it is';
  if (v.edited) line += '; edited by hand';
  const box = el('div', { class: `verdict ${verdictClass(v.verdict)}` },
    el('strong', { text: 'Check: ' }), badge(v.verdict), document.createTextNode(line));
  if (v.reason) box.append(el('p', { class: 'muted', text: v.reason }));
  const items = [
    ...(v.flags || []).map((f) => el('li', f.code ? { 'data-code': f.code } : {},
      document.createTextNode(`“${f.sentence}” — ${f.reason} `),
      el('span', { class: 'muted', text: `(${f.method})` }))),
    ...(v.problems || []).map((p) => el('li', { text: p.message })),
  ];
  if (items.length) box.append(el('ul', {}, ...items));
  box.append(renderClaims(v) || '');
  if (v.rejected) box.append(el('p', { class: 'muted rejected', text: v.rejected.reason }));
  if (v.edited && v.original) {
    box.append(el('details', {}, el('summary', { text: 'The model’s answer' }),
      el('div', { class: 'result-text', text: v.original })));
  }
  return box;
}

// The knowledge-base passages a subtask was shown, numbered as in its prompt, each a link
// to the passage on its source's page (a title heading that repeats the source's title is
// said once, as in the prompt).
function passagesBlock(v) {
  if (!Array.isArray(v?.sources)) return null;
  const box = el('div', { class: 'passages' });
  if (!v.sources.length) {
    box.append(el('span', { class: 'muted',
      text: 'No passage of the knowledge base matched this step.' }));
    return box;
  }
  const cited = v.sources.filter((p) => p.cited).length;
  box.append(el('strong', { text: 'Passages shown:' }),
    document.createTextNode(` ${v.sources.length}${cited ? `, ${cited} cited` : ''}`));
  const plain = (text) => String(text ?? '').trim().toLowerCase();
  box.append(el('ol', {}, ...v.sources.map((p) => {
    const href = `/knowledge-bases/${p.knowledgeBaseId}/sources/${p.sourceId}#chunk-${p.chunkId}`;
    let path = p.headingPath || [];
    if (path.length && plain(path[0]) === plain(p.sourceTitle)) path = path.slice(1);
    const item = el('li', { value: String(p.n), ...(p.cited ? { class: 'cited' } : {}) },
      el('a', { href, text: [p.sourceTitle, ...path].join(' › ') }));
    if (p.cited) item.append(' ', el('span', { class: 'muted', text: 'cited' }));
    return item;
  })));
  return box;
}

// Accept / Edit / Retry with feedback for an answer that needs review.
function reviewActions(s) {
  const accept = el('button', { type: 'button', 'data-review': 'accept', text: 'Accept' });
  accept.addEventListener('click', () => act(`/api/subtasks/${s.id}/accept`));
  const retry = el('button', { type: 'button', class: 'secondary', 'data-review': 'retry',
    text: 'Retry with feedback' });
  retry.addEventListener('click', () => act(`/api/subtasks/${s.id}/retry`, { feedback: true }));
  const text = el('textarea', { rows: '6', 'aria-label': `Answer of ${s.title}` });
  text.value = s.result || '';
  const save = el('button', { type: 'submit', text: 'Save answer' });
  const form = el('form', { class: 'stacked edit-answer', hidden: '' }, text,
    el('div', { class: 'actions' }, save));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    act(`/api/subtasks/${s.id}/edit`, { result: text.value });
  });
  const edit = el('button', { type: 'button', class: 'secondary', 'data-review': 'edit',
    text: 'Edit' });
  edit.addEventListener('click', () => { form.hidden = !form.hidden; text.focus(); });
  return el('div', { class: 'review' },
    el('div', { class: 'actions' }, accept, edit, retry), form);
}

// Dependency level of each subtask (by position): 0 for none, else one after its deepest.
function levels(subtasks) {
  const byPosition = new Map(subtasks.map((s) => [s.position, s]));
  const level = new Map();
  const visit = (s, trail) => {
    if (level.has(s.position)) return level.get(s.position);
    if (trail.has(s.position)) return 0; // a cycle in a hand-edited plan
    trail.add(s.position);
    const deps = (s.dependsOn || []).map((d) => byPosition.get(d)).filter(Boolean);
    const value = deps.length ? 1 + Math.max(...deps.map((d) => visit(d, trail))) : 0;
    level.set(s.position, value);
    return value;
  };
  subtasks.forEach((s) => visit(s, new Set()));
  return level;
}

function subtaskList(subtasks) {
  const level = levels(subtasks);
  const rows = [];
  for (const s of subtasks) {
    const n = level.get(s.position);
    rows[n] = rows[n] || [];
    rows[n].push(s);
  }
  return rows.filter(Boolean).map((row, n) => el('li', { class: 'level', 'data-level': n },
    el('ol', { class: 'level-items' }, ...row.map(subtaskItem))));
}

function subtaskItem(s) {
  const head = el('div', { class: 'head' },
    el('span', { class: 'title', text: `${s.position + 1}. ${s.title}` }), badge(s.status),
    s.model ? el('span', { class: 'muted', text: s.model }) : null,
    s.dependsOn?.length
      ? el('span', { class: 'muted', text: `after ${s.dependsOn.map((d) => d + 1).join(', ')}` })
      : null);
  const attrs = { class: 'card subtask', 'data-subtask-id': s.id, 'data-status': s.status,
    id: `subtask-${s.id}` };
  const item = el('li', attrs, head,
    s.description ? el('div', { class: 'instructions', text: s.description }) : null,
    s.tool ? el('div', { class: 'tool-step' }, el('span', { class: 'muted', text: 'Tool: ' }),
      el('code', { text: s.tool }), ' ',
      el('code', { class: 'tool-args', text: JSON.stringify(s.args || {}) })) : null,
    s.result ? el('div', { class: 'result-text', text: s.result }) : null,
    s.error ? el('p', { class: 'error', text: s.error }) : null,
    verdictBlock(s.verdict, s.score), passagesBlock(s.verdict));
  if (s.status === 'needs_review') item.append(reviewActions(s));
  if (['failed', 'skipped'].includes(s.status)) {
    const button = el('button', { type: 'button', class: 'secondary', text: 'Retry' });
    button.addEventListener('click', () => act(`/api/subtasks/${s.id}/retry`));
    item.append(el('div', { class: 'actions' }, button));
  }
  return item;
}

function setText(id, text, hideWhenEmpty = false) {
  const node = $(id);
  if (!node) return;
  node.textContent = text || '';
  if (hideWhenEmpty) node.hidden = !text;
}

let last = null;
const PLAN_SOURCES = {
  model: 'by the model', fallback: 'fallback (one subtask)', manual: 'written by hand',
};

function render(task) {
  last = { ...last, ...task };
  task = last;
  $('task-title').textContent = task.title;
  const status = $('task-status');
  status.textContent = task.status;
  status.className = `badge ${task.status}`;
  root.dataset.status = task.status;
  setText('task-tokens', `Tokens: ${task.promptTokens ?? 0} in, ${task.completionTokens ?? 0} out`);
  setText('task-duration', `Duration: ${seconds(task.durationMs)}`);
  const source = task.planSource && (PLAN_SOURCES[task.planSource] || task.planSource);
  setText('task-plan-source', source && `Plan: ${source}`, true);
  setText('task-note', task.note, true);
  setText('task-error', task.error, true);
  setText('task-result', task.result);
  $('task-result-section').hidden = !task.result;
  const position = task.queue?.position;
  setText('queue-line', position ? `Waiting for a model: place ${position} in line.` : '');
  const list = $('subtasks');
  const subtasks = task.subtasks || [];
  const typing = document.activeElement?.tagName === 'TEXTAREA'
    && list.contains(document.activeElement);
  if (!typing) {
    list.replaceChildren(...(subtasks.length ? subtaskList(subtasks)
      : [el('li', { class: 'muted', text: EMPTY })]));
  } else {
    pendingRender = true; // someone is typing an answer: redraw when they leave the list
  }
  renderReview(subtasks.filter((s) => s.status === 'needs_review'));
  const active = ACTIVE.includes(task.status) || task.busy;
  const finished = task.status === 'completed';
  const reviewing = task.status === 'needs_review';
  button('plan').disabled = active || finished;
  button('run').disabled = active || finished || reviewing;
  const resumable = ['interrupted', 'failed', 'cancelled'].includes(task.status);
  button('run').textContent = resumable ? 'Resume' : 'Run';
  button('cancel').disabled = !(active || ['pending', 'interrupted'].includes(task.status));
  $('edit-subtasks').hidden = active || finished || reviewing;
}

let pendingRender = false;
$('subtasks').addEventListener('focusout', () => {
  setTimeout(() => {
    if (pendingRender && !$('subtasks').contains(document.activeElement)) {
      pendingRender = false;
      render({});
    }
  }, 0);
});

// The subtasks whose answers wait for the user, named at the top of the page.
function renderReview(waiting) {
  const box = $('review');
  box.hidden = !waiting.length;
  $('review-list').replaceChildren(...waiting.map((s) => el('li', {},
    el('a', { href: `#subtask-${s.id}`, text: `${s.position + 1}. ${s.title}` }),
    document.createTextNode(' '), badge(s.verdict?.verdict ?? 'unchecked'))));
}

const button = (action) => root.querySelector(`button[data-action="${action}"]`);

let deleted = false;  // by this page's Delete button or elsewhere: nothing left to follow

function markDeleted() {
  deleted = true;
  showError('This task was deleted.');
  document.querySelectorAll('#task button').forEach((b) => { b.disabled = true; });
}

async function refresh() {
  if (deleted) return;
  try {
    render(await api(`/api/tasks/${taskId}`));
  } catch (error) {
    if (error.status === 404) markDeleted();
    else showError(error.message);
  }
}

const refreshSoon = debounce(refresh);

function showError(message) {
  setText('action-error', message, true);
}

async function act(path, body) {
  showError('');
  try {
    render(await api(path, body ? { method: 'POST', body } : { method: 'POST' }));
  } catch (error) {
    const fields = error.fields ? ` ${Object.values(error.fields).flat().join(' ')}` : '';
    showError(`${error.message}${fields}`);
  }
}

for (const action of ['plan', 'run', 'cancel']) {
  button(action).addEventListener('click', () => act(`/api/tasks/${taskId}/${action}`));
}

// A tool step's tag, '[tool web.fetch {"url": "…"}] …': the tool, its arguments (a JSON
// object, which may hold "]") and the rest of the line; null for any other line.
function toolTag(line) {
  const head = line.match(/^\[tool\s+([A-Za-z0-9_.-]+)/);
  if (!head) return null;
  const rest = line.slice(head[0].length);
  for (let end = rest.indexOf(']'); end >= 0; end = rest.indexOf(']', end + 1)) {
    const json = rest.slice(0, end).trim();
    try {
      const args = json ? JSON.parse(json) : {};
      return { tool: head[1], args, rest: rest.slice(end + 1).trim() };
    } catch { /* the "]" was inside the arguments: try the next one */ }
  }
  return null;
}

// Hand-written subtasks: "[kind] title: instructions" per line (the kind optional, or a
// tool tag), each after the one before.
function parseLines(text) {
  return text.split('\n').map((line) => line.trim()).filter(Boolean).map((line, index) => {
    const dependsOn = index ? [index - 1] : [];
    const tool = toolTag(line);
    if (tool) {
      const colon = tool.rest.indexOf(':');
      return { title: (colon >= 0 ? tool.rest.slice(0, colon) : tool.rest).trim(),
        description: colon >= 0 ? tool.rest.slice(colon + 1).trim() : '', kind: 'tool',
        tool: tool.tool, args: tool.args, dependsOn };
    }
    const tag = line.match(/^\[([^\]]*)\]\s*/);
    const kind = tag ? tag[1].trim().toLowerCase() : 'answer';
    if (tag) line = line.slice(tag[0].length);
    const colon = line.indexOf(':');
    const title = (colon >= 0 ? line.slice(0, colon) : line).trim();
    const description = colon >= 0 ? line.slice(colon + 1).trim() : '';
    return { title, description, kind, dependsOn };
  });
}

$('edit-subtasks-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  showError('');
  try {
    render(await api(`/api/tasks/${taskId}`, {
      method: 'PATCH', body: { subtasks: parseLines($('subtask-lines').value) } }));
    $('edit-subtasks').open = false;
  } catch (error) {
    const fields = error.fields ? ` ${JSON.stringify(error.fields)}` : '';
    showError(`${error.message}${fields}`);
  }
});

const socket = taskSocket({
  onUpdate(data) {
    if (data.taskId !== taskId) return;
    if (data.event === 'deleted') {
      markDeleted();
      return;
    }
    if (deleted) return;
    if (data.task) render(data.task);
    refreshSoon(); // the queue and busy flags come from the API
  },
  onStatus(up, detail) {
    showLive($('live-status'), up, detail);
    if (up && !deleted) refresh(); // catch up on what happened while disconnected
  },
});
socket.subscribe(taskId);
refresh();
