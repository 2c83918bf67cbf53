"""The console over HTTP, as operators use it: login and its protections, the board by region,
takeover, replies through the reporter's channel, hand back, close, ticket edits, supervisors,
the audit log, and a reporter who asks for a person."""

from __future__ import annotations

import itertools
import re
import uuid

import httpx
import pytest
from sqlalchemy import select

from bot.console.accounts import create_operator
from bot.storage.models import AuditEntry, Conversation, DispatchItem, OperatorSession, Ticket
from tests.bot.console.conftest import PASSWORD, Login, Operator, csrf_of
from tests.channels.fake_sms_gateway import FakeSmsGateway
from tests.conftest import API_TOKEN, RunningApp, conversation_of, eventually, rest_texts

AUTH = {"Authorization": f"Bearer {API_TOKEN}"}
_count = itertools.count()


def reporter() -> str:
    return f"pelapor-{uuid.uuid4().hex[:8]}"


def audit_actions(app: RunningApp, conversation_id: int) -> list[str]:
    with app.services.db.session() as session:
        return list(session.scalars(select(AuditEntry.action).where(
            AuditEntry.conversation_id == conversation_id).order_by(AuditEntry.id)))


# -- login -----------------------------------------------------------------------------------------
def test_every_console_page_needs_a_login(console_app: RunningApp) -> None:
    with httpx.Client(base_url=console_app.url, timeout=30) as anonymous:
        assert anonymous.get("/console/board").headers["location"] == "/console/login"
        assert anonymous.get("/console/supervisor").status_code == 303
        for path in ("/console/board/rows", "/console/events", "/console/c/x/transcript"):
            assert anonymous.get(path).status_code == 401
        assert anonymous.post("/console/c/x/take-over", data={"csrf": "x"}).status_code == 401


def test_a_session_cookie_is_http_only_strict_and_only_its_hash_is_kept(console_app: RunningApp) -> None:
    with httpx.Client(base_url=console_app.url, timeout=30) as http:
        page = http.get("/console/login")
        answer = http.post("/console/login", data={"csrf": csrf_of(page.text), "name": "sari",
                                                   "password": PASSWORD})
        cookie = next(h for h in answer.headers.get_list("set-cookie") if h.startswith("sigap_console="))
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/console" in cookie
        assert "Secure" not in cookie  # PUBLIC_URL is http here
        token = cookie.split(";")[0].split("=", 1)[1]
        with console_app.services.db.session() as session:
            hashes = list(session.scalars(select(OperatorSession.token_hash)))
        assert token not in hashes and len(hashes) >= 1


def test_a_wrong_password_fails_and_guessing_is_throttled(console_app: RunningApp) -> None:
    with httpx.Client(base_url=console_app.url, timeout=30) as http:
        token = csrf_of(http.get("/console/login").text)
        places = [http.post("/console/login", data={"csrf": token, "name": "eko", "password": f"x{n}"})
                  .headers["location"] for n in range(6)]
        assert places[:5] == ["/console/login?failed=wrong"] * 5
        assert places[5] == "/console/login?failed=throttled"
        # Even the right password waits now.
        right = http.post("/console/login", data={"csrf": token, "name": "eko", "password": PASSWORD})
        assert right.headers["location"] == "/console/login?failed=throttled"


def test_a_login_without_its_form_token_is_refused(console_app: RunningApp) -> None:
    answer = httpx.post(f"{console_app.url}/console/login", data={"name": "sari", "password": PASSWORD},
                        timeout=30)
    assert answer.status_code == 403


def test_an_action_without_the_sessions_form_token_changes_nothing(
    console_app: RunningApp, login: Login
) -> None:
    sender = reporter()
    rest_texts(console_app, sender, "kebakaran rumah di jalan pemuda kendal")
    public_id = conversation_of(console_app, sender).public_id
    sari: Operator = login("sari")
    for form in ({}, {"csrf": "wrong"}, {"csrf": sari.csrf[:-1]}):
        assert sari.http.post(f"/console/c/{public_id}/take-over", data=form).status_code == 403
    assert conversation_of(console_app, sender).held_by_operator is None


def test_pages_carry_a_strict_content_security_policy(console_app: RunningApp, login: Login) -> None:
    sari: Operator = login("sari")
    policy = sari.http.get("/console/board").headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert "<script>" not in sari.http.get("/console/board").text  # only <script src=...>


# -- the board, by region ---------------------------------------------------------------------------
def test_the_board_shows_a_report_to_its_regions_operators_only(
    console_app: RunningApp, login: Login
) -> None:
    sender = reporter()
    rest_texts(console_app, sender, "ada kebakaran rumah di kecamatan weleri kendal")
    conversation = conversation_of(console_app, sender)
    assert conversation.region == "33.24"
    sari, budi = login("sari"), login("budi")
    assert conversation.public_id in sari.http.get("/console/board/rows").text
    assert conversation.public_id not in budi.http.get("/console/board/rows").text
    assert budi.http.get(f"/console/c/{conversation.public_id}").status_code == 404
    assert budi.http.get(f"/console/c/{conversation.public_id}/transcript").status_code == 404
    assert budi.post(f"/console/c/{conversation.public_id}/take-over").status_code == 404
    assert conversation_of(console_app, sender).held_by_operator is None


def test_a_board_row_has_type_priority_place_channel_clock_and_reporters(
    console_app: RunningApp, login: Login
) -> None:
    first, second = reporter(), reporter()
    rest_texts(console_app, first, "rumah roboh di kaliwungu kendal, ada orang terjepit")
    rest_texts(console_app, second, "tolong rumah ambruk di kaliwungu kendal")
    sari: Operator = login("sari")
    rows = sari.http.get("/console/board/rows").text
    public_id = conversation_of(console_app, first).public_id
    row = re.search(rf'<tr[^>]*data-conversation="{public_id}".*?</tr>', rows, re.S)
    assert row, rows
    cells = re.sub(r"<[^>]+>", " ", row.group(0))
    assert "building_collapse" in cells and "critical" in cells and "rest" in cells
    assert "kaliwungu" in cells.lower()
    assert re.search(r"\b2\b", cells)  # two reporters of one incident
    assert 'class="deadline' in row.group(0) and 'class="since"' in row.group(0)


def test_a_failed_turn_and_unsure_messages_mark_the_conversation(
    console_app: RunningApp, login: Login
) -> None:
    # Two messages the model is unsure of (below 0.5, no hazard word), as this model parses them.
    nlu = console_app.app.state.conversations.nlu
    candidates = ["zzvq rrtp", "anu pak", "kok gitu", "lalu", "hmm anu", "qq ww", "eh itu", "yg td"]
    unsure = [t for t in candidates if (p := nlu.parse(t)).intent.confidence < 0.5 and not p.hazards]
    assert len(unsure) >= 2, "the candidates no longer puzzle the model: write others"
    sender = reporter()
    rest_texts(console_app, sender, unsure[0])
    assert conversation_of(console_app, sender).needs_person is None
    rest_texts(console_app, sender, unsure[1])
    assert conversation_of(console_app, sender).needs_person == "unsure_twice"
    sari: Operator = login("sari")
    rows = sari.http.get("/console/board/rows").text
    assert "NLU ragu dua kali" in rows


# -- takeover, replies, hand back, close ------------------------------------------------------------
def test_takeover_silences_the_bot_and_the_operator_speaks_on_the_reporters_channel(
    console_app: RunningApp, login: Login
) -> None:
    sender = reporter()
    rest_texts(console_app, sender, "kecelakaan motor di jalan raya kendal")
    conversation = conversation_of(console_app, sender)
    sari: Operator = login("sari")
    assert sari.post(f"/console/c/{conversation.public_id}/take-over").status_code == 303
    # The reporter's next message: the officer's note comes, the bot says nothing.
    told = rest_texts(console_app, sender, "orangnya berdarah di kepala")
    assert told == ["Petugas 112 sudah bergabung di percakapan ini dan akan membalas langsung. "
                    "Tetap di tempat aman."]
    path = f"/console/c/{conversation.public_id}"
    assert sari.post(f"{path}/reply", text="Ambulans menuju lokasi.").status_code == 303
    assert rest_texts(console_app, sender, "baik") == ["Ambulans menuju lokasi."]
    page = sari.http.get(f"/console/c/{conversation.public_id}").text
    assert "orangnya berdarah di kepala" in page and "Ambulans menuju lokasi." in page
    # Another operator cannot reply into a conversation they do not hold.
    tono: Operator = login("tono")
    refused = tono.post(f"/console/c/{conversation.public_id}/reply", text="halo")
    assert "error=" in refused.headers["location"]
    # Hand back: the bot answers again, where the dialogue stood.
    assert sari.post(f"/console/c/{conversation.public_id}/hand-back").status_code == 303
    again = rest_texts(console_app, sender, "laporan saya gimana?")
    assert again[0].startswith("Petugas 112 tetap memantau")
    assert len(again) >= 2 and "112-" in " ".join(again[1:])  # the bot's status answer
    assert audit_actions(console_app, conversation.id) == ["take_over", "reply", "hand_back"]


def test_close_takes_it_off_the_board_and_the_next_message_starts_afresh(
    console_app: RunningApp, login: Login
) -> None:
    sender = reporter()
    rest_texts(console_app, sender, "tes tes")
    conversation = conversation_of(console_app, sender)
    sari: Operator = login("sari")
    assert sari.post(f"/console/c/{conversation.public_id}/close").status_code == 303
    assert conversation.public_id not in sari.http.get("/console/board/rows").text
    assert conversation_of(console_app, sender).closed_at is not None
    answers = rest_texts(console_app, sender, "halo")
    assert answers[0].startswith("Percakapan ini ditutup")
    assert conversation_of(console_app, sender).closed_at is None


def test_an_sms_reply_must_fit_two_gsm7_segments(
    console_app: RunningApp, gateway: FakeSmsGateway, login: Login
) -> None:
    number = f"+62812{next(_count):07d}"
    payload = {"messageId": uuid.uuid4().hex, "message": "tolong ada banjir di kendal", "sender": number,
               "receivedAt": "2026-12-02T08:00:00.000+07:00"}
    assert gateway.post_webhook(console_app.url, "sms:received", payload).status_code == 200
    conversation = eventually(lambda: _maybe(console_app, number), "the SMS conversation")
    sari: Operator = login("sari")
    sari.post(f"/console/c/{conversation.public_id}/take-over")
    page = sari.http.get(f"/console/c/{conversation.public_id}").text
    assert 'data-limit="306"' in page and 'data-sms="yes"' in page
    too_long = sari.post(f"/console/c/{conversation.public_id}/reply", text="a" * 307)
    assert "SMS" in httpx.URL(too_long.headers["location"]).params["error"]
    assert sari.post(f"/console/c/{conversation.public_id}/reply", text="b" * 306).headers["location"] \
        == f"/console/c/{conversation.public_id}"


def _maybe(app: RunningApp, sender: str) -> Conversation | None:
    with app.services.db.session() as session:
        found = session.scalars(select(Conversation).where(Conversation.sender_id == sender)).first()
        if found is not None:
            session.expunge(found)
        return found


# -- ticket edits -------------------------------------------------------------------------------
def test_an_edit_of_the_type_re_routes_and_re_publishes(console_app: RunningApp, login: Login) -> None:
    sender = reporter()
    rest_texts(console_app, sender, "ada kebakaran di desa sumberrejo kendal")
    conversation = conversation_of(console_app, sender)
    with console_app.services.db.session() as session:
        ticket = session.scalars(select(Ticket).where(Ticket.conversation_id == conversation.id)).one()
        ticket_id, before = ticket.id, list(ticket.agencies)
        query = select(DispatchItem.id).where(DispatchItem.ticket_id == ticket_id)
        published = len(list(session.scalars(query)))
    assert "fire_rescue" in before
    sari: Operator = login("sari")
    answer = sari.post(f"/console/c/{conversation.public_id}/tickets/{ticket_id}",
                       type="medical", type_was="fire",
                       priority="critical", priority_was="", note="pelapor tuli, balas lewat chat")
    assert answer.headers["location"] == f"/console/c/{conversation.public_id}"
    with console_app.services.db.session() as session:
        ticket = session.get_one(Ticket, ticket_id)
        assert ticket.emergency_type == "medical" and ticket.agencies == ["ambulance"]
        assert ticket.priority == "critical" and ticket.priority_override == "critical"
        notices = list(session.scalars(select(DispatchItem).where(DispatchItem.ticket_id == ticket_id)))
        assert len(notices) > published
        assert any(n.payload.get("change") == "withdrawn" and n.agency == "fire_rescue" for n in notices)
        assert any(e.kind == "note" and e.actor == "operator:sari" for e in ticket.events)
    detail = httpx.get(f"{console_app.url}/api/tickets/{ticket_id}", headers=AUTH, timeout=30).json()
    assert detail["type"] == "medical"
    assert "edit" in audit_actions(console_app, conversation.id)


# -- a reporter asks for a person ------------------------------------------------------------------
def test_a_reporter_asking_for_a_person_is_marked_and_told_and_the_api_shows_it(
    console_app: RunningApp, login: Login
) -> None:
    sender = reporter()
    rest_texts(console_app, sender, "ada orang pingsan di alun-alun kendal")
    answers = rest_texts(console_app, sender, "mau bicara dengan petugas")
    assert any("Petugas 112 sudah diminta membalas" in a for a in answers)
    conversation = conversation_of(console_app, sender)
    assert conversation.needs_person == "request_human"
    with console_app.services.db.session() as session:
        ticket_id = session.scalars(select(Ticket.id).where(Ticket.conversation_id == conversation.id)).one()
    detail = httpx.get(f"{console_app.url}/api/tickets/{ticket_id}", headers=AUTH, timeout=30).json()
    assert detail["handoff_requested"] is True
    sari: Operator = login("sari")
    assert "pelapor minta petugas" in sari.http.get("/console/board/rows").text


# -- supervisors -------------------------------------------------------------------------------------
def test_supervisors_see_who_holds_what_reassign_and_read_the_audit_log(
    console_app: RunningApp, login: Login
) -> None:
    sender = reporter()
    rest_texts(console_app, sender, "pohon tumbang menutup jalan di kendal")
    conversation = conversation_of(console_app, sender)
    sari, wati = login("sari"), login("wati")
    assert sari.http.get("/console/supervisor").status_code == 403
    sari.post(f"/console/c/{conversation.public_id}/take-over")
    view = wati.http.get("/console/supervisor").text
    assert conversation.public_id in view and "sari" in view and "take_over" in view
    # budi serves another region.
    refused = wati.post(f"/console/c/{conversation.public_id}/reassign", to="budi")
    assert refused.headers["location"].startswith(f"/console/c/{conversation.public_id}?error=")
    assert wati.post(f"/console/c/{conversation.public_id}/reassign", to="tono", back="supervisor") \
        .headers["location"] == "/console/supervisor"
    assert conversation_of(console_app, sender).held_by_operator == "tono"
    assert audit_actions(console_app, conversation.id)[-1] == "reassign"


# -- untrusted text ------------------------------------------------------------------------------------
@pytest.mark.parametrize("text", [
    "<script>alert(1)</script> kebakaran",
    '<img src=x onerror="alert(2)"> banjir',
    '<a href="javascript:alert(3)">lihat</a> gempa',
])
def test_reporter_text_is_escaped_on_every_page(console_app: RunningApp, login: Login, text: str) -> None:
    sender = reporter()
    rest_texts(console_app, sender, text)
    conversation = conversation_of(console_app, sender)
    sari: Operator = login("sari")
    for page in (sari.http.get(f"/console/c/{conversation.public_id}").text,
                 sari.http.get(f"/console/c/{conversation.public_id}/transcript").text):
        assert "<script>alert" not in page and "<img src=x" not in page and '<a href="javascript:' not in page
        assert "&lt;" in page


# -- senders -------------------------------------------------------------------------------------------
def test_a_supervisor_marks_a_sender_abusive_and_clears_them_from_the_conversation_page(
    console_app: RunningApp, login: Login
) -> None:
    sender = reporter()
    rest_texts(console_app, sender, "tes tes iseng doang")
    conversation = conversation_of(console_app, sender)
    sari, wati = login("sari"), login("wati")
    page = f"/console/c/{conversation.public_id}"
    assert "mark-sender" not in sari.http.get(page).text  # operators see no such button
    refused = sari.post(f"{page}/sender/mark")
    assert "error=" in refused.headers["location"]
    assert conversation_of(console_app, sender).abusive_since is None
    seen = wati.http.get(page).text
    assert 'id="mark-sender"' in seen and ("1 iseng minggu ini" in seen or "1 pranks this week" in seen)
    wati.post(f"{page}/sender/mark")
    marked = conversation_of(console_app, sender)
    assert marked.abusive_since is not None and marked.abusive_by == "operator:wati"
    assert 'id="clear-sender"' in wati.http.get(page).text
    wati.post(f"{page}/sender/clear")
    cleared = conversation_of(console_app, sender)
    assert cleared.abusive_since is None and cleared.pranks == []
    assert audit_actions(console_app, conversation.id)[-2:] == ["mark_sender", "clear_sender"]


def test_the_supervisor_board_shows_a_chain_message_and_a_transcript_counts_repeats(
    console_app: RunningApp, login: Login
) -> None:
    chain = f"pesan berantai: kirim ke sepuluh orang atau sial seminggu, nomor {reporter()}"
    for _ in range(5):
        rest_texts(console_app, reporter(), chain)
    wati = login("wati")
    board = wati.http.get("/console/supervisor").text
    assert chain in board and ">5<" in board
    # Its senders are Kendal's (the default centre): Semarang's supervisor does not see it.
    name = f"rina{uuid.uuid4().hex[:4]}"
    create_operator(console_app.services.db, name, "supervisor", ["33.74"], PASSWORD)
    assert chain not in login(name).http.get("/console/supervisor").text
    sender = reporter()
    for _ in range(3):
        rest_texts(console_app, sender, "tolong kirim petugas ke sini sekarang juga")
    transcript = wati.http.get(f"/console/c/{conversation_of(console_app, sender).public_id}/transcript").text
    assert "×3" in transcript
