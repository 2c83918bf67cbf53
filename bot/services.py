"""Wiring: the parts of one Sigap process, built once from the settings."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from rasa_sdk.executor import ActionExecutor

from bot.coordination.locks import ConversationLocks, MemoryLocks
from bot.dialogue.domain import Domain
from bot.dialogue.engine import Engine
from bot.dialogue.rules import Rules
from bot.dispatch.queue import DispatchQueue, TableDispatchQueue
from bot.settings import Settings, get_settings
from bot.storage.database import Database
from bot.storage.models import Conversation
from bot.tickets import desk as tickets
from bot.tickets.desk import TicketDesk
from bot.tickets.incidents import Matching
from bot.tickets.priority import Priorities
from bot.tickets.regions import Regions
from bot.tickets.routing import Routing
from bot.triage.redirects import Redirects
from nlu.types import Location

log = logging.getLogger(__name__)


@dataclass
class Services:
    """Database, domain, routing, tickets and (when serving) the NLU and engine."""

    settings: Settings
    db: Database
    domain: Domain
    routing: Routing
    desk: TicketDesk
    regions: Regions
    priorities: Priorities
    redirects: Redirects

    def resolve_location(
        self, text: str | None, lat: float | None = None, lon: float | None = None
    ) -> Location | None:
        """Place words and/or a GPS pin -> a location with its source (blocking)."""
        from nlu.geocoder import resolve_location

        return resolve_location(text, lat, lon, geocoder_url=self.settings.geocoder_url)

    def region_of(self, conversation_id: int) -> str:
        """The centre a conversation belongs to (the default until a ticket places it, or for a
        dialogue run without a stored conversation, as the engine's tests run one)."""
        with self.db.session() as session:
            conversation = session.get(Conversation, conversation_id)
        return self.regions.code(conversation.region if conversation is not None else None)

    def flag_for_operator(self, conversation_id: int, reason: str) -> None:
        """Mark a conversation as needing a person (blocking); the console shows the mark."""
        with self.db.session() as session:
            session.get_one(Conversation, conversation_id).needs_person = reason[:64]


def load_rules(settings: Settings) -> tickets.Rules:
    """The content tickets are decided by: routing, regions, priorities, incident matching."""
    root = settings.project_dir
    return tickets.Rules(
        routing=Routing.load(root / "routing.yml"),
        regions=Regions.load(root / "regions.yml"),
        priorities=Priorities.load(root / "priority.yml"),
        matching=Matching(settings.incident_radius_meters,
                          timedelta(minutes=settings.incident_window_minutes)),
    )


def build_services(settings: Settings) -> Services:
    """Everything that needs no trained model."""
    root = settings.project_dir
    db = Database(settings.database_url)
    db.create_schema()
    rules = load_rules(settings)
    return Services(
        settings=settings,
        db=db,
        domain=Domain.load(root / "domain.yml"),
        routing=rules.routing,
        desk=TicketDesk(db, rules),
        regions=rules.regions,
        priorities=rules.priorities,
        redirects=Redirects(rules.regions),
    )


def build_engine(services: Services) -> Engine:
    """The conversation engine with the project's rules and rasa-sdk actions."""
    executor = ActionExecutor()
    executor.register_package("actions")
    rules = Rules.load(services.settings.project_dir / "data" / "rules.yml")
    return Engine(services.domain, rules, executor)


def build_locks(settings: Settings) -> ConversationLocks:
    """Redis locks when REDIS_URL is set (several processes), else in-process ones."""
    if settings.redis_url:
        from bot.coordination.locks_redis import RedisLocks

        return RedisLocks(settings.redis_url)
    return MemoryLocks()


def build_dispatch_queue(services: Services) -> DispatchQueue:
    """Redis Streams when REDIS_URL is set, else the notice table itself."""
    if services.settings.redis_url:
        from bot.dispatch.redis_streams import RedisDispatchQueue

        return RedisDispatchQueue(services.db, services.settings.redis_url)
    return TableDispatchQueue(services.db)


_current: Services | None = None


def set_current(services: Services | None) -> None:
    """Make `services` the ones actions use in this process."""
    global _current
    _current = services


def current() -> Services:
    """The process's services (built from settings when actions run on their own)."""
    global _current
    if _current is None:
        _current = build_services(get_settings())
    return _current
