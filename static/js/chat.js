// The Chat page: conversations, live answers over /ws, safe Markdown, Stop, Check.
//
// Model output is untrusted: it is rendered with marked and then sanitised by DOMPurify
// before it reaches the DOM; everything else goes in with textContent.

import { api } from './common.js';
import { badge as verdictBadge, renderClaims } from './claims.js';
import { Socket, describeStatus } from './socket.js';
import { marked } from '../vendor/marked/marked.esm.js';
import DOMPurify from '../vendor/dompurify/purify.es.mjs';

const root = document.getElementById('chat');
const list = document.getElementById('messages');
const form = document.getElementById('composer');
const input = document.getElementById('message');
const sendButton = document.getElementById('send');
const stopButton = document.getElementById('stop');
const modelSelect = document.getElementById('model');
const statusLine = document.getElementById('socket-status');
const errorLine = document.getElementById('chat-error');
const conversationsList = document.getElementById('conversations');
const titleHeading = document.getElementById('conversation-title');

const state = {
  conversationId: Number(root.dataset.conversationId) || null,
  pendingSend: null, // id of our chat:send frame until its chat:message arrives
  streaming: new Map(), // messageId -> { text, element, frame }
};

const socket = new Socket();

DOMPurify.addHook('afterSanitizeAttributes', (node) => {
  if (node.tagName === 'A') {
    node.setAttribute('target', '_blank');
    node.setAttribute('rel', 'noopener noreferrer nofollow');
  }
});

function renderMarkdown(element, text) {
  const html = marked.parse(text, { gfm: true, breaks: true, async: false });
  element.innerHTML = DOMPurify.sanitize(html, { USE_PROFILES: { html: true } });
}

function showError(message) {
  errorLine.textContent = message;
  errorLine.hidden = !message;
}

// -- messages --------------------------------------------------------------------------------

function messageElement(id, role) {
  let item = list.querySelector(`li[data-id="${id}"]`);
  if (!item) {
    item = document.createElement('li');
    item.className = `message ${role}`;
    item.dataset.id = id;
    const meta = document.createElement('div');
    meta.className = 'meta';
    const body = document.createElement('div');
    body.className = 'body';
    const tools = document.createElement('div');
    tools.className = 'tools';
    item.append(meta, body, tools);
    list.append(item);
  }
  return item;
}

function renderMeta(item, message) {
  const meta = item.querySelector('.meta');
  meta.replaceChildren();
  const who = document.createElement('strong');
  who.textContent = message.role === 'user' ? 'You' : (message.model || 'Model');
  meta.append(who);
  if (message.status && message.status !== 'complete') {
    const badge = document.createElement('span');
    badge.className = `badge ${message.status}`;
    badge.textContent = message.status;
    meta.append(' ', badge);
  }
  if (message.error) {
    const error = document.createElement('span');
    error.className = 'error';
    error.textContent = ` ${message.error}`;
    meta.append(error);
  }
}

function renderMessage(message) {
  if (message.conversationId !== state.conversationId) return;
  const item = messageElement(message.id, message.role);
  item.classList.toggle('streaming', message.status === 'streaming');
  item.dataset.status = message.status;
  renderMeta(item, message);
  const body = item.querySelector('.body');
  if (message.role === 'assistant') {
    renderMarkdown(body, message.content);
    if (message.status !== 'streaming') addCheckButton(item, message.id);
  } else {
    body.textContent = message.content;
  }
  state.streaming.delete(message.id);
  updateStop();
}

function renderHistory(messages) {
  // Update in place rather than start over: a history that arrives again (after a
  // reconnect) must not wipe what the page shows beside a message, such as a check result.
  const keep = new Set(messages.map((message) => String(message.id)));
  for (const item of [...list.children]) {
    if (!keep.has(item.dataset.id)) item.remove();
  }
  state.streaming.clear();
  for (const message of messages) {
    renderMessage(message);
    list.append(messageElement(message.id, message.role)); // history order
    if (message.status === 'streaming') {
      state.streaming.set(message.id, { text: message.content, element: null, frame: 0 });
    }
  }
  updateStop();
  list.lastElementChild?.scrollIntoView({ block: 'end' });
}

function onChunk(data) {
  if (data.conversationId !== state.conversationId) return;
  let entry = state.streaming.get(data.messageId);
  if (!entry) {
    const item = messageElement(data.messageId, 'assistant');
    item.classList.add('streaming');
    item.dataset.status = 'streaming';
    renderMeta(item, { role: 'assistant', model: modelSelect.value, status: 'streaming' });
    entry = { text: '', element: item, frame: 0 };
    state.streaming.set(data.messageId, entry);
  }
  entry.element ??= messageElement(data.messageId, 'assistant');
  if (data.done) {
    cancelAnimationFrame(entry.frame);
    renderMarkdown(entry.element.querySelector('.body'), entry.text);
    entry.element.classList.remove('streaming');
    state.streaming.delete(data.messageId);
    updateStop();
    return;
  }
  entry.text += data.chunk;
  // Re-render the Markdown at most once per animation frame, however fast chunks arrive.
  if (!entry.frame) {
    entry.frame = requestAnimationFrame(() => {
      entry.frame = 0;
      renderMarkdown(entry.element.querySelector('.body'), entry.text);
      entry.element.scrollIntoView({ block: 'end' });
    });
  }
  updateStop();
}

function updateStop() {
  const running = state.streaming.size > 0 || list.querySelector('li.streaming') !== null;
  stopButton.hidden = !running;
  sendButton.disabled = running || !socket.isOpen;
}

// -- Check -----------------------------------------------------------------------------------

function addCheckButton(item, messageId) {
  const tools = item.querySelector('.tools');
  if (tools.querySelector('button.check')) return;
  const button = document.createElement('button');
  button.type = 'button';
  button.className = 'secondary small check';
  button.textContent = 'Check';
  const result = document.createElement('div');
  result.className = 'check-result';
  button.addEventListener('click', () => checkAnswer(messageId, button, result));
  tools.append(button, result);
}

async function checkAnswer(messageId, button, result) {
  button.disabled = true;
  result.replaceChildren();
  result.textContent = 'Checking…';
  try {
    const report = await api('/api/check', { method: 'POST', body: { messageId } });
    result.replaceChildren();
    const verdict = document.createElement('p');
    verdict.append(verdictBadge(report.verdict), ` score ${report.score}`);
    result.append(verdict);
    // Without these a check that could not sample would read as a clean 'ok'.
    for (const problem of report.problems ?? []) {
      const note = document.createElement('p');
      note.className = 'error';
      note.textContent = problem.message;
      result.append(note);
    }
    if (report.reason) {
      const why = document.createElement('p');
      why.className = 'muted check-reason';
      why.textContent = report.reason;
      result.append(why);
    }
    // Claims with their evidence say everything the flags say; the flags remain for
    // reports without claims.
    const claims = renderClaims(report);
    if (claims) {
      result.append(claims);
    } else if (report.flags?.length) {
      const flags = document.createElement('ul');
      for (const flag of report.flags) {
        const entry = document.createElement('li');
        const sentence = document.createElement('q');
        sentence.textContent = flag.sentence;
        entry.append(sentence, ` ${flag.reason}`);
        flags.append(entry);
      }
      result.append(flags);
    }
  } catch (error) {
    result.textContent = `Check failed: ${error.message}`;
    result.classList.add('error');
  } finally {
    button.disabled = false;
  }
}

// -- conversations ---------------------------------------------------------------------------

function selectConversation(id, title) {
  state.conversationId = id;
  root.dataset.conversationId = id;
  history.replaceState(null, '', `/chat/${id}`);
  if (title) titleHeading.textContent = title;
  for (const item of conversationsList.querySelectorAll('li[data-id]')) {
    if (Number(item.dataset.id) === id) item.setAttribute('aria-current', 'true');
    else item.removeAttribute('aria-current');
  }
}

async function refreshConversations() {
  const page = await api('/api/conversations?limit=200');
  conversationsList.replaceChildren();
  for (const conversation of page.items) {
    const item = document.createElement('li');
    item.dataset.id = conversation.id;
    if (conversation.id === state.conversationId) {
      item.setAttribute('aria-current', 'true');
      titleHeading.textContent = conversation.title;
    }
    const link = document.createElement('a');
    link.href = `/chat/${conversation.id}`;
    link.className = 'title';
    link.textContent = conversation.title;
    const actions = document.createElement('span');
    actions.className = 'row-actions';
    for (const [action, label, style] of [['rename', 'Rename', 'secondary'],
      ['delete', 'Delete', 'danger']]) {
      const button = document.createElement('button');
      button.type = 'button';
      button.className = `${style} small`;
      button.dataset.action = action;
      button.textContent = label;
      actions.append(button);
    }
    item.append(link, actions);
    conversationsList.append(item);
  }
}

conversationsList.addEventListener('click', async (event) => {
  const button = event.target.closest('button[data-action]');
  if (!button) return;
  const item = button.closest('li[data-id]');
  const id = Number(item.dataset.id);
  const current = item.querySelector('.title').textContent;
  try {
    if (button.dataset.action === 'rename') {
      const title = window.prompt('New title', current);
      if (!title || !title.trim()) return;
      await api(`/api/conversations/${id}`, { method: 'PATCH', body: { title: title.trim() } });
    } else {
      if (!window.confirm(`Delete "${current}" and its messages?`)) return;
      await api(`/api/conversations/${id}`, { method: 'DELETE' });
      if (id === state.conversationId) {
        window.location.assign('/chat');
        return;
      }
    }
    await refreshConversations();
  } catch (error) {
    showError(error.message);
  }
});

async function loadHistory() {
  if (!state.conversationId) return;
  if (socket.isOpen) {
    socket.send('chat:history', { conversationId: state.conversationId, limit: 200 });
    return;
  }
  // Without the socket the page still shows the conversation, read from the API.
  try {
    const page = await api(`/api/messages?conversationId=${state.conversationId}&limit=200`);
    renderHistory(page.items.slice().reverse());
  } catch (error) {
    showError(error.message);
  }
}

// -- models ----------------------------------------------------------------------------------

async function loadModels() {
  try {
    const data = await api('/api/models');
    const models = data?.models ?? [];
    for (const model of models) {
      if (!model?.id || model.type === 'embeddings') continue;
      const option = document.createElement('option');
      option.value = model.id;
      option.textContent = model.loaded ? `${model.id} (loaded)` : model.id;
      modelSelect.append(option);
    }
  } catch (error) {
    const option = document.createElement('option');
    option.disabled = true;
    option.textContent = `Models unavailable: ${error.message}`;
    modelSelect.append(option);
  }
  const wanted = root.dataset.conversationModel;
  if (wanted) {
    if (![...modelSelect.options].some((o) => o.value === wanted)) {
      const option = document.createElement('option');
      option.value = wanted;
      option.textContent = wanted;
      modelSelect.append(option);
    }
    modelSelect.value = wanted;
  }
}

// -- sending ---------------------------------------------------------------------------------

form.addEventListener('submit', (event) => {
  event.preventDefault();
  const text = input.value;
  if (!text.trim()) return;
  const data = { message: text };
  if (state.conversationId) data.conversationId = state.conversationId;
  if (modelSelect.value) data.model = modelSelect.value;
  const id = socket.send('chat:send', data);
  if (id === null) {
    showError('Not sent: the connection to the server is down. It reconnects by itself.');
    return;
  }
  state.pendingSend = id;
  showError('');
  input.value = '';
  sendButton.disabled = true;
});

input.addEventListener('keydown', (event) => {
  if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    form.requestSubmit();
  }
});

stopButton.addEventListener('click', () => {
  if (state.conversationId) socket.send('chat:stop', { conversationId: state.conversationId });
});

// -- socket ----------------------------------------------------------------------------------

socket.on('chat:message', (message, frame) => {
  if (frame.id !== undefined && frame.id === state.pendingSend && message.role === 'user') {
    state.pendingSend = null;
    if (message.conversationId !== state.conversationId) {
      selectConversation(message.conversationId);
      list.replaceChildren();
      refreshConversations().catch((error) => showError(error.message));
    }
  }
  renderMessage(message);
  list.lastElementChild?.scrollIntoView({ block: 'end' });
});
socket.on('chat:streaming', onChunk);
socket.on('chat:history', (data) => {
  if (data.conversationId === state.conversationId) renderHistory(data.messages);
});
socket.on('error', (error, frame) => {
  if (error.code === 'not_running') return; // a Stop that crossed the answer's end
  if (frame.id !== undefined && frame.id === state.pendingSend) state.pendingSend = null;
  showError(error.message);
  updateStop();
});
socket.onStatus((status, detail) => {
  statusLine.textContent = describeStatus(status, detail);
  statusLine.dataset.state = status;
  if (status === 'open') loadHistory();
  updateStop();
});

loadModels();
socket.start();
if (state.conversationId) setTimeout(() => { if (!socket.isOpen) loadHistory(); }, 1500);
