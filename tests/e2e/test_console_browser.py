"""The operator's journey in a real browser (Debian's Chromium driven by Playwright): log in, a
report appears live, take over, reply, hand back, script injection shown as text, a reporter who
asks for a person, a type edit that re-routes, and another region's operator who sees nothing.
Screenshots of the board, a conversation and the supervisor view go to artifacts/console/."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect, sync_playwright
from sqlalchemy import select

import channels
from bot.console.accounts import create_operator
from bot.settings import PROJECT_DIR, Settings
from bot.storage.models import Conversation, Ticket
from tests.conftest import API_TOKEN, IN_CI, RunningApp, conversation_of, rest_texts

CHROMIUM = "/usr/bin/chromium"
PASSWORD = "journey-112-sandi"
ARTIFACTS = Path(os.environ.get("SIGAP_ARTIFACTS", PROJECT_DIR / "artifacts")) / "console"



@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory, models_dir: Path) -> Iterator[RunningApp]:
    settings = Settings(_env_file=None,  # type: ignore[call-arg]
                        database_url=f"sqlite:///{tmp_path_factory.mktemp('journey') / 'sigap.db'}",
                        models_dir=models_dir, sigap_api_tokens=API_TOKEN,  # type: ignore[arg-type]
                        public_url="http://testserver")
    original = channels.CHANNEL_MODULES
    channels.CHANNEL_MODULES = ("rest",)
    try:
        with RunningApp(settings) as running:
            for name, role, region in (("sari", "operator", "33.24"), ("budi", "operator", "33.74"),
                                       ("wati", "supervisor", "33.24")):
                create_operator(running.services.db, name, role, [region], PASSWORD)
            yield running
    finally:
        channels.CHANNEL_MODULES = original


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists() or shutil.which("chromium") is None:
        message = "Debian's chromium is missing: `make test` installs it"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
        yield launched
        launched.close()


def _login(browser: Any, app: RunningApp, name: str) -> Any:
    context = browser.new_context(base_url=app.url)
    page = context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.dialogs = dialogs  # type: ignore[attr-defined]
    page.goto("/console/login")
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/console/board")
    return page


def _public_id(app: RunningApp, sender: str) -> str:
    return conversation_of(app, sender).public_id


def _shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_the_operators_journey(app: RunningApp, browser: Any) -> None:
    # 1. Log in.
    board = _login(browser, app, "sari")
    assert board.locator("h1").inner_text() == "Papan langsung"

    # 2. A report through the REST channel appears on the board live, without a reload.
    sender = f"pelapor-{uuid.uuid4().hex[:6]}"
    rest_texts(app, sender, "kebakaran rumah di desa sumberrejo kendal, tolong cepat")
    public_id = _public_id(app, sender)
    row = board.locator(f"tr[data-conversation='{public_id}']")
    row.wait_for(timeout=15_000)
    # The row comes with the message, its type with the turn's update right after.
    expect(row).to_contain_text("fire", timeout=15_000)
    _shot(board, "board")

    # 3. Open it and take over: the reporter is told that an officer joined.
    board.click(f"tr[data-conversation='{public_id}'] a.open")
    board.wait_for_url(f"**/console/c/{public_id}")
    board.click("#take-over")
    board.wait_for_selector("#hand-back")
    told = rest_texts(app, sender, "apinya makin besar")
    assert told[0].startswith("Petugas 112 sudah bergabung")
    assert len(told) == 1  # the bot is silent
    board.locator("#transcript").get_by_text("apinya makin besar").wait_for(timeout=15_000)

    # 4. The operator's reply (counted while typing) reaches the reporter.
    board.fill("#reply-text", "Damkar sedang menuju. Jauhi rumah dan jangan masuk lagi.")
    assert board.locator("#counter").inner_text() == "56"
    board.locator("button.quick-reply").first.click()
    assert board.input_value("#reply-text").startswith("Bantuan sedang menuju")
    board.fill("#reply-text", "Damkar sedang menuju. Jauhi rumah dan jangan masuk lagi.")
    board.click("#send")
    board.locator("#transcript .msg.operator").last.wait_for()
    assert rest_texts(app, sender, "baik pak") == ["Damkar sedang menuju. Jauhi rumah dan jangan masuk lagi."]
    _shot(board, "conversation")

    # 6. A script injection arrives live and is shown as text.
    rest_texts(app, sender, '<img src=x onerror="alert(1)"><script>alert(2)</script>')
    transcript = board.locator("#transcript")
    transcript.get_by_text("<script>alert(2)</script>", exact=False).wait_for(timeout=15_000)
    assert board.locator("#transcript img").count() == 0
    assert board.locator("#transcript script").count() == 0
    assert board.dialogs == []  # type: ignore[attr-defined]

    # 5. Hand back: the bot answers again.
    board.click("#hand-back")
    board.wait_for_selector("#take-over")
    again = rest_texts(app, sender, "laporan saya bagaimana?")
    assert again[0].startswith("Petugas 112 tetap memantau") and len(again) >= 2

    # 8. An edit of the type re-routes the ticket.
    board.reload()
    assert "fire_rescue" in board.locator(".agencies-now").first.inner_text()
    board.select_option("form.ticket select[name=type]", "medical")
    board.click("form.ticket button.save-ticket")
    board.wait_for_load_state()
    assert board.locator(".agencies-now").first.inner_text() == "ambulance"
    with app.services.db.session() as session:
        ticket = session.scalars(select(Ticket).join(Conversation, Conversation.id == Ticket.conversation_id)
                                 .where(Conversation.public_id == public_id)).one()
        assert (ticket.emergency_type, ticket.agencies) == ("medical", ["ambulance"])

    # 7. A reporter's "mau ngomong sama orang" marks the conversation, live.
    board.goto("/console/board")
    other = f"pelapor-{uuid.uuid4().hex[:6]}"
    answers = rest_texts(app, other, "mau ngomong sama orang")
    assert any("Petugas 112 sudah diminta membalas" in a for a in answers)
    marked = board.locator(f"tr[data-conversation='{_public_id(app, other)}'] .flag")
    marked.wait_for(timeout=15_000)
    assert "pelapor minta petugas" in marked.inner_text()

    # 9. An operator of another region sees neither.
    budi = _login(browser, app, "budi")
    assert budi.locator(f"tr[data-conversation='{public_id}']").count() == 0
    assert budi.goto(f"/console/c/{public_id}").status == 404

    # The supervisor view: escalations, who holds what, the audit log.
    wati = _login(browser, app, "wati")
    wati.goto("/console/supervisor")
    audit = wati.locator("table.audit").inner_text()
    assert "take_over" in audit and "reply" in audit and "hand_back" in audit and "edit" in audit
    wati.goto("/console/supervisor?lang=en")
    assert wati.locator("h2").first.inner_text() == "Escalations (deadline passed)"
    _shot(wati, "supervisor")
