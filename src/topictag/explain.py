"""Why a text got its scores: each term's contribution to a label's log-odds (linear weight x feature value)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Explanation:
    """One label's score for one text, broken into per-term contributions to the calibrated log-odds.

    ``bias + sum(all contributions) == logit(probability)``; ``up`` and ``down`` hold the largest ones.
    """

    label: str
    probability: float
    threshold: float
    tagged: bool
    bias: float
    up: tuple[tuple[str, float], ...]
    down: tuple[tuple[str, float], ...]

    def to_dict(self) -> dict:
        return {
            "label": self.label,
            "probability": self.probability,
            "threshold": self.threshold,
            "tagged": self.tagged,
            "bias": self.bias,
            "up": [{"term": t, "weight": w} for t, w in self.up],
            "down": [{"term": t, "weight": w} for t, w in self.down],
        }


def explain(model, text: str, labels=None, n_terms: int = 10) -> list[Explanation]:
    """Explain ``labels`` (default: the text's tags, or its best label when it has none), best first."""
    prediction = model.tag(text)
    if labels is None:
        labels = list(prediction.tags) or [max(prediction.scores, key=prediction.scores.get)]
    unknown = set(labels) - set(model.topics_)
    if unknown:
        from .errors import DataError

        raise DataError(f"unknown label(s): {', '.join(sorted(unknown))}; the model knows {', '.join(model.topics_)}")
    scorer = model.scorer_
    _, indices, data = scorer.features([text])
    names = scorer.feature_names()
    explanations = []
    for label in sorted(labels, key=lambda label: -prediction.scores[label]):
        j = model.topics_.index(label)
        slope, intercept = model.calibration_[label]
        contributions = data * scorer.weights[indices, j] * slope
        order = np.argsort(-contributions, kind="stable")
        terms = [(names[indices[i]], round(float(contributions[i]), 6)) for i in order]
        explanations.append(
            Explanation(
                label=label,
                probability=prediction.scores[label],
                threshold=round(model.thresholds_[label], 4),
                tagged=label in prediction.tags,
                bias=round(float(scorer.bias[j] * slope + intercept), 6),
                up=tuple((t, w) for t, w in terms if w > 0)[:n_terms],
                down=tuple((t, w) for t, w in reversed(terms) if w < 0)[:n_terms],
            )
        )
    return explanations
