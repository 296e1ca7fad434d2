"""The generic JSON API's read path: `GET /api/templates?limit=20` beside a bare Tornado
handler doing the least the same answer needs, measured in the same run.

    python -m tests.bench.bench_crud [--rounds 5] [--requests 4000] [--connections 16]
                                     [--rows 200]

Two servers, each its own process on 127.0.0.1, on the same SQLite file (WAL) in a
temporary data directory holding `--rows` templates (created through `POST /api/templates`
before timing):

  app   `orchestra serve` as a user starts it (its access log written to a file):
        `GET /api/templates?limit=20` with `Authorization: Bearer <token>`: auth, the
        query arguments, the store's page (the 20 rows and the total, read on the
        IOLoop's read-only connection within its budget), the entity's marshmallow dump,
        JSON;
  bare  the ceiling: one Tornado `RequestHandler` that compares the same header with
        `hmac.compare_digest` and lists the same 20 rows (`SELECT * ... ORDER BY id DESC
        LIMIT 20` on one sqlite3 connection, on the IOLoop), written with `json.dumps`.

One client (this process, asyncio streams) keeps `--connections` HTTP/1.1 keep-alive
connections open to the server under test and sends `--requests` requests over them, each
connection one request at a time; the next starts when the last answer's body is read.
Timed: the first request sent to the last body read. Each server is warmed up untimed
(200 requests), then timed once per round, the two alternating which goes first; figures
are medians over the rounds (min-max beside them). Also the server process's CPU time per
request (user + system, all its threads, from psutil), which a busy machine disturbs less
than wall time.

Checks: every answer 200 with a Content-Length; the first body of each server holds 20
items (the app's also `total` = `--rows`); every later body equals that first one.
Ratio = app / bare requests/s (target >= 0.5); beside it the best rounds' ratio and the
ratio of server CPU per request (bare / app), the steadier figure on a shared machine. Exit
status 1 when a check fails, the target is missed, or a result is impossible: the app faster
than its ceiling (either ratio > 1.1).
"""

import argparse
import asyncio
import hmac
import json
import os
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

import psutil

TARGET = 0.5
LIMIT = 20
WARMUP = 200
PATH = "/api/templates?limit=%d" % LIMIT


# -- the ceiling: a bare Tornado handler ----------------------------------------------------

def serve_bare(port, db_path, token):
    import tornado.ioloop
    import tornado.web

    db = sqlite3.connect(db_path, isolation_level=None)
    db.row_factory = sqlite3.Row
    expected = ("Bearer " + token).encode()

    class ListHandler(tornado.web.RequestHandler):
        def get(self):
            if not hmac.compare_digest(self.request.headers.get("Authorization", "").encode(),
                                       expected):
                raise tornado.web.HTTPError(401)
            rows = db.execute("SELECT * FROM templates ORDER BY id DESC LIMIT ?", (LIMIT,))
            self.set_header("Content-Type", "application/json; charset=UTF-8")
            self.write(json.dumps({"items": [dict(r) for r in rows]}, default=str))

    app = tornado.web.Application([(r"/api/templates", ListHandler)])
    app.listen(port, "127.0.0.1")
    print("ready", flush=True)
    tornado.ioloop.IOLoop.current().start()


# -- the client -----------------------------------------------------------------------------

class Failure(Exception):
    pass


async def _read_answer(reader):
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    length = None
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.lower() == "content-length":
            length = int(value)
    if length is None:
        raise Failure("an answer without Content-Length: %r" % head)
    return status, await reader.readexactly(length)


async def load(port, token, requests, connections):
    """Send `requests` GETs over `connections` keep-alive connections; (seconds, bodies seen:
    the first body and whether every other one equalled it)."""
    request = ("GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nAuthorization: Bearer %s\r\n\r\n"
               % (PATH, port, token)).encode()
    streams = [await asyncio.open_connection("127.0.0.1", port) for _ in range(connections)]
    left = [requests]
    first = []

    async def worker(reader, writer):
        while left[0] > 0:
            left[0] -= 1
            writer.write(request)
            status, body = await _read_answer(reader)
            if status != 200:
                raise Failure("status %d: %s" % (status, body[:300]))
            if not first:
                first.append(body)
            elif body != first[0]:
                raise Failure("a body differs from the first one:\n%s\n%s"
                              % (first[0][:300], body[:300]))

    started = time.perf_counter()
    await asyncio.gather(*(worker(r, w) for r, w in streams))
    elapsed = time.perf_counter() - started
    for _, writer in streams:
        writer.close()
    return elapsed, first[0]


def cpu_seconds(proc):
    times = proc.cpu_times()
    return times.user + times.system


async def measure(name, server, token, args):
    proc = psutil.Process(server["pid"])
    before = cpu_seconds(proc)
    elapsed, body = await load(server["port"], token, args.requests, args.connections)
    cpu = cpu_seconds(proc) - before
    return {"rps": args.requests / elapsed, "cpu_us": cpu / args.requests * 1e6, "body": body}


def check_body(name, body, rows):
    data = json.loads(body)
    if len(data["items"]) != LIMIT:
        raise Failure("%s: %d items, not %d" % (name, len(data["items"]), LIMIT))
    if name == "app" and data["total"] != rows:
        raise Failure("app: total %s, not %d" % (data["total"], rows))


# -- the run ---------------------------------------------------------------------------------

async def seed(port, token, rows):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    for i in range(rows):
        body = json.dumps({"name": "Template %d" % i, "category": "bench",
                           "description": "A template to list, number %d." % i,
                           "body": "Summarise {{text}} in %d words." % (i + 10)}).encode()
        writer.write(("POST /api/templates HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                      "Authorization: Bearer %s\r\nContent-Type: application/json\r\n"
                      "Content-Length: %d\r\n\r\n" % (port, token, len(body))).encode() + body)
        status, answer = await _read_answer(reader)
        if status != 201:
            raise Failure("creating a template: %d %s" % (status, answer[:300]))
    writer.close()


def start_bare(port, db_path, token):
    proc = subprocess.Popen([sys.executable, "-m", "tests.bench.bench_crud", "--serve-bare",
                             str(port), db_path, token], stdout=subprocess.PIPE, text=True)
    if proc.stdout.readline().strip() != "ready":
        proc.kill()
        raise Failure("the bare server did not start")
    return proc


def start_app(data_dir, port):
    """`orchestra serve` on `port`; (process, token). Its log goes to a file: read through a
    pipe by this process, the client, it would cost the client CPU for the app only."""
    from tests.servers import DEAD_SERVER, ORCHESTRA, ROOT, clean_env
    log = open(os.path.join(data_dir, "serve.log"), "w")
    proc = subprocess.Popen(ORCHESTRA + ["serve", "--port", str(port), "--data-dir", data_dir,
                                         "--lmstudio-url", DEAD_SERVER],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=log, text=True,
                            env=clean_env())
    log.close()
    for line in proc.stdout:
        found = re.search(r"/\?token=(\S+)", line)
        if found:
            return proc, found.group(1)
    proc.wait()
    with open(os.path.join(data_dir, "serve.log")) as f:
        raise Failure("orchestra serve did not start (status %s):\n%s"
                      % (proc.returncode, f.read()[-3000:]))


def spread(values, fmt):
    return "%s (%s-%s)" % (fmt % statistics.median(values), fmt % min(values), fmt % max(values))


async def main(args):
    from tests.servers import free_port
    data_dir = tempfile.mkdtemp(prefix="orchestra-bench-crud-")
    app = bare = None
    try:
        app_port = free_port()
        app, token = start_app(data_dir, app_port)
        await seed(app_port, token, args.rows)
        bare_port = free_port()
        bare = start_bare(bare_port, os.path.join(data_dir, "orchestra.db"), token)
        servers = {"app": {"port": app_port, "pid": app.pid},
                   "bare": {"port": bare_port, "pid": bare.pid}}
        for name, server in servers.items():
            await load(server["port"], token, WARMUP, args.connections)
        results = {"app": [], "bare": []}
        for round in range(args.rounds):
            order = ["app", "bare"] if round % 2 == 0 else ["bare", "app"]
            for name in order:
                result = await measure(name, servers[name], token, args)
                check_body(name, result["body"], args.rows)
                if results[name] and result["body"] != results[name][0]["body"]:
                    raise Failure("%s answered differently between rounds" % name)
                results[name].append(result)
    finally:
        if bare is not None:
            bare.kill()
            bare.wait()
        if app is not None:
            app.kill()
            app.wait()
        shutil.rmtree(data_dir, ignore_errors=True)
    return results


def report(results, args):
    print("GET %s, %d requests per round over %d keep-alive connections, %d rounds, "
          "%d rows in the table (medians, min-max)" % (PATH, args.requests, args.connections,
                                                      args.rounds, args.rows))
    for name in ("app", "bare"):
        rs = results[name]
        print("  %-5s %s requests/s; server CPU %s us/request" % (
            name, spread([r["rps"] for r in rs], "%.0f"),
            spread([r["cpu_us"] for r in rs], "%.0f")))
    rps = {n: statistics.median(r["rps"] for r in results[n]) for n in results}
    best = {n: max(r["rps"] for r in results[n]) for n in results}
    cpu = {n: statistics.median(r["cpu_us"] for r in results[n]) for n in results}
    ratio = rps["app"] / rps["bare"]
    cpu_ratio = cpu["bare"] / cpu["app"]
    print("ratio app/bare: %.2f requests/s (target >= %.1f); %.2f best round against best "
          "round; %.2f by server CPU per request" % (ratio, TARGET, best["app"] / best["bare"],
                                                    cpu_ratio))
    ok = True
    if ratio > 1.1 or cpu_ratio > 1.1:
        print("IMPOSSIBLE: the app answered faster than its ceiling")
        ok = False
    elif ratio < TARGET:
        print("MISSED: the ratio is below the target %.1f" % TARGET)
        ok = False
    return ok


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--rows", type=int, default=200)
    parser.add_argument("--serve-bare", nargs=3, metavar=("PORT", "DB", "TOKEN"),
                        help=argparse.SUPPRESS)
    return parser.parse_args(argv)


if __name__ == "__main__":
    args = parse_args()
    if args.serve_bare:
        port, db_path, token = args.serve_bare
        serve_bare(int(port), db_path, token)
    if args.rows < LIMIT:
        raise SystemExit("--rows must be at least %d" % LIMIT)
    try:
        results = asyncio.run(main(args))
    except Failure as e:
        print("FAILED: %s" % e)
        sys.exit(1)
    sys.exit(0 if report(results, args) else 1)
