// The Chat page: conversations, live answers over /ws, safe Markdown, Stop, Check,
// regenerate (answers to one message are kept side by side), edit and resend, copy,
// per-conversation settings, older messages on scroll, drafts kept in the browser.
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
const searchBox = document.getElementById('conversation-search');
const olderButton = document.getElementById('load-older');
const settingsForm = document.getElementById('settings');
const settingsNote = document.getElementById('settings-note');

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

function button(label, className, onClick) {
  const element = document.createElement('button');
  element.type = 'button';
  element.className = `secondary small ${className}`;
  element.textContent = label;
  element.addEventListener('click', onClick);
  return element;
}

// -- drafts ----------------------------------------------------------------------------------
// What is typed is kept per conversation in localStorage until the server has stored it, so
// an error, a reconnect or a reload never loses it.

function draftKey(conversationId = state.conversationId) {
  return DRAFT_PREFIX + (conversationId ?? 'new');
}

function saveDraft() {
  try {
    if (input.value) localStorage.setItem(draftKey(), input.value);
    else localStorage.removeItem(draftKey());
  } catch {
    // Storage full or disabled: the text stays in the box all the same.
  }
}

function restoreDraft() {
  try {
    const draft = localStorage.getItem(draftKey());
    if (draft && !input.value) input.value = draft;
  } catch {
    // No storage: nothing to restore.
  }
}

function clearDraft(key) {
  try {
    localStorage.removeItem(key);
  } catch {
    // No storage.
  }
}

input.addEventListener('input', saveDraft);

// -- limits ----------------------------------------------------------------------------------

function formatBytes(bytes) {
  if (bytes >= 1024 * 1024) return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
  if (bytes >= 1024) return `${Math.round(bytes / 1024)} KiB`;
  return `${bytes} bytes`;
}

// Why a frame cannot be sent (the text stays where it is), or null.
function overLimit(text, frame) {
  let characters = 0;
  for (const _ of text) characters += 1; // code points, as the server counts them
  const max = state.limits.maxChatMessageLength;
  if (characters > max) {
    return `Not sent: the message is ${characters.toLocaleString('en')} characters long; `
      + `the limit is ${max.toLocaleString('en')}. Your text is kept; shorten it or split it.`;
  }
  const bytes = new TextEncoder().encode(JSON.stringify(frame)).length;
  if (bytes > state.limits.maxMessageSize) {
    return `Not sent: the message is ${formatBytes(bytes)}; the limit is `
      + `${formatBytes(state.limits.maxMessageSize)}. Your text is kept; shorten it.`;
  }
  return null;
}

// Sends a frame unless it is over a limit or the socket is down; its id, or null (said why).
function sendChecked(type, data, text) {
  const problem = overLimit(text, { type, data, id: 0 });
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
    const failure = document.createElement('div');
    failure.className = 'failure';
    failure.hidden = true;
    const tools = document.createElement('div');
    tools.className = 'tools';
    const buttons = document.createElement('div');
    buttons.className = 'buttons';
    tools.append(buttons);
    item.append(meta, body, failure, tools);
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
  if (message.editOf) {
    const note = document.createElement('span');
    note.className = 'muted edited';
    note.textContent = ' (edited and sent again)';
    meta.append(note);
  }
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
  state.messages.set(message.id, message);
  const item = messageElement(message.id, message.role);
  item.classList.toggle('streaming', message.status === 'streaming');
  item.dataset.status = message.status;
  if (message.replyTo) item.dataset.replyTo = message.replyTo;
  renderMeta(item, message);
  const body = item.querySelector('.body');
  if (message.role === 'assistant') {
    renderMarkdown(body, message.content);
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

// The answers to one user message sit right after it; one shows, the others are reached
// with "‹ answer 1 of 2 ›". A new answer (regenerated) is the one shown.
function arrangeAnswers(replyTo, show) {
  const answers = [...list.querySelectorAll(`li.assistant[data-reply-to="${replyTo}"]`)]
    .sort((a, b) => Number(a.dataset.id) - Number(b.dataset.id));
  if (!answers.length) return;
  const question = list.querySelector(`li.user[data-id="${replyTo}"]`);
  if (question) question.after(...answers);
  let shown = show ?? state.shownAnswer.get(replyTo);
  if (show === undefined) {
    const newest = answers[answers.length - 1];
    // A new answer is shown when it arrives; otherwise the one chosen stays.
    if (!answers.some((a) => Number(a.dataset.id) === shown)
        || newest.dataset.arranged !== '1') shown = Number(newest.dataset.id);
  }
  state.shownAnswer.set(replyTo, shown);
  answers.forEach((answer, index) => {
    answer.dataset.arranged = '1';
    answer.hidden = Number(answer.dataset.id) !== shown;
    let nav = answer.querySelector('.variants');
    if (answers.length < 2) {
      nav?.remove();
      return;
    }
    if (!nav) {
      nav = document.createElement('span');
      nav.className = 'variants';
      answer.querySelector('.meta').after(nav);
    }
    const previous = button('‹', 'previous-answer', () => arrangeAnswers(replyTo,
      Number(answers[index - 1].dataset.id)));
    previous.disabled = index === 0;
    previous.setAttribute('aria-label', 'Previous answer');
    const next = button('›', 'next-answer', () => arrangeAnswers(replyTo,
      Number(answers[index + 1].dataset.id)));
    next.disabled = index === answers.length - 1;
    next.setAttribute('aria-label', 'Next answer');
    const label = document.createElement('span');
    label.className = 'variant-label';
    label.textContent = `answer ${index + 1} of ${answers.length}`;
    nav.replaceChildren(previous, label, next);
  });
}

function renderTools(item) {
  const id = Number(item.dataset.id);
  const message = state.messages.get(id);
  const buttons = item.querySelector('.buttons');
  buttons.replaceChildren();
  if (!message || message.status === 'streaming') return;
  if (message.role === 'user') {
    buttons.append(button('Edit', 'edit', () => startEdit(item)));
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

function renderFailure(item) {
  const failure = state.failures.get(Number(item.dataset.id));
  const box = item.querySelector('.failure');
  box.replaceChildren();
  box.hidden = !failure;
  if (!failure) return;
  const text = document.createElement('p');
  text.className = 'error';
  if (failure.code === 'context_too_long' && failure.promptTokens != null) {
    text.textContent = `The prompt is ${failure.promptTokens.toLocaleString('en')} tokens; `
      + `the model's context holds ${Number(failure.contextLength).toLocaleString('en')}. `
      + 'Shorten the message, start a new conversation, or load the model with a longer '
      + 'context.';
  } else {
    text.textContent = failure.message;
  }
  box.append(text);
}

function copyAnswer(message, target) {
  const done = (label) => {
    target.textContent = label;
    setTimeout(() => { target.textContent = 'Copy'; }, 1500);
  };
  navigator.clipboard.writeText(message.content)
    .then(() => done('Copied'))
    .catch(() => {
      // No clipboard permission (plain http on another host): select the text instead.
      const area = document.createElement('textarea');
      area.value = message.content;
      document.body.append(area);
      area.select();
      const ok = document.execCommand('copy');
      area.remove();
      done(ok ? 'Copied' : 'Copy failed');
    });
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

// -- Check -----------------------------------------------------------------------------------

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
  const data = { message: text };
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
  if (frame.id !== undefined && message.role === 'user') finishEdit(frame.id);
  renderMessage(message);
  if (message.role === 'user' || !message.replyTo) {
    list.lastElementChild?.scrollIntoView({ block: 'end' });
  }
});
socket.on('chat:streaming', onChunk);
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
socket.start();
if (state.conversationId) setTimeout(() => { if (!socket.isOpen) loadHistory(); }, 1500);
