"""Knowledge tools: knowledge.search, the passages of knowledge bases that best match a query
(the knowledge service's search: full text, fused with vectors when an embedder is set)."""

import logging

from marshmallow import RAISE, Schema, fields, validate

from orchestra import schemas
from orchestra.services.tools.registry import Tool, ToolError, ToolResult

logger = logging.getLogger(__name__)

MAX_BASES = 1000   # "every base" means at most this many


class KnowledgeSearchArgs(Schema):
    class Meta:
        unknown = RAISE
        ordered = True

    query = fields.String(required=True, validate=validate.Length(1, 2000), metadata={
        "description": "What to look for, in words."})
    knowledge_base_ids = fields.List(
        schemas.row_id(strict=True),
        data_key="knowledgeBaseIds", load_default=None, validate=validate.Length(1, 50),
        metadata={"description": "The knowledge bases to search; by default the task's "
                                 "knowledge base, else every one."})
    limit = fields.Integer(load_default=5, strict=True, validate=validate.Range(1, 20))


class KnowledgeSearchTool(Tool):
    name = "knowledge.search"
    description = ("Search the knowledge bases for the passages that best match a query, "
                   "each with its source and heading.")
    schema = KnowledgeSearchArgs

    def suits(self, task):
        """A task with a knowledge base may search it in a step of its own."""
        return task.get("knowledge_base_id") is not None

    async def run(self, args, context):
        knowledge = context.service("knowledge", self.name)
        base_ids = await self.bases(args["knowledge_base_ids"], context)
        hits = await knowledge.search(base_ids, args["query"], args["limit"])
        data = {"query": args["query"], "knowledgeBaseIds": base_ids,
                "hits": [hit_json(n, hit) for n, hit in enumerate(hits, 1)]}
        if not hits:
            return ToolResult("No passage of the knowledge base%s matches %s." % (
                "" if len(base_ids) == 1 else "s", args["query"]), data)
        lines = []
        for item in data["hits"]:
            where = " \u203a ".join([item["sourceTitle"]] + [
                h for h in item["headingPath"] if h != item["sourceTitle"]])
            lines.append("[%d] %s\n%s" % (item["n"], where, item["text"]))
        return ToolResult("\n\n".join(lines), data)

    @staticmethod
    async def bases(ids, context):
        """The ids to search: those given (each must exist), else the task's base, else
        every base."""
        stores = context.stores
        if ids:
            ids = list(dict.fromkeys(ids))
            missing = [id for id in ids if await stores.knowledge_bases.get(id) is None]
            if missing:
                raise ToolError("invalid_args", "No knowledge base with id %s." % ", ".join(
                    map(str, missing)), fields={"knowledgeBaseIds": [
                        "No such record: %s." % ", ".join(map(str, missing))]})
            return ids
        if context.task_id is not None:
            task = await stores.tasks.get(context.task_id)
            if task is not None and task.get("knowledge_base_id") is not None:
                return [task["knowledge_base_id"]]
        rows = await stores.knowledge_bases.list(limit=MAX_BASES)
        if not rows:
            raise ToolError("failed", "There is no knowledge base to search.")
        return [row["id"] for row in rows]


def hit_json(n, hit):
    return {"n": n, "chunkId": hit["chunk_id"], "sourceId": hit["source_id"],
            "sourceTitle": hit.get("source_title") or "",
            "knowledgeBaseId": hit.get("knowledge_base_id"),
            "headingPath": list(hit.get("heading_path") or []), "text": hit["text"],
            "score": hit.get("score")}
