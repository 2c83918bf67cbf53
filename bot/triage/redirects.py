"""Where a non-emergency goes and how a question about 112 is answered: the topic a message
names (regions.yml words, matched on normalised tokens) and the centre's office or answer."""

from __future__ import annotations

from dataclasses import dataclass

from bot.tickets.regions import Regions, Text, Topic
from nlu.normalise import normalise

Phrase = tuple[str, ...]


@dataclass(frozen=True)
class Answer:
    """A question about 112 answered: what the figures count it as ("faq:cost") and the text."""

    target: str
    text: str


@dataclass(frozen=True)
class Redirect:
    """The office a non-emergency goes to: what the figures count it as (its topic, or "default"
    for SP4N-LAPOR!), the topic's name for the reporter (None for "default") and the office."""

    target: str
    topic: str | None
    office: str


def _tokens(text: str) -> Phrase:
    return tuple(t.text for t in normalise(text).tokens)


def _holds(tokens: Phrase, phrase: Phrase) -> bool:
    size = len(phrase)
    return any(tokens[i:i + size] == phrase for i in range(len(tokens) - size + 1))


class Redirects:
    """The deployment's topics and questions, with each centre's offices and answers."""

    def __init__(self, regions: Regions) -> None:
        self.regions = regions
        self._topics = [(t, [_tokens(w) for w in t.words]) for t in regions.topics]
        self._questions = [(t, [_tokens(w) for w in t.words]) for t in regions.faq]

    @staticmethod
    def _first(text: str, known: list[tuple[Topic, list[Phrase]]]) -> Topic | None:
        tokens = _tokens(text)
        return next((t for t, phrases in known if any(p and _holds(tokens, p) for p in phrases)), None)

    def answer(self, text: str, region: str | None, lang: str) -> Answer | None:
        """The centre's answer to a question about 112 that the text asks, else None."""
        question = self._first(text, self._questions)
        if question is None:
            return None
        own = self.regions.centre(region).faq.get(question.key)
        return Answer(f"faq:{question.key}", _say(own or question.text, lang))

    def topic(self, text: str) -> Topic | None:
        """The first non-emergency topic the text names."""
        return self._first(text, self._topics)

    def office(self, text: str, region: str | None, lang: str) -> Redirect:
        """The office a non-emergency goes to: the centre's for its topic, the national one, else
        SP4N-LAPOR! (the centre's own, or the national)."""
        topic = self.topic(text)
        own = self.regions.centre(region).offices
        national = self.regions.offices
        if topic is not None and (topic.key in own or topic.key in national):
            office = own.get(topic.key) or national[topic.key]
            return Redirect(topic.key, _say(topic.text, lang), _say(office, lang))
        return Redirect("default", None, _say(own.get("default") or national["default"], lang))


def _say(text: Text, lang: str) -> str:
    return text.get(lang) or text["id"]
