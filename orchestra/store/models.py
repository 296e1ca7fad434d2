"""Model benchmarks and model versions."""

from orchestra.store.base import TableStore


class BenchmarkStore(TableStore):
    table = "model_benchmarks"
    columns = ("model", "prompt", "ttft_ms", "tokens_per_second", "total_ms",
               "tokens_generated", "prompt_tokens")
    has_updated_at = False

    async def add(self, **values):
        """Store one benchmark result; returns its id."""
        row = await self.create(values)
        return row.id

    async def list(self, limit=100, offset=0, model=None, **filters):
        return await super().list(limit, offset, model=model, **filters)

    async def best_by_model(self):
        """model -> its best (highest) tokens per second and latest ttft, for recommendations."""
        rows = await self.db.query(
            "SELECT model, MAX(tokens_per_second) AS tokens_per_second,"
            " MIN(ttft_ms) AS ttft_ms, COUNT(*) AS runs FROM model_benchmarks GROUP BY model")
        return {r.model: r for r in rows}


class ModelVersionStore(TableStore):
    table = "model_versions"
    columns = ("model", "version", "base_model", "training_job_id", "path", "notes", "metrics")
    json_columns = ("metrics",)
    has_updated_at = False
