"""All settings of Sigap 112 in one place (environment variables, also read from `.env`)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_DIR = Path(__file__).resolve().parent.parent


class ConfigurationError(ValueError):
    """Settings that cannot work together (a Telegram token without its secret, ...): the command
    prints the message alone and exits 2."""


class Settings(BaseSettings):
    """Process-wide settings; nothing else reads `os.environ`."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    database_url: str = f"sqlite:///{PROJECT_DIR / 'sigap.db'}"
    redis_url: str | None = None
    public_url: str = "http://127.0.0.1:8000"
    project_dir: Path = PROJECT_DIR
    models_dir: Path = PROJECT_DIR / "models"
    # text: one readable line per event; json: one JSON object per line (a log collector's).
    log_format: Literal["text", "json"] = "text"
    # `sigap retention` and the worker's daily job anonymise conversations quiet this long (0: never).
    retention_days: int = Field(default=0, ge=0)

    telegram_bot_token: SecretStr | None = None
    telegram_webhook_secret: SecretStr | None = None
    telegram_api_url: str = "https://api.telegram.org/bot"

    twilio_account_sid: str | None = None
    twilio_auth_token: SecretStr | None = None
    twilio_sms_from: str | None = None
    twilio_whatsapp_from: str | None = None
    twilio_api_url: str | None = None
    # Approved WhatsApp templates (Twilio Content API) for status updates after the 24-hour window,
    # as JSON: {"status_en_route:id": "HX...", "status_en_route:en": "HX...", ...}. Variable 1 is
    # the ticket number.
    twilio_whatsapp_templates: dict[str, str] = {}

    # Which adapter answers SMS on the channel "sms": twilio (default when TWILIO_SMS_FROM is
    # set), android (an Android phone running SMS Gateway for Android) or smpp (an SMSC).
    sms_provider: Literal["twilio", "android", "smpp"] | None = None

    # Android phone gateway. Local mode: http://PHONE-IP:8080; cloud: https://api.sms-gate.app/3rdparty/v1
    sms_gateway_url: str | None = None
    sms_gateway_login: str = ""
    sms_gateway_password: SecretStr = SecretStr("")
    # The app's Settings > Webhooks > Signing Key.
    sms_gateway_signing_key: SecretStr = SecretStr("")
    sms_gateway_sim_number: int | None = None
    sms_gateway_timeout_seconds: float = 15.0
    sms_gateway_health_seconds: float = 60.0
    # Webhooks signed longer ago than this (or this far ahead) are refused: no replays.
    sms_gateway_webhook_tolerance_seconds: int = 300

    # SMPP 3.4 transceiver bind to an operator's or aggregator's SMSC (or Jasmin).
    smpp_host: str | None = None
    smpp_port: int = 2775
    smpp_system_id: str = ""
    smpp_password: SecretStr = SecretStr("")
    smpp_system_type: str = ""
    # The number reporters text: a short code or a long number (+62...).
    smpp_source_addr: str = ""
    # TON/NPI of that number; unset = derived from it (+62... international, digits unknown).
    smpp_source_ton: int | None = None
    smpp_source_npi: int | None = None
    # submit_sm per second allowed by the SMSC contract.
    smpp_throughput: float = 10.0
    smpp_enquire_link_seconds: float = 30.0
    smpp_response_timeout_seconds: float = 10.0
    smpp_reconnect_min_seconds: float = 1.0
    smpp_reconnect_max_seconds: float = 60.0
    # A concatenated SMS still missing parts after this long is handed over as it is.
    smpp_reassembly_seconds: float = 60.0

    geocoder_url: str | None = None
    # Development shortcut: comma-separated dispatcher tokens for /api, each `name:token` or a bare
    # token (then named token1, token2, ... by position). Read at start-up.
    sigap_api_tokens: SecretStr = SecretStr("")
    # The dispatcher token `sigap dispatch listen` uses when --token is not given.
    sigap_token: SecretStr = SecretStr("")

    # A conversation quiet for longer than this starts a new session (minutes).
    session_expiration_minutes: int = 60
    max_message_chars: int = 4096
    # `sigap serve` runs the deadline clock and the Redis relay itself; turn off when `sigap worker`
    # processes run them.
    run_workers_in_serve: bool = True

    # Reports of the same type this close in space (two points) and time are one incident.
    incident_radius_meters: float = 500.0
    incident_window_minutes: float = 30.0

    # Operator console: how long a login lasts, how many failed logins per name or address in
    # 15 minutes, and when a reporter who went silent after a call for help is marked.
    console_session_hours: float = 12.0
    console_login_attempts: int = 5
    console_silent_minutes: float = 5.0

    # Pranks and floods: a sender writing more than this many messages a minute, or whose prank
    # score (each prank 1, halved each week) reaches the limit, or marked abusive, gets at most
    # one reply per THROTTLE_REPLY_MINUTES. An emergency is always answered.
    sender_messages_per_minute: int = 12
    prank_throttle_score: float = 5.0
    throttle_reply_minutes: float = 10.0

    # A client that sends nothing of its request body for this long gets a 408.
    http_body_timeout_seconds: float = 10.0
    # First retry of a failed send; each further retry waits twice as long.
    outbox_first_retry_seconds: float = 1.0

    def named_api_tokens(self) -> dict[str, str]:
        """The configured dispatcher API tokens by name (the name is what events record)."""
        named: dict[str, str] = {}
        entries = [entry.strip() for entry in self.sigap_api_tokens.get_secret_value().split(",")]
        for position, entry in enumerate((e for e in entries if e), 1):
            name, _, token = entry.rpartition(":")
            named[name or f"token{position}"] = token
        return named


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings of this process, read once."""
    return Settings()
