// The Chat page's knowledge bases: the picker (#kb-picker) naming the bases a conversation
// answers from, the line saying which are in use (#kb-in-use), and citations: the [n]
// markers of an answer become links (a.citation) that open the cited passage in
// #citation-panel. A citation names a knowledge base's chunk, or a web page read for the
// message ("Read the page": {n, url, title, quote, fetchId}).
//
// Markers are linked in the answer's DOM after Markdown has been rendered and sanitised:
// only text nodes are split, and the links are built with createElement and textContent,
// so nothing from the answer is ever parsed as HTML here.

import { api } from './common.js';

export const MAX_BASES = 10;

const MARKER = /\[(\d{1,3}(?:\s*[-\u2013,;]\s*\d{1,3})*)\]/g;
const NOT_LINKED = new Set(['A', 'CODE', 'PRE', 'SCRIPT', 'STYLE', 'TEXTAREA']);
const SEPARATOR = ' \u203a ';

// The link to a cited chunk on its source's page.
export function sourceUrl(citation) {
  return `/knowledge-bases/${citation.knowledgeBaseId}/sources/${citation.sourceId}`
    + `#chunk-${citation.chunkId}`;
}

const isWeb = (citation) => citation.knowledgeBaseId == null && Boolean(citation.url);

// A cited web page, scrolled to the quote where the browser supports text fragments
// (",", "-" and "&" are the syntax's own, so they are escaped).
export function pageUrl(citation) {
  const words = (citation.quote ?? '').replace(/\u2026$/, '').split(/\s+/).filter(Boolean);
  if (!words.length || /#/.test(citation.url)) return citation.url;
  const start = encodeURIComponent(words.slice(0, 8).join(' ')).replace(/-/g, '%2D')
    .replace(/,/g, '%2C');
  return `${citation.url}#:~:text=${start}`;
}

// The source numbers of one marker's inside: "1", "1, 3", "2-4".
function markerNumbers(inside) {
  const numbers = [];
  for (const part of inside.split(/\s*[,;]\s*/)) {
    const [from, to] = part.split(/\s*[-\u2013]\s*/).map(Number);
    if (to !== undefined && to > from && to - from < 50) {
      for (let n = from; n <= to; n += 1) numbers.push(n);
    } else {
      numbers.push(from);
      if (to !== undefined) numbers.push(to);
    }
  }
  return numbers;
}

function citationLink(citation, onOpen) {
  const link = document.createElement('a');
  link.className = 'citation';
  link.textContent = `[${citation.n}]`;
  link.dataset.n = citation.n;
  if (citation.knowledgeBaseId != null) link.href = sourceUrl(citation);
  else if (isWeb(citation)) link.href = citation.url;
  link.title = citation.sourceTitle || citation.title || citation.url || 'Source';
  link.addEventListener('click', (event) => {
    // A new tab or window (ctrl, cmd, shift, middle button) goes to the source page itself.
    if (event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey) return;
    event.preventDefault();
    onOpen(citation, link);
  });
  return link;
}

function linkedPieces(text, byNumber, onOpen) {
  const pieces = [];
  let last = 0;
  for (const match of text.matchAll(MARKER)) {
    const numbers = markerNumbers(match[1]);
    if (!numbers.some((n) => byNumber.has(n))) continue;
    pieces.push(text.slice(last, match.index));
    for (const n of numbers) {
      pieces.push(byNumber.has(n) ? citationLink(byNumber.get(n), onOpen) : `[${n}]`);
    }
    last = match.index + match[0].length;
  }
  if (!pieces.length) return null;
  pieces.push(text.slice(last));
  return pieces;
}

// Turns the [n] markers in `element` (a rendered, sanitised answer) that name one of
// `citations` into a.citation links; onOpen(citation, link) is called when one is clicked.
export function linkCitations(element, citations, onOpen) {
  if (!citations?.length) return;
  const byNumber = new Map(citations.map((citation) => [citation.n, citation]));
  const walker = document.createTreeWalker(element, NodeFilter.SHOW_TEXT, {
    acceptNode(node) {
      for (let parent = node.parentNode; parent && parent !== element;
        parent = parent.parentNode) {
        if (NOT_LINKED.has(parent.nodeName)) return NodeFilter.FILTER_REJECT;
      }
      return node.nodeValue.includes('[') ? NodeFilter.FILTER_ACCEPT : NodeFilter.FILTER_SKIP;
    },
  });
  const nodes = [];
  while (walker.nextNode()) nodes.push(walker.currentNode);
  for (const node of nodes) {
    const pieces = linkedPieces(node.nodeValue, byNumber, onOpen);
    if (pieces) node.replaceWith(...pieces.filter((piece) => piece !== ''));
  }
}

// The side panel that shows one cited passage: its source, heading path and quote, and the
// link to the passage on the source's page.
export class CitationPanel {
  constructor(panel) {
    this.panel = panel;
    this.title = panel.querySelector('#citation-title');
    this.path = panel.querySelector('.citation-path');
    this.quote = panel.querySelector('.citation-quote');
    this.source = panel.querySelector('.citation-source');
    this.fetch = panel.querySelector('.citation-fetch');
    this.opener = null;
    panel.querySelector('#citation-close').addEventListener('click', () => this.close());
    document.addEventListener('keydown', (event) => {
      if (event.key === 'Escape' && !panel.hidden) this.close();
    });
  }

  open(citation, link) {
    const web = isWeb(citation);
    const name = citation.sourceTitle || citation.title || citation.url || 'Source';
    this.title.textContent = `[${citation.n}] ${name}`;
    const path = citation.headingPath ?? [];
    this.path.textContent = path.join(SEPARATOR);
    this.path.hidden = !path.length;
    this.quote.textContent = citation.quote || '';
    this.source.hidden = citation.knowledgeBaseId == null && !web;
    if (citation.knowledgeBaseId != null) {
      this.source.href = sourceUrl(citation);
      this.source.textContent = 'Open the passage in its source';
      this.source.removeAttribute('target');
      this.source.removeAttribute('rel');
    } else if (web) {
      this.source.href = pageUrl(citation);
      this.source.textContent = `Open the page (${citation.url})`;
      this.source.target = '_blank';
      this.source.rel = 'noopener noreferrer';
    }
    this.fetch.hidden = !(web && citation.fetchId);
    if (web && citation.fetchId) this.fetch.href = `/web?fetch=${citation.fetchId}`;
    this.opener?.removeAttribute('aria-expanded');
    this.opener = link;
    link.setAttribute('aria-expanded', 'true');
    this.panel.hidden = false;
    this.title.setAttribute('tabindex', '-1');
    this.title.focus();
  }

  close() {
    this.panel.hidden = true;
    if (this.opener) {
      this.opener.removeAttribute('aria-expanded');
      this.opener.focus();
      this.opener = null;
    }
  }
}

// The knowledge bases of the conversation: checkboxes in #kb-picker (at most MAX_BASES
// checked), and the names of those in use in #kb-in-use. `onChange(ids)` is called when the
// person changes the choice, not when the server's choice is shown.
export class KnowledgePicker {
  constructor(fieldset, inUse, initial, onChange) {
    this.fieldset = fieldset;
    this.inUse = inUse;
    this.onChange = onChange;
    this.ids = [...new Set(initial ?? [])];
    this.names = new Map(); // id -> name, once the list is loaded
    this.loaded = false;
    fieldset.addEventListener('change', (event) => {
      if (event.target.name !== 'knowledgeBaseIds') return;
      const id = Number(event.target.value);
      this.ids = event.target.checked ? [...this.ids, id] : this.ids.filter((i) => i !== id);
      this.render();
      this.onChange(this.selected());
    });
  }

  // The chosen ids; once the list is loaded, without those of bases deleted since (the
  // server refuses unknown ids, and there would be no box left to uncheck).
  selected() {
    return this.loaded ? this.ids.filter((id) => this.names.has(id)) : [...this.ids];
  }

  // Shows the server's choice (history, settings echo) without calling onChange.
  set(ids) {
    this.ids = [...new Set(ids ?? [])];
    this.render();
  }

  async load() {
    const empty = this.fieldset.querySelector('.kb-empty');
    try {
      const page = await api('/api/knowledge-bases?limit=200');
      for (const base of page.items) this.names.set(base.id, base.name);
      this.loaded = true;
      empty.textContent = 'No knowledge bases yet: create one under Knowledge.';
      empty.hidden = page.items.length > 0;
      for (const base of [...page.items].sort((a, b) => a.name.localeCompare(b.name))) {
        const label = document.createElement('label');
        label.className = 'kb-choice';
        const box = document.createElement('input');
        box.type = 'checkbox';
        box.name = 'knowledgeBaseIds';
        box.value = base.id;
        label.append(box, ` ${base.name}`);
        this.fieldset.append(label);
      }
    } catch (error) {
      empty.textContent = `Knowledge bases unavailable: ${error.message}`;
    }
    this.render();
  }

  render() {
    const chosen = new Set(this.ids);
    for (const box of this.fieldset.querySelectorAll('input[name="knowledgeBaseIds"]')) {
      box.checked = chosen.has(Number(box.value));
      box.disabled = !box.checked && chosen.size >= MAX_BASES;
    }
    const names = this.ids.map((id) => this.names.get(id)
      ?? (this.loaded ? `#${id} (deleted)` : `#${id}`));
    this.inUse.textContent = names.length
      ? `in use: ${names.join(', ')}` : 'none: answers from the model alone';
    this.inUse.classList.toggle('muted', !names.length);
    this.inUse.dataset.count = names.length;
  }
}
