"""All settings of Sigap 112 in one place (environment variables, also read from `.env`)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_DIR = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    """Process-wide settings; nothing else reads `os.environ`."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    database_url: str = f"sqlite:///{PROJECT_DIR / 'sigap.db'}"
    redis_url: str | None = None
    public_url: str = "http://127.0.0.1:8000"
    project_dir: Path = PROJECT_DIR
    models_dir: Path = PROJECT_DIR / "models"

    telegram_bot_token: SecretStr | None = None
    telegram_webhook_secret: SecretStr | None = None
    telegram_api_url: str = "https://api.telegram.org/bot"

    twilio_account_sid: str | None = None
    twilio_auth_token: SecretStr | None = None
    twilio_sms_from: str | None = None
    twilio_whatsapp_from: str | None = None
    twilio_api_url: str | None = None

    geocoder_url: str | None = None
    # Comma-separated bearer tokens of dispatchers allowed to use /api.
    sigap_api_tokens: SecretStr = SecretStr("")

    # A conversation quiet for longer than this starts a new session (minutes).
    session_expiration_minutes: int = 60
    max_message_chars: int = 4096
    # First retry of a failed send; each further retry waits twice as long.
    outbox_first_retry_seconds: float = 1.0

    def api_tokens(self) -> set[str]:
        """The configured dispatcher API tokens."""
        raw = self.sigap_api_tokens.get_secret_value()
        return {token.strip() for token in raw.split(",") if token.strip()}


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings of this process, read once."""
    return Settings()
