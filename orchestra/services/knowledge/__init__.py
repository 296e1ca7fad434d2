"""Knowledge retrieval: documents turned into chunks, indexed for full-text (and optionally
vector) search, and handed to chat and tasks as numbered sources they cite.

  extract.py    bytes of a file (txt, md, html, PDF, docx) -> text with its structure
  chunking.py   text -> chunks that follow the document (headings, paragraphs, lists, code)
  service.py    KnowledgeService: indexes sources in the background, reports progress, searches
  embedding.py  optional embeddings from the model server's /v1/embeddings
  vectors.py    packed float32 vectors, cosine top-k, reciprocal rank fusion
  prompting.py  retrieved chunks as numbered sources in a prompt; citations read back
"""
