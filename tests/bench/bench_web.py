"""Web service: static fetch + extraction, browser render, crawl rate and Chromium memory, each
beside its ceiling measured in the same run.

    python -m tests.bench.bench_web [--rounds 5] [--crawl-rounds 3] [--browser-path PATH]

The local site (tests/bench/web_site.py) runs in a subprocess on 127.0.0.1; the app is
`make_app` on a fresh SQLite database in a temporary data directory, with private addresses
allowed (the site is on the loopback) and the WebService's politeness delay set to 0 s
between request starts per host (the default is 1 s; at most PER_HOST requests at once per
host, as by default). Every way below is warmed up once untimed (robots.txt is then cached,
the connections are open), then timed in each round, the ways alternating which goes first;
the figures are medians over the rounds (min-max beside them). (a) and (c) also give this
process's CPU time (all its threads; not the site's, not Chromium's), which a busy machine
disturbs less than wall time.

  (a) /article, 500 KB of HTML:
      raw      `StaticFetcher.get(url)` (the service's own fetcher): request sent to the body
               read in full, in requests-futures' pool; the ceiling;
      extract  `extract.extract_page(html, url)` alone on the same HTML, in this thread;
      service  `WebService.fetch(url, render="static")`: robots (cached), politeness slot,
               GET, block check, extraction off the IOLoop, the row stored in
               web_fetch_results, the API dict.
      Extraction overhead = service / raw. Impossible: service faster than raw.
  (b) /script, a page whose content /static/app.js builds:
      static   `WebService.fetch(url, render="static")`, the ceiling;
      browser  `WebService.fetch(url, render="browser")`: the same path, but Chromium renders
               the page (a fresh context, every request routed through the fetcher) and its
               DOM is extracted. The first render, which starts Chromium, is timed apart.
      Checks: the browser's Markdown holds the script-built text, static's does not.
      Then the same two ways on /article (a heavy DOM for the memory figure).
      Impossible: a browser render faster than the static fetch of the same page.
  (c) /pages/0 .. /pages/199, a same-site link graph (robots.txt allows all):
      raw      the 200 pages fetched one after the other with `StaticFetcher.get`: pages/s;
      crawl    `WebService.crawl(/pages/0, max_pages=200, max_depth=3)`, timed from the call
               to the hub's "web:crawl" event that says it completed: pages/s.
      Checks: completed, 200 pages done and none failed, exactly the 200 URLs, each GET once
      at the site (its own counter). Impossible: a crawl faster than PER_HOST x raw (+20%).
  (d) Chromium's memory: the RSS of the browser's process tree (every process below this one
      whose name starts with "chrom"), summed, sampled every 100 ms by a thread during (b);
      the peak, and the processes left after `close_app` (the service's close(); must be 0).

The exit status is 1 when a check fails or a result is impossible.
"""

import argparse
import asyncio
import json
import logging
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import psutil

from orchestra.app import close_app, make_app
from orchestra.config import Config
from orchestra.services.web import extract
from orchestra.services.web.errors import WebError
from orchestra.services.web.robots import Politeness
from tests.bench import web_site as site
from tests.bench.common import wait_for_url
from tests.fakes.lmstudio import unused_url

logger = logging.getLogger(__name__)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOKEN = "bench-token-0123456789"
PER_HOST = 2            # the WebService's default requests at once per host
SAMPLE_EVERY = 0.1      # s between two memory samples (one costs ~6 ms: a /proc scan)
CRAWL_TIMEOUT = 600.0


class Failures(list):
    def check(self, ok, message):
        if not ok:
            self.append(message)
        return ok


def median_ms(times):
    """'median ms (min-max)' of seconds."""
    return "%8.1f ms  (%.1f-%.1f)" % (statistics.median(times) * 1000, min(times) * 1000,
                                      max(times) * 1000)


async def timed(coroutine):
    """(wall s, CPU s of this process: every thread, not the site's or Chromium's, result)"""
    started, cpu = time.perf_counter(), time.process_time()
    result = await coroutine
    return time.perf_counter() - started, time.process_time() - cpu, result


async def alternate(ways, rounds):
    """{name: [wall s per round]}, {name: [CPU s per round]}, {name: last result}; each round
    starts with another way."""
    names = list(ways)
    times, cpus, results = {name: [] for name in names}, {name: [] for name in names}, {}
    for name in names:                      # warm-up, untimed
        results[name] = await ways[name]()
    for r in range(rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            elapsed, cpu, results[name] = await timed(ways[name]())
            times[name].append(elapsed)
            cpus[name].append(cpu)
    return times, cpus, results


# -- Chromium's processes --------------------------------------------------------------------

class ProcessSampler:
    """A thread summing the RSS of Chromium's processes below this one, every SAMPLE_EVERY s.
    (RSS counts pages shared between processes once in each: an upper bound of their use.)"""

    def __init__(self, exclude=()):
        self.exclude = set(exclude)
        self.peak_mb, self.peak_count, self.samples = 0.0, 0, 0
        self.seen = {}                       # pid -> Process, every Chromium process met
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def chromium(self):
        return [p for p in psutil.Process().children(recursive=True)
                if p.pid not in self.exclude and name_of(p).startswith("chrom")]

    def _run(self):
        while not self._stop.wait(SAMPLE_EVERY):
            total, count = 0, 0
            for p in self.chromium():
                self.seen.setdefault(p.pid, p)
                try:
                    total, count = total + p.memory_info().rss, count + 1
                except psutil.Error:
                    pass
            self.samples += 1
            if total / 2**20 > self.peak_mb:
                self.peak_mb, self.peak_count = total / 2**20, count

    def start(self):
        self._thread.start()

    def stop(self):
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def alive(self):
        """Chromium processes still running: seen before (same process, not a reused pid)
        or below this one now."""
        return list({p.pid: p for p in list(self.seen.values()) + self.chromium()
                     if alive(p)}.values())


def name_of(process):
    try:
        return process.name().lower()
    except psutil.Error:
        return ""


def alive(process):
    """Running (a zombie is not: it has exited and waits to be reaped)."""
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def pss_uss_mb(processes):
    """PSS (shared pages split between their users) and USS (pages of one process alone)
    summed: too slow to sample (a page-table walk per process), read once."""
    pss = uss = 0
    for p in processes:
        try:
            info = p.memory_full_info()
            pss, uss = pss + info.pss, uss + info.uss
        except psutil.Error:
            pass
    return pss / 2**20, uss / 2**20


# -- the phases ------------------------------------------------------------------------------

async def static_phase(web, base, rounds, failures):
    url = base + "/article"
    html = site.build_article().decode()

    async def raw():
        response = await web.fetcher.get(url)
        failures.check(response.status_code == 200 and len(response.body) == len(html),
                       "raw GET of /article: %d, %d bytes" % (response.status_code,
                                                              len(response.body)))
        return response

    async def extract_alone():
        return extract.extract_page(html, url)

    async def service():
        return await web.fetch(url, render="static")

    times, cpus, results = await alternate({"raw": raw, "extract": extract_alone,
                                            "service": service}, rounds)
    page = results["service"]
    markdown = page["markdown"]
    raw_s, ext_s, svc_s = (statistics.median(times[n]) for n in ("raw", "extract", "service"))
    print("(a) static fetch of /article: %s bytes of HTML, uncompressed; median of %d"
          " (min-max); CPU: this process, all threads" % (f"{len(html):,}", rounds))
    for name, label in (("raw", "raw download   StaticFetcher.get, request to body read  "),
                        ("extract", "extract alone  extract.extract_page, this thread        "),
                        ("service", "WebService     fetch(render=\"static\"), row stored       ")):
        print("    %s %s  CPU %6.1f ms" % (label, median_ms(times[name]),
                                          statistics.median(cpus[name]) * 1000))
    print("    (fetch: robots.txt (cached) + politeness slot + the same GET + block check +"
          " trafilatura off the IOLoop + the row written to web_fetch_results)")
    raw_cpu, svc_cpu = statistics.median(cpus["raw"]), statistics.median(cpus["service"])
    print("    extraction overhead: fetch / raw download = %.1fx wall, %.1fx CPU; fetch - download"
          " = %.1f ms wall (extract alone %.1f ms)" % (svc_s / raw_s, svc_cpu / raw_cpu,
                                                       (svc_s - raw_s) * 1000, ext_s * 1000))
    kept = [site.ARTICLE_FIRST in markdown, site.ARTICLE_LAST in markdown]
    print("    markdown: %s characters, %d links; first paragraph %s, last %s, footer %s"
          % (f"{len(markdown):,}", len(page["links"]), "kept" if kept[0] else "MISSING",
             "kept" if kept[1] else "MISSING",
             "kept" if site.BOILERPLATE in markdown else "dropped"))
    failures.check(page["renderer"] == "static" and not page["fromCache"],
                   "the static fetch came from %s, cache %s" % (page["renderer"],
                                                                page["fromCache"]))
    failures.check(markdown.strip(), "the static fetch of /article gave empty Markdown")
    failures.check(all(kept), "the Markdown of /article lacks its first or last paragraph")
    failures.check(site.BOILERPLATE not in markdown,
                   "the Markdown of /article keeps the site's footer")
    failures.check(svc_s > raw_s, "impossible: fetch + extraction (%.1f ms) faster than the"
                   " download alone (%.1f ms)" % (svc_s * 1000, raw_s * 1000))


async def browser_phase(web, base, rounds, failures, sampler):
    sampler.start()
    try:
        cold, _, page = await timed(web.fetch(base + "/script", render="browser"))
        print("(b) browser render of /script (app.js builds its content) and of /article;"
              " median of %d (min-max)" % rounds)
        print("    (browser: Chromium loads the page in a fresh context, every request routed"
              " through StaticFetcher.get, DOM extracted off the IOLoop, row stored)")
        print("    first render, starting Chromium: %.0f ms (not in the medians)" % (cold * 1000))
        for path, check in (("/script", True), ("/article", False)):
            url = base + path
            times, _, results = await alternate({
                "static": lambda: web.fetch(url, render="static"),
                "browser": lambda: web.fetch(url, render="browser")}, rounds)
            st, br = (statistics.median(times[n]) for n in ("static", "browser"))
            print("    %-9s static fetch(render=\"static\")   %s"
                  % (path, median_ms(times["static"])))
            print("    %-9s browser fetch(render=\"browser\") %s"
                  % ("", median_ms(times["browser"])))
            print("    %-9s browser / static = %.1fx; browser - static = %.0f ms"
                  % ("", br / st, (br - st) * 1000))
            failures.check(br > st, "impossible: the browser render of %s (%.1f ms) is faster"
                           " than its static fetch (%.1f ms)" % (path, br * 1000, st * 1000))
            static_md, browser_md = results["static"]["markdown"], results["browser"]["markdown"]
            failures.check(results["browser"]["renderer"] == "browser",
                           "%s was rendered by %s" % (path, results["browser"]["renderer"]))
            failures.check(browser_md.strip(), "the browser's Markdown of %s is empty" % path)
            if check:
                print("    markdown: browser %s characters, script-built text %s; static %s"
                      " characters, script-built text %s, static text %s"
                      % (f"{len(browser_md):,}",
                         "present" if site.SCRIPT_TEXT in browser_md else "ABSENT",
                         f"{len(static_md):,}",
                         "PRESENT" if site.SCRIPT_TEXT in static_md else "absent",
                         "present" if site.STATIC_TEXT in static_md else "ABSENT"))
                failures.check(site.SCRIPT_TEXT in browser_md,
                               "the browser's Markdown lacks the script-built text")
                failures.check(site.SCRIPT_TEXT not in static_md,
                               "impossible: the static Markdown holds the script-built text")
                failures.check(site.STATIC_TEXT in static_md,
                               "the static Markdown lacks the page's own paragraph")
        pool = await web.browser()
        loop = asyncio.get_running_loop()
        pool_mb = await loop.run_in_executor(None, pool.rss_mb)
        pool_s, _, _ = await timed(loop.run_in_executor(None, pool.rss_mb))
        pss, uss = pss_uss_mb(sampler.chromium())
    finally:
        sampler.stop()
    print("(d) Chromium memory, process tree sampled every %d ms during (b) (%d samples):"
          % (SAMPLE_EVERY * 1000, sampler.samples))
    print("    peak RSS sum %.0f MB over %d processes (RSS counts a shared page in every"
          " process that maps it)" % (sampler.peak_mb, sampler.peak_count))
    print("    after the renders: PSS sum %.0f MB, USS sum %.0f MB; BrowserPool.rss_mb() %.0f MB"
          " (PSS; it took %.0f ms, and the pool reads it before each render)"
          % (pss, uss, pool_mb, pool_s * 1000))
    failures.check(sampler.peak_count > 0, "no Chromium process was seen during the renders")


async def crawl_phase(web, hub, base, rounds, failures):
    urls = [base + path for path in site.graph_paths()]
    finished = {}
    done = asyncio.Event()

    def on_crawl(crawl):
        if crawl["status"] not in ("pending", "running"):
            finished.setdefault(crawl["id"], (time.perf_counter(), crawl))
            done.set()

    async def raw():
        for url in urls:
            response = await web.fetcher.get(url)
            failures.check(response.status_code == 200, "raw GET of %s: %d"
                           % (url, response.status_code))

    async def crawl():
        await web.fetcher.get(base + "/__hits", method="POST", body=b"")
        started, cpu = time.perf_counter(), time.process_time()
        job = await web.crawl(urls[0], max_pages=site.PAGES, max_depth=site.DEPTH,
                              render="static")
        deadline = started + CRAWL_TIMEOUT
        while job["id"] not in finished and time.perf_counter() < deadline:
            done.clear()
            try:
                await asyncio.wait_for(done.wait(), deadline - time.perf_counter())
            except asyncio.TimeoutError:
                pass
        if job["id"] not in finished:
            failures.append("crawl %d did not finish in %d s" % (job["id"], CRAWL_TIMEOUT))
            await web.cancel_crawl(job["id"])
            return float("inf"), float("inf")
        ended, cpu = finished[job["id"]][0], time.process_time() - cpu
        result = await web.crawl_result(job["id"])
        hits = json.loads((await web.fetcher.get(base + "/__hits")).body)
        check_crawl(result, hits, urls, failures)
        return ended - started, cpu

    hub.subscribe("web:crawl", on_crawl)
    try:
        raw_times, crawl_times = [], []
        await raw()
        await crawl()                       # warm-up
        for r in range(rounds):
            if r % 2 == 0:
                raw_times.append((await timed(raw()))[:2])
                crawl_times.append(await crawl())
            else:
                crawl_times.append(await crawl())
                raw_times.append((await timed(raw()))[:2])
    finally:
        hub.unsubscribe("web:crawl", on_crawl)
    raw_s, raw_cpu = (statistics.median(t) for t in zip(*raw_times))
    crawl_s, crawl_cpu = (statistics.median(t) for t in zip(*crawl_times))
    raw_rate, crawl_rate = len(urls) / raw_s, len(urls) / crawl_s
    print("(c) crawl of the %d-page link graph from /pages/0, max_depth %d; politeness delay 0 s,"
          " %d requests at once per host; median of %d" % (len(urls), site.DEPTH, PER_HOST,
                                                          rounds))
    print("    raw GETs   %d StaticFetcher.get one after another  %6.1f pages/s  (%.2f s);"
          " CPU %.1f ms/page" % (len(urls), raw_rate, raw_s, raw_cpu / len(urls) * 1000))
    print("    crawl      WebService.crawl, call to completed     %6.1f pages/s  (%.2f s);"
          " CPU %.1f ms/page" % (crawl_rate, crawl_s, crawl_cpu / len(urls) * 1000))
    print("    (crawl: each page fetched as fetch(render=\"static\") does, stored with its"
          " depth, links queued breadth first; checked: all 200 pages, each GET once)")
    print("    crawl / raw = %.2f" % (crawl_rate / raw_rate))
    failures.check(crawl_rate < PER_HOST * raw_rate * 1.2,
                   "impossible: the crawl (%.1f pages/s) outruns %d x the sequential GETs"
                   " (%.1f pages/s)" % (crawl_rate, PER_HOST, raw_rate))


def check_crawl(result, hits, urls, failures):
    pages = result.get("pages") or []
    crawled = sorted(p["url"] for p in pages)
    ok = failures.check(result["status"] == "completed", "crawl %d ended %s: %s"
                        % (result["id"], result["status"], result.get("error")))
    ok &= failures.check(result["pagesDone"] == len(urls) and not result["pagesFailed"],
                         "crawl %d: %d pages done, %d failed (of %d)"
                         % (result["id"], result["pagesDone"], result["pagesFailed"], len(urls)))
    missing, extra = set(urls) - set(crawled), set(crawled) - set(urls)
    ok &= failures.check(not missing and not extra and len(crawled) == len(urls),
                         "crawl %d: %d pages listed, %d missing, %d not of the graph"
                         % (result["id"], len(crawled), len(missing), len(extra)))
    if ok:  # the site's own count: every page read once, nothing else (robots.txt cached)
        bad = sorted(p for p in site.graph_paths() if hits.get(p) != 1)
        other = sorted(set(hits) - set(site.graph_paths()) - {"/robots.txt"})
        failures.check(not bad and not other, "crawl %d: the site served %d graph pages other"
                       " than once (%s) and other paths %s"
                       % (result["id"], len(bad), bad[:5], other))


# -- the run ---------------------------------------------------------------------------------

async def run(args, workdir):
    failures = Failures()
    print("machine:  load average %.1f (1 min) on %d CPUs" % (os.getloadavg()[0], os.cpu_count()))
    port = int(unused_url().rsplit(":", 1)[1])
    server = subprocess.Popen([sys.executable, "-m", "tests.bench.web_site", "--port", str(port)],
                              cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = "http://127.0.0.1:%d" % port
    config = Config(data_dir=workdir, token=TOKEN, lmstudio_url=unused_url(), port=0,
                    metrics_interval=60, fetch_allow_private=True,
                    browser_path=args.browser_path)
    sampler = ProcessSampler(exclude={server.pid})
    app = None
    try:
        await wait_for_url(base + "/robots.txt")
        app = make_app(config)
        web = app.settings["services"]["web"]
        web.politeness = Politeness(delay=0.0, per_host=PER_HOST)
        phases = ((static_phase, (web, base, args.rounds, failures)),
                  (browser_phase, (web, base, args.rounds, failures, sampler)),
                  (crawl_phase, (web, app.settings["hub"], base, args.crawl_rounds, failures)))
        for phase, phase_args in phases:
            try:
                await phase(*phase_args)
            except WebError as e:
                failures.append("%s: %s (%s)" % (phase.__name__, e.message, e.code))
    finally:
        if app is not None:
            await close_app(app)
        left = sampler.alive()
        others = [p for p in psutil.Process().children(recursive=True)
                  if p.pid != server.pid and p not in left and alive(p)]
        server.terminate()
        server.wait(15)
    print("    after close_app (WebService.close): %d Chromium processes left (%d met in all),"
          " %d other processes below this one (Playwright's driver)"
          % (len(left), len(sampler.seen), len(others)))
    failures.check(not left, "%d Chromium processes left after close: %s"
                   % (len(left), [p.pid for p in left]))
    failures.check(not others, "processes left after close: %s"
                   % [(p.pid, p.name()) for p in others if alive(p)])
    print("machine:  load average %.1f (1 min) at the end" % os.getloadavg()[0])
    for failure in failures:
        print("FAILED: " + failure)
    return not failures


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5,
                        help="timed rounds of (a) and (b), after one warm-up")
    parser.add_argument("--crawl-rounds", type=int, default=3,
                        help="timed rounds of (c), after one warm-up")
    parser.add_argument("--browser-path", help="Chromium or Chrome (default: found as the "
                        "service finds it)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    workdir = tempfile.mkdtemp(prefix="bench-web-")
    try:
        ok = asyncio.run(run(args, workdir))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
