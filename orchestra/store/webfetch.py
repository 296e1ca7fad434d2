"""Web pages fetched for knowledge sources and tasks."""

from orchestra.store.base import TableStore


class WebFetchStore(TableStore):
    table = "web_fetch_results"
    columns = ("url", "status_code", "title", "content", "error")
    has_updated_at = False
