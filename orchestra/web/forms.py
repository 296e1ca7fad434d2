"""HTML forms: what a page entity's form holds, and how posted fields become schema input.

A `PageEntity` describes one entity for the generic pages (web/crud.py): its fields, list
columns and schemas. Form values travel as a dict keyed by the schema's camelCase data keys,
so a marshmallow error on `templateId` lands beside the input named `templateId`.
"""

import logging

from marshmallow import ValidationError

logger = logging.getLogger(__name__)


class FormRedisplay(Exception):
    """Show the form again with `form` (the user's input) and `errors` (name -> message)."""

    def __init__(self, form, errors, status=400):
        super().__init__("form redisplayed")
        self.form = form
        self.errors = errors
        self.status = status


class Field:
    """One input. `widget`: text, textarea, checkbox, number, password, url, select, file."""

    def __init__(self, name, label, widget="text", help=None, choices=(), rows=None,
                 required=False):
        self.name = name
        self.label = label
        self.widget = widget
        self.help = help
        self.choices = choices
        self.rows = rows
        self.required = required


class Column:
    """A column of a list table or a line of a detail page. `kind`: text, link, badge,
    bool, date, pre, list, count."""

    def __init__(self, name, label, kind="text"):
        self.name = name
        self.label = label
        self.kind = kind


def flatten_errors(messages, prefix=""):
    """marshmallow's nested messages as {"steps-0-prompt": "message"}; "_schema" -> "_form"."""
    out = {}
    for key, value in messages.items():
        name = "_form" if key == "_schema" and not prefix else "%s%s" % (prefix, key)
        if isinstance(value, dict):
            out.update(flatten_errors(value, name + "-"))
        elif isinstance(value, (list, tuple)):
            out[name] = " ".join(str(v) for v in value)
        else:
            out[name] = str(value)
    return out


def load(schema, data, form):
    """Validate `data` with `schema`; FormRedisplay(form, errors) when it is invalid."""
    try:
        return schema.load(data)
    except ValidationError as e:
        raise FormRedisplay(form, flatten_errors(e.messages))


class PageEntity:
    """One entity's pages: list, new, show, edit and delete, driven by this description."""

    spec = None                 # the entities.Entity shown: store, schemas, hooks, owners
    title = None                # "Templates"
    fields = ()                 # Field, in form order
    columns = ()                # Column, in list order
    details = ()                # Column, shown on the item's page
    filters = ()                # query arguments filtering the list, each a column name
    list_template = "crud_list.html"
    form_template = "crud_form.html"
    detail_template = "crud_detail.html"
    multipart = False

    @property
    def name(self):             # URL segment and route-name prefix: "templates"
        return self.spec.name

    @property
    def singular(self):         # "template"
        return self.spec.singular

    @property
    def store(self):            # attribute of settings["stores"]
        return self.spec.store

    @property
    def create_schema(self):
        return self.spec.create_schema

    @property
    def update_schema(self):
        return self.spec.update_schema

    def label(self, item):
        return item.get("name") or "%s %s" % (self.singular, item.get("id"))

    def dump(self, row, many=False):
        return self.create_schema().dump(row, many=many)

    def blank(self):
        """The form of a new item."""
        form = {}
        for field in self.fields:
            form[field.name] = False if field.widget == "checkbox" else ""
        return form

    def form_from_item(self, item):
        """The edit form filled from a dumped item (never holding load-only fields)."""
        form = self.blank()
        for field in self.fields:
            value = item.get(field.name)
            if value is not None and field.widget != "password":
                form[field.name] = value
        return form

    def read_form(self, handler):
        """The posted fields as form values (checkboxes as booleans, strings otherwise)."""
        posted = handler.form_data()
        form = {}
        for field in self.fields:
            if field.widget == "checkbox":
                form[field.name] = field.name in posted
            elif field.widget != "file":
                form[field.name] = posted.get(field.name, "")
        return form

    def to_input(self, form, creating):
        """Form values -> schema input. Empty numbers fall back to the schema's default."""
        data = {}
        for field in self.fields:
            value = form.get(field.name)
            if field.widget in ("number", "password") and value == "":
                continue
            if field.widget != "file":
                data[field.name] = value
        return data

    async def validate(self, handler, form, creating):
        """Form values -> validated input (the registry's to_row makes it columns);
        FormRedisplay when something is wrong."""
        schema = self.create_schema() if creating else self.update_schema()
        try:
            data = load(schema, self.to_input(form, creating), form)
        except FormRedisplay as e:
            for field in self.fields:  # "Length must be between 1 and 200." says it badly
                if field.required and field.name in e.errors and not str(
                        form.get(field.name, "")).strip():
                    e.errors[field.name] = "This field is required."
            raise
        return data

    async def list_context(self, handler):
        """Extra template context for the list page (choices for its filters)."""
        return {}

    async def form_context(self, handler, form):
        """Extra template context for the form page."""
        return {}

    async def detail_context(self, handler, item):
        """Extra template context for the item's page."""
        return {}
