"""ChatError: a chat request that cannot be served, as a code for the protocol and a sentence."""


class ChatError(Exception):
    """A chat request that cannot be served; `code` names the case for the protocol, and
    `fields` the invalid fields, when it is about them."""

    http_status = 400

    def __init__(self, code, message, fields=None, retryable=False):
        super().__init__(message)
        self.code = code
        self.message = message
        self.fields = fields
        self.retryable = retryable
