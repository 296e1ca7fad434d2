"""marshmallow schemas for /ws frames: the envelope and the data of each client message type."""

from marshmallow import RAISE, Schema, ValidationError, fields, validate

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
        return fields.Integer(data_key="conversationId", required=True, strict=True,
                              validate=validate.Range(min=1))
    return fields.Integer(data_key="conversationId", allow_none=True, load_default=None,
                          strict=True, validate=validate.Range(min=1))


def not_blank(value):
    if not value.strip():
        raise ValidationError("Must not be blank.")


class ChatSendSchema(Strict):
    message = fields.String(required=True, validate=[validate.Length(1, LONG), not_blank])
    conversation_id = conversation_id(required=False)
    model = fields.String(allow_none=True, load_default=None, validate=validate.Length(1, NAME))


class ChatStopSchema(Strict):
    conversation_id = conversation_id(required=True)


class ChatHistorySchema(Strict):
    conversation_id = conversation_id(required=True)
    limit = fields.Integer(load_default=50, strict=True,
                           validate=validate.Range(1, MAX_HISTORY))


class TaskSchema(Strict):
    task_id = fields.Integer(data_key="taskId", required=True, strict=True,
                             validate=validate.Range(min=1))
