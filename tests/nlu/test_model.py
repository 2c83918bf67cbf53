"""The trained NLU: parse contract, safety bias, model naming and safe loading."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bot.settings import PROJECT_DIR
from nlu.hazards import Signals
from nlu.model import NLU, ModelMissing, load_model, model_name
from nlu.safety import decide_intent
from nlu.types import Label


@pytest.fixture(scope="module")
def nlu(models_dir: Path) -> NLU:
    return NLU.load(PROJECT_DIR, models_dir)


def test_parse_follows_the_contract(nlu: NLU) -> None:
    text = "tolong ada kebakaran di jl pemuda no 10 kendal"
    result = nlu.parse(text).to_dict()
    assert set(result) >= {"text", "language", "intent", "intent_ranking", "emergency_type",
                           "entities", "location"}
    assert result["intent"]["name"] == "report_emergency"
    assert result["emergency_type"]["name"] == "fire"
    assert result["language"] == "id"
    [place] = [e for e in result["entities"] if e["entity"] == "location"]
    assert text[place["start"]:place["end"]] == place["value"]
    ranking = result["intent_ranking"]
    assert ranking[0]["confidence"] >= ranking[-1]["confidence"]


def test_a_button_payload_is_taken_as_its_intent(nlu: NLU) -> None:
    assert nlu.parse("/affirm").intent == Label("affirm", 1.0)
    assert nlu.parse("/format_disk").intent.name != "format_disk"


def test_an_empty_message_is_out_of_scope(nlu: NLU) -> None:
    assert nlu.parse("   ").intent.name == "out_of_scope"


def test_a_critical_cue_is_never_dismissed() -> None:
    ranking = [("prank_or_test", 0.9), ("report_emergency", 0.05)]
    label, _check = decide_intent(ranking, Signals(), ["not_breathing"], 0.25)
    assert label.name == "report_emergency"


def test_a_real_chance_of_an_emergency_is_never_dismissed() -> None:
    ranking = [("out_of_scope", 0.5), ("report_emergency", 0.3)]
    assert decide_intent(ranking, Signals(), [], 0.25)[0].name == "report_emergency"
    calm = [("out_of_scope", 0.9), ("report_emergency", 0.05)]
    assert decide_intent(calm, Signals(), [], 0.25)[0].name == "out_of_scope"


def test_the_model_is_named_by_its_data_and_a_stale_model_is_refused(
    models_dir: Path, tmp_path: Path
) -> None:
    assert (models_dir / model_name(PROJECT_DIR)).exists()
    project = tmp_path / "project"
    shutil.copytree(PROJECT_DIR / "data", project / "data")
    shutil.copy(PROJECT_DIR / "config.yml", project / "config.yml")
    assert model_name(project) == model_name(PROJECT_DIR)
    extra = project / "data" / "nlu" / "extra.yml"
    extra.write_text('version: "3.1"\nnlu:\n- intent: greet\n  examples: |\n    - halo pak\n')
    assert model_name(project) != model_name(PROJECT_DIR)
    with pytest.raises(ModelMissing, match="sigap train"):
        load_model(project, models_dir)


def test_a_model_file_with_foreign_types_is_refused(models_dir: Path, tmp_path: Path) -> None:
    import skops.io as sio

    from bot.tickets.routing import Routing

    bundle = {"intent": Routing.load(PROJECT_DIR / "routing.yml")}
    sio.dump(bundle, tmp_path / model_name(PROJECT_DIR))
    with pytest.raises(ValueError, match="unexpected types"):
        load_model(PROJECT_DIR, tmp_path)


def test_the_crf_finds_a_lower_case_place_and_stops_where_the_place_ends(nlu: NLU) -> None:
    text = "gempa di kota ternate kel bastiong rumah retak anak sy luka"
    [place] = [e for e in nlu.parse(text).entities if e.entity == "location"]
    assert place.extractor == "CRFEntityExtractor"
    assert place.value.startswith("kota ternate")
    assert "retak" not in place.value
    assert text[place.start:place.end] == place.value


def test_cross_validation_parses_held_out_examples_with_models_fitted_without_them(tmp_path: Path) -> None:
    from nlu.evaluate import cross_validate
    from nlu.training_data import load_dir

    (tmp_path / "data" / "nlu").mkdir(parents=True)
    shutil.copy(PROJECT_DIR / "config.yml", tmp_path)
    for name in ("emergency_fire.yml", "emergency_flood.yml", "greet.yml", "thanks.yml"):
        shutil.copy(PROJECT_DIR / "data" / "nlu" / name, tmp_path / "data" / "nlu")
    examples = load_dir(tmp_path / "data")
    printed = cross_validate(tmp_path, 2)
    assert printed.startswith(f"2-fold cross-validation on {len(examples)} training examples")
    lines = {line.split(":")[0]: line for line in printed.splitlines() if ":" in line}
    accuracy = float(lines["all"].split("intent acc ")[1].split(",")[0])
    assert accuracy > 0.8
    assert "emergency recall" in lines["all"] and "location span" in lines
    # Fire and flood reports are told apart on examples the models never saw.
    fire = next(line for line in printed.splitlines() if line.strip().startswith("fire "))
    assert float(fire.split()[3]) > 0.8  # F1


def test_asking_for_a_person_beside_a_hazard_is_a_report_and_still_asks_for_a_person(nlu: NLU) -> None:
    parsed = nlu.parse("minta petugas, rumah saya kebakaran")
    assert parsed.intent.name == "report_emergency"
    assert parsed.emergency_type is not None and parsed.emergency_type.name == "fire"
    assert nlu.parse("minta petugas").intent.name == "request_human"
