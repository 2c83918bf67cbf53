"""docker-compose.yml, checked without Docker (it cannot run here): valid YAML, the shape of the
Compose specification for the keys it uses, every service with a health check, start order by
health, commands the `sigap` command really has, settings Sigap really reads."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest
import yaml

from bot.cli import _parser
from bot.settings import PROJECT_DIR, Settings

COMPOSE = yaml.safe_load((PROJECT_DIR / "docker-compose.yml").read_text(encoding="utf-8"))
STRINGS = {"type": "array", "items": {"type": "string"}, "minItems": 1}
# The Compose specification (compose-spec.io), for the keys this file uses; anything else is a typo.
SERVICE = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "build": {"type": ["string", "object"]}, "image": {"type": "string"},
        "command": STRINGS, "ports": STRINGS, "env_file": STRINGS, "volumes": STRINGS,
        "environment": {"type": "object", "additionalProperties": {"type": ["string", "number", "boolean"]}},
        "depends_on": {"type": "object", "additionalProperties": {
            "type": "object", "required": ["condition"], "additionalProperties": False,
            "properties": {"condition": {"enum": ["service_started", "service_healthy",
                                                  "service_completed_successfully"]}}}},
        "healthcheck": {"type": "object", "required": ["test"], "additionalProperties": False, "properties": {
            "test": {"type": "array", "prefixItems": [{"enum": ["CMD", "CMD-SHELL"]}], "minItems": 2},
            "interval": {"type": "string", "pattern": "^[0-9]+(ms|s|m|h)$"},
            "timeout": {"type": "string", "pattern": "^[0-9]+(ms|s|m|h)$"},
            "start_period": {"type": "string", "pattern": "^[0-9]+(ms|s|m|h)$"},
            "retries": {"type": "integer", "minimum": 1}}},
        "restart": {"enum": ["no", "always", "on-failure", "unless-stopped"]},
    },
}
SCHEMA = {
    "type": "object",
    "required": ["services"],
    "patternProperties": {"^x-": {}},
    "additionalProperties": False,
    "properties": {"services": {"type": "object", "additionalProperties": SERVICE},
                   "volumes": {"type": "object"}},
}


def test_the_compose_file_has_the_shape_of_the_compose_specification() -> None:
    jsonschema.validate(COMPOSE, SCHEMA)


def test_the_app_the_worker_postgresql_and_redis_each_have_a_health_check() -> None:
    services: dict[str, Any] = COMPOSE["services"]
    assert set(services) == {"sigap", "worker", "postgres", "redis"}
    assert all("healthcheck" in s for s in services.values())
    for name in ("sigap", "worker"):
        assert services[name]["depends_on"] == {"postgres": {"condition": "service_healthy"},
                                                "redis": {"condition": "service_healthy"}}
    assert "/readyz" in " ".join(services["sigap"]["healthcheck"]["test"])


@pytest.mark.parametrize("name", ["sigap", "worker"])
def test_the_services_run_commands_and_settings_sigap_has(name: str) -> None:
    service = COMPOSE["services"][name]
    command = service["command"]
    assert command[0] == "sigap"
    _parser().parse_args(command[1:])  # exits (fails the test) on an unknown command or option
    check = service["healthcheck"]["test"]
    if check[1] == "sigap":
        _parser().parse_args(check[2:])
    known = {field.upper() for field in Settings.model_fields}
    assert set(service["environment"]) <= known
    settings = Settings(_env_file=None, **{k.lower(): v for k, v in service["environment"].items()})
    assert settings.run_workers_in_serve is False  # the worker runs the jobs, once
    assert settings.database_url.startswith("postgresql") and settings.redis_url
