"""Orchestra: a self-hosted control room for local LLMs."""

__version__ = "0.1.0"
