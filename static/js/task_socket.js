// A /ws connection for task pages: keeps task subscriptions across reconnects and reports
// whether live updates are flowing, so a page can say when they are not.

export function taskSocket({ onUpdate, onStatus = () => {} }) {
  const ids = new Set();
  let ws = null;
  let delay = 1000;
  let closed = false;

  function send(id) {
    if (ws && ws.readyState === WebSocket.OPEN) {
      ws.send(JSON.stringify({ type: 'task:subscribe', data: { taskId: id }, id: `task-${id}` }));
    }
  }

  function connect() {
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    ws = new WebSocket(`${scheme}//${location.host}/ws`);
    ws.addEventListener('open', () => {
      delay = 1000;
      ids.forEach(send);
      onStatus(true);
    });
    ws.addEventListener('message', (event) => {
      let frame;
      try { frame = JSON.parse(event.data); } catch { return; }
      if (frame.type === 'task:update') onUpdate(frame.data);
    });
    ws.addEventListener('close', () => {
      onStatus(false);
      if (!closed) setTimeout(connect, delay);
      delay = Math.min(delay * 2, 30000);
    });
  }

  connect();
  return {
    subscribe(id) { if (!ids.has(id)) { ids.add(id); send(id); } },
    close() { closed = true; ws?.close(); },
  };
}

export function showLive(element, up) {
  if (!element) return;
  element.textContent = up ? 'Live updates: on' : 'Live updates: off (reconnecting…); reload to see changes';
  element.classList.toggle('down', !up);
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
