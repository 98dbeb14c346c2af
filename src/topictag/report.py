"""Topic trends: how much of the news is about each topic, per period and group, corrected for the model's errors.

Counting tags is biased: a classifier with true positive rate ``tpr`` and false positive rate ``fpr`` for a
topic tags ``tpr * p + fpr * (1 - p)`` of a stream whose true share is ``p``. Adjusted classify-and-count
(Forman 2008) inverts that: ``p = (raw - fpr) / (tpr - fpr)``, clipped to [0, 1], with each label's
out-of-fold rates stored in the bundle at training time (``training_info["error_rates"]``). The mean of the
calibrated probabilities is reported beside it. Confidence intervals come from a Poisson bootstrap over
documents, accumulated while streaming, so memory holds one row of counts per period, group and replicate,
never the documents.

From ``topictag segment`` output (records with ``segments``), a document counts by the share of its story
characters in each topic; those shares are reported as they are (there are no error rates for segments).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import math
import random
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from pathlib import Path

import numpy as np

from .errors import DataError

FREQUENCIES = ("day", "week", "month")
ALL = "all"  # the group every document is also counted in
CHUNK = 8192
MIN_SEPARATION = 0.05  # tpr - fpr below this: the correction would divide by almost nothing; raw share kept
CSV_COLUMNS = ["period", "group", "topic", "documents", "raw_count", "raw_share", "corrected_share", "ci_low", "ci_high",
               "mean_probability", "probability_ci_low", "probability_ci_high"]
ESTIMATES = {"probability": ("mean_probability", "probability_ci_low", "probability_ci_high"), "corrected": ("corrected_share", "ci_low", "ci_high"),
             "raw": ("raw_share", None, None)}


# ---- dates ---------------------------------------------------------------------------------------

_EPOCH = re.compile(r"^-?\d{9,11}(\.\d+)?$")  # epoch seconds between 1973 and 5138
_DATE_CACHE: dict = {}


def parse_date(value) -> date | None:
    """A date from an ISO date or date-time, an RFC 2822 date (e-mail, RSS), or epoch seconds, between the
    years 1800 and 2200; None if none. Times with a zone are taken in UTC."""
    return _plausible(_any_date(value))


def _any_date(value) -> date | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, datetime):
        return (value.astimezone(timezone.utc) if value.tzinfo else value).date()
    if isinstance(value, date):
        return value
    if isinstance(value, (int, float)):
        return _from_epoch(float(value))
    if not isinstance(value, str):
        return None
    found = _DATE_CACHE.get(value)
    if found is None and value not in _DATE_CACHE:
        found = _parse_text(value.strip())
        if len(_DATE_CACHE) > 100_000:
            _DATE_CACHE.clear()
        _DATE_CACHE[value] = found
    return found


def _plausible(day: date | None) -> date | None:
    """Dates of news: placeholders such as 0001-01-01 or 9999-12-31 are not dates."""
    return day if day is not None and 1800 <= day.year <= 2200 else None


def _from_epoch(seconds: float) -> date | None:
    if not math.isfinite(seconds) or not 1e8 <= abs(seconds) < 1e11:
        return None
    return datetime.fromtimestamp(seconds, tz=timezone.utc).date()


def _parse_text(text: str) -> date | None:
    if not text:
        return None
    if _EPOCH.match(text):
        return _from_epoch(float(text))
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
        return (parsed.astimezone(timezone.utc) if parsed.tzinfo else parsed).date()
    except ValueError:
        pass
    try:
        parsed = parsedate_to_datetime(text)
        return (parsed.astimezone(timezone.utc) if parsed.tzinfo else parsed).date()
    except (TypeError, ValueError, IndexError):
        pass
    for form in ("%Y/%m/%d", "%d %B %Y", "%B %d, %Y", "%d %b %Y", "%b %d, %Y"):
        try:
            return datetime.strptime(text, form).date()
        except ValueError:
            continue
    return None


def period_start(day: date, freq: str) -> date:
    if freq == "day":
        return day
    if freq == "week":
        return day - timedelta(days=day.weekday())  # ISO weeks start on Monday
    if freq == "month":
        return day.replace(day=1)
    raise DataError(f"unknown frequency {freq!r}; choose one of {', '.join(FREQUENCIES)}")


def next_period(start: date, freq: str) -> date:
    if freq == "day":
        return start + timedelta(days=1)
    if freq == "week":
        return start + timedelta(days=7)
    return (start.replace(day=28) + timedelta(days=4)).replace(day=1)


MAX_FILLED_PERIODS = 3660  # periods with no documents are listed between the first and last up to this span


def empty_row(period: date, group: str, topic: str) -> dict:
    """A period with no documents: listed (a monitor needs to see the gap), with no share to give."""
    return {c: None for c in CSV_COLUMNS} | {"period": period.isoformat(), "group": group, "topic": topic, "documents": 0, "raw_count": 0}


# ---- reading tagged output -------------------------------------------------------------------------


@dataclass
class TaggedRow:
    day: date | None
    group: str
    indicator: np.ndarray  # per topic: 1 if tagged (or the share of story characters, from segments)
    probability: np.ndarray  # per topic: calibrated probability (or the character share)
    text: str | None = None
    skipped: bool = False  # an error record or a row without usable tags or scores: counted, not used


def read_tagged(paths: Iterable, topics: list[str], date_col: str, by: str | None = None, text_col: str | None = None) -> Iterator[TaggedRow]:
    """Rows of ``topictag tag`` output (JSONL, CSV or Parquet) or ``topictag segment`` JSONL output. Rows
    that are error records, unreadable, or without usable tags or scores come with ``skipped=True``; rows
    without a usable date come with ``day=None``."""
    from .corpus import table_rows

    index = {t: j for j, t in enumerate(topics)}
    for path in paths:
        path = Path(path)
        if path.is_dir():
            raise DataError(f"{path}: is a folder; name the tagged files (JSONL, CSV or Parquet output of topictag tag)")
        if not path.is_file():
            raise DataError(f"{path}: no such file")
        checked = False
        for number, row, problem in table_rows(path, replace_undecodable=True):
            if problem or row.get("error"):
                yield TaggedRow(None, ALL, None, None, skipped=True)
                continue
            if not checked:  # the first row that is not an error record names the columns
                checked = True
                for column in (date_col, by, text_col):
                    if column and column not in row:
                        raise DataError(f"{path}: no {column!r} column; carry it through with 'topictag tag --keep-cols {column}'")
                scores = row.get("scores")
                names = set(scores) if isinstance(scores, dict) else {c[6:] for c in row if c.startswith("score_")}
                if names and not names & set(topics):
                    raise DataError(f"{path}: tagged with other topics ({', '.join(sorted(names)[:5])}) than the model's; give the model that tagged it with --model")
            indicator, probability = _topic_vectors(row, index, len(topics))
            if indicator is None:
                yield TaggedRow(None, ALL, None, None, skipped=True)
                continue
            group = str(row.get(by)) if by and row.get(by) not in (None, "") else ("(none)" if by else ALL)
            text = row.get(text_col) if text_col else None
            yield TaggedRow(parse_date(row.get(date_col)), group, indicator, probability, text if isinstance(text, str) else None)


def _topic_vectors(row: dict, index: dict, n: int):
    indicator, probability = np.zeros(n), np.zeros(n)
    segments = row.get("segments")
    if isinstance(segments, str) and segments.startswith("["):
        segments = json.loads(segments)
    if isinstance(segments, list):
        stories = [s for s in segments if isinstance(s, dict) and s.get("kind", "story") != "furniture"]
        total = sum(max(0, int(s.get("end", 0)) - int(s.get("start", 0))) for s in stories)
        if not total:
            return None, None
        for s in stories:
            if s.get("label") in index:
                indicator[index[s["label"]]] += (int(s["end"]) - int(s["start"])) / total
        return indicator, indicator.copy()
    tags = row.get("tags")
    if isinstance(tags, str):
        tags = [t for t in tags.split("|") if t]
    if not isinstance(tags, (list, tuple)) and not hasattr(tags, "tolist"):
        return None, None
    for tag in list(tags):
        if tag in index:
            indicator[index[tag]] = 1.0
    scores = row.get("scores")
    if isinstance(scores, str) and scores.startswith("{"):
        scores = json.loads(scores)
    for topic, j in index.items():
        value = scores.get(topic) if isinstance(scores, dict) else row.get(f"score_{topic}")
        if value in (None, ""):
            probability[j] = indicator[j]
            continue
        try:
            probability[j] = float(value)
        except (TypeError, ValueError):
            return None, None  # a score that is not a number: the row is not what topictag wrote
        if not -1e-6 <= probability[j] <= 1.0 + 1e-6:  # other tools' rounding: a hair outside [0, 1] is fine
            return None, None
        probability[j] = min(1.0, max(0.0, probability[j]))
    return indicator, probability


# ---- near-duplicates -------------------------------------------------------------------------------

_WORD = re.compile(r"[^\W\d_]+")


def near_duplicate_key(text: str) -> int:
    """A sketch under which near-duplicate texts (syndicated copies with another dateline, byline or credit)
    collide: the two smallest hashes of the text's 5-word shingles (min-hashing: two texts share them with
    a probability close to their shingle overlap)."""
    words = _WORD.findall(text.lower())
    shingles = {" ".join(words[i : i + 5]) for i in range(max(len(words) - 4, 1))}
    hashes = sorted(int.from_bytes(hashlib.blake2b(s.encode(), digest_size=8).digest(), "little") for s in shingles)[:2]
    return hash(tuple(hashes))


# ---- the report ------------------------------------------------------------------------------------


@dataclass
class TrendReport:
    topics: list[str]
    freq: str
    rows: list[dict]  # one per period, group and topic (CSV_COLUMNS)
    undated: int
    merged: int
    skipped: int  # error records and rows without usable tags or scores
    documents: int
    from_segments: bool
    estimate: str
    terms: dict = field(default_factory=dict)  # (topic, period) -> [(term, weight)]


def build_report(rows: Iterable[TaggedRow], topics: list[str], error_rates: dict | None, freq: str = "month", *, dedupe: bool = False,
                 bootstrap: int = 200, seed: int = 0, model=None, terms_per_cell: int = 10) -> TrendReport:
    """Aggregate tagged rows into shares per period and group, streaming (see the module docstring)."""
    if freq not in FREQUENCIES:
        raise DataError(f"unknown frequency {freq!r}; choose one of {', '.join(FREQUENCIES)}")
    n_topics = len(topics)
    rng = np.random.default_rng(seed)
    picker = random.Random(seed)
    cells: dict[tuple, int] = {}
    n, raw, prob = [], [], []
    boot_n, boot_raw, boot_prob = [], [], []
    seen: set[int] = set()
    undated = merged = documents = skipped = 0
    from_segments = False
    samples: dict[tuple, list] = {}
    sample_seen: dict[tuple, int] = {}

    def cell(key) -> int:
        if key not in cells:
            cells[key] = len(cells)
            n.append(0.0), raw.append(np.zeros(n_topics)), prob.append(np.zeros(n_topics))
            boot_n.append(np.zeros(bootstrap)), boot_raw.append(np.zeros((bootstrap, n_topics))), boot_prob.append(np.zeros((bootstrap, n_topics)))
        return cells[key]

    def flush(chunk: list[TaggedRow]) -> None:
        if not chunk:
            return
        weights = rng.poisson(1.0, size=(len(chunk), bootstrap)).astype(np.float64)
        indicator = np.array([r.indicator for r in chunk])
        probability = np.array([r.probability for r in chunk])
        keys = [[(period_start(r.day, freq), ALL)] + ([(period_start(r.day, freq), r.group)] if r.group != ALL else []) for r in chunk]
        by_cell: dict[int, list[int]] = {}
        for i, (row, row_keys) in enumerate(zip(chunk, keys)):
            for key in row_keys:
                c = cell(key)
                by_cell.setdefault(c, []).append(i)
                n[c] += 1
                raw[c] += row.indicator
                prob[c] += row.probability
        for c, members in by_cell.items():
            w = weights[members]
            boot_n[c] += w.sum(axis=0)
            boot_raw[c] += w.T @ indicator[members]
            boot_prob[c] += w.T @ probability[members]

    chunk: list[TaggedRow] = []
    for row in rows:
        if row.skipped:
            skipped += 1
            continue
        if row.day is None:
            undated += 1
            continue
        if dedupe:
            if row.text is None:
                raise DataError("--dedupe needs the texts: carry them through with 'topictag tag --keep-cols text' and give --text-col")
            key = near_duplicate_key(row.text)
            if key in seen:
                merged += 1
                continue
            seen.add(key)
        documents += 1
        from_segments = from_segments or not np.array_equal(row.indicator, np.round(row.indicator))
        if model is not None and row.text:
            period = period_start(row.day, freq)
            for j in np.flatnonzero(row.indicator >= 0.5):
                key = (topics[j], period)
                sample_seen[key] = sample_seen.get(key, 0) + 1
                bucket = samples.setdefault(key, [])
                if len(bucket) < terms_per_cell:
                    bucket.append(row.text)
                else:
                    k = picker.randrange(sample_seen[key])
                    if k < terms_per_cell:
                        bucket[k] = row.text
        chunk.append(row)
        if len(chunk) >= CHUNK:
            flush(chunk)
            chunk = []
    flush(chunk)

    rates = error_rates or {}
    corrected_possible = bool(rates) and not from_segments
    table = []
    for (period, group), c in sorted(cells.items(), key=lambda item: (item[0][0], item[0][1] != ALL, item[0][1])):
        shares = raw[c] / n[c]
        boot_shares = boot_raw[c] / np.maximum(boot_n[c], 1e-9)[:, None]
        boot_means = boot_prob[c] / np.maximum(boot_n[c], 1e-9)[:, None]
        for j, topic in enumerate(topics):
            corrected, boot = shares[j], boot_shares[:, j]
            if corrected_possible and topic in rates:
                corrected, boot = adjusted_share(shares[j], rates[topic]), adjusted_share(boot, rates[topic])
            low, high = np.percentile(boot, [2.5, 97.5]) if bootstrap else (math.nan, math.nan)
            p_low, p_high = np.percentile(boot_means[:, j], [2.5, 97.5]) if bootstrap else (math.nan, math.nan)
            table.append({
                "period": period.isoformat(), "group": group, "topic": topic, "documents": int(n[c]),
                "raw_count": _count(raw[c][j]), "raw_share": round(float(shares[j]), 6),
                "corrected_share": round(float(corrected), 6), "ci_low": round(float(low), 6), "ci_high": round(float(high), 6),
                "mean_probability": round(float(prob[c][j] / n[c]), 6), "probability_ci_low": round(float(p_low), 6), "probability_ci_high": round(float(p_high), 6),
            })
    table = _with_empty_periods(table, cells, topics, freq)
    terms = {key: _top_terms(model, texts, key[0]) for key, texts in samples.items()} if model is not None else {}
    estimate = "adjusted classify-and-count" if corrected_possible else ("character share of stories" if from_segments else "raw share (the model has no error rates)")
    return TrendReport(topics, freq, table, undated, merged, skipped, documents, from_segments, estimate, terms)


def _with_empty_periods(table: list[dict], cells: dict, topics: list[str], freq: str) -> list[dict]:
    """The table with rows for the periods between the first and the last that have no documents (in every
    group), in the same order; left as it is when that span is longer than :data:`MAX_FILLED_PERIODS`."""
    if not cells:
        return table
    seen = {period for period, _ in cells}
    first, last = min(seen), max(seen)
    periods = [first]
    while periods[-1] < last and len(periods) <= MAX_FILLED_PERIODS:
        periods.append(next_period(periods[-1], freq))
    if len(periods) > MAX_FILLED_PERIODS:
        return table
    groups = sorted({group for _, group in cells}, key=lambda g: (g != ALL, g))
    present = {(r["period"], r["group"]) for r in table}
    filled = table + [empty_row(period, group, topic) for period in periods for group in groups
                      if (period.isoformat(), group) not in present for topic in topics]
    order = {t: j for j, t in enumerate(topics)}
    return sorted(filled, key=lambda r: (r["period"], r["group"] != ALL, r["group"], order[r["topic"]]))


ESTIMATE_NAMES = {"probability": "mean probability", "corrected": "corrected share", "raw": "raw share"}


def error_rates(model, texts: list[str], label_sets: list) -> dict:
    """Each topic's true and false positive rates of ``model`` on labeled texts (say, a sample of the stream
    that someone labeled): the rates the correction should use when the stream is unlike the training data."""
    tagged = [set(p.tags) for p in model.tag_many(texts)]
    rates = {}
    for topic in model.topics_:
        positive = [topic in labels for labels in label_sets]
        hits = [topic in tags for tags in tagged]
        n_pos = sum(positive)
        n_neg = len(positive) - n_pos
        if n_pos and n_neg:
            rates[topic] = {"tpr": sum(h and p for h, p in zip(hits, positive)) / n_pos, "fpr": sum(h and not p for h, p in zip(hits, positive)) / n_neg}
    return rates


def _count(value: float):
    return int(value) if float(value).is_integer() else round(float(value), 3)  # fractional from segment shares


def adjusted_share(raw, rates: dict):
    """Adjusted classify-and-count: (raw - fpr) / (tpr - fpr), clipped to [0, 1]."""
    tpr, fpr = float(rates["tpr"]), float(rates["fpr"])
    if tpr - fpr < MIN_SEPARATION:
        return raw
    return np.clip((np.asarray(raw, dtype=float) - fpr) / (tpr - fpr), 0.0, 1.0)


def _top_terms(model, texts: list[str], topic: str, n_terms: int = 5) -> list[tuple[str, float]]:
    totals: dict[str, float] = {}
    for text in texts:
        for explanation in model.explain(text, labels=[topic], n_terms=n_terms):
            for term, weight in explanation.up:
                totals[term] = totals.get(term, 0.0) + weight
    return sorted(totals.items(), key=lambda item: -item[1])[:n_terms]


# ---- output ----------------------------------------------------------------------------------------


def to_csv(report: TrendReport) -> str:
    import csv

    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(report.rows)
    return buffer.getvalue()


METHOD = {
    "probability": "Each topic's share is the mean of the documents' calibrated probabilities for it (probabilistic "
                   "classify-and-count), with a 95% bootstrap interval over documents; unlike counting tags, it does "
                   "not lose the documents just under a threshold.",
    "corrected": "Each topic's share is the share of documents tagged with it, corrected for the model's error rates "
                 "(adjusted classify-and-count: (raw - fpr) / (tpr - fpr), with each topic's true and false positive "
                 "rates), with a 95% bootstrap interval over documents.",
    "raw": "Each topic's share is the share of documents tagged with it, with a 95% bootstrap interval over documents.",
}
LIMITS = ("Both estimates assume the model behaves on this stream as it did where it was measured: the probabilities "
          "as calibrated at training, the error rates as measured at training (or on the --rates-from sample). "
          "The intervals leave out the uncertainty of the error rates and of the calibration themselves.")


def render_html(report: TrendReport, title: str = "topictag report", max_table_rows: int = 2000, shown: str = "probability") -> str:
    """A self-contained HTML page: charts (of the ``shown`` estimate) as embedded PNG, the table, the method, the terms."""
    from html import escape

    if shown not in ESTIMATES:
        raise DataError(f"unknown estimate {shown!r}; choose one of {', '.join(ESTIMATES)}")
    if report.from_segments:
        shown, name = "raw", "character share of stories"
    elif shown == "corrected" and report.estimate != "adjusted classify-and-count":
        raise DataError("the model has no error rates to correct with: use --estimate probability, or --rates-from a labeled sample")
    else:
        name = ESTIMATE_NAMES[shown]
    charts = [_chart_png(report, [ALL], f"All documents: {name} per {report.freq}", shown)]
    groups = sorted({r["group"] for r in report.rows} - {ALL})
    if groups:
        charts.append(_chart_png(report, groups, f"By group: {name} per {report.freq}", shown))
    images = "".join(f'<img alt="topic shares over time" src="data:image/png;base64,{base64.b64encode(png).decode()}">' for png in charts)
    head = "".join(f"<th>{escape(c)}</th>" for c in CSV_COLUMNS)
    dated = [r for r in report.rows if r["documents"]]  # the empty periods are gaps in the charts and rows of the CSV
    table_rows = dated[:max_table_rows]
    body = "".join("<tr>" + "".join(f"<td>{'' if r[c] is None else escape(str(r[c]))}</td>" for c in CSV_COLUMNS) + "</tr>" for r in table_rows)
    more = f"<p>First {max_table_rows:,} of {len(dated):,} rows; the CSV (<code>--csv</code>) has them all.</p>" if len(dated) > max_table_rows else ""
    terms_rows = "".join(
        f"<tr><td>{escape(topic)}</td><td>{period.isoformat()}</td><td>{escape(', '.join(term for term, _ in found))}</td></tr>"
        for (topic, period), found in sorted(report.terms.items(), key=lambda item: (item[0][0], item[0][1])) if found
    )
    terms = f"<h2>Terms that drove the tags</h2><table><tr><th>topic</th><th>period</th><th>terms (most weight first, from a sample of tagged texts)</th></tr>{terms_rows}</table>" if terms_rows else ""
    method = "Each topic's share is the share of story characters in segments with its label." if report.from_segments else METHOD[shown] + " " + LIMITS
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>
<style>body {{ font-family: system-ui, sans-serif; margin: 2em auto; max-width: 70em; padding: 0 1em; color: #222; }}
table {{ border-collapse: collapse; font-size: .85em; }} td, th {{ border: 1px solid #ddd; padding: .2em .5em; text-align: right; }}
img {{ max-width: 100%; display: block; margin: 1em 0; }}</style></head><body>
<h1>{escape(title)}</h1>
<p>{report.documents:,} documents; {report.undated:,} without a usable date and {report.skipped:,} error records or unusable rows (not counted); {report.merged:,} near-duplicates merged.
Charts show the <b>{escape(name)}</b>; the table has the raw, corrected ({escape(report.estimate)}) and mean-probability shares.</p>
<h2>Method</h2><p>{escape(method)}</p>
{images}
<h2>Table</h2><table><tr>{head}</tr>{body}</table>{more}
{terms}
</body></html>
"""


def _chart_png(report: TrendReport, groups: list[str], title: str, shown: str) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    columns = min(3, len(groups))
    rows_n = math.ceil(len(groups) / columns)
    figure, axes = plt.subplots(rows_n, columns, figsize=(max(8.0, 4.2 * columns + 1.5), (3.6 if len(groups) == 1 else 3.0) * rows_n + 0.6), squeeze=False, sharey=True)
    colours = plt.get_cmap("tab10")
    for k, group in enumerate(groups):
        ax = axes[k // columns][k % columns]
        for j, topic in enumerate(report.topics):
            points = [r for r in report.rows if r["group"] == group and r["topic"] == topic]
            if not points:
                continue
            x = [date.fromisoformat(r["period"]) for r in points]
            value, low, high = ESTIMATES[shown]
            def series(column):  # a period without documents is a gap in the line, not a zero
                return [math.nan if r[column] is None else r[column] for r in points]

            ax.plot(x, series(value), color=colours(j), label=topic, linewidth=1.6, marker="o", markersize=3)  # a period between two gaps is a dot
            if low is not None:
                ax.fill_between(x, series(low), series(high), color=colours(j), alpha=0.18, linewidth=0)
        ax.set_title(group, fontsize=10)
        ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(mdates.AutoDateLocator()))
        ax.grid(alpha=0.3)
    for k in range(len(groups), rows_n * columns):
        axes[k // columns][k % columns].axis("off")
    handles, labels = axes[0][0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="upper right", fontsize=9)
    figure.suptitle(title, fontsize=11, x=0.01, ha="left")
    figure.tight_layout(rect=(0, 0, 0.88, 0.95))
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    plt.close(figure)
    return buffer.getvalue()
