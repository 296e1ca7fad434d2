// The page's connection to /ws: JSON frames, request ids, and reconnection with back-off.
//
//   const socket = new Socket();
//   socket.on('chat:message', (data, frame) => ...);
//   socket.onStatus((state, detail) => ...);   // 'connecting' | 'open' | 'closed'
//   socket.start();
//   const id = socket.send('chat:send', { message: 'Hi' });
//
// Each `connected` frame (the first and every one after a reconnect) fires the 'open'
// status, so pages re-subscribe there.
//
// A refused upgrade (the server answers 403 when the token is wrong) reaches a script as a
// plain close (1006), like a server that is down. So when a connection closes before its
// `connected` frame, the socket asks GET /api/session: 401 means the login is no longer
// valid and the page goes to the login page (common.js goToLogin), which comes back here;
// any other answer, or no answer, means the server is away, and the socket retries.

import { goToLogin, isAuthRefusal } from './common.js';

const MIN_DELAY_MS = 500;
const MAX_DELAY_MS = 15000;

export class Socket {
  constructor(path = '/ws') {
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    this.url = `${scheme}://${location.host}${path}`;
    this.handlers = new Map();
    this.statusHandlers = [];
    this.state = 'closed';
    this.ws = null;
    this.nextId = 1;
    this.delay = MIN_DELAY_MS;
    this.timer = null;
    this.connectionId = null;
  }

  on(type, handler) {
    if (!this.handlers.has(type)) this.handlers.set(type, []);
    this.handlers.get(type).push(handler);
    return this;
  }

  onStatus(handler) {
    this.statusHandlers.push(handler);
    return this;
  }

  get isOpen() {
    return this.state === 'open';
  }

  start() {
    clearTimeout(this.timer);
    this.timer = null;
    this.setState('connecting');
    const ws = new WebSocket(this.url);
    this.ws = ws;
    this.sawConnected = false;
    ws.addEventListener('message', (event) => this.receive(event.data));
    ws.addEventListener('close', (event) => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (this.sawConnected) {
        this.retry(event.code);
      } else {
        this.probe().then((refused) => (refused ? goToLogin() : this.retry(event.code)));
      }
    });
  }

  // True when the server says this browser is no longer logged in.
  async probe() {
    try {
      const response = await fetch('/api/session', {
        credentials: 'same-origin', headers: { Accept: 'application/json' }, cache: 'no-store',
      });
      return isAuthRefusal(response);
    } catch {
      return false; // the server is not answering at all: retry as usual
    }
  }

  // Sends one frame; returns its id (replies carry it), or null when the socket is down.
  send(type, data = {}) {
    if (!this.ws || this.state !== 'open') return null;
    const id = this.nextId++;
    this.ws.send(JSON.stringify({ type, data, id }));
    return id;
  }

  receive(raw) {
    let frame;
    try {
      frame = JSON.parse(raw);
    } catch {
      console.warn('ignoring a frame that is not JSON');
      return;
    }
    if (frame.type === 'connected') {
      this.sawConnected = true;
      this.connectionId = frame.data.connectionId;
      this.delay = MIN_DELAY_MS;
      this.setState('open', frame.data);
    }
    for (const handler of this.handlers.get(frame.type) ?? []) {
      try {
        handler(frame.data, frame);
      } catch (error) {
        console.error(`handler of ${frame.type} failed`, error);
      }
    }
  }

  retry(code) {
    // Jitter keeps many tabs from reconnecting in lock-step after a server restart.
    const wait = Math.round(this.delay * (0.8 + Math.random() * 0.4));
    this.delay = Math.min(this.delay * 2, MAX_DELAY_MS);
    this.setState('closed', { code, retryInMs: wait });
    this.timer = setTimeout(() => this.start(), wait);
  }

  setState(state, detail = {}) {
    this.state = state;
    for (const handler of this.statusHandlers) handler(state, detail);
  }
}

// A one-line description of the socket's state for a status bar.
export function describeStatus(state, detail) {
  if (state === 'open') return 'Live';
  if (state === 'connecting') return 'Connecting…';
  const seconds = Math.max(1, Math.round((detail.retryInMs ?? 0) / 1000));
  const why = detail.code === 1001 ? 'the server restarted or stopped'
    : detail.code === 1009 ? 'a message was too large' : 'the connection to the server is down';
  return `Offline: ${why}; retrying in ${seconds} s.`;
}
