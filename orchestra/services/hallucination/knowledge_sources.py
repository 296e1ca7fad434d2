"""The passages of a knowledge base that a text is checked against, found per sentence.

A base can hold thousands of chunks; splitting and indexing all of it for one check would
take seconds to minutes of pure Python. A claim is only ever judged against the few passages
about it, so each sentence of the text is searched for in the base (the same full-text and,
when configured, vector search that tasks and chat use), and the check grounds the text in
the union of what was found.
"""

import logging

from .claims import split_sentences

logger = logging.getLogger(__name__)

PER_SENTENCE = 4        # the passages a claim is judged against come from these
MAX_SENTENCES = 60      # a longer text's later sentences go without their own search


async def passages_about(knowledge, base_ids, text):
    """Hits (as KnowledgeService.search gives them) about the sentences of `text`, each
    chunk once, in the order found."""
    found, seen = [], set()
    for sentence in split_sentences(text)[:MAX_SENTENCES]:
        for hit in await knowledge.search(base_ids, sentence, limit=PER_SENTENCE):
            if hit["chunk_id"] not in seen:
                seen.add(hit["chunk_id"])
                found.append(hit)
    return found


def listing(hits, first=1):
    """The hits as a report lists them, numbered from `first` (the number of the source they
    are in the check's list, so a claim's evidence `source` + 1 names one)."""
    return [{"n": n, "chunkId": hit["chunk_id"], "sourceId": hit["source_id"],
             "sourceTitle": hit.get("source_title") or "",
             "knowledgeBaseId": hit.get("knowledge_base_id"),
             "headingPath": list(hit.get("heading_path") or [])}
            for n, hit in enumerate(hits, first)]
