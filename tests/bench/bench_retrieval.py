"""Retrieval: ingest throughput, search latency against its ceiling, and recall@5.

    python -m tests.bench.bench_retrieval [--mysql-url URL] [--chunks 10000] [--words 5000000]
        [--queries 500]
        [--rounds 3] [--embedding-url URL --embedding-model NAME] [--seed 1]

Runs on a fresh SQLite database in a temporary data directory, or on the MariaDB/MySQL
database --mysql-url names (its tables are emptied first: give it one of its own).

Corpus. Markdown documents generated from a seeded vocabulary whose word frequencies follow
Zipf's law (English function words first, then made-up words whose length grows with rank),
with headings, paragraphs and lists, so full-text posting lists have realistic lengths: a
few words occur in most chunks, most words in a few. Documents are generated until the
chunker cuts at least --chunks chunks from them and they hold at least --words words (the
defaults, 10,000 chunks and 5 M words, give about 38,000 chunks: the chunks Orchestra cuts
are 300 tokens, about 130 words).

Ingest. The documents are stored as sources with status `indexing` (not timed); then the
clock runs from the first `KnowledgeService.index_source` call to `KnowledgeService.wait()`
returning: chunking (in the service's executor), storing each source's chunks in one
transaction (FTS5 triggers on SQLite, the InnoDB FULLTEXT index on MariaDB), status updates
and progress events, one source at a time as the service works. Printed as chunks/s and
words/s, beside chunk_text alone on the same documents (one thread, in this process).

Search. --queries queries of 2-4 terms drawn from the vocabulary, each term common (ranks
just after the function words, weighted by frequency) or rare (uniform over the long tail)
with equal odds. In each of --rounds rounds, each query is timed three ways in turn:
  raw      the SQL KnowledgeService.search runs for it (recorded once per query, untimed),
           executed on a raw sqlite3/pymysql connection in this thread, rows fetched: the
           ceiling, what the database itself costs;
  service  `await KnowledgeService.search([base], query, limit=10)` in this process;
  http     GET /api/knowledge-bases/{id}/search?q=...&limit=10 on `orchestra serve` started
           as a subprocess on the same database, from this process's HTTP client: request
           sent to JSON body read.
Printed: p50 and p99 (nearest rank) over the queries of each query's
fastest round ("best": this machine may be shared, and interference only slows a run down),
their ratios to raw, and the same percentiles over every run ("all"); on SQLite also raw's
CPU time in this thread. Targets, on "best": service and http p50 < 20 ms, p99 < 100 ms.

Recall. The quality corpus (tests/fixtures/retrieval, see tests/services/
test_retrieval_quality.py for what counts as a hit) on a fresh database: full text alone,
and fused with embeddings when --embedding-url and --embedding-model are given (a second
fresh database with the embedding model configured). Target: full text >= 0.9.

The exit status is 1 when a target is missed.
"""

import argparse
import asyncio
import bisect
import contextlib
import itertools
import json
import logging
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse

import tornado.httpclient

from orchestra import db as dblib
from orchestra.app import close_app, make_app
from orchestra.config import Config
from orchestra.services.knowledge.chunking import chunk_text
from tests.bench.common import wait_for_url
from tests.fakes.lmstudio import unused_url
from tests.services import test_retrieval_quality as quality

logger = logging.getLogger(__name__)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOKEN = "bench-token-0123456789"
LIMIT = 10
P50_TARGET_MS = 20.0
P99_TARGET_MS = 100.0
WARMUP = 20

# -- the generated corpus --------------------------------------------------------------------

FUNCTION_WORDS = (
    "the of and to a in is it that for was on are as with be by at this have from or had not "
    "but what all were when we there can an your which their said if do will each about how "
    "up out them then she many some so these would other into has more her two like him see "
    "time could no make than first been its who now people my made over did down only way "
    "find use may water long little very after words called just where most know get through "
    "back much before go good new write our used me man too any day same right look think "
    "also around another came come work three must because does part even place well such "
    "here take why things help put years different away again off went old number great tell "
    "men say small every found still between name should home big give air line set own under "
    "read last never us left end along while might next sound below saw something thought "
    "both few those always show large often together asked house world going want school "
    "important until form").split()
ONSETS = "b c d f g h j k l m n p r s t v w z b d l m n r s t br ch cr dr fl gr pl sh st tr".split()
VOWELS = "a e i o u a e i o u a e i o y ea".split()
CODAS = ("", "", "", "", "", "n", "r", "s", "t", "l", "m", "nd", "st", "ng")


class CorpusGenerator:
    """Documents and queries from one seeded Zipf-distributed vocabulary."""

    def __init__(self, seed=1, vocabulary=50_000, exponent=1.0):
        self.rng = random.Random(seed)
        self.words = self._vocabulary(vocabulary)
        self.cum = list(itertools.accumulate(
            1.0 / (rank + 1) ** exponent for rank in range(vocabulary)))
        self.common = (len(FUNCTION_WORDS), 2_000)     # ranks of the common content words

    def _vocabulary(self, size):
        """Function words, then made-up words, 1 to 3 syllables: longer as they get rarer."""
        words, seen = list(FUNCTION_WORDS), set(FUNCTION_WORDS)
        while len(words) < size:
            rank = len(words)
            syllables = (1 + (rank > 150 and self.rng.random() < 0.7)
                         + (rank > 3000 and self.rng.random() < 0.5))
            word = "".join(self.rng.choice(ONSETS) + self.rng.choice(VOWELS)
                           + self.rng.choice(CODAS) for _ in range(syllables))
            if word not in seen:
                seen.add(word)
                words.append(word)
        return words

    def draw(self, n):
        return self.rng.choices(self.words, cum_weights=self.cum, k=n)

    def sentence(self):
        words = self.draw(self.rng.randint(6, 24))
        for i in range(2, len(words) - 2):
            if self.rng.random() < 0.06:
                words[i] += ","
        return words[0].capitalize() + " " + " ".join(words[1:]) + "."

    def heading(self, low, high):
        return " ".join(self.draw(self.rng.randint(low, high))).capitalize()

    def document(self, words_wanted):
        """A Markdown document of about `words_wanted` words: a title, sections and
        subsections of paragraphs, now and then a list."""
        parts, count = ["# " + self.heading(3, 6)], 0
        while count < words_wanted:
            level = "###" if len(parts) > 1 and self.rng.random() < 0.3 else "##"
            parts.append(level + " " + self.heading(2, 4))
            for _ in range(self.rng.randint(2, 9)):
                if self.rng.random() < 0.15:
                    block = "\n".join("- " + self.sentence()
                                      for _ in range(self.rng.randint(3, 6)))
                else:
                    block = " ".join(self.sentence() for _ in range(self.rng.randint(2, 7)))
                parts.append(block)
                count += len(block.split())
        return "\n\n".join(parts) + "\n"

    def documents(self, chunks_wanted, words_wanted=0):
        """Documents of 1,000-12,000 words until chunk_text cuts `chunks_wanted` chunks and
        they hold `words_wanted` words."""
        documents, chunks, words = [], 0, 0
        while chunks < chunks_wanted or words < words_wanted:
            text = self.document(self.rng.randint(1_000, 12_000))
            chunks += len(chunk_text(text, "markdown"))
            words += len(text.split())
            documents.append(text)
        return documents

    def query(self):
        """2-4 distinct terms, each common or rare with equal odds."""
        low, high = self.common
        terms, wanted = [], self.rng.randint(2, 4)
        while len(terms) < wanted:
            if self.rng.random() < 0.5:
                rank = bisect.bisect(self.cum, self.rng.uniform(self.cum[low - 1],
                                                                self.cum[high - 1]))
            else:
                rank = self.rng.randrange(high, len(self.words))
            if self.words[rank] not in terms:
                terms.append(self.words[rank])
        return " ".join(terms)


# -- helpers ---------------------------------------------------------------------------------

def percentile(values, p):
    """Nearest-rank percentile of `values` (p in 0..100)."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, -(-len(ordered) * p // 100) - 1))]


def empty_mysql(url):
    """Migrate the database and empty every table (as the tests do)."""
    conn = dblib.Connection(url, create_database=True)
    try:
        dblib.migrate(conn)
        tables = [list(r.values())[0] for r in conn.query("SHOW TABLES")]
        conn.execute("SET FOREIGN_KEY_CHECKS = 0")
        for table in tables:
            if table != "schema_migrations":
                conn.execute("TRUNCATE TABLE `%s`" % table)
        conn.execute("SET FOREIGN_KEY_CHECKS = 1")
    finally:
        conn.close()


@contextlib.contextmanager
def recording_sql():
    """Every statement the data layer sends to the driver meanwhile, as (sql, args), with the
    parameter markers the driver takes ("?" for sqlite3, "%s" for pymysql)."""
    original = dblib.Connection._cursor
    recorded = []

    @contextlib.contextmanager
    def cursor(self, sql, args, many=False):
        driver_sql = dblib._sqlite_sql(sql) if self.dialect == "sqlite" else sql
        recorded.append((driver_sql, tuple(args)))
        with original(self, sql, args, many) as c:
            yield c

    dblib.Connection._cursor = cursor
    try:
        yield recorded
    finally:
        dblib.Connection._cursor = original


def raw_connection(url):
    """A bare driver connection to the same database: no executor, no Row objects."""
    dialect, o = dblib.parse_url(url)
    if dialect == "sqlite":
        import sqlite3
        return sqlite3.connect(o["path"])
    import pymysql
    return pymysql.connect(host=o["host"], port=o["port"], user=o["user"],
                           password=o["password"], database=o["database"], charset="utf8mb4",
                           autocommit=True)


def run_raw(conn, statements):
    rows = 0
    for sql, args in statements:
        cursor = conn.cursor()
        cursor.execute(sql, args)
        rows += len(cursor.fetchall())
        cursor.close()
    return rows


def config_for(data_dir, mysql_url, lmstudio_url=None, embedding_model=None):
    extra = {"embedding_model": embedding_model} if embedding_model else {}
    return Config(data_dir=data_dir, db_url=mysql_url, token=TOKEN,
                  lmstudio_url=lmstudio_url or unused_url(), port=0, metrics_interval=60,
                  **extra)


async def store_sources(stores, base_id, documents):
    ids = []
    for n, text in enumerate(documents):
        source = await stores.knowledge_sources.create({
            "knowledge_base_id": base_id, "kind": "file", "title": "Generated document %d" % n,
            "content": text, "status": "indexing", "format": "markdown"})
        ids.append(source["id"])
    return ids


# -- the phases ------------------------------------------------------------------------------

async def ingest_phase(app, documents):
    stores = app.settings["stores"]
    knowledge = app.settings["services"]["knowledge"]
    base = await stores.knowledge_bases.create({"name": "Generated corpus", "description": ""})
    ids = await store_sources(stores, base["id"], documents)
    started = time.perf_counter()
    for source_id in ids:
        knowledge.index_source(source_id)
    await knowledge.wait()
    elapsed = time.perf_counter() - started
    chunks = 0
    for source_id in ids:
        source = await stores.knowledge_sources.get(source_id)
        if source["status"] != "ready":
            raise SystemExit("source %d ended %s: %s" % (source_id, source["status"],
                                                         source["error"]))
        chunks += source["chunk_count"]
    return base["id"], chunks, elapsed


async def search_phase(app, base_id, queries, port, rounds):
    """Per way, per timed query, the wall times (ms) of its rounds; for raw on SQLite also
    its CPU time in this thread (where SQLite works). And the hits each query found."""
    knowledge = app.settings["services"]["knowledge"]
    statements, found = [], []
    with recording_sql() as recorded:
        for query in queries:
            del recorded[:]
            found.append(len(await knowledge.search([base_id], query, limit=LIMIT)))
            statements.append(list(recorded))
    raw = raw_connection(app.settings["config"].database_url)
    http = tornado.httpclient.AsyncHTTPClient()
    url = "http://127.0.0.1:%d/api/knowledge-bases/%d/search?limit=%d&q=" % (port, base_id,
                                                                              LIMIT)
    headers = {"Authorization": "Bearer " + TOKEN}
    probe = await http.fetch(url + "probe", headers=headers, raise_error=False)
    if probe.code != 200:
        print("http:              GET /api/knowledge-bases/{id}/search answered %d: not measured"
              % probe.code)
    cpu = []

    async def way_raw(i):
        started = time.thread_time()
        run_raw(raw, statements[i])
        cpu.append((i, (time.thread_time() - started) * 1000))

    async def way_service(i):
        await knowledge.search([base_id], queries[i], limit=LIMIT)

    async def way_http(i):
        response = await http.fetch(url + urllib.parse.quote(queries[i]), headers=headers)
        json.loads(response.body)

    ways = {"raw": way_raw, "service": way_service}
    if probe.code == 200:
        ways["http"] = way_http
    names = list(ways)
    times = {name: [[] for _ in queries[WARMUP:]] for name in names}
    try:
        for i in range(WARMUP):
            for name in names:
                await ways[name](i)
        for _ in range(rounds):
            for i in range(WARMUP, len(queries)):
                for name in names[i % len(names):] + names[:i % len(names)]:  # none always first
                    started = time.perf_counter()
                    await ways[name](i)
                    times[name][i - WARMUP].append((time.perf_counter() - started) * 1000)
    finally:
        raw.close()
    if app.settings["config"].database_url.startswith("sqlite"):
        times["raw CPU"] = [[] for _ in queries[WARMUP:]]
        for i, ms in cpu:
            if i >= WARMUP:
                times["raw CPU"][i - WARMUP].append(ms)
    return times, found[WARMUP:]


def matching_counts(url, queries):
    """How many chunks each query matches at all (the posting lists the ranking reads)."""
    conn = raw_connection(url)
    dialect, _ = dblib.parse_url(url)
    counts = []
    try:
        for query in queries:
            cursor = conn.cursor()
            if dialect == "sqlite":
                cursor.execute("SELECT COUNT(*) FROM knowledge_chunks_fts WHERE"
                               " knowledge_chunks_fts MATCH ?",
                               (" OR ".join('"%s"' % t for t in query.split()),))
            else:
                cursor.execute("SELECT COUNT(*) FROM knowledge_chunks WHERE MATCH (heading_path,"
                               " text) AGAINST (%s IN NATURAL LANGUAGE MODE)", (query,))
            counts.append(cursor.fetchone()[0])
            cursor.close()
    finally:
        conn.close()
    return counts


async def recall_phase(config):
    """Recall@5 of the quality corpus in a fresh app on `config`; the results."""
    app = make_app(config)
    try:
        stores = app.settings["stores"]
        knowledge = app.settings["services"]["knowledge"]
        documents, questions = quality.load_corpus()
        base_id, sources = await quality.ingest(stores, knowledge, documents)
        for source_id in sources.values():
            error = (await stores.knowledge_sources.get(source_id))["error"]
            if error:  # an embedding failure leaves the source ready, with the reason
                raise SystemExit("indexing the quality corpus: %s" % error)
        return await quality.evaluate(stores, knowledge, base_id, sources, documents,
                                      questions), knowledge.mode()
    finally:
        await close_app(app)


async def start_server(config):
    port = int(unused_url().rsplit(":", 1)[1])
    command = [sys.executable, "-m", "orchestra.cli", "serve", "--port", str(port),
               "--data-dir", config.data_dir, "--lmstudio-url", config.lmstudio_url,
               "--token", TOKEN, "--metrics-interval", "60"]
    if config.db_url:
        command += ["--db", config.db_url]
    server = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    await wait_for_url("http://127.0.0.1:%d/login" % port)
    return server, port


# -- the run ---------------------------------------------------------------------------------

async def run(args, workdir):
    failures = []
    backend = "MariaDB/MySQL" if args.mysql_url else "SQLite"
    print("database:          %s; load average %.1f (1 min) on %d CPUs"
          % (backend, os.getloadavg()[0], os.cpu_count()))

    started = time.perf_counter()
    generator = CorpusGenerator(seed=args.seed)
    documents = generator.documents(args.chunks, args.words)
    queries = [generator.query() for _ in range(args.queries + WARMUP)]
    words = sum(len(d.split()) for d in documents)
    print("corpus:            %d documents, %s words, %.1f MB (generated in %.1f s)"
          % (len(documents), f"{words:,}", sum(map(len, documents)) / 1e6,
             time.perf_counter() - started))
    cpu = time.perf_counter()
    cut = sum(len(chunk_text(d, "markdown")) for d in documents)
    cpu = time.perf_counter() - cpu

    if args.mysql_url:
        empty_mysql(args.mysql_url)
    data_dir = os.path.join(workdir, "speed")
    os.makedirs(data_dir, mode=0o700)
    config = config_for(data_dir, args.mysql_url)
    app = make_app(config)
    server = None
    try:
        base_id, chunks, elapsed = await ingest_phase(app, documents)
        print("ingest:            %s chunks in %.1f s: %s chunks/s, %s words/s"
              % (f"{chunks:,}", elapsed, f"{chunks / elapsed:,.0f}", f"{words / elapsed:,.0f}"))
        print("  chunk_text alone: %s chunks in %.1f s: %s chunks/s (one thread)"
              % (f"{cut:,}", cpu, f"{cut / cpu:,.0f}"))
        server, port = await start_server(config)
        times, found = await search_phase(app, base_id, queries, port, args.rounds)
    finally:
        if server is not None:
            server.terminate()
            server.wait(15)
        await close_app(app)

    matched = matching_counts(config.database_url, queries[WARMUP:])
    print("queries:           %d, 2-4 terms (after %d warm-up ones); chunks each matches: median"
          " %d, p90 %d, max %d; %d with no hit"
          % (len(found), WARMUP, statistics.median(matched), percentile(matched, 90),
             max(matched), found.count(0)))
    print("search, ms:        limit %d; best: per query the fastest of its %d rounds; all: every"
          " run" % (LIMIT, args.rounds))
    print("                   %-8s %8s %8s %8s %8s %9s %9s"
          % ("", "best p50", "p99", "p50/raw", "p99/raw", "all p50", "p99"))
    raw = [min(runs) for runs in times["raw"]]
    raw50, raw99 = percentile(raw, 50), percentile(raw, 99)
    for name, per_query in times.items():
        best = [min(runs) for runs in per_query]
        every = [ms for runs in per_query for ms in runs]
        p50, p99 = percentile(best, 50), percentile(best, 99)
        print("                   %-8s %8.2f %8.2f %8.2f %8.2f %9.2f %9.2f"
              % (name, p50, p99, p50 / raw50, p99 / raw99, percentile(every, 50),
                 percentile(every, 99)))
        if name in ("service", "http") and (p50 >= P50_TARGET_MS or p99 >= P99_TARGET_MS):
            failures.append("%s search p50 %.1f ms / p99 %.1f ms (targets < %g / < %g)"
                            % (name, p50, p99, P50_TARGET_MS, P99_TARGET_MS))
    print("load average:      %.1f (1 min) on %d CPUs" % (os.getloadavg()[0], os.cpu_count()))
    if "http" not in times:
        failures.append("the HTTP search was not measured")

    if args.mysql_url:
        empty_mysql(args.mysql_url)
    os.makedirs(os.path.join(workdir, "recall"), mode=0o700)
    results, mode = await recall_phase(config_for(os.path.join(workdir, "recall"),
                                                  args.mysql_url))
    print("\n".join(quality.report(results, label=mode["fullText"])))
    if quality.recall(results) < quality.TARGET:
        failures.append("full-text recall@5 %.3f (target >= %.2f)"
                        % (quality.recall(results), quality.TARGET))
    if args.embedding_model:
        if args.mysql_url:
            empty_mysql(args.mysql_url)
        os.makedirs(os.path.join(workdir, "hybrid"), mode=0o700)
        results, mode = await recall_phase(config_for(
            os.path.join(workdir, "hybrid"), args.mysql_url, args.embedding_url,
            args.embedding_model))
        print("\n".join(quality.report(results, label="%s + %s, fused" % (
            mode["fullText"], mode["embeddingModel"]))))
    for failure in failures:
        print("MISSED: " + failure)
    return not failures


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mysql-url", help="a MariaDB/MySQL database this run may empty")
    parser.add_argument("--chunks", type=int, default=10_000, help="at least this many chunks")
    parser.add_argument("--words", type=int, default=5_000_000, help="and at least this many "
                        "words (Orchestra's 300-token chunks hold about 130 words each)")
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3, help="times each query is run each way")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--embedding-url", help="an OpenAI-compatible server with /v1/embeddings")
    parser.add_argument("--embedding-model")
    args = parser.parse_args(argv)
    if bool(args.embedding_url) != bool(args.embedding_model):
        parser.error("--embedding-url and --embedding-model go together")
    logging.basicConfig(level=logging.WARNING)
    workdir = tempfile.mkdtemp(prefix="bench-retrieval-")
    try:
        ok = asyncio.run(run(args, workdir))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
