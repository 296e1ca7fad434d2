// The task list: follows unfinished tasks over /ws and keeps status, progress and queue fresh.

import { api } from './common.js';
import { debounce, seconds, showLive, taskSocket } from './task_socket.js';

const FINAL = ['completed', 'failed', 'cancelled'];
const rows = new Map([...document.querySelectorAll('tr[data-task-id]')]
  .map((row) => [Number(row.dataset.taskId), row]));

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
    ?? (task.subtasks || []).filter((s) => ['completed', 'skipped'].includes(s.status)).length;
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

const socket = taskSocket({
  onUpdate(data) {
    const row = rows.get(data.taskId);
    if (row && data.task) update(row, data.task);
    queueSoon();
  },
  onStatus(up, detail) {
    showLive(document.getElementById('live-status'), up, detail);
    if (up) refreshAll();
  },
});
for (const [id, row] of rows) {
  if (!FINAL.includes(row.dataset.status)) socket.subscribe(id);
}
