// The dashboard's task card: running tasks first, then those waiting for review, then the
// most recent, kept live over the dashboard's socket (one tab, one /ws connection).

import { api } from './common.js';
import { debounce, taskSocket } from './task_socket.js';

const list = document.getElementById('dashboard-task-list');
const FINAL = ['completed', 'failed', 'cancelled'];

function item(task) {
  const link = document.createElement('a');
  link.href = `/tasks/${task.id}`;
  link.textContent = task.title;
  const badge = document.createElement('span');
  badge.className = `badge ${task.status}`;
  badge.textContent = task.status;
  const progress = document.createElement('span');
  progress.className = 'muted';
  progress.textContent = ` ${task.subtasksDone ?? 0}/${task.subtasksTotal ?? 0}`;
  const li = document.createElement('li');
  li.append(link, ' ', badge, progress);
  return li;
}

let socket = null;

async function load() {
  try {
    const [running, review, recent] = await Promise.all([
      api('/api/tasks?status=running&limit=10'), api('/api/tasks?status=needs_review&limit=10'),
      api('/api/tasks?limit=5')]);
    const seen = new Set();
    const tasks = [...running.items, ...review.items, ...recent.items]
      .filter((t) => !seen.has(t.id) && seen.add(t.id));
    list.replaceChildren(...(tasks.length ? tasks.map(item) : [Object.assign(
      document.createElement('li'), { className: 'muted', textContent: 'No tasks yet.' })]));
    tasks.filter((t) => !FINAL.includes(t.status)).forEach((t) => socket?.subscribe(t.id));
  } catch (error) {
    list.replaceChildren(Object.assign(document.createElement('li'),
      { className: 'error', textContent: `Tasks could not be loaded: ${error.message}` }));
  }
}

// Starts the card on the page's socket (before or after that socket starts).
export function startTaskCard(pageSocket) {
  const loadSoon = debounce(load, 300);
  socket = taskSocket({ socket: pageSocket, onUpdate: loadSoon,
    onStatus: (up) => { if (up) loadSoon(); } });
  load();
}
