// The Chat page: conversations, live answers over /ws, Stop, Check, regenerate (answers to
// one message are kept side by side), edit and resend, copy, per-conversation settings and
// knowledge bases, older messages on scroll, drafts kept in the browser. Drawing a message
// is in chat_render.js (model output goes through DOMPurify there); the knowledge-base
// picker and the citation links are in chat_knowledge.js; "Read the page" in chat_page.js.

import { api } from './common.js';
import { checkAnswer } from './chat_check.js';
import { CitationPanel, KnowledgePicker, linkCitations } from './chat_knowledge.js';
import { formatLimitProblem, dropDraft, readDraft, writeDraft } from './chat_compose.js';
import { PageReader } from './chat_page.js';
import { Socket, describeStatus } from './socket.js';
import { arrangeAnswers as arrange, button, copyAnswer, messageElement as element,
  renderFailure as drawFailure, renderMarkdown, renderMeta } from './chat_render.js';

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
const searchBox = document.getElementById('conversation-search');
const olderButton = document.getElementById('load-older');
const settingsForm = document.getElementById('settings');
const settingsNote = document.getElementById('settings-note');
const citationPanel = new CitationPanel(document.getElementById('citation-panel'));
const knowledge = new KnowledgePicker(
  document.getElementById('kb-picker'), document.getElementById('kb-in-use'),
  JSON.parse(root.dataset.knowledgeBaseIds || '[]'), saveKnowledgeBases);

const HISTORY_PAGE = 50;
const DRAFT_PREFIX = 'orchestra.chat.draft.';

const state = {
  conversationId: Number(root.dataset.conversationId) || null,
  pendingSend: null, // { id, text, draftKey } of our chat:send until its chat:message arrives
  pendingEdits: new Map(), // frame id -> the user message being edited
  streaming: new Map(), // messageId -> { text, element, frame }
  messages: new Map(), // id -> the message as last received
  failures: new Map(), // answer id -> the error frame's data
  shownAnswer: new Map(), // user message id -> the answer shown (of several)
  hasMore: false,
  loadingOlder: null, // frame id of the chat:history asking for older messages
  // Until `connected` says otherwise: the server's defaults.
  limits: { maxMessageSize: 1024 * 1024, maxChatMessageLength: 200000 },
};

const socket = new Socket();
const pageReader = new PageReader((type, data) => sendChecked(type, data, ''));

function messageElement(id, role) {
  return element(list, id, role);
}

function arrangeAnswers(replyTo, show) {
  arrange(list, state.shownAnswer, replyTo, show);
}

function renderFailure(item) {
  drawFailure(item, state.failures.get(Number(item.dataset.id)));
}

function showError(message) {
  errorLine.textContent = message;
  errorLine.hidden = !message;
}

// -- drafts and limits -----------------------------------------------------------------------
// What is typed is kept per conversation in the browser until the server has stored it, so
// an error, a reconnect or a reload never loses it.

function draftKey(conversationId = state.conversationId) {
  return DRAFT_PREFIX + (conversationId ?? 'new');
}

function saveDraft() {
  writeDraft(draftKey(), input.value);
}

function restoreDraft() {
  const draft = readDraft(draftKey());
  if (draft && !input.value) input.value = draft;
}

const clearDraft = dropDraft;

input.addEventListener('input', saveDraft);

// Sends a frame unless it is over a limit or the socket is down; its id, or null (said why).
function sendChecked(type, data, text) {
  const problem = formatLimitProblem(text, { type, data, id: 0 }, state.limits);
  if (problem) {
    showError(problem);
    return null;
  }
  const id = socket.send(type, data);
  if (id === null) {
    showError('Not sent: the connection to the server is down. It reconnects by itself; '
      + 'your text is kept.');
    return null;
  }
  showError('');
  return id;
}

// -- messages --------------------------------------------------------------------------------

function renderMessage(message) {
  if (message.conversationId !== state.conversationId) return;
  state.messages.set(message.id, message);
  const item = messageElement(message.id, message.role);
  item.classList.toggle('streaming', message.status === 'streaming');
  item.dataset.status = message.status;
  if (message.replyTo) item.dataset.replyTo = message.replyTo;
  renderMeta(item, message);
  const body = item.querySelector('.body');
  if (message.role === 'assistant') {
    renderMarkdown(body, message.content);
    linkCitations(body, message.citations, (citation, link) => citationPanel.open(citation, link));
    if (message.status !== 'streaming') state.streaming.delete(message.id);
  } else {
    if (!item.querySelector('.edit-box')) body.textContent = message.content;
    state.streaming.delete(message.id);
  }
  renderTools(item);
  renderFailure(item);
  if (message.replyTo) arrangeAnswers(message.replyTo);
  updateStop();
}

function renderTools(item) {
  const id = Number(item.dataset.id);
  const message = state.messages.get(id);
  const buttons = item.querySelector('.buttons');
  buttons.replaceChildren();
  if (!message || message.status === 'streaming') return;
  if (message.role === 'user') {
    buttons.append(button('Edit', 'edit', () => startEdit(item)));
    pageReader.addButtons(buttons, message);
    pageReader.draw(item);
    return;
  }
  const failure = state.failures.get(id);
  if (failure?.retryable) {
    buttons.append(button('Retry', 'retry', () => regenerate(id)));
  }
  if (message.content) {
    buttons.append(button('Copy', 'copy', (event) => copyAnswer(message, event.target)));
  }
  buttons.append(button('Regenerate', 'regenerate', () => regenerate(id)));
  // A failed, cut-short or empty answer has nothing to check.
  if (message.status === 'complete' && !message.error && message.content.trim()) {
    let result = item.querySelector('.check-result');
    if (!result) {
      result = document.createElement('div');
      result.className = 'check-result';
      item.querySelector('.tools').append(result);
    }
    const check = button('Check', 'check', () => checkAnswer(id, check, result));
    buttons.append(check);
  }
}

function regenerate(messageId) {
  if (sendChecked('chat:regenerate', { messageId }, '') !== null) {
    state.failures.delete(messageId);
    sendButton.disabled = true;
  }
}

// -- edit and resend -------------------------------------------------------------------------

function startEdit(item) {
  if (item.querySelector('.edit-box')) return;
  const message = state.messages.get(Number(item.dataset.id));
  const body = item.querySelector('.body');
  const box = document.createElement('form');
  box.className = 'edit-box';
  const area = document.createElement('textarea');
  area.value = message.content;
  area.setAttribute('aria-label', 'Edited message');
  const save = document.createElement('button');
  save.type = 'submit';
  save.textContent = 'Send edited';
  const cancel = button('Cancel', 'cancel', () => {
    box.remove();
    body.hidden = false;
  });
  box.append(area, save, cancel);
  box.addEventListener('submit', (event) => {
    event.preventDefault();
    const text = area.value;
    if (!text.trim()) return;
    const id = sendChecked('chat:edit', { messageId: message.id, message: text }, text);
    if (id !== null) state.pendingEdits.set(id, item);
  });
  body.hidden = true;
  body.after(box);
  area.focus();
}

function finishEdit(frameId) {
  const item = state.pendingEdits.get(frameId);
  state.pendingEdits.delete(frameId);
  if (!item) return;
  item.querySelector('.edit-box')?.remove();
  item.querySelector('.body').hidden = false;
}

// -- history ---------------------------------------------------------------------------------

function oldestId() {
  const ids = [...list.children].map((item) => Number(item.dataset.id)).filter(Boolean);
  return ids.length ? Math.min(...ids) : null;
}

function renderHistory(data) {
  const { messages } = data;
  if (data.before != null) {
    // Older messages go on top; what the reader looks at stays where it is.
    const height = list.scrollHeight;
    const first = list.firstElementChild;
    for (const message of messages) {
      renderMessage(message);
      const item = messageElement(message.id, message.role);
      if (first) first.before(item);
    }
    for (const message of messages) if (message.replyTo) arrangeAnswers(message.replyTo);
    list.scrollTop += list.scrollHeight - height;
    state.hasMore = data.hasMore;
    updateOlder();
    return;
  }
  // Update in place rather than start over: a history that arrives again (after a
  // reconnect) must not wipe what the page shows beside a message, such as a check result,
  // nor the older messages loaded before.
  const keep = new Set(messages.map((message) => String(message.id)));
  const from = messages.length ? messages[0].id : 0;
  for (const item of [...list.children]) {
    if (Number(item.dataset.id) >= from && !keep.has(item.dataset.id)) item.remove();
  }
  const olderShown = messages.length && oldestId() !== null && oldestId() < from;
  state.streaming.clear();
  for (const message of messages) {
    renderMessage(message);
    list.append(messageElement(message.id, message.role)); // history order
    if (message.status === 'streaming') {
      state.streaming.set(message.id, { text: message.content, element: null, frame: 0 });
    }
  }
  for (const message of messages) if (message.replyTo) arrangeAnswers(message.replyTo);
  if (!olderShown) state.hasMore = data.hasMore;
  if (data.conversation) showSettings(data.conversation);
  updateStop();
  updateOlder();
  list.lastElementChild?.scrollIntoView({ block: 'end' });
}

function updateOlder() {
  olderButton.hidden = !state.hasMore;
  olderButton.disabled = state.loadingOlder !== null;
}

function loadOlder() {
  if (!state.hasMore || state.loadingOlder !== null || !state.conversationId) return;
  const before = oldestId();
  if (before === null) return;
  const id = socket.send('chat:history', { conversationId: state.conversationId,
    limit: HISTORY_PAGE, before });
  if (id === null) return;
  state.loadingOlder = id;
  updateOlder();
}

list.addEventListener('scroll', () => {
  if (list.scrollTop < 40) loadOlder();
});
olderButton.addEventListener('click', loadOlder);

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
  const query = searchBox.value.trim();
  const params = new URLSearchParams({ limit: '200' });
  if (query) params.set('q', query);
  const page = await api(`/api/conversations?${params}`);
  if (searchBox.value.trim() !== query) return; // a newer search is on its way
  conversationsList.replaceChildren();
  if (!page.items.length) {
    const empty = document.createElement('li');
    empty.className = 'muted empty';
    empty.textContent = query ? `No conversation matches "${query}".` : 'No conversations yet.';
    conversationsList.append(empty);
  }
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
      const element = document.createElement('button');
      element.type = 'button';
      element.className = `${style} small`;
      element.dataset.action = action;
      element.textContent = label;
      actions.append(element);
    }
    item.append(link, actions);
    conversationsList.append(item);
  }
}

let searchTimer = null;
searchBox.addEventListener('input', () => {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(() => {
    refreshConversations().catch((error) => showError(`Search failed: ${error.message}`));
  }, 250);
});

conversationsList.addEventListener('click', async (event) => {
  const target = event.target.closest('button[data-action]');
  if (!target) return;
  const item = target.closest('li[data-id]');
  const id = Number(item.dataset.id);
  const current = item.querySelector('.title').textContent;
  try {
    if (target.dataset.action === 'rename') {
      const title = window.prompt('New title', current);
      if (!title || !title.trim()) return;
      await api(`/api/conversations/${id}`, { method: 'PATCH', body: { title: title.trim() } });
    } else {
      if (!window.confirm(`Delete "${current}" and its messages?`)) return;
      await api(`/api/conversations/${id}`, { method: 'DELETE' });
      clearDraft(draftKey(id));
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
    socket.send('chat:history', { conversationId: state.conversationId, limit: HISTORY_PAGE });
    return;
  }
  // Without the socket the page still shows the conversation, read from the API.
  try {
    const page = await api(`/api/messages?conversationId=${state.conversationId}`
      + `&limit=${HISTORY_PAGE}`);
    renderHistory({ messages: page.items.slice().reverse(), hasMore: false });
  } catch (error) {
    showError(error.message);
  }
}

// -- settings --------------------------------------------------------------------------------
// A conversation's settings are stored with it (chat:settings); a new conversation's go with
// its first message.

function readSettings() {
  const fields = settingsForm.elements;
  const number = (value, parse) => (value.trim() === '' ? null : parse(value));
  return {
    systemPrompt: fields.systemPrompt.value.trim() ? fields.systemPrompt.value : null,
    temperature: number(fields.temperature.value, Number.parseFloat),
    maxTokens: number(fields.maxTokens.value, (v) => Number.parseInt(v, 10)),
    model: modelSelect.value || null,
  };
}

function showSettings(conversation) {
  const fields = settingsForm.elements;
  fields.systemPrompt.value = conversation.systemPrompt ?? '';
  fields.temperature.value = conversation.temperature ?? '';
  fields.maxTokens.value = conversation.maxTokens ?? '';
  if (conversation.model) chooseModel(conversation.model);
  else modelSelect.value = '';
  const summary = [];
  if (conversation.systemPrompt) summary.push('system prompt');
  if (conversation.temperature != null) summary.push(`temperature ${conversation.temperature}`);
  if (conversation.maxTokens != null) summary.push(`max ${conversation.maxTokens} tokens`);
  settingsNote.textContent = summary.length ? summary.join(', ') : 'server defaults';
  if (conversation.knowledgeBaseIds) knowledge.set(conversation.knowledgeBaseIds);
}

// The bases chosen in the picker are stored with the conversation at once; a new
// conversation's go with its first message (as every message carries them).
function saveKnowledgeBases(ids) {
  if (!state.conversationId) return;
  sendChecked('chat:settings', { conversationId: state.conversationId, knowledgeBaseIds: ids },
    '');
}

function saveSettings() {
  if (!settingsForm.reportValidity()) return;
  if (!state.conversationId) {
    settingsNote.textContent = 'kept for the first message';
    return;
  }
  const data = { conversationId: state.conversationId, ...readSettings() };
  const text = data.systemPrompt ?? '';
  if (sendChecked('chat:settings', data, text) !== null) settingsNote.textContent = 'saving…';
}

settingsForm.addEventListener('submit', (event) => {
  event.preventDefault();
  saveSettings();
});
modelSelect.addEventListener('change', () => {
  if (state.conversationId) saveSettings();
});

// -- models ----------------------------------------------------------------------------------

function chooseModel(wanted) {
  if (![...modelSelect.options].some((o) => o.value === wanted)) {
    const option = document.createElement('option');
    option.value = wanted;
    option.textContent = wanted;
    modelSelect.append(option);
  }
  modelSelect.value = wanted;
}

async function loadModels() {
  try {
    const data = await api('/api/models');
    const models = data?.models ?? [];
    for (const model of models) {
      if (!model?.id || model.type === 'embeddings') continue;
      if ([...modelSelect.options].some((o) => o.value === model.id)) continue;
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
  if (wanted && !modelSelect.value) chooseModel(wanted);
}

// -- sending ---------------------------------------------------------------------------------

form.addEventListener('submit', (event) => {
  event.preventDefault();
  const text = input.value;
  if (!text.trim()) return;
  const data = { message: text, knowledgeBaseIds: knowledge.selected() };
  if (state.conversationId) {
    data.conversationId = state.conversationId;
  } else {
    const settings = readSettings();
    if (settingsForm.checkValidity()) data.settings = settings;
  }
  const id = sendChecked('chat:send', data, text);
  if (id === null) return;
  // The text stays in the box (and in the draft) until the server has stored it.
  state.pendingSend = { id, text, draftKey: draftKey() };
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

function onStored(message, frame) {
  const pending = state.pendingSend;
  if (!pending || frame.id === undefined || frame.id !== pending.id || message.role !== 'user') {
    return;
  }
  state.pendingSend = null;
  clearDraft(pending.draftKey);
  if (input.value === pending.text) input.value = '';
  if (message.conversationId !== state.conversationId) {
    selectConversation(message.conversationId);
    list.replaceChildren();
    refreshConversations().catch((error) => showError(error.message));
  }
  saveDraft(); // whatever was typed meanwhile, under the conversation's own key
}

socket.on('chat:message', (message, frame) => {
  onStored(message, frame);
  pageReader.answered(message);
  if (frame.id !== undefined && message.role === 'user') finishEdit(frame.id);
  renderMessage(message);
  if (message.role === 'user' || !message.replyTo) {
    list.lastElementChild?.scrollIntoView({ block: 'end' });
  }
});
socket.on('chat:streaming', onChunk);
socket.on('chat:page', (data) => {
  if (data.conversationId === state.conversationId) pageReader.fetched(data);
});
socket.on('chat:history', (data, frame) => {
  if (frame.id !== undefined && frame.id === state.loadingOlder) state.loadingOlder = null;
  if (data.conversationId === state.conversationId) renderHistory(data);
  updateOlder();
});
socket.on('chat:settings', (conversation) => {
  if (conversation.conversationId === state.conversationId) showSettings(conversation);
});

function onError(error, frame) {
  if (error.code === 'not_running') return; // a Stop that crossed the answer's end
  if (pageReader.failed(error, frame)) {
    showError(`Could not read the page (${error.code}): ${error.message}`);
    return;
  }
  if (frame.id !== undefined && frame.id === state.pendingSend?.id) state.pendingSend = null;
  if (frame.id !== undefined && frame.id === state.loadingOlder) state.loadingOlder = null;
  if (frame.id !== undefined) state.pendingEdits.delete(frame.id); // the edit box stays open
  if (error.messageId) {
    state.failures.set(error.messageId, error);
    const item = list.querySelector(`li[data-id="${error.messageId}"]`);
    if (item) {
      renderFailure(item);
      renderTools(item);
    }
  }
  if (error.code === 'context_too_long' && error.promptTokens != null) {
    showError(`Too long for the model: the prompt is ${error.promptTokens} tokens and its `
      + `context holds ${error.contextLength}.`);
  } else {
    showError(error.message);
  }
  updateStop();
  updateOlder();
}
socket.on('error', onError);
socket.on('chat:error', onError);
socket.onStatus((status, detail) => {
  statusLine.textContent = describeStatus(status, detail);
  statusLine.dataset.state = status;
  if (status === 'open') {
    for (const key of ['maxMessageSize', 'maxChatMessageLength']) {
      if (detail[key]) state.limits[key] = detail[key];
    }
    state.loadingOlder = null;
    loadHistory();
  }
  updateStop();
});

restoreDraft();
loadModels();
knowledge.load();
socket.start();
if (state.conversationId) setTimeout(() => { if (!socket.isOpen) loadHistory(); }, 1500);
