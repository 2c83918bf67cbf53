"""The guidance protocols: complete, bilingual, SMS-sized, sourced, and free of harmful advice."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.dialogue.guidance import (
    EMERGENCY_TYPES,
    GUIDANCE_DIR,
    GuidanceError,
    Protocol,
    load_protocols,
    protocol_for,
    render,
)
from channels.gsm7 import is_gsm7, segments, septets

TOPICS = """cpr choking_adult choking_infant severe_bleeding burns electric_shock drowning snakebite
    animal_bite seizure stroke heart_attack road_accident_injured poisoning heat_stroke recovery_position
    childbirth building_fire gas_leak earthquake tsunami flood landslide volcano fallen_tree_power_line
    wild_animal violence_in_progress missing_child anaphylaxis breathing_difficulty""".split()
PROTOCOLS = load_protocols()
ALL = pytest.mark.parametrize("protocol", PROTOCOLS.values(), ids=list(PROTOCOLS))

# -- the forbidden-advice scan -------------------------------------------------------------------
# Rule: a forbidden phrase may appear only in a sentence that starts with a negation ("Jangan
# pakai pasta gigi", "Do not put ice on it"). A sentence ends at . ! ? ; or a line break, and a
# sequence or contrast word starts a new one, so "Jangan panik, lalu oleskan mentega" is caught.
# A colon does not end a sentence: write each positive instruction as a sentence of its own.
NEGATIONS = ("jangan", "tidak boleh", "dilarang", "do not", "don't", "dont", "never")
CONNECTORS = r",?\s+\b(?:lalu|kemudian|tapi|tetapi|namun|melainkan|then|but|instead)\b"
WOUNDS = {"burns", "snakebite", "animal_bite", "severe_bleeding"}
UNCONSCIOUS = set(TOPICS) - {"heat_stroke"}  # heat stroke: sips of water if fully awake is right
DISASTERS = {"building_fire", "earthquake", "tsunami", "flood", "gas_leak", "volcano", "landslide"}
# (what, pattern in Indonesian and English, topics it is forbidden in; None = every topic)
FORBIDDEN: list[tuple[str, str, set[str] | None]] = [
    ("toothpaste", r"pasta gigi|\bodol\b|toothpaste", None),
    ("butter/margarine", r"mentega|margarin|butter", None),
    ("soy sauce", r"\bkecap\b|soy sauce", None),
    ("oil on wounds/burns", r"minyak|\boil\b|bensin|petrol", WOUNDS),
    ("kerosene", r"minyak tanah|kerosene", None),
    ("ice on burns/bites", r"\bes\b|es batu|\bice\b|air es", {"burns", "snakebite"}),
    ("creams, powders on burns", r"salep|\bkrim\b|bedak|tepung|ointment|cream|powder|flour", {"burns"}),
    ("popping blisters", r"pecahkan (lepuh|gelembung)|\b(pop|burst)\b.*blister", {"burns"}),
    ("tourniquet, tight binding", r"torniket|tourniquet|\bikat|balut (kencang|erat)|\btie\b|tight|bind",
     {"snakebite"}),
    ("cutting, sucking", r"\bsayat|\biris\b|\bcut\b|incis|\bsedot|\bhisap|\bisap\b|\bsuck", {"snakebite"}),
    ("electric shock", r"kejut listrik|setrum|electric shock|stun gun", {"snakebite"}),
    ("catching or killing the animal",
     r"\bme?nangkap|tangkap|bunuh|\bcatch|\bkill", {"snakebite", "wild_animal"}),
    ("something in a seizing mouth", r"\bke (dalam )?mulut|sendok|(in|into) (the|his|her|their) mouth|spoon",
     {"seizure"}),
    ("restraining a seizure",
     r"\bpegangi\b|tahan (badan|tubuh|gerak)|restrain|hold (him|her|them|the person) down", {"seizure"}),
    ("blind finger sweep", r"korek (mulut|tenggorokan)|mengorek mulut|sweep the mouth|fingers? (in|into) the",
     {"choking_adult", "choking_infant", "seizure", "poisoning"}),
    ("abdominal thrusts on a baby", r"\bperut|belly|abdom|stomach|heimlich", {"choking_infant"}),
    ("drink or food for the unconscious", r"\bberi(kan)? (dia )?(minum|makan|air)\b|kasih minum|"
     r"give (him |her |them |the person )?(water|a drink|food|drink|something to drink)", UNCONSCIOUS),
    ("coffee, slapping, smells to wake", r"\bkopi\b|coffee|tampar|\bslap|minyak angin|balsem|smelling salt|"
     r"air ke wajah|splash (water )?on (the|his|her|their) face", None),
    ("the lift in a fire or quake", r"\blift\b|\blif\b|elevator", DISASTERS),
    ("going to the shore",
     r"\bke (tepi )?pantai\b|\bke laut\b|to the (beach|shore|sea)\b|watch the (sea|wave)", None),
    ("waiting for a tsunami siren",
     r"tunggu (sirene|peringatan|perintah)|wait for (a |the )?(siren|warning|order)", {"tsunami"}),
    ("inducing vomiting", r"muntahkan|paksa (dia )?muntah|buat (dia )?muntah|induce vomit|"
     r"make (the person|him|her|them) (vomit|throw up)", None),
    ("milk or coconut water for poisoning", r"\bsusu\b|air kelapa|\bmilk\b|coconut", {"poisoning"}),
    ("pulling out an impaled object", r"\bcabut\b|pull (it |them )?out|remove the (object|knife|stick)",
     {"severe_bleeding", "road_accident_injured"}),
    ("taking off a helmet",
     r"(lepas|buka)(kan)? helm|(remove|take off) (the |his |her |a )?(\w+'s )?helmet", None),
    ("touching a live victim or wire", r"\bsentuh\b|\bpegang\b|tarik (dia|tubuh|badan|korban)|\btouch|\bgrab|"
     r"pull (him|her|them|the person)", {"electric_shock", "fallen_tree_power_line"}),
    ("draining a drowned person",
     r"tekan perut|keluarkan air|membalik badan|upside down|press (on )?the belly", {"drowning"}),
    ("going back into a fire", r"kembali (masuk|ke dalam)|masuk lagi|go back (in|inside)|ambil barang",
     {"building_fire"}),
    ("sparks near a gas leak", r"nyalakan|\bkorek\b|rokok|saklar|lighter|cigarette|switch|turn (on|off)|plug",
     {"gas_leak"}),
    ("outdated quake advice", r"segitiga kehidupan|triangle of life|kusen pintu|doorway|lari keluar|run out",
     {"earthquake"}),
    ("walking through floodwater",
     r"menyeberang|seberangi|menembus arus|berenang|(walk|drive|swim) (through|across)", {"flood"}),
    ("pulling the baby, cutting the cord",
     r"tarik (bayi|tali)|pull (the )?(baby|cord)|potong tali|cut the cord", {"childbirth"}),
    ("needles, pricking", r"tusuk|jarum|needle|prick", None),
    ("pulse checks, alcohol, coin rubbing", r"(periksa|cek|raba) nadi|check (for )?(a |the )?pulse|alkohol|"
     r"alcohol|kerok|coin rub", None),
    ("confronting an attacker", r"\blawan\b|melawan|hadapi|confront|fight back|teriak|shout|scream",
     {"violence_in_progress"}),
    ("waiting 24 hours", r"tunggu 24 jam|wait 24 hours", None),
]


def positive_sentences(text: str) -> list[str]:
    """The parts of a text that tell someone to do something (not starting with a negation)."""
    parts = [p for s in re.split(r"(?<=[.!?;])\s+|\n", text) for p in re.split(CONNECTORS, s, flags=re.I)]
    return [p.strip() for p in parts if p.strip() and not p.strip().lower().startswith(NEGATIONS)]


def harmful_advice(topic: str, text: str) -> list[str]:
    """The forbidden things a text tells someone to do in a protocol of `topic`."""
    return [what for sentence in positive_sentences(text) for what, pattern, topics in FORBIDDEN
            if (topics is None or topic in topics) and re.search(pattern, sentence, re.I)]


@ALL
def test_no_protocol_tells_anyone_to_do_a_forbidden_thing(protocol: Protocol) -> None:
    found = [(lang, text.get(lang), harmful) for text in protocol.texts() for lang in ("id", "en")
             if (harmful := harmful_advice(protocol.topic, text.get(lang)))]
    assert found == []


@pytest.mark.parametrize(("topic", "text"), [
    ("burns", "Oleskan pasta gigi pada luka bakar."),
    ("burns", "Siram dengan air. Lalu beri mentega."),
    ("burns", "Jangan panik, lalu oleskan minyak."),
    ("burns", "Put butter or ice on the burn."),
    ("snakebite", "Ikat kencang di atas gigitan."),
    ("snakebite", "Do not panic, but suck out the venom."),
    ("seizure", "Masukkan sendok ke mulutnya agar lidah tidak tergigit."),
    ("recovery_position", "Beri minum air hangat supaya dia sadar."),
    ("cpr", "Give him coffee and slap his face."),
    ("building_fire", "Turun pakai lift secepatnya."),
    ("tsunami", "Saat air laut surut, pergi ke pantai untuk melihat."),
    ("poisoning", "Buat dia muntah dengan minum susu."),
    ("severe_bleeding", "Cabut pisaunya pelan-pelan."),
    ("road_accident_injured", "Lepaskan helm pengendara agar bisa bernapas."),
    ("electric_shock", "Tarik dia dari kabel dengan cepat."),
    ("stroke", "Tusuk ujung jarinya dengan jarum."),
])
def test_the_scan_catches_a_bad_instruction(topic: str, text: str) -> None:
    assert harmful_advice(topic, text)


@pytest.mark.parametrize(("topic", "text"), [
    ("burns", "JANGAN pakai pasta gigi, mentega, kecap atau es."),
    ("burns", "Do not put toothpaste, butter or ice on it. Cool it with running water."),
    ("snakebite", "Jangan ikat, sayat, atau hisap gigitan."),
    ("seizure", "Jangan masukkan apa pun ke mulutnya: tidak sendok."),
    ("tsunami", "Jangan pergi ke pantai, juga saat air laut surut."),
    ("heat_stroke", "Beri minum air dingin sedikit demi sedikit."),
])
def test_the_scan_allows_warnings_against_a_bad_instruction(topic: str, text: str) -> None:
    assert harmful_advice(topic, text) == []


# -- completeness and form -----------------------------------------------------------------------
def test_every_topic_has_exactly_one_protocol_file() -> None:
    assert sorted(PROTOCOLS) == sorted(TOPICS)
    assert sorted(p.stem for p in GUIDANCE_DIR.glob("*.yml")) == sorted([*TOPICS, "index"])


@ALL
def test_every_text_is_written_in_both_languages(protocol: Protocol) -> None:
    for text in protocol.texts():
        assert text.id.strip() and text.en.strip(), text
    for step in protocol.steps:  # a title may be the same word in both ("Tsunami"), a step not
        assert step.text.id != step.text.en, step


@ALL
def test_every_sms_message_is_gsm7_and_at_most_two_segments(protocol: Protocol) -> None:
    starts = [None, *(step.id for step in protocol.steps)]
    messages = [m for lang in ("id", "en") for s in starts for m in render(protocol, lang, "sms", s)]
    messages += [protocol.repeat.say.get(lang) for lang in ("id", "en")] if protocol.repeat else []
    for message in messages:
        assert is_gsm7(message) and segments(message) <= 2, message
    for text in protocol.texts():  # a numbered step ("12. ...") still fits one segment
        assert septets("12. " + text.id) <= 153 and septets("12. " + text.en) <= 153, text


@ALL
def test_every_question_says_how_to_answer_and_every_branch_leads_somewhere(protocol: Protocol) -> None:
    ids = {step.id for step in protocol.steps}
    for step in protocol.steps:
        if step.ask is None:
            continue
        assert "Balas YA atau TIDAK" in step.ask.id and "Reply YES or NO" in step.ask.en
        for target in (step.yes, step.no):
            assert target in ids or (target or "").removeprefix("protocol:") in PROTOCOLS


@ALL
def test_every_protocol_cites_its_sources(protocol: Protocol) -> None:
    assert protocol.sources
    for source in protocol.sources:
        assert source.title and source.publisher and 2000 <= source.year <= 2026
        assert source.url.startswith("https://")
    assert "sources:" in (GUIDANCE_DIR / f"{protocol.topic}.yml").read_text(encoding="utf-8")


# -- choosing and rendering ----------------------------------------------------------------------
@pytest.mark.parametrize(("kind", "cues", "topic"), [
    ("medical", ["not_breathing"], "cpr"),
    ("medical", ["unconscious", "not_breathing"], "cpr"),
    ("medical", ["unconscious"], "recovery_position"),
    ("fire", ["not_breathing"], "cpr"),  # a cue wins over the type
    ("fire", ["fire_spreading", "not_breathing"], "building_fire"),  # the reporter's danger first
    ("fire", [], "building_fire"),
    ("crime", ["weapon"], "violence_in_progress"),
    ("violence_domestic", ["unconscious", "attacker_present"], "violence_in_progress"),
    ("violence_domestic", [], "violence_in_progress"),
    ("traffic_accident", ["heavy_bleeding"], "severe_bleeding"),
    ("electrical_gas", ["electrocution", "not_breathing"], "electric_shock"),  # never touch first
    ("electrical_gas", [], "gas_leak"),
    ("missing_person", [], "missing_child"),
    (None, ["labour"], "childbirth"),
])
def test_a_cue_wins_over_the_type_and_each_type_has_its_default(
    kind: str | None, cues: list[str], topic: str
) -> None:
    protocol = protocol_for(kind, cues)
    assert protocol is not None and protocol.topic == topic


@pytest.mark.parametrize(("kind", "cues"), [("medical", []), ("crime", []), (None, []), ("unknown", ["x"])])
def test_no_protocol_where_none_fits(kind: str | None, cues: list[str]) -> None:
    assert protocol_for(kind, cues) is None


def test_steps_are_numbered_chat_joins_three_and_sms_as_many_as_fit_two_segments() -> None:
    cpr = PROTOCOLS["cpr"]
    sms, chat = render(cpr, "id", "sms"), render(cpr, "id", "whatsapp")
    asked = next(step for step in cpr.steps if step.ask)
    assert asked.ask and sms[-1] == chat[-1] == asked.ask.id
    assert chat[0].startswith("1. Tekan dada") and "\n2. " in chat[0] and chat[1].startswith("4. ")
    # Numbered, so that SMS arriving out of order still read right; fewer texts than steps.
    said = cpr.steps.index(asked)
    numbers = [int(line.split(".")[0]) for message in sms[:-1] for line in message.split("\n")]
    assert numbers == list(range(1, said + 1))
    assert len(sms) - 1 < said and all(segments(m) <= 2 for m in sms)
    last, stop = cpr.step("keep_going").text.en, cpr.stop_when.en if cpr.stop_when else ""
    assert render(cpr, "en", "sms", start="keep_going") == [f"1. {last}\n2. {stop}"]
    assert render(cpr, "en", "telegram", start="keep_going") == [f"1. {last}\n2. {stop}"]


def test_a_question_the_report_already_answers_is_not_asked() -> None:
    wild = PROTOCOLS["wild_animal"]
    bees = render(wild, "en", "telegram", facts="banyak tawon di sawah")
    assert not any("snake" in message for message in bees)
    snake = render(wild, "id", "telegram", facts="ada ular masuk kamar anak")
    assert "tutup pintunya" in " ".join(snake)  # the snake-indoors branch, unasked
    asked = render(wild, "en", "telegram")
    assert asked[-1] == wild.step("snake_inside").text.en  # nothing said: asked


def test_an_answered_question_may_lead_into_another_protocol() -> None:
    from bot.dialogue.guidance import turn

    done = turn(PROTOCOLS["wild_animal"], facts="anjing itu ada di jalan, adik saya digigit")
    assert done.protocol.topic == "animal_bite"


def test_cpr_tells_the_current_rate_depth_and_place_and_keeps_encouraging() -> None:
    cpr = PROTOCOLS["cpr"]
    text = " ".join(t.id + " " + t.en for t in cpr.texts())
    assert "100-120" in text and "5-6 cm" in text and "centre of the chest" in text and "AED" in text
    assert cpr.repeat and cpr.repeat.every_seconds <= 120 and cpr.stop_when
    assert render(cpr, "id", "sms")[0].lower().startswith("1. tekan dada")


def test_the_violence_protocol_is_quiet_short_and_names_the_stop_words() -> None:
    violence = PROTOCOLS["violence_in_progress"]
    assert violence.quiet and not any(step.ask for step in violence.steps) and len(violence.steps) <= 5
    first = violence.steps[0].text
    assert all(word in first.id and word in first.en for word in ("STOP", "DIAM"))
    assert not any(p.quiet for p in PROTOCOLS.values() if p is not violence)


# -- the loader refuses broken files -------------------------------------------------------------
GOOD = """topic: demo
title: {id: "Contoh", en: "Example"}
emergency_types: [medical]
cues: []
sources: [{title: "T", publisher: "P", year: 2020, url: "https://example.org"}]
steps:
  - id: ask
    ask: {id: "Bernapas? Balas YA atau TIDAK.", en: "Breathing? Reply YES or NO."}
    "yes": fine
    "no": protocol:demo
  - id: fine
    say: {id: "Bagus.", en: "Good."}
"""


def _load_demo(folder: Path, text: str) -> dict[str, Protocol]:
    (folder / "demo.yml").write_text(text, encoding="utf-8")
    types = "".join(f"\n  {kind}: null" for kind in sorted(EMERGENCY_TYPES))
    (folder / "index.yml").write_text(f"cues: []\ntypes:{types}\n", encoding="utf-8")
    return load_protocols(folder)


def test_a_well_formed_protocol_loads(tmp_path: Path) -> None:
    demo = _load_demo(tmp_path, GOOD)["demo"]
    assert demo.step("ask").yes == "fine" and demo.sources[0].year == 2020


@pytest.mark.parametrize(("change", "message"), [
    (('en: "Good."', 'fr: "Bon."'), "needs exactly the languages"),
    (('"yes": fine', '"yes": nowhere'), "unknown next step 'nowhere'"),
    (("protocol:demo", "protocol:missing"), "do not exist"),
    (("cues: []", "cues: [sneezing]"), "unknown names ['sneezing']"),
    (("[medical]", "[picnic]"), "unknown names ['picnic']"),
    (('"Bagus."', '"\u201cBagus\u201d"'), "not GSM-7"),
    (('"Bagus."', '"' + "Bagus sekali. " * 12 + '"'), "over one SMS part"),
    (('"no": protocol:demo', '"no": protocol:demo\n    answered_by: {"yes": ["(unclosed"]}'),
     "answered_by"),
    (('"yes": fine', "yes: fine"), 'quote the branch keys, "yes" and "no"'),
    (('sources: [{title: "T", publisher: "P", year: 2020, url: "https://example.org"}]', "sources: []"),
     "cite at least one"),
    (('en: "Good."}\n', 'en: "Good."}\n    end: true\n  - id: orphan\n    say: {id: "a", en: "b"}\n'),
     "no path reaches: ['orphan']"),
])
def test_the_loader_refuses_a_broken_protocol_with_a_clear_error(
    tmp_path: Path, change: tuple[str, str], message: str
) -> None:
    with pytest.raises(GuidanceError, match=re.escape(message)):
        _load_demo(tmp_path, GOOD.replace(*change))
