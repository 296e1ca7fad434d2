// "Read the page" on the Chat page: a user message that contains web addresses gets a button
// per address (at most MAX_BUTTONS); a click sends chat:read_page {messageId, url}, the
// server fetches the page and answers the message from it. The line under the message says
// how it goes: reading, read (with a link to the fetch on the Web page), or why it could not
// be read (the error's code and sentence).
//
// urlsIn finds the addresses as the server does (orchestra/services/chat_pages.py urls_in),
// so that the url sent is one the server finds in the message.

import { button } from './chat_render.js';

const URL_PATTERN = /https?:\/\/[^\s<>"'`]+/gi;
const TRAILING = '.,;:!?\'"*_';
const PAIRS = { ')': '(', ']': '[', '}': '{' };
const MAX_BUTTONS = 3;

const count = (text, char) => text.split(char).length - 1;

// The address without the punctuation that ends the sentence around it, and without a
// closing bracket it did not open.
export function cleanUrl(url) {
  let text = url;
  while (text) {
    const last = text[text.length - 1];
    if (TRAILING.includes(last)) {
      text = text.slice(0, -1);
    } else if (PAIRS[last] && count(text, last) > count(text, PAIRS[last])) {
      text = text.slice(0, -1);
    } else {
      break;
    }
  }
  return text;
}

export function urlsIn(text) {
  const found = [];
  for (const match of (text ?? '').matchAll(URL_PATTERN)) {
    const url = cleanUrl(match[0]);
    if (url.length > 'https://'.length && !found.includes(url)) found.push(url);
  }
  return found;
}

function shortName(url) {
  try {
    const parsed = new URL(url);
    const path = parsed.pathname === '/' ? '' : parsed.pathname;
    const name = parsed.host + path;
    return name.length > 40 ? `${name.slice(0, 39)}…` : name;
  } catch {
    return url;
  }
}

export class PageReader {
  // send(type, data) -> frame id or null (the page says why when it is null).
  constructor(send) {
    this.send = send;
    this.pending = new Map(); // frame id -> { messageId, url }
    this.lines = new Map(); // user message id -> { state, text, fetchId } of its status line
  }

  // The message's "Read the page" buttons, appended to `buttons`.
  addButtons(buttons, message) {
    const urls = urlsIn(message.content).slice(0, MAX_BUTTONS);
    const busy = this.lines.get(message.id)?.state === 'reading';
    for (const url of urls) {
      const label = urls.length === 1 ? 'Read the page' : `Read ${shortName(url)}`;
      const element = button(label, 'read-page', () => this.read(message.id, url));
      element.setAttribute('aria-label', `Read the page ${url}`);
      element.title = `Fetch ${url} and answer this message from it`;
      element.disabled = busy;
      buttons.append(element);
    }
  }

  read(messageId, url) {
    const id = this.send('chat:read_page', { messageId, url });
    if (id === null) return;
    this.pending.set(id, { messageId, url });
    this.show(messageId, { state: 'reading', text: `Reading ${url}…` });
  }

  // chat:page: the page was fetched; its answer follows.
  fetched(data) {
    const from = data.fromCache ? ' (read earlier, from the cache)' : '';
    this.show(data.messageId, {
      state: 'read', fetchId: data.fetchId,
      text: `Read “${data.title || data.finalUrl || data.url}”${from}; answering from it.`,
    });
  }

  // An error frame; true when it answers a chat:read_page of this page.
  failed(error, frame) {
    const request = frame.id !== undefined ? this.pending.get(frame.id) : undefined;
    if (error.requestType !== 'chat:read_page' && !request) return false;
    if (frame.id !== undefined) this.pending.delete(frame.id);
    const messageId = error.messageId ?? request?.messageId;
    if (messageId) {
      this.show(messageId, {
        state: 'failed', text: `Could not read the page (${error.code}): ${error.message}`,
      });
    }
    return true;
  }

  // A stored answer to a message whose page was read ends the "reading" state.
  answered(message) {
    if (message.role === 'assistant' && message.replyTo) {
      for (const [id, request] of this.pending) {
        if (request.messageId === message.replyTo) this.pending.delete(id);
      }
    }
  }

  show(messageId, line) {
    this.lines.set(messageId, line);
    const item = document.querySelector(`#messages li.user[data-id="${messageId}"]`);
    if (item) this.draw(item);
  }

  // Draws the status line of a user message's item (called again when it is redrawn).
  draw(item) {
    const line = this.lines.get(Number(item.dataset.id));
    let box = item.querySelector('.page-status');
    if (!line) {
      box?.remove();
      return;
    }
    if (!box) {
      box = document.createElement('p');
      box.className = 'page-status';
      box.setAttribute('role', 'status');
      item.querySelector('.tools').append(box);
    }
    box.dataset.state = line.state;
    box.classList.toggle('error', line.state === 'failed');
    box.replaceChildren(line.text);
    if (line.fetchId) {
      const link = document.createElement('a');
      link.href = `/web?fetch=${line.fetchId}`;
      link.textContent = 'See the page as read';
      box.append(' ', link);
    }
    for (const element of item.querySelectorAll('button.read-page')) {
      element.disabled = line.state === 'reading';
    }
  }
}
