"""Tools that tasks (and the API) run: a registry of named, described, schema-checked tools."""
