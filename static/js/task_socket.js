// A /ws connection for task pages: keeps task subscriptions across reconnects and reports
// whether live updates are flowing, so a page can say when they are not.

import { Socket, describeStatus } from './socket.js';

// With `all`, the socket follows every task (new ones included), as lists need. Pass the
// page's `socket` when it has one already (one tab opens one /ws connection); without one,
// a socket is made and started here.
export function taskSocket({ onUpdate, onStatus = () => {}, all = false, socket = null }) {
  const ids = new Set();
  const own = socket === null;
  const live = own ? new Socket() : socket;
  const resubscribe = () => {
    if (all) live.send('tasks:subscribe', {});
    ids.forEach((id) => live.send('task:subscribe', { taskId: id }));
  };
  live.on('task:update', (data) => onUpdate(data));
  live.onStatus((state, detail) => {
    if (state === 'open') resubscribe();
    if (state !== 'connecting') onStatus(state === 'open', detail);
  });
  if (own) live.start();
  else if (live.isOpen) resubscribe();
  return {
    socket: live,
    subscribe(id) {
      if (ids.has(id)) return;
      ids.add(id);
      live.send('task:subscribe', { taskId: id });
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
