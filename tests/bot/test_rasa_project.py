"""The Rasa project files (domain, rules, training data, config) as the engine reads them."""

from __future__ import annotations

from rasa_sdk.executor import ActionExecutor

from bot.dialogue.domain import Domain
from bot.dialogue.responses import choose_variant
from bot.dialogue.rules import Rules
from bot.settings import PROJECT_DIR
from bot.tickets.routing import Routing
from nlu.model import NLUConfig
from nlu.training_data import load_dir

INTENTS = {
    "report_emergency", "non_emergency", "prank_or_test", "greet", "ask_status",
    "cancel_report", "provide_location", "provide_info", "affirm", "deny", "thanks",
    "out_of_scope", "request_human",
}
EMERGENCY_TYPES = {
    "fire", "traffic_accident", "medical", "crime", "violence_domestic", "flood", "earthquake",
    "landslide", "tsunami", "volcano", "fallen_tree", "wild_animal", "drowning_water_rescue",
    "missing_person", "building_collapse", "electrical_gas", "public_disturbance",
    "other_disaster",
}
DOMAIN = Domain.load(PROJECT_DIR / "domain.yml")
RULES = Rules.load(PROJECT_DIR / "data" / "rules.yml")


def test_domain_declares_the_taxonomy() -> None:
    assert set(DOMAIN.intents) == INTENTS
    slot = DOMAIN.raw["slots"]["emergency_type"]
    assert set(slot["values"]) == EMERGENCY_TYPES | {"unknown"}
    assert DOMAIN.forms["report_form"] == ["emergency_type", "location", "people_injured"]


def test_every_response_speaks_indonesian_by_default_and_english_on_request() -> None:
    for name, variants in DOMAIN.responses.items():
        for channel in ("rest", "sms", "telegram"):
            indonesian = choose_variant(variants, {"user_language": "id"}, channel)
            english = choose_variant(variants, {"user_language": "en"}, channel)
            assert indonesian is not english, name
            assert english.get("condition"), name


def test_sms_asks_for_words_and_chat_asks_for_a_pin() -> None:
    variants = DOMAIN.responses["utter_ask_location"]
    assert "pin" not in choose_variant(variants, {"user_language": "id"}, "sms")["text"]
    assert "pin" in choose_variant(variants, {"user_language": "id"}, "telegram")["text"]


def test_every_form_slot_has_a_question() -> None:
    for form, slots in DOMAIN.forms.items():
        for slot in slots:
            assert {f"utter_ask_{form}_{slot}", f"utter_ask_{slot}"} & set(DOMAIN.responses)


def test_rules_name_only_known_intents_actions_and_responses() -> None:
    known = set(DOMAIN.actions) | set(DOMAIN.responses) | set(DOMAIN.forms)
    for rule in RULES.intent_rules:
        assert rule.intent in INTENTS, rule.name
        for step in rule.steps:
            assert step.action is None or step.action in known, (rule.name, step.action)
    # Guidance first: the closing line is said only when no protocol is under way.
    assert RULES.on_form_complete == {"report_form": ["action_guide", "action_submit_report"]}


def test_every_action_of_the_domain_is_served_by_the_actions_package() -> None:
    executor = ActionExecutor()
    executor.register_package("actions")
    served = {action.name for action in executor.list_actions()}
    assert set(DOMAIN.actions) <= served


def test_training_data_uses_only_taxonomy_labels_and_known_entities() -> None:
    examples = load_dir(PROJECT_DIR / "data")
    assert {e.intent for e in examples} == INTENTS
    types = {e.emergency_type for e in examples if e.emergency_type}
    assert types <= EMERGENCY_TYPES
    # A call for help ("tolong!!", "SOS") is a report with no type; every type is taught.
    assert {e.emergency_type for e in examples if e.intent == "report_emergency"} == {None} | EMERGENCY_TYPES
    entities = {span.entity for e in examples for span in e.spans}
    assert entities <= set(DOMAIN.raw["entities"])
    for example in examples:
        for span in example.spans:
            assert example.text[span.start:span.end] == span.value


def test_config_declares_word_and_char_featurizers() -> None:
    config = NLUConfig.load(PROJECT_DIR / "config.yml")
    assert {f["analyzer"] for f in config.featurizers} == {"word", "char_wb"}


def test_routing_covers_every_emergency_type() -> None:
    routing = Routing.load(PROJECT_DIR / "routing.yml")
    assert set(routing.routes) == EMERGENCY_TYPES | {"unknown"}
    assert routing.agencies_for("unknown") == ["desk"]  # the 112 centre's own operators
    assert routing.agencies_for("unknown", ["unconscious"]) == ["ambulance"]
    assert routing.agencies_for("crime", ["not_breathing"]) == ["police", "ambulance"]
