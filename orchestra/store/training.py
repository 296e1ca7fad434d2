"""Training datasets and training jobs."""

from orchestra.store.base import TableStore


class DatasetStore(TableStore):
    table = "training_datasets"
    columns = ("name", "description", "format", "content", "examples")


class TrainingJobStore(TableStore):
    table = "training_jobs"
    columns = ("dataset_id", "base_model", "status", "params", "progress", "error",
               "completed_at")
    json_columns = ("params",)

