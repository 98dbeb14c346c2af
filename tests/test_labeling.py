"""suggest picks what to label (uncertain, spread out, bounded memory); export/import round-trip Label Studio and CSV."""

import json
import tracemalloc

import numpy as np
import pytest
from typer.testing import CliRunner

from topictag.cli import app
from topictag.errors import DataError
from topictag.inputs import Document
from topictag.labeling import from_csv, from_label_studio, suggest, to_csv, to_label_studio, uncertainty

runner = CliRunner()


def pool(n):
    """A pool of distinct texts, clear and borderline, plus many copies of one story (syndicated wire copy)."""
    import random

    rng = random.Random(0)
    stems = ["Tariffs on imported steel rise", "Missile test over the sea alarms neighbours", "Local team wins championship",
             "Chip makers report record profits as export rules loom", "Hospital ward fire forces evacuation", "Navy hospital ship docks for trade fair"]
    places = ["in Ohio", "near Lyon", "off Busan", "in Kenya", "across Chile", "in Poland", "near Perth", "in Quebec"]
    whens = ["on Monday", "after talks", "despite protests", "amid a storm", "for a second year", "as prices climb"]
    docs = []
    for i in range(n):
        if i % 10 == 0:
            text = "Ministers discuss chip rules and tariffs at the summit, officials said"
        else:
            text = f"{stems[i % 6]} {rng.choice(places)} {rng.choice(whens)}, {rng.choice(['reports say', 'officials confirm', 'sources said', 'data show'])} {i}"
        docs.append(Document(source=f"d{i}", text=text))
    return docs


def test_uncertainty_is_highest_at_the_threshold():
    thresholds = np.array([0.4, 0.6])
    scores = uncertainty(np.array([[0.4, 0.0], [0.99, 0.01], [0.0, 0.6], [0.05, 0.02]]), thresholds)
    assert scores[0] > scores[3] and scores[2] > scores[1]


def test_uncertainty_picks_are_near_thresholds_and_not_duplicates(tiny_model):
    picked = suggest(pool(600), tiny_model, n=20)
    assert len(picked) == 20 and len({s.id for s in picked}) == 20
    texts = [s.text for s in picked]
    assert sum("Ministers discuss chip rules" in t for t in texts) <= 1  # near-duplicates of a pick are skipped
    random_picks = suggest(pool(600), tiny_model, n=20, strategy="random", seed=1)
    assert np.mean([s.uncertainty for s in picked]) > np.mean([s.uncertainty for s in random_picks])
    for s in picked:
        assert set(s.tags) <= set(tiny_model.topics_) and set(s.scores) == set(tiny_model.topics_)


def test_diverse_spreads_over_the_pool(tiny_model):
    picked = suggest(pool(600), tiny_model, n=6, strategy="diverse")
    stems = {" ".join(s.text.split()[:3]) for s in picked}
    assert len(stems) >= 5  # six picks from six kinds of text, not six copies of one


def test_suggest_is_seeded(tiny_model):
    first = [s.id for s in suggest(pool(300), tiny_model, n=10, strategy="random", seed=3)]
    assert first == [s.id for s in suggest(pool(300), tiny_model, n=10, strategy="random", seed=3)]
    assert first != [s.id for s in suggest(pool(300), tiny_model, n=10, strategy="random", seed=4)]


def test_a_large_pool_streams_with_bounded_memory(tiny_model):
    def stream(n):
        for i in range(n):
            yield Document(source=f"d{i}", text=f"Trade talks on tariffs number {i} with the ministry of defence")

    def peak(n):
        tracemalloc.start()
        suggest(stream(n), tiny_model, n=5, strategy="random")
        _, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return top

    peak(10_000), peak(10_000)  # the first calls' warm-up allocations do not count
    assert peak(40_000) < 1.5 * peak(10_000)


def test_suggest_cli_writes_review_rows(tmp_path, model_file):
    table = tmp_path / "pool.jsonl"
    table.write_text("".join(json.dumps({"id": d.source, "text": d.text}) + "\n" for d in pool(200)))
    out = tmp_path / "to_label.jsonl"
    result = runner.invoke(app, ["suggest", str(table), "--model", str(model_file), "--n", "7", "--id-col", "id", "-o", str(out)])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 7 and all({"id", "text", "suggested", "scores", "uncertainty"} <= set(r) for r in rows)
    assert all(r["id"].startswith("d") for r in rows)
    assert "Picked 7 texts" in result.stderr


def test_suggest_refuses_to_overwrite_its_pool(tmp_path, model_file):
    table = tmp_path / "pool.jsonl"
    table.write_text(json.dumps({"text": "Tariffs rise"}) + "\n")
    result = runner.invoke(app, ["suggest", str(table), "--model", str(model_file), "-o", str(table)])
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert table.read_text() == json.dumps({"text": "Tariffs rise"}) + "\n"


ROWS = [
    {"id": "a1", "text": "Tariffs on steel, \"again\"\nsecond line", "labels": ["trade"]},
    {"id": "a2", "text": "Missile test and chip export rules", "labels": ["security", "tech_policy"]},
    {"id": "a3", "text": "Local team wins, café opens", "labels": ["other"]},
    {"id": "a4", "text": "=HYPERLINK(\"http://x\") -- a headline a spreadsheet would run", "labels": ["other"]},
    {"id": "'a5", "text": "'-' is the minus sign, a reader writes", "labels": ["other"]},
]


def test_label_studio_and_csv_round_trip_in_the_library():
    assert from_label_studio(to_label_studio(ROWS)) == ROWS
    assert from_csv(to_csv(ROWS)) == ROWS


def test_csv_import_takes_a_label_column_and_an_excel_byte_order_mark():
    assert from_csv("\ufefftext,label\nTariffs rise,trade\n") == [{"id": "1", "text": "Tariffs rise", "labels": ["trade"]}]


def test_label_studio_export_shape_and_cancelled_annotations():
    [task] = to_label_studio(ROWS[:1])
    assert task["data"]["text"] == ROWS[0]["text"]
    result = task["annotations"][0]["result"][0]
    assert result["type"] == "choices" and result["value"] == {"choices": ["trade"]}
    # Label Studio keeps cancelled (skipped) annotations; the last real one counts, tasks without one are left out
    task["annotations"].append({"was_cancelled": True, "result": []})
    unlabeled = {"id": 9, "data": {"text": "not labeled yet"}, "annotations": []}
    assert from_label_studio([task, unlabeled]) == ROWS[:1]


def test_csv_export_neutralises_formulas_and_refuses_labels_holding_the_separator():
    assert "\n4,\"'=HYPERLINK" in to_csv([dict(ROWS[3], id="4")]).replace("\r\n", "\n")
    with pytest.raises(DataError, match="separates labels"):
        to_csv([{"id": "1", "text": "x", "labels": ["a|b"]}])


def test_label_studio_tasks_from_other_projects():
    tasks = [{"data": {"body": "Tariffs rise"}, "annotations": [{"result": [{"type": "choices", "value": {"choices": "trade"}}]}]},
             {"id": 7, "data": {"body": "Team wins"}, "annotations": [{"result": [{"type": "choices", "value": {"choices": ["other"]}}]}]}]
    assert from_label_studio(tasks, text_key="body") == [{"id": "1", "text": "Tariffs rise", "labels": ["trade"]},
                                                         {"id": "7", "text": "Team wins", "labels": ["other"]}]
    odd = [{"id": 3, "data": {"text": "a", "topictag_id": None}, "annotations": [{"result": [{"type": "choices", "value": {"choices": None}},
                                                                                          {"type": "choices", "value": ["trade"]}]}]}]
    assert from_label_studio(odd) == [{"id": "3", "text": "a", "labels": []}]
    with pytest.raises(DataError, match="no 'text' text in data \\(text fields: body\\); name it with --text-key"):
        from_label_studio(tasks)


@pytest.mark.parametrize("form", ["labelstudio", "csv"])
def test_export_then_import_gives_the_same_labels_file(tmp_path, form):
    labels = tmp_path / "my_labels.jsonl"
    labels.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in ROWS), encoding="utf-8")
    exported = tmp_path / f"export.{'json' if form == 'labelstudio' else 'csv'}"
    result = runner.invoke(app, ["export", str(labels), "--to", form, "-o", str(exported)])
    assert result.exit_code == 0, result.output
    back = tmp_path / "back.jsonl"
    result = runner.invoke(app, ["import", str(exported), "--from", form, "-o", str(back)])
    assert result.exit_code == 0, result.output
    assert [json.loads(line) for line in back.read_text(encoding="utf-8").splitlines()] == ROWS
    assert back.read_text(encoding="utf-8") == labels.read_text(encoding="utf-8")


def test_imported_labels_train(tmp_path, tiny_corpus):
    texts, labels = tiny_corpus
    rows = [{"id": str(i), "text": t, "labels": list(l)} for i, (t, l) in enumerate(zip(texts, labels))]
    (tmp_path / "export.json").write_text(json.dumps(to_label_studio(rows)))
    assert runner.invoke(app, ["import", str(tmp_path / "export.json"), "-o", str(tmp_path / "mine.jsonl")]).exit_code == 0
    result = runner.invoke(app, ["train", str(tmp_path / "mine.jsonl"), "-o", str(tmp_path / "m.topictag")])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(
    "content, form, message",
    [
        ("{not json", "labelstudio", "not valid JSON"),
        ('{"tasks": []}', "labelstudio", "JSON list of tasks"),
        ('[{"id": 1, "data": {}}]', "labelstudio", "no 'text' text in data"),
        ("id,labels\n1,trade\n", "csv", "text column"),
        ("id,text\n1,Tariffs rise\n", "csv", "labels (or label) column"),
    ],
)
def test_bad_imports_are_one_line_errors(tmp_path, content, form, message):
    source = tmp_path / "bad"
    source.write_text(content)
    result = runner.invoke(app, ["import", str(source), "--from", form, "-o", str(tmp_path / "out.jsonl")])
    assert result.exit_code == 1 and message in result.stderr and "Traceback" not in result.output
    assert not (tmp_path / "out.jsonl").exists()
