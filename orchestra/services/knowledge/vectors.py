"""Vectors for retrieval: packed as little-endian float32, searched by cosine with numpy, and
rankings fused by reciprocal rank.

numpy because a cosine top-k over a knowledge base is a matrix product: 10,000 chunks of 768
dimensions take about a second in pure Python and a few milliseconds in numpy. Everything
here is CPU work that callers run in an executor, never on the IOLoop.
"""

import collections
import logging

import numpy as np

logger = logging.getLogger(__name__)

DTYPE = np.dtype("<f4")


def pack(vector):
    """A vector (any sequence of numbers) as the bytes stored: little-endian float32."""
    return np.asarray(vector, dtype=DTYPE).tobytes()


def unpack(blob):
    """The vector of stored bytes, as a read-only float32 array."""
    return np.frombuffer(blob, dtype=DTYPE)


def normalized(matrix):
    """Rows scaled to length 1 (rows of zeros stay zeros), as float32."""
    matrix = np.asarray(matrix, dtype=np.float32)
    norms = np.linalg.norm(matrix, axis=-1, keepdims=True)
    return matrix / np.where(norms == 0, 1, norms)


class Matrix:
    """The vectors of one knowledge base: chunk ids and their unit rows, in one array each."""

    __slots__ = ("ids", "rows", "signature")

    def __init__(self, ids, rows, signature):
        self.ids = ids
        self.rows = rows
        self.signature = signature

    @property
    def dims(self):
        return self.rows.shape[1]

    def __len__(self):
        return len(self.ids)


def build_matrix(records):
    """A Matrix from stored (chunk_id, dims, vector bytes) records in chunk-id order. Its
    signature (count, last chunk id) tells whether the stored vectors changed since. Vectors
    of another length than most (a model replaced under the same name) are left out."""
    records = list(records)
    signature = (len(records), records[-1][0] if records else None)
    if not records:
        return Matrix(np.zeros(0, np.int64), np.zeros((0, 0), np.float32), signature)
    dims = collections.Counter(record[1] for record in records).most_common(1)[0][0]
    kept = [record for record in records if record[1] == dims]
    if len(kept) < len(records):
        logger.warning("%d vectors are not %d long and are left out of search",
                       len(records) - len(kept), dims)
    ids = np.fromiter((record[0] for record in kept), np.int64, len(kept))
    rows = np.frombuffer(b"".join(record[2] for record in kept), dtype=DTYPE)
    return Matrix(ids, normalized(rows.reshape(len(kept), dims)), signature)


def top_k(matrices, query, limit):
    """[(chunk_id, cosine)] of the `limit` rows nearest `query` over several matrices, best
    first (ties by chunk id). Matrices whose length differs from the query's are skipped."""
    query = normalized(np.asarray(query, dtype=np.float32))
    parts = []
    for matrix in matrices:
        if not len(matrix):
            continue
        if matrix.dims != query.shape[0]:
            logger.warning("stored vectors have %d dimensions, the query %d: that base is "
                           "left out of vector search", matrix.dims, query.shape[0])
            continue
        parts.append((matrix.ids, matrix.rows @ query))
    if not parts or limit <= 0 or not query.any():
        return []
    ids = np.concatenate([part[0] for part in parts])
    scores = np.concatenate([part[1] for part in parts])
    if limit < len(scores):
        best = np.argpartition(-scores, limit - 1)[:limit]
    else:
        best = np.arange(len(scores))
    order = best[np.lexsort((ids[best], -scores[best]))]
    return [(int(ids[i]), float(scores[i])) for i in order]


def rrf(rankings, k=60):
    """Reciprocal rank fusion: [(id, score)] best first, where an id's score is the sum over
    the rankings it appears in of 1 / (k + rank), rank counted from 1. Ties keep the order
    in which ids first appear (the first ranking's order first)."""
    scores = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + 1.0 / (k + rank)
    first_seen = {item: index for index, item in enumerate(scores)}
    return sorted(scores.items(), key=lambda pair: (-pair[1], first_seen[pair[0]]))


class MatrixCache:
    """Matrices of knowledge bases kept in memory between searches.

    An entry is used while its signature matches the stored vectors' (count, last chunk id)
    and no one invalidated its base since it was loaded; `generation` tells a load that
    started before an invalidation not to store its (possibly older) result.
    """

    def __init__(self):
        self._matrices = {}
        self._generations = collections.Counter()
        self._epoch = 0  # bumped when every base is invalidated at once

    def generation(self, base_id):
        return self._epoch, self._generations[base_id]

    def get(self, base_id, signature):
        matrix = self._matrices.get(base_id)
        if matrix is not None and matrix.signature == signature:
            return matrix
        return None

    def put(self, base_id, matrix, generation):
        if generation == self.generation(base_id):
            self._matrices[base_id] = matrix

    def invalidate(self, base_id=None):
        """Forget one base's matrix, or every base's."""
        if base_id is None:
            self._matrices.clear()
            self._epoch += 1
        else:
            self._matrices.pop(base_id, None)
            self._generations[base_id] += 1
