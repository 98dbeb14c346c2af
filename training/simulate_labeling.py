"""Simulated labeling: how many labels each `topictag suggest` strategy needs, with an oracle answering.

    python training/simulate_labeling.py [--data ../shared/data/bbc.jsonl] [--seeds 3] [--png docs/labeling_curves.png]

Data: BBC News (5 categories, ../shared/data/bbc.jsonl) when it is there, else our own snippets of labels/
(single-label ones: security, trade, tech_policy, health, other). A stratified 30% is the test set, the rest
the unlabeled pool. Each run starts from 25 random labels, then asks `topictag.labeling.suggest` (the code
behind `topictag suggest`) for 25 more at a time with the model trained on the labels so far, and the oracle
answers with the gold label, up to 400 labels. The model is `TopicClassifier(classifier="svm", cv=3)` with
a negative label that never occurs, so each text's best label is its answer (as in benchmark_peers.py).
Figure: macro-F1 of the best label on the test set, mean over --seeds runs per strategy; the target is the
smallest number of labels at which uncertainty or diverse reaches random's macro-F1 at 400 labels.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from topictag import TopicClassifier  # noqa: E402
from topictag.inputs import Document  # noqa: E402
from topictag.labeling import suggest  # noqa: E402

STRATEGIES = ("random", "uncertainty", "diverse")
START, STEP, BUDGET = 25, 25, 400


def read_examples(data: Path | None) -> tuple[list[str], list[str], str]:
    if data is not None and data.exists():
        rows = [json.loads(line) for line in data.read_text(encoding="utf-8").splitlines() if line.strip()]
        return [r["text"] for r in rows], [r["labels"][0] for r in rows], data.name
    rows = []
    for path in sorted((ROOT / "labels").glob("*.jsonl")):
        rows += [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    rows = [r for r in rows if len(r["labels"]) == 1]
    return [r["text"] for r in rows], [r["labels"][0] for r in rows], "labels/ (our snippets)"


def macro_f1(gold: list[str], predicted: list[str], classes: list[str]) -> float:
    scores = []
    for c in classes:
        tp = sum(g == c and p == c for g, p in zip(gold, predicted))
        fp = sum(g != c and p == c for g, p in zip(gold, predicted))
        fn = sum(g == c and p != c for g, p in zip(gold, predicted))
        scores.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return float(np.mean(scores))


def run(strategy: str, seed: int, texts, labels, pool_ids, test_ids, classes) -> dict[int, float]:
    rng = random.Random(seed)
    labeled = rng.sample(pool_ids, START)
    curve = {}
    while True:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = TopicClassifier(classifier="svm", cv=3, negative_label="__none__", random_state=seed)
            model.fit([texts[i] for i in labeled], [labels[i] for i in labeled])
        predicted = list(model.predict([texts[i] for i in test_ids]))
        curve[len(labeled)] = macro_f1([labels[i] for i in test_ids], predicted, classes)
        if len(labeled) >= BUDGET:
            return curve
        taken = set(labeled)
        unlabeled = [Document(source=str(i), text=texts[i]) for i in pool_ids if i not in taken]
        picked = suggest(unlabeled, model, n=STEP, strategy=strategy, seed=seed * 1000 + len(labeled))
        labeled += [int(s.id) for s in picked]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "bbc.jsonl")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--png", type=Path, default=None)
    args = parser.parse_args()
    texts, labels, name = read_examples(args.data)
    classes = sorted(set(labels))
    from sklearn.model_selection import train_test_split

    pool_ids, test_ids = train_test_split(list(range(len(texts))), test_size=0.3, stratify=labels, random_state=0)
    print(f"{name}: {len(pool_ids):,} in the pool, {len(test_ids):,} to test, classes {', '.join(classes)}; {args.seeds} seeds\n", flush=True)
    curves = {s: [] for s in STRATEGIES}
    for seed in range(args.seeds):
        for strategy in STRATEGIES:
            curves[strategy].append(run(strategy, seed, texts, labels, pool_ids, test_ids, classes))
            print(f"  seed {seed} {strategy}: {curves[strategy][-1][BUDGET]:.4f} at {BUDGET}", file=sys.stderr, flush=True)
    sizes = sorted(curves["random"][0])
    mean = {s: {n: float(np.mean([c[n] for c in curves[s]])) for n in sizes} for s in STRATEGIES}
    print("| labels | " + " | ".join(STRATEGIES) + " |")
    print("|---:|" + "---:|" * len(STRATEGIES))
    for n in sizes:
        print(f"| {n} | " + " | ".join(f"{mean[s][n]:.4f}" for s in STRATEGIES) + " |")
    goal = mean["random"][BUDGET]
    for strategy in ("uncertainty", "diverse"):
        reached = next((n for n in sizes if mean[strategy][n] >= goal), None)
        print(f"\n{strategy} reaches random's macro-F1 at {BUDGET} labels ({goal:.4f}) with {reached if reached else 'more than ' + str(BUDGET)} labels", end="")
    print()
    if args.png:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        figure, ax = plt.subplots(figsize=(7, 4.2))
        for strategy in STRATEGIES:
            ax.plot(sizes, [mean[strategy][n] for n in sizes], marker="o", markersize=3, label=strategy)
        ax.axhline(goal, color="grey", linestyle=":", linewidth=1, label=f"random at {BUDGET}")
        ax.set_xlabel("labels")
        ax.set_ylabel("macro-F1 (test)")
        ax.set_title(f"Simulated labeling on {name}, mean of {args.seeds} runs")
        ax.grid(alpha=0.3)
        ax.legend()
        figure.tight_layout()
        figure.savefig(args.png, dpi=100)
        print(f"wrote {args.png}")


if __name__ == "__main__":
    main()
