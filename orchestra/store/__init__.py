"""All of Orchestra's SQL: one module per area, each a class around the async Database."""


class Stores:
    """Every store, built once around one Database; handlers reach it as self.stores."""

    def __init__(self, db):
        from orchestra.store import accounts, chat, knowledge, library, models, tasks, training, webfetch
        from orchestra.store import embeddings
        self.db = db
        self.templates = library.TemplateStore(db)
        self.workflows = library.WorkflowStore(db)
        self.instructions = library.InstructionStore(db)
        self.knowledge_bases = knowledge.KnowledgeBaseStore(db)
        self.knowledge_sources = knowledge.KnowledgeSourceStore(db)
        self.knowledge_chunks = knowledge.KnowledgeChunkStore(db)
        self.knowledge_embeddings = embeddings.EmbeddingStore(db)
        self.accounts = accounts.AccountStore(db)
        self.conversations = chat.ConversationStore(db)
        self.messages = chat.MessageStore(db)
        self.tasks = tasks.TaskStore(db)
        self.subtasks = tasks.SubtaskStore(db)
        self.benchmarks = models.BenchmarkStore(db)
        self.model_versions = models.ModelVersionStore(db)
        self.datasets = training.DatasetStore(db)
        self.training_jobs = training.TrainingJobStore(db)
        self.web_fetches = webfetch.WebFetchStore(db)
        self.web_crawls = webfetch.WebCrawlStore(db)
