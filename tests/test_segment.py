import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import topictag
from topictag.cli import app
from topictag.segment import Segmenter, split_units

ROOT = Path(__file__).resolve().parents[1]
PAGE = (ROOT / "examples" / "page.txt").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def model():
    return topictag.default_model()


def assert_valid(text, segments):
    previous_end = 0
    for s in segments:
        assert 0 <= previous_end <= s.start < s.end <= len(text)
        assert text[s.start : s.end] == s.text
        assert s.text == s.text.strip() and s.text
        assert 0.0 <= s.score <= 1.0
        previous_end = s.end


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(alphabet=st.characters(), max_size=600) | st.lists(st.sampled_from(["Tariffs on steel.", "Missile test!", "\n", "\n\n", "Share:", " ", "Vaccines\u2028work", "\r\n"]), max_size=40).map("".join))
def test_any_text_gives_valid_ordered_non_overlapping_spans(tiny_model, text):
    assert_valid(text, tiny_model.segment(text))


def test_page_with_furniture_and_teasers_without_blank_lines(model):
    segments = model.segment(PAGE)
    assert_valid(PAGE, segments)
    assert [s.label for s in segments] == ["security", "tech_policy", "health", "trade", "other"]
    # The headline and byline belong to the story below them; the menu line is not content.
    assert segments[0].text.startswith("Seoul says North Korea fired")
    furniture = ["Share:", "Advertisement", "Updated 09:41 GMT", "More In World", "Load More", "World  Business  Politics"]
    for line in furniture:
        assert not any(line in s.text for s in segments), line
    # Each teaser (a headline line plus a summary line) is its own segment.
    assert segments[2].text.splitlines()[0] == "Measles cases triple in England as vaccination rates slip"


def test_furniture_is_a_boundary_and_never_labeled(model):
    text = "Tariffs on Chinese steel rise to 25 percent.\nAdvertisement\nTariffs on Chinese aluminium rise as well."
    segments = model.segment(text)
    assert [s.label for s in segments] == ["trade", "trade"]
    assert all("Advertisement" not in s.text for s in segments)
    units = split_units(text)
    assert [u.furniture for u in units] == [False, True, False]


def test_extra_furniture_patterns(model):
    text = "Tariffs on Chinese steel rise.\nPRESS ROOM EXCLUSIVE\nTariffs on aluminium rise as well."
    default = model.segment(text)
    custom = model.segment(text, furniture_patterns=Segmenter(model).furniture_patterns + [r"press room exclusive"])
    assert any("PRESS ROOM" in s.text for s in default)
    assert not any("PRESS ROOM" in s.text for s in custom)


def test_single_topic_story_with_passing_mentions_stays_one_segment(model):
    story = (
        "North Korea test-fires new intercontinental missile\n\n"
        "North Korea launched an intercontinental ballistic missile on Friday that flew for more than an hour, "
        "Japan's defence ministry said, in the most powerful test of its weapons programme this year.\n\n"
        "The launch drew condemnation from Seoul and Tokyo. Diplomats said the United States would push for "
        "tighter sanctions at the United Nations, though trade curbs already cover most of the North's exports.\n\n"
        "Military analysts said the missile appeared to use a new solid-fuel engine. South Korean and American "
        "forces raised their alert level and scrambled fighter jets near the border.\n\n"
        "The defence minister said the army would deploy additional interceptor batteries by the end of the month."
    )
    segments = model.segment(story)
    assert [s.label for s in segments] == ["security"]
    assert segments[0].start == 0 and segments[0].end == len(story)


def test_no_smoothing_labels_units_alone(model):
    text = (
        "The army moved tanks to the border. Troops dug in overnight. "
        "Officers said the weather was cold and the food was poor. Artillery fire continued at dawn."
    )
    smoothed = model.segment(text)
    assert [s.label for s in smoothed] == ["security"]
    assert len(model.segment(text, smoothing=False)) >= len(smoothed)


def test_empty_and_furniture_only_documents(model):
    assert model.segment("") == []
    assert model.segment("Share:\nAdvertisement\n\n") == []


def test_segment_to_dict(model):
    [segment] = model.segment("Tariffs on steel imports rise to 25 percent.")
    assert segment.to_dict() == {"start": 0, "end": 44, "label": "trade", "score": segment.score, "text": segment.text, "units": 1}


@pytest.mark.parametrize("fmt", ["json", "jsonl", "table", "html"])
def test_cli_formats(fmt, tmp_path):
    page = tmp_path / "page.txt"
    page.write_text(PAGE, encoding="utf-8")
    out = tmp_path / f"out.{fmt}"
    result = CliRunner().invoke(app, ["segment", str(page), "--format", fmt, "--output", str(out)])
    assert result.exit_code == 0, result.output
    content = out.read_text(encoding="utf-8")
    if fmt == "json":
        data = json.loads(content)
        assert data["source"] == str(page)
        assert [s["label"] for s in data["segments"]] == ["security", "tech_policy", "health", "trade", "other"]
        assert all(PAGE[s["start"] : s["end"]] == s["text"] for s in data["segments"])
    elif fmt == "jsonl":
        assert len(content.splitlines()) == 1 and json.loads(content)["segments"]
    elif fmt == "table":
        assert "tech_policy" in content and "1144" in content
    else:
        assert content.startswith("<!DOCTYPE html>") and "legend" in content
        assert 'class="seg"' in content and "&lt;" not in PAGE and "Seoul says North Korea" in content


def test_cli_several_documents_as_json_array_and_jsonl(tmp_path):
    (tmp_path / "a.txt").write_text("Tariffs on steel imports rise.", encoding="utf-8")
    (tmp_path / "b.txt").write_text("Missile test alarms neighbours.", encoding="utf-8")
    result = CliRunner().invoke(app, ["segment", str(tmp_path), "--format", "json"])
    assert [d["segments"][0]["label"] for d in json.loads(result.stdout)] == ["trade", "security"]
    result = CliRunner().invoke(app, ["segment", str(tmp_path), "--format", "jsonl"])
    assert len(result.stdout.splitlines()) == 2


# ---- linear time on hostile lines -----------------------------------------------------------------

FRAGMENTS = ["a", "ab ", "a\t", "a  ", "| a ", "•a", "a-b ", "1", "12:", "1 ", "a.", " ", "\t", "read more ", "more in a ", "updated ", "(c) a ", "photo: a ", "x, ", "ad ", "monday 1 "]


def _hostile_lines():
    for n in (10, 20, 40):  # the shape that took the old menu expression seconds: padded items, a failing tail
        yield (" |  ".join(["a   "] * n) + "!" * 40)[:199]
        yield ("\t \t".join(["ab cd"] * n) + "!")[:199]
    for fragment in FRAGMENTS:
        for length in (67, 112, 199):
            body = (fragment * (length // len(fragment) + 1))[:length]
            for line in (body, "\t".join(body.split()), " | ".join(body.split()), "  ".join(body.split())):
                yield line
                yield line + "!"  # a last character that makes a pattern fail late
                yield line + " " + "x" * 40  # a last item too long for a menu


def test_every_furniture_pattern_and_the_menu_check_run_in_linear_time():
    import re
    import time

    from topictag.segment import DEFAULT_FURNITURE_PATTERNS, is_menu_line

    lines = list(_hostile_lines())
    for pattern in DEFAULT_FURNITURE_PATTERNS:
        compiled = re.compile(pattern, re.IGNORECASE)
        started = time.perf_counter()
        for line in lines:
            compiled.fullmatch(line)
        assert time.perf_counter() - started < 0.5, pattern
    started = time.perf_counter()
    for line in lines:
        is_menu_line(line)
    assert time.perf_counter() - started < 0.5


def test_a_document_of_hostile_lines_segments_quickly(tiny_model):
    import time

    document = "\n".join(_hostile_lines())
    started = time.perf_counter()
    tiny_model.segment(document)
    assert time.perf_counter() - started < 20
