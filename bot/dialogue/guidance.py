"""First-aid and safety protocols (guidance/*.yml, see its README.md): load, check, choose, render."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

GUIDANCE_DIR = Path(__file__).resolve().parent.parent.parent / "guidance"
INDEX_FILE = "index.yml"
LANGUAGES = ("id", "en")
# One part of a concatenated SMS, less room for the step number ("12. "): an SMS step is one
# billed segment, numbered so it reads right even when the network delivers it out of order.
# (Characters: the texts are plain ASCII, one GSM-7 septet each; tests/guidance checks the real
# SMS encoding and segments, which are a channel's business, not the dialogue's.)
MAX_TEXT_CHARS = 153 - 4
SMS_CHANNEL = "sms"
# SMS joins numbered steps into messages of at most two segments (the limit of every SMS reply).
SMS_MESSAGE_CHARS = 2 * 153
# Chat channels join consecutive `say` steps into numbered messages of at most this many.
CHAT_STEPS_PER_MESSAGE = 3
SWITCH_PREFIX = "protocol:"
# The taxonomy of DESIGN.md: emergency types and critical cues.
EMERGENCY_TYPES = frozenset("""fire traffic_accident medical crime violence_domestic flood earthquake
    landslide tsunami volcano fallen_tree wild_animal drowning_water_rescue missing_person
    building_collapse electrical_gas public_disturbance other_disaster""".split())
CUES = frozenset("""not_breathing unconscious heavy_bleeding trapped fire_spreading weapon child_in_danger
    attacker_present choking seizure burn electrocution drowning snakebite labour breathing_difficulty
    anaphylaxis""".split())
_PROTOCOL_KEYS = set("topic title emergency_types cues quiet sources steps repeat stop_when".split())
_STEP_KEYS = {"id", "say", "ask", "yes", "no", "end", "answered_by"}
_SOURCE_KEYS = {"title", "publisher", "year", "url"}
_STEP_ID = re.compile(r"[a-z][a-z0-9_]*")


class GuidanceError(ValueError):
    """A protocol file is incomplete or breaks a rule of the format."""


@dataclass(frozen=True)
class Text:
    """One text in Indonesian (`id`) and English (`en`)."""
    id: str
    en: str

    def get(self, lang: str) -> str:
        """The text in `lang`; Indonesian when the language is neither."""
        return self.en if lang == "en" else self.id


@dataclass(frozen=True)
class Source:
    """A publication the protocol follows."""
    title: str
    publisher: str
    year: int
    url: str


@dataclass(frozen=True)
class Step:
    """One action (`say`, `end` stops its branch) or one YES/NO question (`ask`) and its next steps."""
    id: str
    say: Text | None = None
    ask: Text | None = None
    yes: str | None = None
    no: str | None = None
    end: bool = False
    # What the reporter already said that answers the question: patterns on their words, by
    # answer. The question is skipped and its branch taken ("Is it a snake?" after "bees").
    answered_by: tuple[tuple[str, re.Pattern[str]], ...] = ()

    def known_answer(self, facts: str) -> str | None:
        """The branch ("yes"/"no") the reporter's words already answer, if any."""
        for answer, pattern in self.answered_by:
            if pattern.search(facts):
                return answer
        return None

    @property
    def text(self) -> Text:
        """What the step says or asks (the loader allows no step without one)."""
        return self.say or self.ask or Text("", "")


@dataclass(frozen=True)
class Repeat:
    """Encouragement sent every `every_seconds` while the reporter stays (CPR)."""
    every_seconds: int
    say: Text


@dataclass(frozen=True)
class Protocol:
    """One situation's protocol: ordered steps, its sources, and the cues that start it."""
    topic: str
    title: Text
    emergency_types: tuple[str, ...]
    cues: tuple[str, ...]
    quiet: bool
    sources: tuple[Source, ...]
    steps: tuple[Step, ...]
    repeat: Repeat | None = None
    stop_when: Text | None = None

    def step(self, step_id: str) -> Step:
        """The step with this id (KeyError if there is none)."""
        return {step.id: step for step in self.steps}[step_id]

    def texts(self) -> list[Text]:
        """Every text of the protocol: title, steps, repeat, stop_when."""
        extra = [self.repeat.say] if self.repeat else []
        return [self.title, *(step.text for step in self.steps), *extra, *filter(None, [self.stop_when])]


def load_protocols(path: Path | str | None = None) -> dict[str, Protocol]:
    """Every protocol of the guidance folder by topic, checked (cached per folder)."""
    return dict(_load(Path(path or GUIDANCE_DIR).resolve())[0])


def protocol_for(emergency_type: str | None, cues: Iterable[str],
                 path: Path | str | None = None) -> Protocol | None:
    """The protocol to start: the highest-priority cue present wins, else the type's default."""
    protocols, cue_order, type_defaults = _load(Path(path or GUIDANCE_DIR).resolve())
    present = set(cues)
    topic = next((t for c, t in cue_order if c in present), None) or type_defaults.get(emergency_type or "")
    return protocols[topic] if topic else None


@dataclass(frozen=True)
class Turn:
    """What one turn of guidance says: steps (each with its protocol), the check question that
    ends it, and the protocol where it ends (a known answer may lead into another)."""

    said: tuple[tuple[Protocol, Step], ...]
    question: Step | None
    protocol: Protocol


def turn(protocol: Protocol, start: str | None = None, facts: str = "",
         protocols: dict[str, Protocol] | None = None) -> Turn:
    """The steps one turn says from `start` (default: the first step), in file order, and the
    check question that ends the turn (None when the branch ends first). A question that
    `facts` (the reporter's words, lower case) already answers is not asked: its branch is taken."""
    step_id = start or protocol.steps[0].id
    said: list[tuple[Protocol, Step]] = []
    seen: set[tuple[str, str]] = set()
    while (protocol.topic, step_id) not in seen:
        seen.add((protocol.topic, step_id))
        index = protocol.steps.index(protocol.step(step_id))
        for step in protocol.steps[index:]:
            if step.ask:
                answer = step.known_answer(facts) if facts else None
                if answer is None:
                    return Turn(tuple(said), step, protocol)
                target = step.yes if answer == "yes" else step.no
                protocol, step_id = _follow(protocol, target or "", protocols)
                break
            said.append((protocol, step))
            if step.end:
                return Turn(tuple(said), None, protocol)
        else:
            return Turn(tuple(said), None, protocol)
    return Turn(tuple(said), None, protocol)


def _follow(protocol: Protocol, target: str, protocols: dict[str, Protocol] | None) -> tuple[Protocol, str]:
    if target.startswith(SWITCH_PREFIX):
        other = (protocols or load_protocols())[target.removeprefix(SWITCH_PREFIX)]
        return other, other.steps[0].id
    return protocol, target


def render(protocol: Protocol, lang: str, channel: str, start: str | None = None,
           facts: str = "", protocols: dict[str, Protocol] | None = None) -> list[str]:
    """The messages of one turn from `start` (default: the first step), exactly as they are sent.

    The turn's steps, then its question; a turn that ends the branch adds the `stop_when` of the
    protocol it ends in. The texts before a question are numbered "1. ..."; chat joins them
    CHAT_STEPS_PER_MESSAGE per message, SMS as many as fit in two segments; a lone text stays plain.
    """
    done = turn(protocol, start, facts, protocols)
    texts = [step.text.get(lang) for _protocol, step in done.said]
    if done.question is not None:
        return [*_join(texts, channel), done.question.text.get(lang)]
    if done.protocol.stop_when:
        texts.append(done.protocol.stop_when.get(lang))
    return _join(texts, channel)


def _join(texts: list[str], channel: str) -> list[str]:
    if len(texts) <= 1:
        return list(texts)
    numbered = [f"{i}. {text}" for i, text in enumerate(texts, 1)]
    if channel != SMS_CHANNEL:
        size = CHAT_STEPS_PER_MESSAGE
        return ["\n".join(numbered[n:n + size]) for n in range(0, len(numbered), size)]
    messages: list[str] = []
    for text in numbered:
        joined = f"{messages[-1]}\n{text}" if messages else text
        if messages and len(joined) <= SMS_MESSAGE_CHARS:
            messages[-1] = joined
        else:
            messages.append(text)
    return messages


# Protocols by topic, index.yml's cues in priority order (cue, topic), and its type defaults.
_Loaded = tuple[dict[str, Protocol], tuple[tuple[str, str], ...], dict[str, str | None]]


@lru_cache(maxsize=8)
def _load(folder: Path) -> _Loaded:
    files = [file for file in sorted(folder.glob("*.yml")) if file.name != INDEX_FILE]
    _require(bool(files), f"{folder}: no protocols")
    protocols = {file.stem: _protocol(_read(file), file.name, file.stem) for file in files}
    switches = {(f"{p.topic}.{s.id}", t.removeprefix(SWITCH_PREFIX)) for p in protocols.values()
                for s in p.steps for t in (s.yes or "", s.no or "") if t.startswith(SWITCH_PREFIX)}
    unknown = sorted(switch for switch in switches if switch[1] not in protocols)
    _require(not unknown, f"switches to protocols that do not exist (step, topic): {unknown}")
    return protocols, *_index(_read(folder / INDEX_FILE), protocols)


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise GuidanceError(message)


def _read(file: Path) -> dict[Any, Any]:
    try:
        raw = yaml.safe_load(file.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise GuidanceError(f"{file.name}: cannot read: {error}") from error
    _require(isinstance(raw, dict), f"{file.name}: expected a mapping")
    return raw


def _protocol(raw: dict[Any, Any], where: str, topic: str) -> Protocol:
    _keys(raw, _PROTOCOL_KEYS, where)
    _require(raw.get("topic") == topic, f"{where}: topic must be {topic!r}, the file name")
    sources, steps, repeat = raw.get("sources") or [], raw.get("steps") or [], raw.get("repeat")
    _require(isinstance(sources, list) and isinstance(steps, list) and bool(sources) and bool(steps),
             f"{where}: sources (cite at least one) and steps (at least one) must be lists")
    _require(isinstance(raw.get("quiet", False), bool), f"{where}: quiet must be true or false")
    protocol = Protocol(
        topic=topic,
        title=_text(raw.get("title"), f"{where}: title"),
        emergency_types=_names(raw.get("emergency_types"), EMERGENCY_TYPES, f"{where}: emergency_types"),
        cues=_names(raw.get("cues", []), CUES, f"{where}: cues", allow_empty=True),
        quiet=raw.get("quiet", False),
        sources=tuple(_source(s, f"{where}: sources[{i}]") for i, s in enumerate(sources)),
        steps=tuple(_step(s, f"{where}: steps[{i}]") for i, s in enumerate(steps)),
        repeat=None if repeat is None else _repeat(repeat, f"{where}: repeat"),
        stop_when=_text(raw["stop_when"], f"{where}: stop_when") if "stop_when" in raw else None,
    )
    _check_flow(protocol, where)
    return protocol


def _keys(raw: dict[Any, Any], allowed: set[str], where: str) -> None:
    _require(True not in raw and False not in raw,  # YAML 1.1 reads a bare yes/no key as a boolean
             f'{where}: quote the branch keys, "yes" and "no"')
    unknown = sorted(map(str, set(raw) - allowed))
    _require(not unknown, f"{where}: unknown keys {unknown}")


def _names(raw: Any, known: frozenset[str], where: str, allow_empty: bool = False) -> tuple[str, ...]:
    _require(isinstance(raw, list) and (allow_empty or bool(raw)), f"{where}: expected a list of names")
    unknown = sorted(str(name) for name in raw if name not in known)
    _require(not unknown, f"{where}: unknown names {unknown}")
    return tuple(raw)


def _text(raw: Any, where: str) -> Text:
    _require(isinstance(raw, dict) and set(raw) == set(LANGUAGES),
             f"{where}: needs exactly the languages {list(LANGUAGES)}")
    for lang in LANGUAGES:
        value = raw[lang]
        _require(isinstance(value, str) and bool(value.strip()), f"{where}.{lang}: empty or not text")
        bad = sorted({char for char in value if not (char.isascii() and char.isprintable())})
        # Plain printable ASCII: every SMS encoding carries it, and GSM-7 in one septet a character
        # (tests/guidance checks the GSM-7 encoding itself).
        _require(not bad, f"{where}.{lang}: not plain text, not GSM-7 (the SMS would go UCS-2): {bad}")
        _require(len(value) <= MAX_TEXT_CHARS,
                 f"{where}.{lang}: {len(value)} characters, over one SMS part ({MAX_TEXT_CHARS})")
    return Text(id=raw["id"].strip(), en=raw["en"].strip())


def _source(raw: Any, where: str) -> Source:
    _require(isinstance(raw, dict) and set(raw) == _SOURCE_KEYS, f"{where}: needs {sorted(_SOURCE_KEYS)}")
    _require(all(isinstance(raw[key], str) and raw[key].strip() for key in ("title", "publisher", "url"))
             and isinstance(raw["year"], int) and 1900 < raw["year"] < 2100 and raw["url"].startswith("https://"),
             f"{where}: title, publisher, url (https://...) are text and year a number like 2020")
    return Source(raw["title"], raw["publisher"], raw["year"], raw["url"])


def _step(raw: Any, where: str) -> Step:
    _require(isinstance(raw, dict), f"{where}: expected a mapping")
    _keys(raw, _STEP_KEYS, where)
    step_id = raw.get("id")
    _require(isinstance(step_id, str) and bool(_STEP_ID.fullmatch(step_id)), f"{where}: id: lower_snake_case")
    where = f"{where} ({step_id})"
    _require(("say" in raw) != ("ask" in raw), f"{where}: either `say` (one action) or `ask` (a question)")
    if "ask" in raw:
        _require(all(isinstance(raw.get(key), str) for key in ("yes", "no")) and "end" not in raw,
                 f'{where}: a question needs "yes" and "no" next steps, and no `end`')
        return Step(step_id, ask=_text(raw["ask"], f"{where}: ask"), yes=raw["yes"], no=raw["no"],
                    answered_by=_answers(raw.get("answered_by"), f"{where}: answered_by"))
    _require("yes" not in raw and "no" not in raw and "answered_by" not in raw,
             f'{where}: only a question branches on "yes"/"no" or has answered_by')
    _require(isinstance(raw.get("end", False), bool), f"{where}: end must be true or false")
    return Step(step_id, say=_text(raw["say"], f"{where}: say"), end=raw.get("end", False))


def _answers(raw: Any, where: str) -> tuple[tuple[str, re.Pattern[str]], ...]:
    if raw is None:
        return ()
    _require(isinstance(raw, dict) and set(raw) <= {"yes", "no"} and all(
        isinstance(v, list) and v and all(isinstance(p, str) for p in v) for v in raw.values()),
        f'{where}: a mapping of "yes" and/or "no" to lists of patterns')
    try:
        return tuple((answer, re.compile(r"\b(?:" + "|".join(patterns) + r")\b"))
                     for answer, patterns in raw.items())
    except re.error as error:
        raise GuidanceError(f"{where}: {error}") from error


def _repeat(raw: Any, where: str) -> Repeat:
    _require(isinstance(raw, dict) and set(raw) == {"every_seconds", "say"} and isinstance(
        raw["every_seconds"], int) and raw["every_seconds"] >= 30, f"{where}: every_seconds (>= 30) and say")
    return Repeat(raw["every_seconds"], _text(raw["say"], f"{where}: say"))


def _check_flow(protocol: Protocol, where: str) -> None:
    """Step ids are unique, branches lead to known steps, and every step can be reached."""
    ids = [step.id for step in protocol.steps]
    _require(len(set(ids)) == len(ids), f"{where}: step ids repeat")
    seen: set[int] = set()
    todo = [0]
    while todo:
        index = todo.pop()
        if index in seen or index >= len(ids):
            continue
        seen.add(index)
        step = protocol.steps[index]
        targets = [step.yes or "", step.no or ""] if step.ask else []
        for target in (t for t in targets if not t.startswith(SWITCH_PREFIX)):
            _require(target in ids, f"{where}: step {step.id}: unknown next step {target!r}")
            todo.append(ids.index(target))
        todo += [] if step.ask or step.end else [index + 1]
    unreachable = [step_id for index, step_id in enumerate(ids) if index not in seen]
    _require(not unreachable, f"{where}: steps that no path reaches: {unreachable}")


def _index(
    raw: dict[Any, Any], protocols: dict[str, Protocol]
) -> tuple[tuple[tuple[str, str], ...], dict[str, str | None]]:
    where = INDEX_FILE
    _keys(raw, {"cues", "types"}, where)
    cues: list[tuple[str, str]] = []
    for entry in raw.get("cues") or []:
        _require(isinstance(entry, dict) and set(entry) == {"cue", "topic"}, f"{where}: {{cue:, topic:}}")
        cue, topic = entry["cue"], entry["topic"]
        _require(topic in protocols and cue in protocols[topic].cues,
                 f"{where}: cue {cue!r} -> {topic!r}: no such protocol, or the cue is not in its cues")
        cues.append((cue, topic))
    claimed = {(cue, protocol.topic) for protocol in protocols.values() for cue in protocol.cues}
    _require(claimed == set(cues) and len(cues) == len({cue for cue, _ in cues}),
             f"{where}: list every protocol cue once, in priority order: {sorted(claimed ^ set(cues))}")
    types = raw.get("types") or {}
    _require(isinstance(types, dict) and set(types) == EMERGENCY_TYPES,
             f"{where}: types must name every emergency type once (null for none)")
    for kind, topic in types.items():
        _require(topic is None or (topic in protocols and kind in protocols[topic].emergency_types),
                 f"{where}: type {kind!r} -> {topic!r}: no such protocol, or not in its emergency_types")
    return tuple(cues), dict(types)
