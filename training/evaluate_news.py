"""Evaluate a model on a stream of recent news items the way the hidden release check does.

    python training/evaluate_news.py [labels/heldout/recent_news.jsonl] [--model PATH] [--json]

The file is JSONL with ``text`` and ``labels`` (one or two of the topics, or ["other"]). Figures:

- macro-F1 over security / trade / tech_policy / health / other, comparing each item's best tag (its ``top``:
  the best tag that passed its threshold, or ``other`` when none did) with its labels;
- the share of ``other`` items given any topic (false alarms);
- top-1 right: the best tag is one of the labels, or there is no tag for an ``other`` item.

labels/heldout/recent_news.jsonl was written for this project by a writer who did not see the training
snippets (labels/README.md); it is a lower bound on the work left, not a substitute for real news.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

from topictag import default_model, load

ROOT = Path(__file__).resolve().parents[1]
CLASSES = ["security", "trade", "tech_policy", "health", "other"]
TARGETS = {"macro_f1": 0.94, "other_tagged": 0.04, "top1": 0.94}


def evaluate(rows: list[dict], model) -> dict:
    predictions = model.tag_many([row["text"] for row in rows])
    counts = {c: Counter() for c in CLASSES}
    top1 = others = others_tagged = 0
    misses = []
    for row, prediction in zip(rows, predictions):
        gold = set(row["labels"])
        top = prediction.top if prediction.tags else "other"
        for c in CLASSES:
            counts[c]["tp"] += top == c and c in gold
            counts[c]["fp"] += top == c and c not in gold
            counts[c]["fn"] += c in gold and top != c
        top1 += top in gold
        if gold == {"other"}:
            others += 1
            others_tagged += bool(prediction.tags)
        if top not in gold:
            misses.append({"id": row.get("id"), "labels": row["labels"], "top": top, "tags": list(prediction.tags), "text": row["text"][:160]})
    per_class = {}
    for c in CLASSES:
        tp, fp, fn = counts[c]["tp"], counts[c]["fp"], counts[c]["fn"]
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[c] = {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4), "support": tp + fn}
    return {
        "n": len(rows),
        "per_class": per_class,
        "macro_f1": round(sum(r["f1"] for r in per_class.values()) / len(CLASSES), 4),
        "other_tagged": round(others_tagged / others, 4) if others else 0.0,
        "top1": round(top1 / len(rows), 4),
        "misses": misses,
    }


def markdown(results: dict) -> str:
    lines = ["| class | precision | recall | F1 | support |", "|---|---:|---:|---:|---:|"]
    for c, row in results["per_class"].items():
        lines.append(f"| {c} | {row['precision']:.3f} | {row['recall']:.3f} | {row['f1']:.3f} | {row['support']} |")
    lines += ["", "| figure | measured | target |", "|---|---:|---:|"]
    lines.append(f"| macro-F1 (5 classes, best tag) | {results['macro_f1']:.3f} | >= {TARGETS['macro_f1']} |")
    lines.append(f"| `other` items given any topic | {results['other_tagged']:.1%} | <= {TARGETS['other_tagged']:.0%} |")
    lines.append(f"| top-1 right | {results['top1']:.3f} | >= {TARGETS['top1']} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", type=Path, nargs="?", default=ROOT / "labels" / "heldout" / "recent_news.jsonl")
    parser.add_argument("--model", type=Path, help="model bundle (default: the bundled default model)")
    parser.add_argument("--json", action="store_true", help="print the full results (with every miss) as JSON")
    parser.add_argument("--misses", action="store_true", help="also list the misses")
    args = parser.parse_args()
    rows = [json.loads(line) for line in args.data.open(encoding="utf-8") if line.strip()]
    model = load(args.model) if args.model else default_model()
    results = evaluate(rows, model)
    if args.json:
        print(json.dumps(results, indent=2, ensure_ascii=False))
        return
    print(markdown(results))
    if args.misses:
        for miss in results["misses"]:
            print(f"- {miss['id']} gold={'+'.join(miss['labels'])} top={miss['top']} tags={miss['tags']}: {miss['text']!r}")


if __name__ == "__main__":
    main()
