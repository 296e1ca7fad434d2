// A knowledge base whose web pages are still being fetched: redraw once none is pending.

import { api } from './common.js';

const notice = document.getElementById('fetching');
const baseId = notice?.dataset.baseId;

async function poll() {
  try {
    const page = await api(`/api/knowledge-sources?knowledgeBaseId=${baseId}&limit=200`);
    if (!page.items.some((source) => source.status === 'pending')) {
      window.location.reload();
      return;
    }
  } catch { /* try again below: the server may be restarting */ }
  setTimeout(poll, 1500);
}

if (baseId) setTimeout(poll, 1000);
