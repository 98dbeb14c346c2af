"""Quality figures for predicted tag sets: per-label precision/recall/F1, averages, confusion."""

from __future__ import annotations

from collections.abc import Sequence


def evaluate_predictions(
    gold: Sequence[Sequence[str]],
    predicted: Sequence[Sequence[str]],
    topics: Sequence[str],
    negative_label: str = "other",
) -> dict:
    """Compare tag sets. An empty set stands for the negative label, which gets its own row.

    ``micro`` and ``macro`` average over the topics only; the negative label is reported but not averaged,
    because "no topic" is the absence of a prediction rather than a class of its own.
    """
    labels = list(topics) + [negative_label]
    counts = {label: {"tp": 0, "fp": 0, "fn": 0} for label in labels}
    confusion = {g: {p: 0 for p in labels} for g in labels}
    exact = 0
    for gold_set, predicted_set in zip(gold, predicted, strict=True):
        g = set(gold_set) & set(topics) or {negative_label}
        p = set(predicted_set) & set(topics) or {negative_label}
        exact += g == p
        for label in labels:
            counts[label]["tp"] += label in g and label in p
            counts[label]["fp"] += label not in g and label in p
            counts[label]["fn"] += label in g and label not in p
        top = next((t for t in predicted_set if t in topics), negative_label)
        for label in g:
            confusion[label][top] += 1
    per_label = {label: _prf(**counts[label]) for label in labels}
    total = {k: sum(counts[t][k] for t in topics) for k in ("tp", "fp", "fn")}
    macro = {k: sum(per_label[t][k] for t in topics) / len(topics) for k in ("precision", "recall", "f1")}
    return {
        "n": len(gold),
        "labels": per_label,
        "micro": {k: v for k, v in _prf(**total).items() if k != "support"},
        "macro": {k: round(v, 4) for k, v in macro.items()},
        "exact_match": round(exact / len(gold), 4) if len(gold) else 0.0,
        "confusion": {"labels": labels, "matrix": [[confusion[g][p] for p in labels] for g in labels]},
    }


def _prf(tp: int, fp: int, fn: int) -> dict:
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4), "support": tp + fn}
