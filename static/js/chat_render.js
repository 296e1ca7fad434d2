// How the Chat page draws a message: its element, Markdown made safe, the answers to one
// message side by side ("answer 1 of 2"), a failure with its numbers, Copy.
//
// Model output is untrusted: it is rendered with marked and then sanitised by DOMPurify
// (markdown.js) before it reaches the DOM; everything else goes in with textContent.

import { renderMarkdown } from './markdown.js';

export { renderMarkdown };

export function button(label, className, onClick) {
  const element = document.createElement('button');
  element.type = 'button';
  element.className = `secondary small ${className}`;
  element.textContent = label;
  element.addEventListener('click', onClick);
  return element;
}

export function messageElement(list, id, role) {
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

export function renderMeta(item, message) {
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

// The answers to one user message sit right after it; one shows, the others are reached
// with "‹ answer 1 of 2 ›". A new answer (regenerated) is the one shown.
export function arrangeAnswers(list, shownAnswer, replyTo, show) {
  const answers = [...list.querySelectorAll(`li.assistant[data-reply-to="${replyTo}"]`)]
    .sort((a, b) => Number(a.dataset.id) - Number(b.dataset.id));
  if (!answers.length) return;
  const question = list.querySelector(`li.user[data-id="${replyTo}"]`);
  if (question) question.after(...answers);
  let shown = show ?? shownAnswer.get(replyTo);
  if (show === undefined) {
    const newest = answers[answers.length - 1];
    // A new answer is shown when it arrives; otherwise the one chosen stays.
    if (!answers.some((a) => Number(a.dataset.id) === shown)
        || newest.dataset.arranged !== '1') shown = Number(newest.dataset.id);
  }
  shownAnswer.set(replyTo, shown);
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
    const pick = (other) => () => arrangeAnswers(list, shownAnswer, replyTo,
      Number(answers[other].dataset.id));
    const previous = button('‹', 'previous-answer', pick(index - 1));
    previous.disabled = index === 0;
    previous.setAttribute('aria-label', 'Previous answer');
    const next = button('›', 'next-answer', pick(index + 1));
    next.disabled = index === answers.length - 1;
    next.setAttribute('aria-label', 'Next answer');
    const label = document.createElement('span');
    label.className = 'variant-label';
    label.textContent = `answer ${index + 1} of ${answers.length}`;
    nav.replaceChildren(previous, label, next);
  });
}

export function renderFailure(item, failure) {
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

export function copyAnswer(message, target) {
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
