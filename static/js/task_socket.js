// A /ws connection for task pages: keeps task subscriptions across reconnects and reports
// whether live updates are flowing, so a page can say when they are not.

import { Socket, describeStatus } from './socket.js';

// With `all`, the socket follows every task (new ones included), as lists need.
export function taskSocket({ onUpdate, onStatus = () => {}, all = false }) {
  const ids = new Set();
  const socket = new Socket();
  socket.on('task:update', (data) => onUpdate(data));
  socket.onStatus((state, detail) => {
    if (state === 'open') {
      if (all) socket.send('tasks:subscribe', {});
      ids.forEach((id) => socket.send('task:subscribe', { taskId: id }));
    }
    if (state !== 'connecting') onStatus(state === 'open', detail);
  });
  socket.start();
  return {
    subscribe(id) {
      if (ids.has(id)) return;
      ids.add(id);
      socket.send('task:subscribe', { taskId: id });
    },
  };
}

export function showLive(element, up, detail = {}) {
  if (!element) return;
  element.textContent = up ? 'Live updates: on'
    : `Live updates: off. ${describeStatus('closed', detail)} The page shows what it last saw.`;
  element.classList.toggle('down', !up);
  element.dataset.state = up ? 'open' : 'closed';
}

export function seconds(ms) {
  return ms === null || ms === undefined ? '–' : `${(ms / 1000).toFixed(1)} s`;
}

// Call fn at most once per `wait` ms, after the last request (coalesces bursts of frames).
export function debounce(fn, wait = 150) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), wait);
  };
}
