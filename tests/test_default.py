import os
import warnings
from pathlib import Path

import numpy as np
import pytest

import topictag
from topictag import default
from topictag.model import PROBE_TOLERANCE

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = (ROOT / "examples" / "article.txt").read_text(encoding="utf-8")


def test_default_model_works_out_of_the_box():
    model = topictag.default_model()
    assert model.topics_ == ["health", "security", "tech_policy", "trade"]
    assert model.negative_label == "other"
    assert topictag.tag(EXAMPLE).top == "trade"
    tags = [p.top for p in topictag.tag_many(["NATO allies hold naval drills in the Baltic", "Parliament votes to ban phones for under-16s on social media apps"])]
    assert tags == ["security", "tech_policy"]


@pytest.mark.skipif(not (ROOT / "labels").is_dir(), reason="needs the source checkout's labels/")
def test_shipped_default_model_was_built_from_the_current_labels():
    from topictag.corpus import read_labels_folder

    shipped = topictag.default_model().training_info_["data"]["sha256"]
    assert shipped == read_labels_folder(ROOT / "labels").sha256, "labels/ changed: run python training/build_default_model.py"


def test_unusable_shipped_model_is_rebuilt_once_into_topictag_home(monkeypatch, isolated_home):
    shipped = topictag.default_model()
    monkeypatch.setattr(default, "DEFAULT_BUNDLE_NAME", "missing.topictag")
    default.default_model.cache_clear()
    try:
        with pytest.warns(UserWarning, match="rebuilding the default model"):
            rebuilt = default.default_model()
        assert len(list(isolated_home.glob("default-*.topictag"))) == 1
        texts = [EXAMPLE, "Vaccine approved for children", "Storm cuts power"]
        # Another CPU may round the last bits differently; never by more than the probe tolerance.
        assert np.allclose(rebuilt.predict_proba(texts), shipped.predict_proba(texts), rtol=0, atol=PROBE_TOLERANCE)
        assert [p.tags for p in rebuilt.tag_many(texts)] == [p.tags for p in shipped.tag_many(texts)]

        default.default_model.cache_clear()
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            cached = default.default_model()  # loads the cache: no second rebuild
        assert np.array_equal(cached.predict_proba(texts), rebuilt.predict_proba(texts))
    finally:
        default.default_model.cache_clear()


@pytest.mark.filterwarnings("ignore:rebuilding the default model")
@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root can write anywhere")
def test_an_unwritable_home_still_gives_a_working_rebuilt_model(monkeypatch, tmp_path):
    home = tmp_path / "locked"
    home.mkdir()
    home.chmod(0o500)
    monkeypatch.setenv("TOPICTAG_HOME", str(home / "sub"))
    monkeypatch.setattr(default, "DEFAULT_BUNDLE_NAME", "missing.topictag")
    default.default_model.cache_clear()
    try:
        with pytest.warns(UserWarning, match="cannot keep the rebuilt default model"):
            assert default.default_model().tag(EXAMPLE).top == "trade"
    finally:
        default.default_model.cache_clear()
        home.chmod(0o700)


@pytest.mark.filterwarnings("ignore:rebuilding the default model")
def test_an_unwritable_home_is_a_warning_even_as_root(monkeypatch, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the home folder should be")
    monkeypatch.setenv("TOPICTAG_HOME", str(blocker / "home"))
    monkeypatch.setattr(default, "DEFAULT_BUNDLE_NAME", "missing.topictag")
    default.default_model.cache_clear()
    try:
        with pytest.warns(UserWarning, match="cannot keep the rebuilt default model"):
            assert default.default_model().tag(EXAMPLE).top == "trade"
    finally:
        default.default_model.cache_clear()


def test_topictag_home_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("TOPICTAG_HOME", str(tmp_path / "x"))
    assert default.topictag_home() == tmp_path / "x"
    monkeypatch.delenv("TOPICTAG_HOME")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert default.topictag_home() == tmp_path / "cache" / "topictag"


CLIMATE = [f"{what} {where}" for what in ("Glaciers retreat faster in", "Heatwave breaks temperature records across", "Carbon emission targets tightened after floods in",
                                            "Sea ice shrinks to a record low near", "Drought linked to warming hits farmers in")
           for where in ("the Alps", "Greenland", "the Andes", "Patagonia", "Alaska", "Norway")]


def test_with_base_rules_yours_win_and_new_topics_say_nothing_of_ours():
    base_texts, base_labels = default._base_examples("default", "other")
    steel = base_texts[base_labels.index(("trade",))]
    texts = [steel.upper() + "  ", "Glaciers retreat in the Alps", "Heatwave and tariffs on solar panels"]
    labels = [("other",), ("climate",), ("climate", "trade")]
    combined, combined_labels, unknown = default.with_base("default", texts, labels, None)
    assert len(combined) == len(base_texts) + 2  # the base copy of a text you labeled is dropped
    assert combined_labels[-3:] == labels  # yours come last, as given
    assert unknown[-3] == set() and unknown[-1] == set()
    assert unknown[-2] == {"health", "security", "tech_policy", "trade"}  # climate only: unknown for our topics
    assert all(u == set() for u in unknown[:-3])  # a base text is a negative for climate


def test_train_on_top_of_the_default_model_adds_a_topic_and_keeps_ours(tmp_path):
    from typer.testing import CliRunner

    from topictag.cli import app

    mine = tmp_path / "mine.jsonl"
    import json

    mine.write_text("".join(json.dumps({"text": t, "labels": ["climate"]}) + "\n" for t in CLIMATE))
    result = CliRunner().invoke(app, ["train", str(mine), "--base", "default", "-o", str(tmp_path / "m.topictag")])
    assert result.exit_code == 0, result.output
    assert "Base topics" in result.stdout and "before" in result.stdout
    assert f"Note: climate has {len(CLIMATE)} of your texts" in result.stderr  # too few to stand out among the base's
    model = topictag.load(tmp_path / "m.topictag")
    assert model.topics_ == ["climate", "health", "security", "tech_policy", "trade"]
    assert model.training_info_["base"] == "default"
    got = [p.top for p in model.tag_many(["Glaciers retreat faster in Iceland", EXAMPLE, "NATO allies hold naval drills in the Baltic"])]
    assert got == ["climate", "trade", "security"]
    shipped = topictag.default_model().cv_metrics_["labels"]
    for topic in ("health", "security", "tech_policy", "trade"):  # our topics are as good as before
        assert model.cv_metrics_["labels"][topic]["f1"] >= shipped[topic]["f1"] - 0.01
