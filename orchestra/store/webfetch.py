"""Web pages the web service fetched (every attempt, failed ones with their code) and the
crawl jobs that fetched some of them."""

from orchestra.db import utcnow
from orchestra.store.base import TableStore

# What a history list carries: everything but the page's text.
SUMMARY_COLUMNS = ("id, url, final_url, status_code, title, error, code, renderer, metadata,"
                   " options, screenshot_file, pdf_file, crawl_id, depth, duration_ms,"
                   " created_at")


class WebFetchStore(TableStore):
    table = "web_fetch_results"
    columns = ("url", "final_url", "status_code", "title", "content", "error", "code",
               "renderer", "links", "metadata", "steps", "options", "screenshot_file",
               "pdf_file", "cache_key", "crawl_id", "depth", "duration_ms")
    json_columns = ("links", "metadata", "steps", "options")
    has_updated_at = False

    async def cached(self, cache_key, since):
        """The newest successful fetch with `cache_key` made at or after `since`, or None."""
        row = await self.db.get(
            "SELECT * FROM web_fetch_results WHERE cache_key = %s AND code IS NULL"
            " AND error IS NULL AND created_at >= %s ORDER BY id DESC LIMIT 1",
            cache_key, since)
        return self.decode(row)

    async def history(self, limit=50, offset=0):
        """(rows without their text, total), newest first."""
        rows = await self.db.query(
            "SELECT %s FROM web_fetch_results ORDER BY id DESC LIMIT %%s OFFSET %%s"
            % SUMMARY_COLUMNS, int(limit), int(offset))
        return [self.decode(r) for r in rows], await self.count()

    async def of_crawl(self, crawl_id):
        """The pages a crawl fetched (without their text), by depth, then as fetched."""
        rows = await self.db.query(
            "SELECT %s FROM web_fetch_results WHERE crawl_id = %%s ORDER BY depth, id"
            % SUMMARY_COLUMNS, crawl_id)
        return [self.decode(r) for r in rows]

    async def files(self):
        """Every file name a stored fetch refers to (screenshots, PDFs; step shots live in
        `steps`)."""
        rows = await self.db.query(
            "SELECT screenshot_file, pdf_file, steps FROM web_fetch_results"
            " WHERE screenshot_file IS NOT NULL OR pdf_file IS NOT NULL OR steps IS NOT NULL")
        return [self.decode(r) for r in rows]


class WebCrawlStore(TableStore):
    """Crawl jobs. Only the web service writes them; counters move as pages are done."""

    table = "web_crawls"
    columns = ("url", "status", "options", "pages_done", "pages_failed", "pages_queued",
               "error", "completed_at")
    json_columns = ("options",)

    async def interrupted(self, error):
        """Mark the crawls a previous process left pending or running as failed; their ids."""
        return await self.db.run(self._interrupted, error)

    def _interrupted(self, conn, error):
        with conn.transaction():
            rows = conn.query("SELECT id FROM web_crawls WHERE status IN (%s, %s)",
                              "pending", "running")
            now = utcnow()
            for row in rows:
                conn.execute("UPDATE web_crawls SET status = %s, error = %s, updated_at = %s,"
                             " completed_at = %s WHERE id = %s", "failed", error, now, now,
                             row.id)
            return [r.id for r in rows]
