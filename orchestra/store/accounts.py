"""External API accounts; the credentials column holds ciphertext only."""

from orchestra.store.base import TableStore


class AccountStore(TableStore):
    """Callers pass `credentials` already encrypted (see services.secrets)."""

    table = "external_api_accounts"
    columns = ("service", "name", "username", "credentials", "secret_hint", "active")
