"""Print the counts of labels/ as Markdown (per label, per sub-topic, per form, multi-label pairs) for labels/README.md.

    python training/label_stats.py [labels]
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path


def main() -> None:
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parents[1] / "labels")
    rows = [json.loads(line) for path in sorted(folder.glob("*.jsonl")) for line in path.read_text(encoding="utf-8").splitlines()]
    labels = Counter(label for row in rows for label in row["labels"])
    primary = Counter(row["labels"][0] for row in rows)
    multi = Counter(" + ".join(row["labels"]) for row in rows if len(row["labels"]) > 1)
    print(f"{len(rows)} snippets; {sum(len(r['labels']) > 1 for r in rows)} multi-label ({sum(len(r['labels']) > 1 for r in rows) / len(rows):.1%}).\n")
    print("| label | snippets carrying it | as first label |\n|---|---:|---:|")
    for label, n in sorted(labels.items()):
        print(f"| {label} | {n} | {primary[label]} |")
    print("\n| label | sub-topic | snippets |\n|---|---|---:|")
    for (label, subtopic), n in sorted(Counter((r["labels"][0], r["subtopic"]) for r in rows).items()):
        print(f"| {label} | {subtopic} | {n} |")
    print("\n| form | snippets |\n|---|---:|")
    for form, n in Counter(r["form"] for r in rows).most_common():
        print(f"| {form} | {n} |")
    print("\n| multi-label combination | snippets |\n|---|---:|")
    for combo, n in multi.most_common():
        print(f"| {combo} | {n} |")


if __name__ == "__main__":
    main()
