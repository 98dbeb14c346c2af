"""Quality figures for predicted tag sets: per-label precision/recall/F1, averages, confusion."""

from __future__ import annotations

from collections.abc import Sequence


def evaluate_predictions(
    gold: Sequence[Sequence[str]],
    predicted: Sequence[Sequence[str]],
    topics: Sequence[str],
    negative_label: str = "other",
    tops: Sequence[str] | None = None,
    known=None,
) -> dict:
    """Compare tag sets. An empty set stands for the negative label, which gets its own row.

    Gold labels the model does not know get rows of their own and count as misses (they are never turned
    into the negative label). ``micro`` and ``macro`` average over the topics and those unknown labels; the
    negative label is reported but not averaged, because "no topic" is the absence of a prediction rather
    than a class of its own. The confusion's columns are each text's ``top`` label when ``tops`` is given
    (as ``topictag tag`` reports it), else its best tag or the negative label.
    """
    unknown = sorted({label for labels in gold for label in labels} - set(topics) - {negative_label})
    scored = list(topics) + unknown
    labels = scored + [negative_label]
    counts = {label: {"tp": 0, "fp": 0, "fn": 0} for label in labels}
    scored_index = {t: j for j, t in enumerate(topics)}  # ``known`` has one column per topic
    confusion = {g: {p: 0 for p in labels} for g in labels}
    exact = 0
    for i, (gold_set, predicted_set) in enumerate(zip(gold, predicted, strict=True)):
        g = set(gold_set) - {negative_label} or {negative_label}
        p = set(predicted_set) & set(topics) or {negative_label}
        all_known = known is None or bool(known[i].all())
        exact += all_known and g == p
        for label in labels:
            if known is not None and (label in scored_index and not known[i][scored_index[label]] or label == negative_label and not all_known):
                continue  # this text's value for this label is unknown: it counts neither way
            counts[label]["tp"] += label in g and label in p
            counts[label]["fp"] += label not in g and label in p
            counts[label]["fn"] += label in g and label not in p
        if tops is not None:
            top = tops[i] if tops[i] in topics else negative_label
        else:
            top = next((t for t in predicted_set if t in topics), negative_label)
        for label in g if all_known else ():
            confusion[label][top] += 1
    per_label = {label: _prf(**counts[label]) for label in labels}
    total = {k: sum(counts[t][k] for t in scored) for k in ("tp", "fp", "fn")}
    macro = {k: sum(per_label[t][k] for t in scored) / len(scored) for k in ("precision", "recall", "f1")}
    return {
        "n": len(gold),
        "labels": per_label,
        "micro": {k: v for k, v in _prf(**total).items() if k != "support"},
        "macro": {k: round(v, 4) for k, v in macro.items()},
        "exact_match": round(exact / max(len(gold) if known is None else int(known.all(axis=1).sum()), 1), 4) if len(gold) else 0.0,
        "confusion": {"labels": labels, "matrix": [[confusion[g][p] for p in labels] for g in labels]},
    }


def _prf(tp: int, fp: int, fn: int) -> dict:
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4), "support": tp + fn}


# ---- segmentation ------------------------------------------------------------------------------
# A segmentation of n units is a 0/1 sequence of length n: 1 at position i means a boundary after unit i.


def pk(reference: Sequence[int], hypothesis: Sequence[int], k: int) -> float:
    """Beeferman's Pk: the share of unit pairs k apart that one segmentation puts together and the other apart."""
    return _window_errors(reference, hypothesis, k, lambda r, h: (r > 0) != (h > 0))


def windowdiff(reference: Sequence[int], hypothesis: Sequence[int], k: int) -> float:
    """Pevzner and Hearst's WindowDiff: the share of windows of k units whose boundary counts differ."""
    return _window_errors(reference, hypothesis, k, lambda r, h: r != h)


def half_mean_segment_length(reference: Sequence[int]) -> int:
    """The usual window for Pk and WindowDiff: half the mean reference segment length, at least 1 unit."""
    segments = sum(reference[:-1]) + 1
    return max(1, round(len(reference) / segments / 2))


def _window_errors(reference, hypothesis, k, differs) -> float:
    if len(reference) != len(hypothesis):
        raise ValueError("segmentations of different lengths")
    windows = len(reference) - k + 1
    if windows <= 0:
        return 0.0
    r, h = sum(reference[:k]), sum(hypothesis[:k])
    errors = 0
    for i in range(windows):
        if i:
            r += reference[i + k - 1] - reference[i - 1]
            h += hypothesis[i + k - 1] - hypothesis[i - 1]
        errors += differs(r, h)
    return errors / windows


def boundary_prf(reference: Sequence[int], hypothesis: Sequence[int]) -> dict:
    """Precision, recall and F1 of exact boundary positions."""
    ref = {i for i, b in enumerate(reference) if b}
    hyp = {i for i, b in enumerate(hypothesis) if b}
    return _prf(len(ref & hyp), len(hyp - ref), len(ref - hyp))


# ---- calibration -------------------------------------------------------------------------------


def calibration_report(probabilities, gold, labels: Sequence[str], bins: int = 10) -> dict:
    """How far each label's probabilities are from the observed frequencies.

    ``probabilities`` and ``gold`` are (texts x labels): predicted probability and 0/1 truth. Per label:
    the Brier score (mean squared error of the probability), the expected calibration error (ECE: the
    count-weighted mean gap between mean probability and observed frequency over ``bins`` equal-width bins),
    and the reliability table (per bin: texts, mean probability, observed frequency).
    """
    import numpy as np

    probabilities = np.asarray(probabilities, dtype=float)
    gold = np.asarray(gold, dtype=float)
    report = {}
    edges = np.linspace(0.0, 1.0, bins + 1)
    for j, label in enumerate(labels):
        p, y = probabilities[:, j], gold[:, j]
        which = np.clip(np.digitize(p, edges[1:-1], right=False), 0, bins - 1)
        table, ece = [], 0.0
        for b in range(bins):
            members = which == b
            n = int(members.sum())
            if not n:
                continue
            mean_p, observed = float(p[members].mean()), float(y[members].mean())
            ece += n / len(p) * abs(mean_p - observed)
            table.append({"bin": f"{edges[b]:.1f}-{edges[b + 1]:.1f}", "texts": n, "mean_probability": round(mean_p, 4), "observed": round(observed, 4)})
        report[label] = {"brier": round(float(np.mean((p - y) ** 2)), 4), "ece": round(ece, 4), "positives": int(y.sum()), "reliability": table}
    return report
