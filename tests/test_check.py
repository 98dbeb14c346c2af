"""topictag check: injected label errors are found, conflicting duplicates and rare labels are reported."""

import json
import random
from pathlib import Path

import pytest
from typer.testing import CliRunner

from topictag.cli import app

pytest.importorskip("cleanlab")
ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(not (ROOT / "labels").is_dir(), reason="needs the source checkout's labels/")


@pytest.fixture(scope="module")
def noisy(tmp_path_factory):
    rows = []
    for name in ("trade", "health", "security", "other_society"):
        rows += [json.loads(line) for line in (ROOT / "labels" / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()][:150]
    rng = random.Random(0)
    flipped = rng.sample(range(len(rows)), 20)
    for i in flipped:
        old = rows[i]["labels"][0]
        rows[i]["labels"] = [rng.choice([label for label in ("trade", "health", "security", "other") if label != old])]
    rows.append({"id": "dup-a", "text": "Customs officers seize a record haul of counterfeit watches at the port", "labels": ["other"]})
    rows.append({"id": "dup-b", "text": "Customs officers seize a record haul of counterfeit watches at the port!", "labels": ["trade"]})
    rows += [{"id": f"rare-{i}", "text": f"Glaciers retreat in the Alps, survey {i} finds", "labels": ["climate"]} for i in range(3)]
    path = tmp_path_factory.mktemp("check") / "noisy.jsonl"
    path.write_text("".join(json.dumps({"id": r["id"], "text": r["text"], "labels": r["labels"]}) + "\n" for r in rows), encoding="utf-8")
    return path, {rows[i]["id"] for i in flipped}


def test_injected_label_errors_rank_first(noisy):
    path, flipped = noisy
    result = CliRunner().invoke(app, ["check", str(path), "--format", "json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    issues = report["label_issues"]
    assert set(issues[0]) == {"id", "row", "text", "label", "suggested", "confidence"}
    found = {issue["id"] for issue in issues}
    assert len(flipped & found) >= 14, "most injected errors are found"
    assert len(flipped & {issue["id"] for issue in issues[:30]}) >= 9, "and rank near the top"
    assert report["rare_labels"] == ["climate"]
    [duplicate] = [d for d in report["duplicates"] if set(d["ids"]) == {"dup-a", "dup-b"}]
    assert duplicate["exact"] and duplicate["labels"] == [[], ["trade"]]


def test_check_table_for_people(noisy):
    path, _ = noisy
    result = CliRunner().invoke(app, ["check", str(path)])
    assert result.exit_code == 0 and "Likely label errors" in result.stdout and "Too rare to learn well" in result.stdout


def test_one_topic_against_its_negatives(tmp_path):
    rows = [json.loads(line) for line in (ROOT / "labels" / "trade.jsonl").read_text(encoding="utf-8").splitlines()][:120]
    rows += [json.loads(line) for line in (ROOT / "labels" / "other_society.jsonl").read_text(encoding="utf-8").splitlines()][:120]
    rows = [{"id": r["id"], "text": r["text"], "labels": ["trade"] if "trade" in r["labels"] else ["other"]} for r in rows]
    flipped = {rows[i]["id"] for i in (3, 40, 77, 130, 170, 200)}
    for row in rows:
        if row["id"] in flipped:
            row["labels"] = ["other"] if row["labels"] == ["trade"] else ["trade"]
    path = tmp_path / "one_topic.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    result = CliRunner().invoke(app, ["check", str(path), "--format", "json"])
    assert result.exit_code == 0, result.output
    found = {issue["id"] for issue in json.loads(result.stdout)["label_issues"]}
    assert len(flipped & found) >= 4
