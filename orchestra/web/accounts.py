"""Pages for external API accounts; secrets go in encrypted (the registry's row hook) and
only come out masked."""

import logging

from orchestra import entities
from orchestra.web.crud import page_routes
from orchestra.web.forms import Column, Field, PageEntity

logger = logging.getLogger(__name__)


class AccountPages(PageEntity):
    spec, title = entities.get("accounts"), "Accounts"
    fields = (
        Field("service", "Service", required=True,
              help="Lower-case id of the API, e.g. github, google, openai."),
        Field("name", "Name", required=True),
        Field("username", "Username"),
        Field("secret", "Secret (API key, token or password)", "password",
              help="Stored encrypted and only ever shown masked. When editing, leave it "
                   "blank to keep the stored secret."),
        Field("active", "Active", "checkbox"),
    )
    columns = (Column("name", "Name", "link"), Column("service", "Service"),
               Column("username", "Username"), Column("secretMasked", "Secret"),
               Column("active", "Active", "bool"))
    details = (Column("service", "Service"), Column("username", "Username"),
               Column("secretMasked", "Secret"), Column("active", "Active", "bool"),
               Column("updatedAt", "Updated", "date"))
    filters = ("service",)

    def blank(self):
        return dict(super().blank(), active=True)

    def to_input(self, form, creating):
        data = super().to_input(form, creating)
        if data.get("username") == "":
            data["username"] = None
        return data


ACCOUNTS = AccountPages()

routes = page_routes(ACCOUNTS)
