// What the Chat page's composer needs beside the page: drafts kept in localStorage, and the
// server's limits checked before a frame goes out (a frame over `maxMessageSize` would close
// the socket; a message over `maxChatMessageLength` would be refused and its text lost).

export function readDraft(key) {
  try {
    return localStorage.getItem(key);
  } catch {
    return null; // storage disabled: nothing to restore
  }
}

export function writeDraft(key, text) {
  try {
    if (text) localStorage.setItem(key, text);
    else localStorage.removeItem(key);
  } catch {
    // Storage full or disabled: the text stays in the box all the same.
  }
}

export function dropDraft(key) {
  try {
    localStorage.removeItem(key);
  } catch {
    // No storage.
  }
}

export function formatBytes(bytes) {
  if (bytes >= 1024 * 1024) return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
  if (bytes >= 1024) return `${Math.round(bytes / 1024)} KiB`;
  return `${bytes} bytes`;
}

// Why `frame` (carrying `text`) cannot be sent under `limits`, or null.
export function formatLimitProblem(text, frame, limits) {
  let characters = 0;
  for (const _ of text) characters += 1; // code points, as the server counts them
  const max = limits.maxChatMessageLength;
  if (characters > max) {
    return `Not sent: the message is ${characters.toLocaleString('en')} characters long; `
      + `the limit is ${max.toLocaleString('en')}. Your text is kept; shorten it or split it.`;
  }
  const bytes = new TextEncoder().encode(JSON.stringify(frame)).length;
  if (bytes > limits.maxMessageSize) {
    return `Not sent: the message is ${formatBytes(bytes)}; the limit is `
      + `${formatBytes(limits.maxMessageSize)}. Your text is kept; shorten it.`;
  }
  return null;
}
