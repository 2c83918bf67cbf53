"""SMS_PROVIDER picks the one adapter that answers SMS; a second one configured is an error."""

from __future__ import annotations

import pytest
from pydantic import SecretStr, ValidationError

import channels
from bot.settings import Settings

TWILIO = {"twilio_account_sid": "AC" + "0" * 32, "twilio_auth_token": SecretStr("token"),
          "twilio_sms_from": "+15005550006"}
ANDROID = {"sms_gateway_url": "http://192.0.2.10:8080", "sms_gateway_password": SecretStr("pw"),
           "sms_gateway_signing_key": SecretStr("key")}
SMPP = {"smpp_host": "192.0.2.20", "smpp_system_id": "sigap", "smpp_source_addr": "112"}


def _sms_adapters(**values: object) -> list[str]:
    settings = Settings(_env_file=None, **values)  # type: ignore[arg-type]
    return [p.sender.__class__.__name__ for p in channels.plugins(settings) if p.name == "sms" and p.sender]


@pytest.mark.parametrize(("provider", "adapter"), [
    (None, "SmsSender"), ("twilio", "SmsSender"),
    ("android", "SmsGatewaySender"), ("smpp", "SmppSender"),
])
def test_the_provider_setting_picks_exactly_one_sms_adapter(provider: str | None, adapter: str) -> None:
    assert _sms_adapters(sms_provider=provider, **TWILIO, **ANDROID, **SMPP) == [adapter]


def test_a_provider_without_its_settings_stops_the_start_with_a_clear_message() -> None:
    with pytest.raises(ValueError, match="SMS_GATEWAY_URL"):
        _sms_adapters(sms_provider="android")
    with pytest.raises(ValueError, match="SMPP_HOST"):
        _sms_adapters(sms_provider="smpp")


def test_an_unknown_provider_is_refused() -> None:
    with pytest.raises(ValidationError):
        Settings(_env_file=None, sms_provider="pigeon")  # type: ignore[call-arg,arg-type]


def test_two_adapters_for_one_channel_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.plugins import configured_plugins

    monkeypatch.setattr(channels, "CHANNEL_MODULES", ("twilio_sms", "twilio_sms"))
    settings = Settings(_env_file=None, **TWILIO)  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="SMS_PROVIDER"):
        configured_plugins(settings, [channels])  # type: ignore[list-item]
