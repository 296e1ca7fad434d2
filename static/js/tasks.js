// The task list: follows every task over /ws (new ones appear) and keeps status, progress and
// queue fresh.

import { api } from './common.js';
import { debounce, seconds, showLive, taskSocket } from './task_socket.js';

const ANSWERED = ['completed', 'needs_review', 'skipped'];  // counted as done, as the API does
let rows = indexRows();

function indexRows() {
  return new Map([...document.querySelectorAll('tr[data-task-id]')]
    .map((row) => [Number(row.dataset.taskId), row]));
}

// A task this page has not seen: take the list as the server draws it now.
async function redrawList() {
  try {
    const response = await fetch(window.location.pathname, { credentials: 'same-origin' });
    if (!response.ok) return;
    const fresh = new DOMParser().parseFromString(await response.text(), 'text/html');
    const current = document.getElementById('task-list');
    const replacement = fresh.getElementById('task-list');
    if (current && replacement) current.replaceWith(document.adoptNode(replacement));
    rows = indexRows();
  } catch { /* keep what is shown */ }
}

function field(row, name) {
  return row.querySelector(`[data-field="${name}"]`);
}

function update(row, task) {
  const status = field(row, 'status');
  status.textContent = task.status;
  status.className = `badge ${task.status}`;
  row.dataset.status = task.status;
  const total = task.subtasksTotal ?? task.subtasks?.length ?? 0;
  const done = task.subtasksDone
    ?? (task.subtasks || []).filter((s) => ANSWERED.includes(s.status)).length;
  field(row, 'bar').style.width = total ? `${Math.round((100 * done) / total)}%` : '0%';
  field(row, 'count').textContent = `${done}/${total}`;
  field(row, 'duration').textContent = seconds(task.durationMs);
}

async function refreshQueue() {
  try {
    const queue = await api('/api/tasks/queue');
    document.getElementById('queue-line').textContent =
      `Model calls: ${queue.running} running, ${queue.waiting} waiting`
      + ` (at most ${queue.limit} at once).`;
    for (const [id, row] of rows) {
      const place = queue.tasks.indexOf(id);
      field(row, 'queue').textContent = place >= 0 ? `waiting, place ${place + 1}` : '';
    }
  } catch { /* the line keeps its last value */ }
}

async function refreshAll() {
  try {
    const page = await api('/api/tasks?limit=100');
    for (const task of page.items) {
      const row = rows.get(task.id);
      if (row) update(row, task);
    }
  } catch { /* keep what is shown */ }
  refreshQueue();
}

const queueSoon = debounce(refreshQueue);
const redrawSoon = debounce(redrawList);

taskSocket({
  all: true,
  onUpdate(data) {
    const row = rows.get(data.taskId);
    if (data.event === 'deleted') {
      row?.remove();
      rows.delete(data.taskId);
    } else if (row && data.task) update(row, data.task);
    else if (!row) redrawSoon();
    queueSoon();
  },
  onStatus(up, detail) {
    showLive(document.getElementById('live-status'), up, detail);
    if (up) refreshAll();
  },
});
