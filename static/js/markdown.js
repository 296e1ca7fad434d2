// Markdown from outside (model answers, fetched web pages) made safe: rendered with marked,
// then sanitised by DOMPurify before it reaches the DOM. Links open in a new tab without
// the opener or a referrer.
//
// `media: false` (fetched pages) drops images, video, audio and frames: the server read the
// page, and the reader's browser should not now load its pictures and trackers from the
// page's site; the screenshot shows how the page looked.

import { marked } from '../vendor/marked/marked.esm.js';
import DOMPurify from '../vendor/dompurify/purify.es.mjs';

const MEDIA = ['img', 'picture', 'source', 'video', 'audio', 'iframe', 'object', 'embed'];

DOMPurify.addHook('afterSanitizeAttributes', (node) => {
  if (node.tagName === 'A') {
    node.setAttribute('target', '_blank');
    node.setAttribute('rel', 'noopener noreferrer nofollow');
  }
});

export function renderMarkdown(element, text, { media = true } = {}) {
  const html = marked.parse(text ?? '', { gfm: true, breaks: true, async: false });
  const options = { USE_PROFILES: { html: true } };
  if (!media) options.FORBID_TAGS = MEDIA;
  element.innerHTML = DOMPurify.sanitize(html, options);
}
