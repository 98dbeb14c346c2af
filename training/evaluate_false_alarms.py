"""False alarms on whole real articles: how often the model tags stories that are about none of its topics.

    python training/evaluate_false_alarms.py ../shared/data [--model PATH] [--json]

Reads, from the data folder, the categories that hold no security, trade, tech_policy or health story by
construction: BBC sport and entertainment (whole articles, 2004-05) and AG News Sports (title + lead). The
share of those given any tag is a false-alarm rate on real text. For BBC tech it prints the share tagged
tech_policy: BBC tech mixes product news (no tag wanted) with regulation stories (tech_policy wanted), so this
is not a precision figure, only a sign of how readily product news is taken for policy.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

from topictag import default_model, load

NEGATIVE = [("bbc.jsonl", "sport"), ("bbc.jsonl", "entertainment"), ("ag_news_test.jsonl", "Sports")]


def rows_of(path: Path, category: str) -> list[str]:
    with open(path, encoding="utf-8") as handle:
        return [row["text"] for row in map(json.loads, handle) if category in row["labels"]]


def evaluate(folder: Path, model) -> dict:
    results = {}
    for name, category in NEGATIVE:
        texts = rows_of(folder / name, category)
        predictions = model.tag_many(texts)
        tags = Counter(tag for p in predictions for tag in p.tags)
        results[f"{name.split('_')[0].split('.')[0]} {category}"] = {
            "n": len(texts), "tagged": round(sum(bool(p.tags) for p in predictions) / len(texts), 4), "tags": dict(sorted(tags.items()))}
    texts = rows_of(folder / "bbc.jsonl", "tech")
    predictions = model.tag_many(texts)
    results["bbc tech, share tagged tech_policy"] = {"n": len(texts), "tagged": round(sum("tech_policy" in p.tags for p in predictions) / len(texts), 4)}
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", type=Path, help="the folder holding bbc.jsonl and ag_news_test.jsonl")
    parser.add_argument("--model", type=Path, help="a model bundle (default: the bundled default model)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    model = load(args.model) if args.model else default_model()
    results = evaluate(args.data, model)
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print("| texts | n | share tagged | tags |\n|---|---:|---:|---|")
    for name, row in results.items():
        print(f"| {name} | {row['n']} | {row['tagged']:.1%} | {row.get('tags', '')} |")


if __name__ == "__main__":
    main()
