"""Retrieval quality: recall@5 of full-text search on a small corpus written for it.

tests/fixtures/retrieval/ holds Markdown documents (manuals, policies, recipes, an API
reference, release notes, history texts; several share vocabulary, so ranking matters) and
questions.json: questions a user would ask, each naming the document and a passage of it
(an exact substring, found once) that answers it. The corpus is ingested through
KnowledgeService into a real store and every question is searched as typed.

A question is a hit when one of the first K hits is a chunk of the named document whose
span in the document (its start and end offsets) covers at least half of the passage's
characters: the whole passage when the chunker kept it in one chunk, the larger part when a
chunk boundary cut through it. Recall@K is hits / questions.

bench_retrieval.py uses the same functions for its recall figure (with embeddings too).
"""

import json
import os

import pytest

CORPUS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                      "fixtures", "retrieval")
K = 5
TARGET = 0.9


def load_corpus(folder=CORPUS):
    """({file name: text}, [question dicts]) of the quality corpus."""
    documents = {}
    for name in sorted(os.listdir(folder)):
        if name.endswith(".md"):
            with open(os.path.join(folder, name), encoding="utf-8") as f:
                documents[name] = f.read()
    with open(os.path.join(folder, "questions.json"), encoding="utf-8") as f:
        questions = json.load(f)
    return documents, questions


def title_of(name, text):
    """The document's first heading, else its file name."""
    first = text.lstrip().splitlines()[0] if text.strip() else ""
    return first.lstrip("#").strip() if first.startswith("#") else name


async def ingest(stores, knowledge, documents, name="Retrieval quality"):
    """A new knowledge base holding `documents`, indexed through `knowledge`;
    (base id, {file name: source id})."""
    base = await stores.knowledge_bases.create({"name": name, "description": ""})
    sources = {}
    for file_name, text in documents.items():
        source = await stores.knowledge_sources.create({
            "knowledge_base_id": base["id"], "kind": "file", "title": title_of(file_name, text),
            "content": text, "status": "indexing", "format": "markdown"})
        sources[file_name] = source["id"]
        knowledge.index_source(source["id"])
    await knowledge.wait()
    for file_name, source_id in sources.items():
        source = await stores.knowledge_sources.get(source_id)
        assert source["status"] == "ready", (file_name, source["status"], source["error"])
    return base["id"], sources


async def evaluate(stores, knowledge, base_id, sources, documents, questions, k=K):
    """One result per question: {"question", "document", "passage", "hit", "rank" (1-based
    rank of the first answering chunk, or None), "top" ([(document, heading path)] of the
    first k hits)}."""
    spans = {}  # chunk id -> (source id, start, end)
    for source_id in sources.values():
        for chunk in await stores.knowledge_chunks.for_source(source_id):
            spans[chunk["id"]] = (source_id, chunk["start_offset"], chunk["end_offset"])
    names = {source_id: name for name, source_id in sources.items()}
    results = []
    for q in questions:
        text = documents[q["document"]]
        start = text.index(q["passage"])
        end = start + len(q["passage"])
        hits = await knowledge.search([base_id], q["question"], limit=k)
        rank = None
        for n, hit in enumerate(hits[:k], 1):
            source_id, chunk_start, chunk_end = spans[hit["chunk_id"]]
            covered = min(end, chunk_end) - max(start, chunk_start)
            if source_id == sources[q["document"]] and 2 * covered >= end - start:
                rank = n
                break
        results.append(dict(q, hit=rank is not None, rank=rank,
                            top=[(names.get(h["source_id"]), h["heading_path"])
                                 for h in hits[:k]]))
    return results


def recall(results):
    return sum(r["hit"] for r in results) / len(results)


def report(results, k=K, label="full text"):
    """Lines saying the figure and each miss with what was found instead."""
    lines = ["recall@%d (%s): %d of %d = %.3f" % (
        k, label, sum(r["hit"] for r in results), len(results), recall(results))]
    for r in results:
        if not r["hit"]:
            lines.append("  miss: %r (%s) -> %s" % (r["question"], r["document"], "; ".join(
                "%s %s" % (doc, " > ".join(path)) for doc, path in r["top"]) or "no hits"))
    return lines


def test_the_corpus_is_well_formed():
    documents, questions = load_corpus()
    assert 20 <= len(documents) and 50 <= len(questions)
    for q in questions:
        assert set(q) == {"question", "document", "passage"}, q
        assert documents[q["document"]].count(q["passage"]) == 1, q
    assert {q["document"] for q in questions} == set(documents)


@pytest.mark.gen_test(timeout=120)
async def test_full_text_recall_at_5(app):
    stores = app.settings["stores"]
    knowledge = app.settings["services"]["knowledge"]
    assert knowledge.mode()["embeddingModel"] is None
    documents, questions = load_corpus()
    base_id, sources = await ingest(stores, knowledge, documents)
    results = await evaluate(stores, knowledge, base_id, sources, documents, questions)
    lines = report(results, label=knowledge.mode()["fullText"])
    print("\n" + "\n".join(lines))
    assert recall(results) >= TARGET, "\n".join(lines)
