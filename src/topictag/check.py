"""``topictag check``: find likely label errors, conflicting duplicates and labels too rare to learn.

Label errors come from confident learning (cleanlab, the field's well-kept implementation): every text gets
out-of-fold probabilities from the same cross-validation ``topictag train`` runs, and cleanlab ranks the
texts whose given labels disagree most with what the other folds' models predict. Duplicates: texts that are
the same once case, spacing and punctuation are ignored, or near the same (word-trigram Jaccard similarity at
least ``near``), but carry different labels. Install with ``pip install "topictag[check]"``.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

import numpy as np

WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class CheckReport:
    counts: dict
    rare_labels: list
    label_issues: list
    duplicates: list
    n: int

    def to_dict(self) -> dict:
        return {"n": self.n, "counts": self.counts, "rare_labels": self.rare_labels, "duplicates": self.duplicates, "label_issues": self.label_issues}


def check_dataset(dataset, *, negative_label: str = "other", min_positives: int = 5, near: float = 0.8, max_issues: int | None = None, model=None, random_state: int = 0) -> CheckReport:
    """Check a :class:`~topictag.corpus.Dataset`; ``model`` is the (unfitted) classifier to cross-validate."""
    from .model import TopicClassifier

    labels = [tuple(l for l in labels if l != negative_label) for labels in dataset.label_sets]
    counts = Counter(l for ls in labels for l in ls)
    counts[negative_label] = sum(1 for ls in labels if not ls)
    rare = sorted(l for l, n in counts.items() if l != negative_label and n < min_positives)
    model = model or TopicClassifier(classifier="svm", negative_label=negative_label, random_state=random_state)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # rare labels are reported below, not warned about
        model.fit(dataset.texts, [ls or [negative_label] for ls in dataset.label_sets])
    issues = _label_issues(dataset, labels, model, max_issues)
    return CheckReport(dict(sorted(counts.items())), rare, issues, _conflicting_duplicates(dataset, labels, near), len(dataset))


def _label_issues(dataset, labels, model, max_issues) -> list[dict]:
    from cleanlab.filter import find_label_issues
    from cleanlab.multilabel_classification.rank import get_label_quality_scores

    topics = model.topics_
    index = {t: j for j, t in enumerate(topics)}
    given = [[index[l] for l in ls if l in index] for ls in labels]
    probs = np.clip(model.oof_probabilities_, 1e-6, 1 - 1e-6)
    if len(topics) == 1:  # one topic against the negatives: cleanlab's two-class path (its multi-label one needs two)
        from cleanlab.rank import get_label_quality_scores as two_class_quality

        binary = np.array([1 if g else 0 for g in given])
        two = np.column_stack([1 - probs[:, 0], probs[:, 0]])
        # no process pool (n_jobs=1): our signal handlers are not for its workers
        flagged = find_label_issues(labels=binary, pred_probs=two, return_indices_ranked_by="self_confidence", n_jobs=1)
        quality = two_class_quality(binary, two)
    else:
        flagged = find_label_issues(labels=given, pred_probs=probs, multi_label=True, return_indices_ranked_by="self_confidence", n_jobs=1)
        quality = get_label_quality_scores(given, probs)
    issues = []
    for row in flagged[:max_issues]:
        suggested = [topics[j] for j in np.flatnonzero(probs[row] >= np.array([model.thresholds_[t] for t in topics]))]
        example = dataset.examples[row]
        issues.append({
            "id": example.id,
            "row": int(row) + 1,
            "text": example.text,
            "label": list(labels[row]) or [model.negative_label],
            "suggested": suggested or [model.negative_label],
            "confidence": round(1.0 - float(quality[row]), 4),  # how sure we are the given labels are wrong
        })
    return issues


def _normalised(text: str) -> list[str]:
    return WORD.findall(text.lower())


def _conflicting_duplicates(dataset, labels, near: float) -> list[dict]:
    """Pairs of (near-)identical texts with different labels, through an inverted index of word trigrams."""
    words = [_normalised(e.text) for e in dataset.examples]
    shingles = [{tuple(w[i : i + 3]) for i in range(max(len(w) - 2, 1))} if w else set() for w in words]
    index: dict = {}
    for i, grams in enumerate(shingles):
        for gram in grams:
            index.setdefault(gram, []).append(i)
    found = []
    for i, grams in enumerate(shingles):
        if not grams:
            continue
        shared = Counter(j for gram in grams for j in index[gram] if j > i)
        for j, n in shared.items():
            similarity = n / (len(grams) + len(shingles[j]) - n)
            if similarity >= near and set(labels[i]) != set(labels[j]):
                a, b = dataset.examples[i], dataset.examples[j]
                found.append({"rows": [i + 1, j + 1], "ids": [a.id, b.id], "labels": [list(labels[i]), list(labels[j])],
                              "similarity": round(similarity, 4), "exact": words[i] == words[j], "texts": [a.text, b.text]})
    return sorted(found, key=lambda d: -d["similarity"])
