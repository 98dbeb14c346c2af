import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import topictag
from topictag.cli import app
from topictag.segment import Segmenter

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
        assert (s.kind == "story" and s.label is not None) or (s.kind == "furniture" and s.label is None)
        previous_end = s.end


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(alphabet=st.characters(), max_size=600) | st.lists(st.sampled_from(["Tariffs on steel.", "Missile test!", "\n", "\n\n", "Share:", " ", "Vaccines\u2028work", "\r\n"]), max_size=40).map("".join))
def test_any_text_gives_valid_ordered_non_overlapping_spans(tiny_model, text):
    assert_valid(text, tiny_model.segment(text))
    assert_valid(text, tiny_model.segment(text, furniture=True, merge=True))


def stories(segments):
    return [s for s in segments if s.kind == "story"]


def first_lines(segments):
    return [s.text.splitlines()[0] for s in stories(segments)]


def test_page_with_furniture_and_teasers_without_blank_lines(model):
    segments = model.segment(PAGE)
    assert_valid(PAGE, segments)
    assert [s.label for s in segments] == ["security", "tech_policy", "health", "trade", "other"]
    # The headline and byline belong to the story below them; the menu line is not content.
    assert segments[0].text.startswith("Seoul says North Korea fired")
    for line in ["Share:", "Advertisement", "Updated 09:41 GMT", "More In World", "Load More", "World  Business  Politics"]:
        assert not any(line in s.text for s in segments), line
    # Each teaser (a headline line plus a summary line) is its own segment.
    assert segments[2].text.splitlines()[0] == "Measles cases triple in England as vaccination rates slip"


MENU_PAGE = """The Harbour Herald
  • Home
  • World
    ◦ Asia
    ◦ Europe
  • Business
  • Sport
HomeWorldBusinessSportCultureOpinion
Home » World » Asia

Navy sends second frigate to patrol disputed shoals
By Staff Reporter12 March 2025Updated:12 March 2025No Comments
Facebook X (Twitter) Instagram Pinterest LinkedIn Tumblr Email

The navy has deployed a second frigate to the disputed shoals after coastguard ships were blocked by foreign vessels for three days, the defence ministry said on Tuesday.

Officials said the warship would escort supply missions to the marines stationed on the reef and that fighter jets had flown patrols over the area.

Read more: Coastguard accuses foreign ships of ramming

About us | Contact | Privacy policy | Terms of use
© 2025 The Harbour Herald. All rights reserved.
"""


def test_menus_glued_bylines_and_social_rows_stay_out_of_the_story(model):
    segments = model.segment(MENU_PAGE, furniture=True)
    assert_valid(MENU_PAGE, segments)
    [story] = stories(segments)
    assert story.label == "security"
    assert story.text.startswith("Navy sends second frigate") and story.text.endswith("stationed on the reef and that fighter jets had flown patrols over the area.")
    # the glued byline and the social row sit between headline and body: inside the story's span, not stories
    assert "No Comments" in story.text and "Facebook X (Twitter)" in story.text
    furniture_text = " ".join(s.text for s in segments if s.kind == "furniture")
    for line in ["• Home", "◦ Asia", "HomeWorldBusiness", "Home » World", "Read more:", "Privacy policy", "All rights reserved"]:
        assert line in furniture_text, line
        assert line not in story.text


TRENDING = """Trending now

Hospitals cancel operations as nurses strike over pay

14 March 2025

Warships shadow carrier group through the strait

14 March 2025

Regulator fines app store over children's data

13 March 2025

Striker scores twice as City go top of the league

13 March 2025

Tariffs on steel imports rise to 25 percent

12 March 2025
"""

HEADLINES = """Latest
Measles outbreak spreads as vaccination rates fall
Army deploys troops to the border after missile strikes
Parliament passes law forcing social media apps to verify ages
United win the cup final on penalties
Government raises tariffs on imported cars and steel
"""


@pytest.mark.parametrize("page", [TRENDING, HEADLINES], ids=["trending-block", "headline-only-list"])
def test_each_headline_only_teaser_is_a_story_of_its_own(model, page):
    segments = model.segment(page, furniture=True)
    assert_valid(page, segments)
    assert [s.label for s in stories(segments)] == ["health", "security", "tech_policy", "other", "trade"]
    assert all(len(s.text.splitlines()) == 1 for s in stories(segments))
    assert all(s.label is None for s in segments if s.kind == "furniture")
    assert not any("2025" in s.text for s in stories(segments))


DIGEST = """Good morning. Here is what you need to know today.
Tariffs: Washington raised duties on imported steel and aluminium to 25 percent, and Brussels promised retaliation on bourbon and motorcycles.
Read more
Measles: Health officials confirmed 40 new measles cases in the north, most of them in unvaccinated children, and opened walk-in vaccination clinics.
Drills: The navy began ten days of live-fire exercises near the disputed islands, with two destroyers and a submarine taking part.
Privacy: The data protection regulator fined a social media platform for collecting children's data without consent and ordered it to change its apps.
Forwarded this email? Subscribe here for more
"""


def test_digest_items_without_blank_lines_are_each_a_story(model):
    segments = model.segment(DIGEST)
    assert_valid(DIGEST, segments)
    assert [s.text.split(":")[0] for s in segments] == ["Tariffs", "Measles", "Drills", "Privacy"]
    assert [s.label for s in segments] == ["trade", "health", "security", "tech_policy"]
    assert not any("Read more" in s.text or "Subscribe" in s.text for s in segments)


LIVE_BLOG = """Summit live: leaders meet as talks on tariffs drag on
Updated 3m ago

10:42 GMT

Trade ministers have agreed to extend talks on cutting tariffs on cars for another week, two officials said, after negotiators failed to close the gap on steel quotas.

Share

10:15 GMT

The defence ministers of the alliance said they would send more air defence systems to the eastern flank and hold joint exercises in the spring.

Share

9:58 GMT

Doctors at the summit's medical centre treated two delegates for heatstroke as temperatures reached 41C, hospital officials said.

Load more updates
"""


def test_live_blog_entries_after_timestamps_are_each_a_story(model):
    segments = model.segment(LIVE_BLOG, furniture=True)
    assert_valid(LIVE_BLOG, segments)
    # each entry is a story of its own (the page's title line may be a story, or the first entry's headline)
    entries = ["Trade ministers have", "The defence ministers", "Doctors at the summit"]
    holders = [next(i for i, story in enumerate(stories(segments)) if entry in story.text) for entry in entries]
    assert len(set(holders)) == 3 and all(stories(segments)[i].text.endswith(".") for i in holders)
    assert [stories(segments)[i].label for i in holders[:2]] == ["trade", "security"]
    # what lies between entries (share rows, the next entry's timestamp) stays out of every story; the first
    # timestamp may sit inside a story that runs from the page's title to the first entry
    assert not any(between in s.text for s in stories(segments) for between in ("Share", "10:15 GMT", "9:58 GMT"))


def test_a_page_cut_off_mid_sentence_keeps_its_last_story(model):
    page = HEADLINES + "\nCustoms officials seize record haul of counterfeit goods at the port\nOfficials said the containers had been declared as"
    segments = model.segment(page)
    assert_valid(page, segments)
    assert segments[-1].text.endswith("declared as") and segments[-1].text.startswith("Customs officials seize")


def test_merge_joins_neighbouring_stories_with_one_label(model):
    page = "Tariffs on steel rise to 25 percent\nTariffs on cars rise to 15 percent\nMissile test alarms neighbours\n"
    assert [s.label for s in model.segment(page)] == ["trade", "trade", "security"]
    merged = model.segment(page, merge=True)
    assert [s.label for s in merged] == ["trade", "security"]
    assert merged[0].text == "Tariffs on steel rise to 25 percent\nTariffs on cars rise to 15 percent"


def test_furniture_spans_only_on_request_and_never_inside_a_story(model):
    plain = model.segment(MENU_PAGE)
    with_furniture = model.segment(MENU_PAGE, furniture=True)
    assert all(s.kind == "story" for s in plain)
    assert stories(with_furniture) == plain
    furniture = [s for s in with_furniture if s.kind == "furniture"]
    assert furniture and all(s.label is None for s in furniture)
    for f in furniture:
        assert not any(s.start < f.end and f.start < s.end for s in plain)


def test_a_long_story_that_shifts_topic_still_splits(model):
    report = (
        "The committee first heard evidence on the navy's submarine programme. Admirals told members that the new boats "
        "would carry cruise missiles and that the fleet would need two more frigates to escort them. The defence minister "
        "said the army's budget for ammunition and air defence would rise by a fifth next year. "
        "Generals warned that troops on the border lacked drones and artillery shells.\n\n"
        "The committee then turned to the hospitals. Nurses described wards closed for lack of staff and patients waiting "
        "months for hip surgery. The health minister promised more money for cancer screening and mental health services. "
        "Doctors said the flu season had filled emergency departments and that vaccination rates among children had fallen."
    )
    segments = model.segment(report)
    assert_valid(report, segments)
    assert [s.label for s in segments] == ["security", "health"]


def test_furniture_is_never_labeled(model):
    text = "Tariffs on Chinese steel rise to 25 percent.\nAdvertisement\nTariffs on Chinese aluminium rise as well."
    segments = model.segment(text, furniture=True)
    assert [s.kind for s in segments if "Advertisement" in s.text] in ([], ["furniture"]) or all(s.label in ("trade", None) for s in segments)
    assert not any(s.kind == "story" and s.text == "Advertisement" for s in segments)


def test_extra_furniture_patterns(model):
    text = "Tariffs on Chinese steel rise by a quarter, officials said.\nPRESS ROOM EXCLUSIVE CONTENT FOR MEMBERS\nTariffs on aluminium rise as well, they said."
    custom = model.segment(text, furniture_patterns=Segmenter(model).furniture_patterns + [r"press room exclusive.*"], furniture=True)
    assert [s.kind for s in custom if "PRESS ROOM" in s.text] in (["furniture"], ["story"])
    assert not any(s.kind == "story" and s.text.startswith("PRESS ROOM") for s in custom)


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
    assert segment.to_dict() == {"start": 0, "end": 44, "label": "trade", "score": segment.score, "text": segment.text, "units": 1, "kind": "story"}


def test_offsets_index_read_text_for_bom_and_crlf_files(model, tmp_path):
    path = tmp_path / "page.txt"
    path.write_bytes(b"\xef\xbb\xbf" + MENU_PAGE.replace("\n", "\r\n").encode("utf-8"))
    text = topictag.read_text(path)
    result = CliRunner().invoke(app, ["segment", str(path), "--format", "json"])
    for s in json.loads(result.stdout)["segments"]:
        assert text[s["start"] : s["end"]] == s["text"]


def test_cli_merge_and_furniture(tmp_path):
    page = tmp_path / "page.txt"
    page.write_text(MENU_PAGE, encoding="utf-8")
    data = json.loads(CliRunner().invoke(app, ["segment", str(page), "--furniture", "--merge", "--format", "json"]).stdout)
    assert {s["kind"] for s in data["segments"]} == {"story", "furniture"}
    assert all(s["label"] is None for s in data["segments"] if s["kind"] == "furniture")
    html = CliRunner().invoke(app, ["segment", str(page), "--furniture", "--format", "html"]).stdout
    assert "furniture-span" in html


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
