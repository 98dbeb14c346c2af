"""Evaluate a model (default: the bundled default model) on real news: ../shared/data/topic4_dev.jsonl.

    python training/evaluate_topic4.py ../shared/data/topic4_dev.jsonl [--model PATH] [--markdown]

Reports, per source (nyt_cap, reuters21578, 20news) and per label, precision/recall/F1 over
security/trade/health/other, and the share of `other` documents that received any tag. The file has no
tech_policy class: a tech_policy tag counts as "other" for the four-label figures, but does count as a tag
on an `other` document. The targets of the default model are printed beside the measured figures.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

from topictag import default_model, load
from topictag.metrics import evaluate_predictions

EVAL_TOPICS = ["security", "trade", "health"]
TARGETS = [  # (source, figure, target, description)
    ("nyt_cap", "macro4", 0.80, "nyt_cap macro-F1 over security/trade/health/other >= 0.80"),
    ("reuters21578", "trade_f1", 0.85, "reuters21578 trade F1 >= 0.85"),
    ("20news", "health_recall", 0.80, "20news health recall >= 0.80"),
    ("all", "other_tagged", 0.05, "share of other documents tagged, all sources <= 0.05"),
]


def evaluate(rows, model) -> dict:
    predictions = model.tag_many([row["text"] for row in rows])
    by_source = defaultdict(list)
    for row, prediction in zip(rows, predictions):
        by_source[row["source"]].append((row, prediction))
        by_source["all"].append((row, prediction))
    results = {}
    for source, pairs in by_source.items():
        gold = [tuple(label for label in row["labels"] if label != "other") for row, _ in pairs]
        predicted = [p.tags for _, p in pairs]
        report = evaluate_predictions(gold, predicted, EVAL_TOPICS, "other")
        others = [p for row, p in pairs if row["labels"] == ["other"]]
        present = [label for label in EVAL_TOPICS + ["other"] if report["labels"][label]["support"]]
        report["macro4"] = round(sum(report["labels"][label]["f1"] for label in present) / len(present), 4)
        report["trade_f1"] = report["labels"]["trade"]["f1"]
        report["health_recall"] = report["labels"]["health"]["recall"]
        report["other_tagged"] = round(sum(bool(p.tags) for p in others) / len(others), 4) if others else None
        report["other_tags"] = _tag_counts(others)
        results[source] = report
    return results


def _tag_counts(predictions) -> dict:
    counts = defaultdict(int)
    for p in predictions:
        for tag in p.tags:
            counts[tag] += 1
    return dict(sorted(counts.items()))


def markdown(results: dict) -> str:
    lines = ["| source | label | precision | recall | F1 | support |", "|---|---|---:|---:|---:|---:|"]
    for source in ("nyt_cap", "reuters21578", "20news", "all"):
        report = results.get(source)
        if not report:
            continue
        for label in EVAL_TOPICS + ["other"]:
            row = report["labels"][label]
            if row["support"] or row["precision"]:
                lines.append(f"| {source} | {label} | {row['precision']:.3f} | {row['recall']:.3f} | {row['f1']:.3f} | {row['support']} |")
        share = report["other_tagged"]
        lines.append(f"| {source} | *macro-F1 (labels present)* | | | {report['macro4']:.3f} | |")
        if share is not None:
            lines.append(f"| {source} | *other docs given any tag* | | | {share:.1%} | {report['other_tags']} |")
    lines += ["", "| target | measured | met |", "|---|---:|:---:|"]
    for source, figure, target, description in TARGETS:
        value = results[source][figure]
        met = value <= target if figure == "other_tagged" else value >= target
        lines.append(f"| {description} | {value:.3f} | {'yes' if met else '**no**'} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", type=Path, help="path to topic4_dev.jsonl")
    parser.add_argument("--model", type=Path, help="model bundle (default: the bundled default model)")
    parser.add_argument("--json", action="store_true", help="print the full results as JSON")
    args = parser.parse_args()
    rows = [json.loads(line) for line in args.data.open(encoding="utf-8")]
    model = load(args.model) if args.model else default_model()
    results = evaluate(rows, model)
    print(json.dumps(results, indent=2) if args.json else markdown(results))


if __name__ == "__main__":
    main()
