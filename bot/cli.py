"""The `sigap` command: train, serve, shell, nlu parse/test, dispatch listen, report, ..."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import time

from pydantic import ValidationError

from bot.privacy import configure_logging
from bot.settings import ConfigurationError, get_settings
from bot.tickets.regions import RegionsError


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `sigap` console script."""
    configure_logging()
    args = _parser().parse_args(argv)
    try:
        if get_settings().log_format == "json":
            configure_logging(json_lines=True)
        result: int = args.handler(args)
        return result
    except KeyboardInterrupt:
        return 130
    except (ConfigurationError, RegionsError, ValidationError) as error:
        # What to fix, not where Python noticed it.
        print(f"sigap: configuration error: {error}", file=sys.stderr)
        return 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sigap", description="Sigap 112 text channel")
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    train = commands.add_parser("train", help="train the NLU model from data/ into models/")
    train.add_argument("--if-missing", action="store_true",
                       help="only when no model matches the current data and config")
    train.set_defaults(handler=_train)

    serve = commands.add_parser("serve", help="run the HTTP app")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1,
                       help="web processes (more than 1 needs PostgreSQL and REDIS_URL)")
    serve.set_defaults(handler=_serve)

    ready = commands.add_parser("ready", help="exit 0 when the database (and Redis, when set) answer")
    ready.set_defaults(handler=_ready)

    worker = commands.add_parser(
        "worker", help="run the deadline clock, owed notices and the Redis relay apart from serve")
    worker.set_defaults(handler=_worker)

    shell = commands.add_parser("shell", help="chat with the bot in the terminal")
    shell.add_argument("--sender", default="shell-user")
    shell.set_defaults(handler=_shell)

    nlu = commands.add_parser("nlu", help="parse or evaluate messages").add_subparsers(
        required=True, metavar="NLU_COMMAND")
    parse = nlu.add_parser("parse", help="one message per line on stdin -> JSON lines")
    parse.set_defaults(handler=_nlu_parse)
    test = nlu.add_parser("test", help="evaluate on labelled messages (JSON lines)")
    test.add_argument("--data", nargs="+", help="labelled messages (JSON lines, see nlu/eval/README.md)")
    test.add_argument("--cross-validate", type=int, metavar="K", default=0,
                      help="K-fold cross-validation on the training data instead")
    test.set_defaults(handler=_nlu_test)

    dispatch = commands.add_parser("dispatch", help="dispatch queue").add_subparsers(
        required=True, metavar="DISPATCH_COMMAND")
    listen = dispatch.add_parser("listen", help="print an agency's tickets as JSON lines")
    listen.add_argument("--agency", required=True)
    listen.add_argument("--region", action="append", default=[],
                        help="a 112 centre's code (regions.yml); repeat for several; default: all")
    listen.add_argument("--token", default=None,
                        help="a dispatcher token (default: SIGAP_TOKEN); it must be the agency's")
    listen.add_argument("--once", action="store_true", help="exit when the queue is empty")
    listen.add_argument("--interval", type=float, default=1.0, help="seconds between polls")
    listen.set_defaults(handler=_dispatch_listen)

    retain = commands.add_parser("retention", help="anonymise conversations quiet for N days")
    retain.add_argument("--days", type=int, default=None, help="default: RETENTION_DAYS")
    retain.set_defaults(handler=_retention)

    report = commands.add_parser("report", help="the centres' figures: contacts, incidents, pranks, ...")
    report.add_argument("--since", default="7d", help="a span back from now (7d, 24h, 90m) or a date (UTC)")
    report.add_argument("--region", action="append", default=[],
                        help="a 112 centre's code (regions.yml); repeat for several; default: all")
    report.set_defaults(handler=_report)

    db = commands.add_parser("db", help="the database schema (Alembic migrations)").add_subparsers(
        required=True, metavar="DB_COMMAND")
    upgrade = db.add_parser("upgrade", help="migrate the database of DATABASE_URL to the newest schema")
    upgrade.add_argument("revision", nargs="?", default="head")
    upgrade.set_defaults(handler=_db_upgrade)

    token = commands.add_parser("token", help="dispatcher tokens for /api").add_subparsers(
        required=True, metavar="TOKEN_COMMAND")
    create = token.add_parser("create", help="a token for one agency in its regions (printed once)")
    create.add_argument("--agency", required=True)
    create.add_argument("--region", action="append", required=True, help="a centre's code; repeat")
    create.add_argument("--name", help="what events record (default: agency-regions)")
    create.set_defaults(handler=_token_create)

    operator = commands.add_parser("operator", help="operator console accounts").add_subparsers(
        required=True, metavar="OPERATOR_COMMAND")
    account = operator.add_parser("create", help="an account (the password is asked, or read from stdin)")
    account.add_argument("name")
    account.add_argument("--role", choices=["operator", "supervisor", "admin"], default="operator")
    account.add_argument("--region", nargs="+", default=[], help="the centres' codes they serve")
    account.set_defaults(handler=_operator_create)

    sender = commands.add_parser("sender", help="a sender's abusive mark").add_subparsers(
        required=True, metavar="SENDER_COMMAND")
    for verb, what in (("mark", "mark a sender abusive: their replies are throttled"),
                       ("clear", "clear a sender's mark and prank record")):
        command = sender.add_parser(verb, help=what)
        command.add_argument("channel")
        command.add_argument("sender_id")
        command.add_argument("--by", default="cli", help="who decided (recorded)")
        command.set_defaults(handler=_sender_mark if verb == "mark" else _sender_clear)

    guidance = commands.add_parser("guidance", help="first-aid and safety protocols")
    guidance_commands = guidance.add_subparsers(required=True, metavar="GUIDANCE_COMMAND")
    show = guidance_commands.add_parser("show", help="print a protocol exactly as sent")
    show.add_argument("topic")
    show.add_argument("--lang", choices=["id", "en"], default="id")
    show.add_argument("--channel", choices=["sms", "telegram", "whatsapp"], default="telegram")
    show.set_defaults(handler=_guidance_show)
    topics = guidance_commands.add_parser("list", help="list the protocols")
    topics.set_defaults(handler=_guidance_list)

    from bot.plugins import installed

    for registry in installed():
        registry.add_commands(commands)
    return parser


def _train(args: argparse.Namespace) -> int:
    from nlu.model import model_name, train

    settings = get_settings()
    existing = settings.models_dir / model_name(settings.project_dir)
    if args.if_missing and existing.exists():
        print(f"model up to date: {existing}")
        return 0
    started = time.perf_counter()
    path = train(settings.project_dir, settings.models_dir)
    print(f"trained {path} in {time.perf_counter() - started:.1f} s")
    return 0


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from bot.web.app import create_app
    from nlu.model import ModelMissing, model_name

    settings = get_settings()
    if not (settings.models_dir / model_name(settings.project_dir)).exists():
        print(ModelMissing.__doc__, "Run `sigap train` first.", file=sys.stderr)
        return 2
    # Our logging and access log (bot/http_guard.py): uvicorn's would print query strings.
    if args.workers > 1:
        if settings.database_url.startswith("sqlite") or not settings.redis_url:
            raise ConfigurationError("--workers above 1 needs PostgreSQL (DATABASE_URL) and REDIS_URL: "
                                     "the processes share conversations, locks and limits there")
        # Each process builds its own app from the same settings (uvicorn imports the factory).
        uvicorn.run("bot.web.app:create_app", factory=True, workers=args.workers, host=args.host,
                    port=args.port, log_config=None, access_log=False)
        return 0
    uvicorn.run(create_app(settings), host=args.host, port=args.port, log_config=None,
                access_log=False)
    return 0


def _ready(_args: argparse.Namespace) -> int:
    from sqlalchemy import text

    from bot.storage.database import Database

    settings = get_settings()
    failed = []
    db = Database(settings.database_url)
    try:
        with db.session() as session:
            session.execute(text("SELECT 1"))
    except Exception as error:  # any failure: not ready
        failed.append(f"database: {error}")
    finally:
        db.dispose()
    if settings.redis_url:
        from redis import Redis
        from redis.exceptions import RedisError

        try:
            Redis.from_url(settings.redis_url, socket_timeout=5, socket_connect_timeout=5).ping()
        except RedisError as error:
            failed.append(f"redis: {error}")
    print("; ".join(failed) or "ready", file=sys.stderr if failed else sys.stdout)
    return 1 if failed else 0


def _worker(_args: argparse.Namespace) -> int:
    from bot.runtime import worker_jobs
    from bot.services import build_services

    services = build_services(get_settings())

    async def work() -> None:
        await asyncio.gather(*worker_jobs(services))

    asyncio.run(work())
    return 0


def _shell(args: argparse.Namespace) -> int:
    from bot.shell import chat

    # The chat is the output: only warnings and errors of the service come between its lines.
    logging.getLogger().setLevel(logging.WARNING)
    return asyncio.run(chat(get_settings(), args.sender))


def _nlu_parse(_args: argparse.Namespace) -> int:
    from bot.services import build_services
    from nlu.model import NLU

    settings = get_settings()
    services = build_services(settings)
    nlu = NLU.load(settings.project_dir, settings.models_dir, services.resolve_location)
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        text = json.loads(line).get("text", "") if line.startswith("{") else line
        print(json.dumps(nlu.parse(text).to_dict(), ensure_ascii=False), flush=True)
    return 0


def _nlu_test(args: argparse.Namespace) -> int:
    from nlu.evaluate import cross_validate, evaluate_file

    settings = get_settings()
    if args.cross_validate:
        print(cross_validate(settings.project_dir, args.cross_validate))
        return 0
    if not args.data:
        print("give --data FILE.jsonl or --cross-validate K", file=sys.stderr)
        return 2
    print(evaluate_file(settings.project_dir, settings.models_dir, args.data))
    return 0


def _dispatch_listen(args: argparse.Namespace) -> int:
    from bot.services import build_dispatch_queue, build_services
    from bot.web.auth import authenticate

    settings = get_settings()
    services = build_services(settings)
    known = sorted(a for a in services.routing.names) + ["supervisors"]
    if args.agency not in known:
        print(f"unknown agency {args.agency!r}; known: {', '.join(known)}", file=sys.stderr)
        return 2
    token = args.token or settings.sigap_token.get_secret_value()
    access = authenticate(services.db, settings, f"Bearer {token}" if token else None)
    if access is None or access.agency not in (None, args.agency):
        print("a dispatcher token of that agency is needed: --token or SIGAP_TOKEN "
              "(`sigap token create --agency ...`)", file=sys.stderr)
        return 2
    regions = args.region or (sorted(access.regions) if access.regions is not None else None)
    if access.regions is not None and not set(regions or []) <= access.regions:
        print(f"the token covers the regions {sorted(access.regions)} only", file=sys.stderr)
        return 2
    queue = build_dispatch_queue(services)
    try:
        while True:
            deliveries = queue.pending(args.agency, regions)
            for delivery in deliveries:
                print(json.dumps({"id": delivery.id, "agency": delivery.agency, **delivery.payload},
                                 ensure_ascii=False), flush=True)
                queue.ack(delivery)
            if args.once and not deliveries:
                return 0
            if not deliveries:
                time.sleep(args.interval)
    finally:
        queue.close()


def _token_create(args: argparse.Namespace) -> int:
    from bot.services import build_services
    from bot.web.auth import create_token

    services = build_services(get_settings())
    if args.agency not in services.routing.names and args.agency != "supervisors":
        print(f"unknown agency {args.agency!r}; known: {', '.join(sorted(services.routing.names))}",
              file=sys.stderr)
        return 2
    unknown = sorted(set(args.region) - set(services.regions.centres))
    if unknown:
        print(f"unknown regions {unknown}; regions.yml has {sorted(services.regions.centres)}",
              file=sys.stderr)
        return 2
    name = args.name or f"{args.agency}-{'-'.join(args.region)}"
    token = create_token(services.db, name, args.agency, args.region)
    print(f"token {name} for {args.agency} in {', '.join(args.region)} (shown once, keep it safe):")
    print(token)
    return 0


def _operator_create(args: argparse.Namespace) -> int:
    import getpass

    from bot.console.accounts import AccountError, create_operator
    from bot.services import build_services

    services = build_services(get_settings())
    unknown = sorted(set(args.region) - set(services.regions.centres))
    if unknown or (not args.region and args.role != "admin"):
        print(f"give --region, one or more of {sorted(services.regions.centres)}"
              + (f" (unknown: {unknown})" if unknown else ""), file=sys.stderr)
        return 2
    if sys.stdin.isatty():
        password = getpass.getpass("password: ")
        if getpass.getpass("again: ") != password:
            print("the passwords differ", file=sys.stderr)
            return 2
    else:
        password = sys.stdin.readline().rstrip("\n")
    try:
        create_operator(services.db, args.name, args.role, args.region, password)
    except AccountError as error:
        print(error, file=sys.stderr)
        return 2
    print(f"{args.role} {args.name} for {', '.join(args.region) or 'every region'} created")
    return 0


def _sender_mark(args: argparse.Namespace) -> int:
    from bot.services import build_services
    from bot.triage.senders import mark

    if not mark(build_services(get_settings()).db, args.channel, args.sender_id, f"supervisor:{args.by}"):
        print("no such sender on that channel", file=sys.stderr)
        return 2
    print("marked abusive: replies are throttled; emergencies are still answered and dispatched")
    return 0


def _sender_clear(args: argparse.Namespace) -> int:
    from bot.services import build_services
    from bot.triage.senders import clear

    if not clear(build_services(get_settings()).db, args.channel, args.sender_id):
        print("no such sender on that channel", file=sys.stderr)
        return 2
    print("cleared")
    return 0


def _retention(args: argparse.Namespace) -> int:
    from bot.storage.database import Database
    from bot.storage.retention import anonymise

    settings = get_settings()
    days = args.days if args.days is not None else settings.retention_days
    if days < 1:
        print("give --days N (N >= 1) or set RETENTION_DAYS", file=sys.stderr)
        return 2
    db = Database(settings.database_url)
    done = anonymise(db, days)
    print(f"anonymised {done.conversations} conversations ({done.messages} messages) and "
          f"{done.incidents} incidents quiet for more than {days} days")
    db.dispose()
    return 0


def _report(args: argparse.Namespace) -> int:
    from bot.services import build_services
    from bot.storage.models import utcnow
    from bot.triage.report import ReportError, figures, render, since

    services = build_services(get_settings())
    unknown = sorted(set(args.region) - set(services.regions.centres))
    if unknown:
        print(f"unknown centre {', '.join(unknown)}; known: {', '.join(sorted(services.regions.centres))}",
              file=sys.stderr)
        return 2
    end = utcnow()
    try:
        start = since(args.since, end)
    except ReportError as error:
        print(error, file=sys.stderr)
        return 2
    rows = [r for r in figures(services.db, services.regions, start, end)
            if not args.region or r.region in args.region]
    print(render(rows, start, end))
    services.db.dispose()
    return 0


def _db_upgrade(args: argparse.Namespace) -> int:
    from bot.storage.database import Database
    from bot.storage.migrate import current, upgrade

    db = Database(get_settings().database_url)
    before = current(db)
    after = upgrade(db, args.revision)
    print(f"database at revision {after} (was {before or 'empty'})")
    db.dispose()
    return 0


def _guidance_show(args: argparse.Namespace) -> int:
    from bot.dialogue.guidance import load_protocols, render

    protocols = load_protocols()
    if args.topic not in protocols:
        print(f"unknown topic {args.topic!r}; known: {', '.join(sorted(protocols))}",
              file=sys.stderr)
        return 2
    for number, message in enumerate(render(protocols[args.topic], args.lang, args.channel), 1):
        print(f"--- message {number} ---\n{message}")
    return 0


def _guidance_list(_args: argparse.Namespace) -> int:
    from bot.dialogue.guidance import load_protocols

    for topic, protocol in sorted(load_protocols().items()):
        print(f"{topic:28} {protocol.title.id}")
    return 0
