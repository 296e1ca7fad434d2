"""Training datasets and training jobs, and fetched web pages."""

from orchestra.store.base import TableStore


class DatasetStore(TableStore):
    table = "training_datasets"
    columns = ("name", "description", "format", "content", "examples")


class TrainingJobStore(TableStore):
    table = "training_jobs"
    columns = ("dataset_id", "base_model", "status", "params", "progress", "error",
               "completed_at")
    json_columns = ("params",)


class WebFetchStore(TableStore):
    table = "web_fetch_results"
    columns = ("url", "status_code", "title", "content", "error")
    has_updated_at = False
