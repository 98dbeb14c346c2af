"""topictag report: lenient dates, streaming shares, corrected shares closer to the truth than raw counts, the HTML."""

import json
import random
from datetime import date
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from topictag.cli import app
from topictag.report import adjusted_share, near_duplicate_key, parse_date, period_start

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()
TOPICS = ["health", "security", "tech_policy", "trade"]


@pytest.mark.parametrize(
    "value, expected",
    [
        ("2025-03-12", date(2025, 3, 12)),
        ("2025-03-12T23:30:00-05:00", date(2025, 3, 13)),  # taken in UTC
        ("2025-03-12T10:00:00Z", date(2025, 3, 12)),
        ("Wed, 12 Mar 2025 10:00:00 +0000", date(2025, 3, 12)),  # RFC 2822 (RSS, e-mail)
        (1741773600, date(2025, 3, 12)),
        ("1741773600", date(2025, 3, 12)),
        ("12 March 2025", date(2025, 3, 12)),
        ("March 12, 2025", date(2025, 3, 12)),
        ("", None), ("yesterday", None), (None, None), (float("nan"), None), ("2025-13-45", None),
        ("0001-01-01", None), ("9999-12-31", None),  # database placeholders, not dates
    ],
)
def test_dates_are_read_leniently(value, expected):
    assert parse_date(value) == expected


def test_periods_start_on_the_first_day_and_monday():
    assert period_start(date(2025, 3, 12), "month") == date(2025, 3, 1)
    assert period_start(date(2025, 3, 12), "week") == date(2025, 3, 10)
    assert period_start(date(2025, 3, 12), "day") == date(2025, 3, 12)


def test_adjusted_share_inverts_the_error_rates():
    rates = {"tpr": 0.8, "fpr": 0.05}
    for truth in (0.0, 0.1, 0.5, 0.9):
        raw = rates["tpr"] * truth + rates["fpr"] * (1 - truth)
        assert adjusted_share(raw, rates) == pytest.approx(truth)
    assert adjusted_share(0.01, rates) == 0.0  # clipped
    assert adjusted_share(0.3, {"tpr": 0.52, "fpr": 0.5}) == 0.3  # no separation: raw share kept


def test_syndicated_copies_share_a_key():
    story = "The government raised tariffs on imported steel to 25 percent on Monday, citing a surge of cheap imports from abroad that hurt mills"
    assert near_duplicate_key("WASHINGTON (Reuters) - " + story) == near_duplicate_key("Washington, AP: " + story + " (Reporting by staff)")
    assert near_duplicate_key(story) != near_duplicate_key("Measles cases climb in the north as vaccination rates fall among children in three counties")


# ---- a synthetic stream with a known, drifting prevalence -------------------------------------------


def truth_for(month: int) -> dict:
    """True shares per topic in month 0..11; the rest is 'other'."""
    return {"trade": 0.05 + 0.30 * month / 11, "health": 0.30 - 0.20 * month / 11, "security": 0.15 + 0.08 * np.sin(month / 2), "tech_policy": 0.10 + 0.10 * month / 11}


@pytest.fixture(scope="module")
def stream(tmp_path_factory):
    """A cautious model (thresholds as if negatives were 4x as common, like the default model) trained on part
    of labels/, and a stream of 12 months x 500 documents drawn from the rest with
    the shares above (of each document's first label; its labels, all known, give each month's truth)."""
    from topictag import TopicClassifier

    rows = []
    for path in sorted((ROOT / "labels").glob("*.jsonl")):
        rows += [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    rng = random.Random(0)
    rng.shuffle(rows)
    train, rest = rows[:5000], rows[5000:]
    model = TopicClassifier(classifier="svm", negative_weight=4.0, random_state=0).fit([r["text"] for r in train], [r["labels"] for r in train])
    folder = tmp_path_factory.mktemp("report")
    model.save(folder / "model.topictag")
    pools = {t: [r for r in rest if r["labels"][0] == t] for t in TOPICS + ["other"]}  # multi-label stories too, as in training
    documents, truth = [], {}
    for month in range(12):
        shares = truth_for(month)
        counts = dict.fromkeys(TOPICS, 0)
        for i in range(500):
            u, topic = rng.random(), "other"
            for t in TOPICS:
                if u < shares[t]:
                    topic = t
                    break
                u -= shares[t]
            row = rng.choice(pools[topic])
            for label in row["labels"]:
                counts[label] = counts.get(label, 0) + 1
            day = date(2025, month + 1, 1 + i % 28)
            published = day.isoformat() if i % 3 else f"{day.strftime('%a, %d %b %Y')} 08:00:00 +0000"
            documents.append({"text": row["text"], "published": published, "outlet": ["Daily Ledger", "Wire East"][i % 2]})
        truth[date(2025, month + 1, 1).isoformat()] = {t: counts[t] / 500 for t in TOPICS}
    documents.append({"text": "Undated story about tariffs", "published": "soon", "outlet": "Daily Ledger"})
    (folder / "stream.jsonl").write_text("".join(json.dumps(d) + "\n" for d in documents))
    result = runner.invoke(app, ["tag", str(folder / "stream.jsonl"), "--model", str(folder / "model.topictag"), "--keep-cols", "published,outlet,text", "-o", str(folder / "tagged.jsonl")])
    assert result.exit_code == 0, result.output
    return folder, truth


def test_corrected_shares_halve_the_error_of_raw_counts(stream):
    folder, truth = stream
    result = runner.invoke(app, ["report", str(folder / "tagged.jsonl"), "--date-col", "published", "--by", "outlet", "--model", str(folder / "model.topictag"),
                                 "-o", str(folder / "report.html"), "--csv", str(folder / "table.csv")])
    assert result.exit_code == 0, result.output
    assert "1 without a usable date" in result.stderr
    import pandas as pd

    table = pd.read_csv(folder / "table.csv")
    assert list(table.columns)[:9] == ["period", "group", "topic", "documents", "raw_count", "raw_share", "corrected_share", "ci_low", "ci_high"]
    overall = table[table.group == "all"]
    assert sorted(set(overall.period)) == sorted(truth) and set(table.group) == {"all", "Daily Ledger", "Wire East"}
    assert (overall.documents == 500).all()
    errors = {"raw": [], "corrected": []}
    for row in overall.itertuples():
        errors["raw"].append(abs(row.raw_share - truth[row.period][row.topic]))
        errors["corrected"].append(abs(row.corrected_share - truth[row.period][row.topic]))
    raw_mae, corrected_mae = np.mean(errors["raw"]), np.mean(errors["corrected"])
    print(f"MAE raw {raw_mae:.4f} corrected {corrected_mae:.4f}")
    assert corrected_mae <= raw_mae / 2
    probability_mae = np.mean([abs(row.mean_probability - truth[row.period][row.topic]) for row in overall.itertuples()])
    assert probability_mae < raw_mae  # the estimate the charts show by default
    inside = np.mean([row.ci_low <= truth[row.period][row.topic] <= row.ci_high for row in overall.itertuples()])
    assert inside >= 0.75  # 95% intervals; the error rates' own uncertainty is not in them


def test_the_html_report_holds_charts_table_and_method(stream):
    folder, _ = stream
    out = folder / "report-terms.html"
    result = runner.invoke(app, ["report", str(folder / "tagged.jsonl"), "--date-col", "published", "--by", "outlet", "--model", str(folder / "model.topictag"),
                                 "--text-col", "text", "--freq", "month", "-o", str(out)])
    assert result.exit_code == 0, result.output
    page = out.read_text(encoding="utf-8")
    assert page.count("data:image/png;base64,") == 2  # all documents, and small multiples per outlet
    assert "<table>" in page and "adjusted classify-and-count" in page and "Terms that drove the tags" in page
    for outside in ("http://", "https://", "<script"):
        assert outside not in page


def test_error_rates_can_come_from_a_labeled_sample(stream, tmp_path):
    import topictag
    from topictag.report import error_rates

    folder, _ = stream
    model = topictag.load(folder / "model.topictag")
    texts = ["Tariffs on imported steel rise to 25 percent", "Exports fall as the tariff war bites", "Local team wins the cup", "Measles outbreak spreads"]
    rates = error_rates(model, texts, [{"trade"}, {"trade"}, {"other"}, {"health"}])
    assert rates["trade"] == {"tpr": 1.0, "fpr": 0.0}
    sample = tmp_path / "sample.jsonl"
    sample.write_text("".join(json.dumps({"text": t, "labels": [l]}) + "\n" for t, l in zip(texts, ["trade", "trade", "other", "health"])))
    result = runner.invoke(app, ["report", str(folder / "tagged.jsonl"), "--date-col", "published", "--model", str(folder / "model.topictag"),
                                 "--rates-from", str(sample), "--estimate", "corrected", "-o", str(tmp_path / "r.html")])
    assert result.exit_code == 0, result.output
    assert "Charts show the <b>corrected share</b>" in (tmp_path / "r.html").read_text()
    missing = [t for t in model.topics_ if t not in rates]
    assert missing and f"no positives or no negatives for {', '.join(missing)}" in result.stderr  # those keep the model's rates


def test_error_records_and_unusable_rows_are_counted_not_used(tmp_path):
    good = {"source": "a", "tags": ["trade"], "scores": {"trade": 0.9}, "published": "2025-01-01"}
    rows = [good, {**good, "source": "b", "tags": ["trade"], "scores": {"trade": "high"}},  # a score that is not a number
            {"source": "c", "error": "cannot read", "published": "2025-01-01"}, {**good, "source": "d", "scores": {"trade": 7}}]
    (tmp_path / "tagged.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows) + "{not json\n")
    result = runner.invoke(app, ["report", str(tmp_path / "tagged.jsonl"), "--date-col", "published", "-o", str(tmp_path / "r.html"), "--csv", str(tmp_path / "t.csv")])
    assert result.exit_code == 0, result.output
    assert "Reported 1 documents" in result.stderr and "4 error records or unusable rows" in result.stderr
    assert "4 error records or unusable rows (not counted)" in (tmp_path / "r.html").read_text()


def test_dedupe_counts_syndicated_copies_once(tmp_path):
    story = "The government raised tariffs on imported steel to 25 percent on Monday, citing a surge of cheap imports from abroad"
    rows = [{"source": str(i), "tags": ["trade"], "scores": {}, "published": "2025-01-05", "text": prefix + story} for i, prefix in enumerate(["", "LONDON - ", "Reuters: ", "AP - "])]
    rows.append({"source": "x", "tags": [], "scores": {}, "published": "2025-01-06", "text": "Local team wins the championship after extra time in a tense final"})
    (tmp_path / "tagged.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = runner.invoke(app, ["report", str(tmp_path / "tagged.jsonl"), "--date-col", "published", "--dedupe", "--text-col", "text", "-o", str(tmp_path / "r.html"), "--csv", str(tmp_path / "t.csv")])
    assert result.exit_code == 0, result.output
    assert "3 near-duplicates merged" in result.stderr
    assert "2 documents" in result.stderr or "Reported 2 documents" in result.stderr


def test_segment_output_counts_characters(tmp_path):
    rows = [{"source": "page", "published": "2025-02-03", "segments": [
        {"start": 0, "end": 60, "label": "trade", "kind": "story"}, {"start": 60, "end": 80, "label": None, "kind": "furniture"},
        {"start": 80, "end": 120, "label": "health", "kind": "story"}, {"start": 120, "end": 150, "label": None, "kind": "story"}]}]
    (tmp_path / "segments.jsonl").write_text(json.dumps(rows[0]) + "\n")
    result = runner.invoke(app, ["report", str(tmp_path / "segments.jsonl"), "--date-col", "published", "-o", str(tmp_path / "r.html"), "--csv", str(tmp_path / "t.csv")])
    assert result.exit_code == 0, result.output
    import pandas as pd

    table = pd.read_csv(tmp_path / "t.csv").set_index("topic")
    assert table.loc["trade", "raw_share"] == pytest.approx(60 / 130, abs=1e-5) and table.loc["health", "raw_share"] == pytest.approx(40 / 130, abs=1e-5)
    assert table.loc["trade", "corrected_share"] == table.loc["trade", "raw_share"]  # no error rates for segments


def test_output_of_another_model_is_refused(tmp_path):
    row = {"source": "a", "tags": ["climate"], "scores": {"climate": 0.9, "sports": 0.1}, "published": "2025-01-01"}
    (tmp_path / "other.jsonl").write_text(json.dumps(row) + "\n")
    result = runner.invoke(app, ["report", str(tmp_path / "other.jsonl"), "--date-col", "published", "-o", str(tmp_path / "r.html")])
    assert result.exit_code == 1 and "other topics" in result.stderr and "--model" in result.stderr


@pytest.mark.parametrize(
    "args, message",
    [
        (["--date-col", "when"], "no 'when' column"),
        (["--date-col", "published", "--dedupe"], "--dedupe needs --text-col"),
        (["--date-col", "published", "--by", "outlet"], "no 'outlet' column"),
        (["--date-col", "published", "--csv", "{out}"], "name the same file"),
    ],
)
def test_bad_report_input_is_a_one_line_error(tmp_path, args, message):
    (tmp_path / "tagged.jsonl").write_text(json.dumps({"source": "a", "tags": ["trade"], "scores": {}, "published": "2025-01-01"}) + "\n")
    args = [a.format(out=tmp_path / "r.html") for a in args]
    result = runner.invoke(app, ["report", str(tmp_path / "tagged.jsonl"), *args, "-o", str(tmp_path / "r.html")])
    assert result.exit_code != 0 and message in result.stderr and "Traceback" not in result.output
    assert not (tmp_path / "r.html").exists()


def test_periods_without_documents_are_listed_as_gaps(tmp_path):
    rows = [{"source": str(i), "tags": ["trade"] if i % 2 else [], "scores": {"trade": 0.9 if i % 2 else 0.1}, "published": day}
            for i, day in enumerate(["2025-01-03", "2025-01-20", "2025-04-02", "2025-04-09"])]
    (tmp_path / "tagged.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = runner.invoke(app, ["report", str(tmp_path / "tagged.jsonl"), "--date-col", "published", "-o", str(tmp_path / "r.html"), "--csv", str(tmp_path / "t.csv")])
    assert result.exit_code == 0, result.output
    assert "over 4 months, 2 of them without documents" in result.stderr
    import pandas as pd

    table = pd.read_csv(tmp_path / "t.csv")
    trade = table[table.topic == "trade"].set_index("period")
    assert list(trade.index) == ["2025-01-01", "2025-02-01", "2025-03-01", "2025-04-01"]
    assert list(trade.documents) == [2, 0, 0, 2]
    assert trade.loc["2025-02-01", ["raw_share", "mean_probability", "ci_low"]].isna().all()  # no share, not a zero
    assert trade.loc["2025-01-01", "raw_share"] == 0.5


def test_gaps_are_per_group_and_stray_dates_are_pointed_out(tmp_path):
    def row(i, day, outlet):
        return {"source": str(i), "tags": ["trade"], "scores": {"trade": 1.0000001}, "published": day, "outlet": outlet}  # a hair over 1 is rounding

    rows = [{"source": "e", "error": "cannot read"}, row(0, "2025-01-05", "A"), row(1, "2025-02-05", "B"), row(2, "2025-03-05", "A")]
    (tmp_path / "tagged.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    args = ["report", str(tmp_path / "tagged.jsonl"), "--date-col", "published", "--by", "outlet", "-o", str(tmp_path / "r.html"), "--csv", str(tmp_path / "t.csv")]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    import pandas as pd

    table = pd.read_csv(tmp_path / "t.csv")
    outlet_a = table[(table.group == "A") & (table.topic == "trade")].set_index("period")
    assert list(outlet_a.documents) == [1, 0, 1] and outlet_a.loc["2025-01-01", "mean_probability"] == 1.0  # A has a February gap
    assert "Note: most" not in result.stderr and "<td>0</td><td>0</td><td></td>" not in (tmp_path / "r.html").read_text()
    (tmp_path / "tagged.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows + [row(3, "1990-01-01", "A")]))
    result = runner.invoke(app, args)
    assert result.exit_code == 0 and "Note: most months from 1990-01-01 to 2025-03-01 have no documents" in result.stderr
    missing = runner.invoke(app, ["report", str(tmp_path / "tagged.jsonl"), "--date-col", "when", "-o", str(tmp_path / "r.html")])
    assert missing.exit_code == 1 and "no 'when' column" in missing.stderr  # checked on the first row that is not an error
