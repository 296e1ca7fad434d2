// One task's page: renders it from the API, follows it over /ws, and runs its buttons.
// Model output is inserted with textContent only.

import { api } from './common.js';
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

function badge(value) {
  return el('span', { class: `badge ${value.replaceAll(' ', '-')}`, text: value });
}

function verdictBlock(v, score) {
  if (!v) return null;
  const cls = v.verdict.replaceAll(' ', '-');
  const shown = score ?? v.score;
  let line = ` score ${Number(shown).toFixed(2)}`;
  if (v.samples) line += `, ${v.samples} samples`;
  if (v.reasked) line += `, re-asked once (first: ${v.first?.verdict})`;
  const box = el('div', { class: `verdict ${cls}` }, el('strong', { text: 'Check: ' }),
    badge(v.verdict), document.createTextNode(line));
  const items = [
    ...(v.flags || []).map((f) => el('li', {},
      document.createTextNode(`“${f.sentence}” — ${f.reason} `),
      el('span', { class: 'muted', text: `(${f.method})` }))),
    ...(v.problems || []).map((p) => el('li', { text: p.message })),
  ];
  if (items.length) box.append(el('ul', {}, ...items));
  return box;
}

function subtaskItem(s) {
  const head = el('div', { class: 'head' },
    el('span', { class: 'title', text: `${s.position + 1}. ${s.title}` }), badge(s.status),
    s.model ? el('span', { class: 'muted', text: s.model }) : null,
    s.dependsOn?.length
      ? el('span', { class: 'muted', text: `after ${s.dependsOn.map((d) => d + 1).join(', ')}` })
      : null);
  const attrs = { class: 'card subtask', 'data-subtask-id': s.id, 'data-status': s.status };
  const item = el('li', attrs, head,
    s.description ? el('div', { class: 'instructions', text: s.description }) : null,
    s.result ? el('div', { class: 'result-text', text: s.result }) : null,
    s.error ? el('p', { class: 'error', text: s.error }) : null,
    verdictBlock(s.verdict, s.score));
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
  list.replaceChildren(...(subtasks.length ? subtasks.map(subtaskItem)
    : [el('li', { class: 'muted', text: EMPTY })]));
  const active = ACTIVE.includes(task.status) || task.busy;
  const finished = task.status === 'completed';
  button('plan').disabled = active || finished;
  button('run').disabled = active || finished;
  const resumable = ['interrupted', 'failed', 'cancelled'].includes(task.status);
  button('run').textContent = resumable ? 'Resume' : 'Run';
  button('cancel').disabled = !(active || ['pending', 'interrupted'].includes(task.status));
  $('edit-subtasks').hidden = active || finished;
}

const button = (action) => root.querySelector(`button[data-action="${action}"]`);

async function refresh() {
  try {
    render(await api(`/api/tasks/${taskId}`));
  } catch (error) {
    showError(error.message);
  }
}

const refreshSoon = debounce(refresh);

function showError(message) {
  setText('action-error', message, true);
}

async function act(path) {
  showError('');
  try {
    render(await api(path, { method: 'POST' }));
  } catch (error) {
    showError(error.message);
  }
}

for (const action of ['plan', 'run', 'cancel']) {
  button(action).addEventListener('click', () => act(`/api/tasks/${taskId}/${action}`));
}

// Hand-written subtasks: "[kind] title: instructions" per line (the kind optional), each
// after the one before.
function parseLines(text) {
  return text.split('\n').map((line) => line.trim()).filter(Boolean).map((line, index) => {
    const tag = line.match(/^\[([^\]]*)\]\s*/);
    const kind = tag ? tag[1].trim().toLowerCase() : 'answer';
    if (tag) line = line.slice(tag[0].length);
    const colon = line.indexOf(':');
    const title = (colon >= 0 ? line.slice(0, colon) : line).trim();
    const description = colon >= 0 ? line.slice(colon + 1).trim() : '';
    return { title, description, kind, dependsOn: index ? [index - 1] : [] };
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
    if (data.task) render(data.task);
    refreshSoon(); // the queue and busy flags come from the API
  },
  onStatus(up, detail) {
    showLive($('live-status'), up, detail);
    if (up) refresh(); // catch up on what happened while disconnected
  },
});
socket.subscribe(taskId);
refresh();
