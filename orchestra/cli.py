"""The `orchestra` command: serve, migrate, models, token."""

import argparse
import asyncio
import errno
import gc
import logging
import os
import signal
import sys

from orchestra import config as configlib
from orchestra.db import DatabaseError
from orchestra.services.secrets import KeyFileError

logger = logging.getLogger(__name__)

SHUTDOWN_GRACE_SECONDS = 5.0

EPILOG = """\
Every flag can also be set with an environment variable (shown in brackets); flags win.
With no --db, data is kept in SQLite inside the data directory.

examples:
  orchestra serve
  orchestra token            print the access token (kept in the data directory)
  orchestra token --reset    make a new one: every browser logs in again
  orchestra serve --port 9000 --db mysql://orchestra:secret@127.0.0.1:3306/orchestra
  orchestra migrate --db mysql://root@127.0.0.1/orchestra
  orchestra models --lmstudio-url http://127.0.0.1:11434
"""


def build_parser():
    # SUPPRESS: a flag given before the subcommand must not be reset by the subparser.
    common = argparse.ArgumentParser(add_help=False, argument_default=argparse.SUPPRESS)
    group = common.add_argument_group("settings")
    group.add_argument("--host", help="address to bind (default 127.0.0.1) [ORCHESTRA_HOST]")
    group.add_argument("--port", type=int,
                       help="port to listen on (default %d) [ORCHESTRA_PORT]"
                       % configlib.DEFAULT_PORT)
    group.add_argument("--db", dest="db_url", metavar="URL",
                       help="mysql://user:pass@host:3306/name or sqlite:///path.db "
                            "(default: SQLite in the data directory) [ORCHESTRA_DB_URL]")
    group.add_argument("--data-dir", metavar="DIR",
                       help="where data, keys and the SQLite file live "
                            "(default ~/.local/share/orchestra) [ORCHESTRA_DATA_DIR]")
    group.add_argument("--lmstudio-url", metavar="URL",
                       help="LM Studio or OpenAI-compatible server "
                            "(default http://localhost:1234) [ORCHESTRA_LMSTUDIO_URL]")
    group.add_argument("--lmstudio-token", metavar="TOKEN",
                       help="API token for LM Studio, when it asks for one "
                            "[ORCHESTRA_LMSTUDIO_TOKEN]")
    group.add_argument("--token", help="access token for the web UI and API (default: the "
                                       "one kept in the data directory) [ORCHESTRA_TOKEN]")
    group.add_argument("--metrics-interval", type=float, metavar="SECONDS",
                       help="seconds between system metrics pushes (default 10) "
                            "[ORCHESTRA_METRICS_INTERVAL]")
    group.add_argument("--max-model-calls", type=int, metavar="N",
                       help="model calls running at once; more wait in a queue (default 2) "
                            "[ORCHESTRA_MAX_MODEL_CALLS]")
    group.add_argument("--embedding-model", metavar="MODEL",
                       help="the model server's embedding model for knowledge search, as it "
                            "lists it (default: none, full text alone) "
                            "[ORCHESTRA_EMBEDDING_MODEL]")
    group.add_argument("--browser-path", metavar="PATH",
                       help="Chromium or Chrome for pages read by a browser (default: "
                            "Playwright's browser, else the system's) [ORCHESTRA_BROWSER_PATH]")
    group.add_argument("--fetch-allow-private", action="store_true",
                       help="let the web service fetch private, loopback and link-local "
                            "addresses (intranets) [ORCHESTRA_FETCH_ALLOW_PRIVATE=1]")
    group.add_argument("-v", "--verbose", action="store_true", help="log debug messages")

    parser = argparse.ArgumentParser(
        prog="orchestra", description="Orchestra: a self-hosted control room for local LLMs.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter, parents=[common])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.add_parser("serve", parents=[common], help="start the web server (the default)",
                   description="Start Orchestra and print the URL to open.")
    sub.add_parser("migrate", parents=[common], help="apply database migrations and exit")
    sub.add_parser("models", parents=[common], help="list the models LM Studio offers and exit")
    token = sub.add_parser("token", parents=[common],
                           help="print the access token; --reset makes a new one",
                           description="Print the access token kept in the data directory "
                                       "(created on first use). --token or ORCHESTRA_TOKEN "
                                       "override it.")
    token.add_argument("--reset", action="store_true",
                       help="replace the stored token with a new one; browsers logged in "
                            "with the old one must log in again after the server restarts")
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if getattr(args, "verbose", False) else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    flags = {name: getattr(args, name, None) for name in configlib.SETTINGS}
    try:
        config = configlib.load(flags)
        command = {"serve": cmd_serve, "migrate": cmd_migrate, "models": cmd_models,
                   "token": cmd_token}
        return command[args.command or "serve"](config, args) or 0
    except (configlib.ConfigError, DatabaseError, KeyFileError) as e:
        # Expected failures (a bad setting, a database that is down): one line, no traceback.
        print("orchestra: error: %s" % e, file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def cmd_token(config, args):
    """Print the access token `serve` uses with these settings; --reset makes a new one."""
    if getattr(args, "reset", False):
        token = configlib.reset_token(config.data_dir)
        print(token)
        print("orchestra: a new access token is stored in %s; restart `orchestra serve` "
              "to use it" % configlib.token_path(config.data_dir), file=sys.stderr)
    else:
        token = configlib.with_token(config).token
        print(token)
    if config.token:
        print("orchestra: note: --token or ORCHESTRA_TOKEN is set and overrides the token "
              "stored in %s" % configlib.token_path(config.data_dir), file=sys.stderr)
    return 0


def cmd_migrate(config, args):
    from orchestra import db as dblib
    configlib.ensure_data_dir(config.data_dir)
    database = dblib.Database(config.database_url, workers=1)
    try:
        database.connect()
        applied = database.run_sync(dblib.migrate)
    finally:
        database.close()
    print("applied: %s" % (", ".join(applied) if applied else "nothing, the schema is current"))


def cmd_models(config, args):
    from orchestra.services.lmstudio import LMStudioClient, LMStudioError

    async def run():
        client = LMStudioClient(config.lmstudio_url, api_token=config.lmstudio_token)
        try:
            return await client.list_models(refresh=True)
        finally:
            await client.close()

    try:
        models = asyncio.run(run())
    except LMStudioError as e:
        print("orchestra: %s" % e, file=sys.stderr)
        return 1
    if not models:
        print("no models: download one in LM Studio first")
        return 0
    print("%-48s %-11s %-11s %s" % ("MODEL", "STATE", "TYPE", "CONTEXT"))
    for m in models:
        state = m.get("state") or {True: "loaded", False: "not-loaded"}.get(m.get("loaded"), "?")
        print("%-48s %-11s %-11s %s" % (m["id"], state, m.get("type") or "?",
                                         m.get("max_context_length") or "?"))
    return 0


def cmd_serve(config, args):
    import tornado.httpserver
    import tornado.ioloop

    from orchestra.app import close_app, make_app
    from orchestra.web.bodies import MAX_BODY

    # The port first: a port in use is reported before anything is created or migrated.
    sockets = listen_sockets(config)

    async def run():
        try:
            app = make_app(config)
        except BaseException:
            for sock in sockets:
                sock.close()
            raise
        # What start-up made (modules, schemas, routes, templates) lives as long as the
        # process: moved out of the collector's sight, a full collection while answers stream
        # looks only at what serving made since (40 ms without this, every token of every
        # stream waiting behind it).
        gc.collect()
        gc.freeze()
        # The largest legitimate request; handlers refuse theirs past a lower limit with 413.
        server = tornado.httpserver.HTTPServer(app, xheaders=False, max_body_size=MAX_BODY)
        server.add_sockets(sockets)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        settings = app.settings["config"]  # with the access token it resolved
        print("Orchestra is running. Open this URL in a browser:\n\n    %s?token=%s\n"
              % (settings.url, settings.token), flush=True)
        loop.create_task(report_lmstudio(app.settings["lmstudio"],
                                         url_given=lmstudio_url_given(args)))
        await stop.wait()
        logger.info("shutting down")
        server.stop()  # stop accepting new connections first
        try:
            await asyncio.wait_for(close_app(app), SHUTDOWN_GRACE_SECONDS)
        except asyncio.TimeoutError:
            logger.warning("shutdown took longer than %.0f s; exiting anyway",
                           SHUTDOWN_GRACE_SECONDS)
        try:
            await asyncio.wait_for(server.close_all_connections(), SHUTDOWN_GRACE_SECONDS)
        except asyncio.TimeoutError:
            logger.warning("some connections did not close in time")

    asyncio.run(run())
    return 0


def listen_sockets(config):
    """Bind the port (one line when that fails: in use, or not allowed)."""
    import tornado.netutil
    try:
        return tornado.netutil.bind_sockets(config.port, config.host)
    except OSError as e:
        hint = (" (is Orchestra already running? choose another port with --port)"
                if e.errno == errno.EADDRINUSE else "")
        raise configlib.ConfigError("cannot listen on %s:%d: %s%s"
                                    % (config.host, config.port, e.strerror or e, hint))


def lmstudio_url_given(args):
    return bool(getattr(args, "lmstudio_url", None) or os.environ.get("ORCHESTRA_LMSTUDIO_URL"))


async def report_lmstudio(client, url_given=False):
    """Say at start whether the models can be reached, so a first run is not a mystery."""
    if await client.is_running():
        logger.info("the model server answers at %s", client.base_url)
    elif url_given:
        logger.warning("the model server at %s is not reachable yet: start it, or check the "
                       "address you gave", client.base_url)
    else:
        logger.warning("the model server at %s is not reachable yet: start LM Studio's local "
                       "server (Developer tab, Start Server), or pass --lmstudio-url with the "
                       "address of yours", client.base_url)


if __name__ == "__main__":
    sys.exit(main())
