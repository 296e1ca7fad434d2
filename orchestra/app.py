"""make_app(config): the one place where Orchestra's pieces are built and wired together."""

import functools
import logging
import os
import secrets

import jinja2
import tornado.ioloop
import tornado.web

from orchestra import config as configlib
from orchestra import db as dblib
from orchestra.resources import resource_dir
from orchestra.services.chat import ChatService
from orchestra.services.hub import Hub
from orchestra.services.knowledge.embedding import Embedder
from orchestra.services.knowledge.service import KnowledgeService
from orchestra.services.lmstudio import LMStudioClient
from orchestra.services.orchestrator import Orchestrator
from orchestra.services.metrics import MetricsCollector
from orchestra.services.secrets import SecretBox, read_or_create_key
from orchestra.services.tools.registry import default_registry
from orchestra.services.web.service import WebService
from orchestra.store import Stores
from orchestra.web import api, auth, chat, pages, ws
from orchestra.web import accounts, knowledge, knowledge_api, library, web_api, web_pages
from orchestra.web import models as models_web
from orchestra.web import tasks as tasks_web
from orchestra.web import tools_api
from orchestra.web import api_page, asyncapi, openapi
from orchestra.web.base import AuthMixin, NotFoundHandler, log_request

logger = logging.getLogger(__name__)


def make_app(config, **overrides):
    """Build the Tornado application: database (migrated), services, templates, routes.

    `overrides` replace settings entries (tests pass fakes or extra settings this way).
    Without a token in `config`, the one kept in the data directory is used (and created).
    """
    configlib.ensure_data_dir(config.data_dir)
    config = configlib.with_token(config)
    secret = cookie_secret(config.data_dir)
    box = SecretBox(config.data_dir)
    database = open_database(config)
    stores = Stores(database)
    hub = Hub()
    lmstudio = LMStudioClient(config.lmstudio_url, benchmarks=stores.benchmarks,
                              api_token=config.lmstudio_token)
    # Vectors beside full text only when an embedding model is configured.
    embedder = (Embedder(stores, lmstudio, config.embedding_model)
                if config.embedding_model else None)
    knowledge = KnowledgeService(stores, lmstudio, hub, embedder=embedder)
    settings = dict(
        config=config,
        db=database,
        stores=stores,
        hub=hub,
        lmstudio=lmstudio,
        secrets=box,
        services={"metrics": MetricsCollector(config.metrics_interval, lmstudio),
                  "knowledge": knowledge,
                  "chat": ChatService(stores, lmstudio, hub, knowledge=knowledge)},
        tools=default_registry(),  # what tasks (tool subtasks) and /api/tools run
        jinja=jinja_env(),
        static_path=resource_dir("static"),
        cookie_secret=secret,
        xsrf_cookies=True,
        xsrf_cookie_kwargs={"samesite": "Strict", "httponly": False},
        login_url="/login",
        log_function=log_request,  # the access log, without access tokens
        debug=config.debug,
        websocket_ping_interval=config.ws_ping_interval,
        websocket_ping_timeout=config.ws_ping_interval,  # tornado caps it at the interval
        websocket_max_message_size=config.ws_max_message_size,
        on_shutdown=[],
    )
    settings.update(overrides)
    wire_knowledge(settings)
    wire_web(settings)
    wire_websocket(settings)
    wire_orchestrator(settings)
    rules = route_table()
    check_routes(rules)
    return tornado.web.Application(rules, **settings)


def route_table():
    """Every route, in order: pages, API, then the catch-all 404."""
    return [
        *auth.routes,
        *pages.routes,
        *library.routes, *knowledge.routes, *accounts.routes, *web_pages.routes,
        *ws.routes,
        *chat.routes,
        *models_web.routes,
        *tasks_web.routes,  # before the generic API: POST /api/tasks is the orchestrator's
        *tools_api.routes,
        *knowledge_api.routes,
        *web_api.routes,
        *openapi.routes, *asyncapi.routes, *api_page.routes,
        *api.routes,
        (r".*", NotFoundHandler),
    ]


def wire_websocket(settings):
    """The /ws connection manager: relays hub events, closes sockets at shutdown."""
    services = settings["services"]
    manager = settings["ws"] = ws.ConnectionManager(settings["stores"], services["chat"],
                                                    services["metrics"])
    manager.attach(settings["hub"])  # chat events and "task:update" -> broadcast_task_update
    settings["on_shutdown"].append(manager.shutdown)
    tornado.ioloop.IOLoop.current().add_callback(services["chat"].recovered)


def wire_knowledge(settings):
    """Knowledge sources: index those a previous process left stale (or that predate
    chunks), and stop indexing at shutdown (what was cut short resumes after a restart)."""
    knowledge = settings["services"]["knowledge"]
    tornado.ioloop.IOLoop.current().add_callback(knowledge.start)
    settings["on_shutdown"].append(knowledge.close)


def wire_web(settings):
    """The web service (pages, crawls, knowledge URL sources): crawls a previous process
    left running are marked failed; at shutdown crawls and fetches stop and Chromium closes."""
    services, config = settings["services"], settings["config"]
    options = settings.pop("web_options", {})  # tests: e.g. no politeness delay
    if "web" not in services:
        services["web"] = WebService(settings["stores"], settings["hub"], config.data_dir,
                                     allow_private=config.fetch_allow_private,
                                     browser_path=config.browser_path,
                                     knowledge=services["knowledge"], **options)
    services["chat"].web = services["web"]  # "Read the page" in chat
    tornado.ioloop.IOLoop.current().add_callback(services["web"].start)
    settings["on_shutdown"].append(services["web"].close)


def wire_orchestrator(settings):
    """Tasks: recover those a previous process left running, announce every change on the
    hub ("task:update"), and stop running work at shutdown (it resumes after a restart)."""
    services, config = settings["services"], settings["config"]
    if "orchestrator" not in services:
        services["orchestrator"] = Orchestrator(settings["stores"], settings["lmstudio"],
                                                max_model_calls=config.max_model_calls,
                                                knowledge=services["knowledge"],
                                                tools=settings["tools"], services=services,
                                                hub=settings["hub"])
    orchestrator = services["orchestrator"]
    services.setdefault("checker", orchestrator.detector)
    orchestrator.set_broadcast_callback(functools.partial(settings["hub"].publish, "task:update"))
    orchestrator.recover()
    settings["on_shutdown"].append(orchestrator.shutdown)


def check_routes(rules):
    """Refuse to start when a handler could bypass authentication."""
    for rule in rules:
        handler = rule.target if hasattr(rule, "target") else rule[1]
        if issubclass(handler, tornado.web.StaticFileHandler):
            continue
        if not issubclass(handler, AuthMixin):
            raise RuntimeError("%s does not check the access token" % handler.__name__)


def open_database(config):
    """Connect (failing loudly with one line) and bring the schema up to date."""
    database = dblib.Database(config.database_url, workers=config.db_workers)
    try:
        database.connect()
        applied = database.run_sync(dblib.migrate)
    except Exception:
        database.close()
        raise
    if applied:
        logger.info("applied migrations %s", ", ".join(applied))
    return database


def jinja_env():
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(resource_dir("templates")),
                             autoescape=True, trim_blocks=True, lstrip_blocks=True)
    return env


def cookie_secret(data_dir):
    """A random secret kept in the data directory, so logins survive a restart; created
    atomically, so two processes starting together agree on it."""
    return read_or_create_key(os.path.join(data_dir, "cookie_secret"),
                              lambda: secrets.token_hex(32))


async def close_app(app):
    """Run the shutdown hooks (newest first), then close the LM Studio client and database."""
    for hook in reversed(app.settings["on_shutdown"]):
        try:
            await hook()
        except Exception:
            logger.exception("shutdown hook failed")
    await app.settings["lmstudio"].close()
    app.settings["db"].close()
