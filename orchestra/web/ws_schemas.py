"""marshmallow schemas for /ws frames: the envelope and the data of each client message type."""

from marshmallow import RAISE, Schema, ValidationError, fields, post_load, validate

from orchestra import schemas
from orchestra.schemas import LONG, NAME

MAX_HISTORY = 200


class Strict(Schema):
    class Meta:
        unknown = RAISE


class FrameId(fields.Field):
    """The client's frame id, echoed on every reply: a short string or an integer."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise ValidationError("Must be a string or an integer.")
        if isinstance(value, str) and len(value) > 100:
            raise ValidationError("Longer than 100 characters.")
        if isinstance(value, int) and abs(value) > 2**53:
            raise ValidationError("Out of range.")
        return value


class EnvelopeSchema(Strict):
    type = fields.String(required=True, validate=validate.Length(1, 64))
    data = fields.Dict(load_default=dict)
    id = FrameId(load_default=None)


class EmptySchema(Strict):
    """Types that take no data."""


def conversation_id(required):
    if required:
        return schemas.row_id("conversationId", required=True, strict=True)
    return schemas.row_id("conversationId", allow_none=True, load_default=None, strict=True)


def not_blank(value):
    if not value.strip():
        raise ValidationError("Must not be blank.")


MAX_CHAT_MESSAGE = LONG  # characters; the page is told it in `connected`


def message_id():
    return schemas.row_id("messageId", required=True, strict=True)


def chat_text():
    return fields.String(required=True, validate=[validate.Length(1, MAX_CHAT_MESSAGE),
                                                  not_blank])


def model_name():
    return fields.String(allow_none=True, load_default=None, validate=validate.Length(1, NAME))


class ChatSettingsFields(Strict):
    """A conversation's settings; a field left out is left as it is, null clears it."""

    system_prompt = fields.String(data_key="systemPrompt", allow_none=True,
                                  validate=validate.Length(max=LONG))
    temperature = fields.Float(allow_none=True, validate=validate.Range(0, 2))
    max_tokens = fields.Integer(data_key="maxTokens", allow_none=True, strict=True,
                                validate=validate.Range(1, 1_000_000))
    model = fields.String(allow_none=True, validate=validate.Length(max=NAME))
    # The bases each question searches ([] or null: none); each must exist (invalid_fields).
    knowledge_base_ids = schemas.knowledge_base_ids(allow_none=True)

    @post_load
    def blank_is_none(self, data, **kwargs):
        for key in ("system_prompt", "model"):
            if key in data and data[key] is not None and not data[key].strip():
                data[key] = None
        if "knowledge_base_ids" in data:
            data["knowledge_base_ids"] = schemas.distinct(data["knowledge_base_ids"]) or []
        return data


class ChatSendSchema(Strict):
    message = chat_text()
    conversation_id = conversation_id(required=False)
    model = model_name()
    settings = fields.Nested(ChatSettingsFields, load_default=None, allow_none=True)
    knowledge_base_ids = schemas.knowledge_base_ids(allow_none=True)

    @post_load
    def bases_are_a_setting(self, data, **kwargs):
        # Sent beside the message for convenience; stored like the other settings.
        ids = data.pop("knowledge_base_ids", None)
        if ids is not None:
            data["settings"] = dict(data["settings"] or {},
                                    knowledge_base_ids=schemas.distinct(ids))
        return data


class ChatSettingsSchema(ChatSettingsFields):
    conversation_id = conversation_id(required=True)


class ChatRegenerateSchema(Strict):
    message_id = message_id()
    model = model_name()


class ChatReadPageSchema(Strict):
    """Read the page a user message links to; `url` picks one of its addresses (default:
    the first)."""

    message_id = message_id()
    url = fields.String(load_default=None, allow_none=True, validate=validate.Length(1, 2048))
    model = model_name()


class ChatEditSchema(Strict):
    message_id = message_id()
    message = chat_text()
    model = model_name()


class ChatStopSchema(Strict):
    conversation_id = conversation_id(required=True)


class ChatHistorySchema(Strict):
    conversation_id = conversation_id(required=True)
    limit = fields.Integer(load_default=50, strict=True,
                           validate=validate.Range(1, MAX_HISTORY))
    before = schemas.row_id(load_default=None, allow_none=True, strict=True)


class MessageFrameSchema(schemas.CreateMessageSchema):
    """A message as /ws sends it: the stored row, with what it answers or revises."""

    reply_to = fields.Integer(data_key="replyTo", dump_only=True)
    edit_of = fields.Integer(data_key="editOf", dump_only=True)


class ConversationSettingsSchema(Schema):
    """A conversation and its settings, as /ws sends them."""

    id = fields.Integer(data_key="conversationId")
    title = fields.String()
    model = fields.String()
    system_prompt = fields.String(data_key="systemPrompt")
    temperature = fields.Float()
    max_tokens = fields.Integer(data_key="maxTokens")
    knowledge_base_ids = fields.List(fields.Integer(), data_key="knowledgeBaseIds")


class TaskSchema(Strict):
    task_id = schemas.row_id("taskId", required=True, strict=True)


class KnowledgeBaseSchema(Strict):
    knowledge_base_id = schemas.row_id("knowledgeBaseId", required=True, strict=True)


class CrawlSchema(Strict):
    crawl_id = schemas.row_id("crawlId", required=True, strict=True)
