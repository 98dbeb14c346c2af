"""Train the segmenter's furniture and story-boundary models on the annotated pages; write data/segmenter.json.

    python training/train_segmenter.py [--out src/topictag/data/segmenter.json]

Trains on labels/segments/ minus the held-out pages (see training/annotated.py), deterministically:
1. furniture, first pass: logistic regression over each line's own features;
2. furniture, context pass: the same features plus the neighbours' first-pass probabilities, taken out of fold
   (pages grouped), so the second pass learns from first-pass decisions as they will be at run time;
3. story boundaries: at each step from one content line to the next (content as the furniture model predicts
   it, out of fold), with the topic probabilities of the default model;
4. the two thresholds: the pair that maximises stories right and own segment minus furniture characters
   given a topic minus Pk, cross-validated over the training pages (models trained on the other folds).
Models are gradient-boosted trees (``--kind trees``, exported to plain arrays) or logistic regressions.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from annotated import ROOT, read_pages, split  # noqa: E402

from topictag import default_model  # noqa: E402
from topictag.furniture import CONTEXT_NAMES, FEATURE_NAMES, FurnitureModel, LinearLayer, TreeEnsemble, combine, context_features, line_features  # noqa: E402
from topictag.segment import BOUNDARY_FEATURES, F, boundary_features  # noqa: E402

FOLDS = 5


KIND = "trees"  # or "linear": set by --kind


def fit_layer(X, y, C=1.0, weight=None, sample_weight=None):
    return fit_trees(X, y, sample_weight) if KIND == "trees" else fit_linear(X, y, C, weight, sample_weight)


def fit_trees(X, y, sample_weight=None) -> TreeEnsemble:
    """Gradient-boosted trees, exported to arrays; checked against scikit-learn's own predictions."""
    from sklearn.ensemble import GradientBoostingClassifier

    boosted = GradientBoostingClassifier(n_estimators=TREES, max_depth=3, learning_rate=0.1, random_state=0).fit(X, y, sample_weight=sample_weight)
    trees = []
    for estimator in boosted.estimators_[:, 0]:
        tree = estimator.tree_
        trees.append((tree.feature.astype(np.int64), tree.threshold.astype(float), tree.children_left.astype(np.int64), tree.children_right.astype(np.int64), tree.value[:, 0, 0].astype(float)))
    prior = float(np.average(y, weights=sample_weight))
    ensemble = TreeEnsemble(float(np.log(prior / (1 - prior))), 0.1, tuple(trees))
    assert np.allclose(ensemble(X[:2000]), boosted.predict_proba(X[:2000])[:, 1], atol=1e-9), "tree export differs from scikit-learn"
    return ensemble


TREES = 200


def fit_linear(X, y, C=1.0, weight=None, sample_weight=None) -> LinearLayer:
    from sklearn.linear_model import LogisticRegression

    mean = X.mean(axis=0)
    scale = X.std(axis=0)
    scale[scale == 0] = 1.0
    classifier = LogisticRegression(C=C, max_iter=5000, class_weight=weight).fit((X - mean) / scale, y, sample_weight=sample_weight)
    return LinearLayer(mean, scale, classifier.coef_[0], float(classifier.intercept_[0]))


def page_folds(pages):
    return [i % FOLDS for i in range(len(pages))]


def furniture_data(pages):
    features = [line_features(p.text, p.lines) for p in pages]
    labels = [np.array(p.line_furniture, dtype=int) for p in pages]
    return features, labels


PLAIN_WEIGHT = 0.5
SURE = 0.1  # first-pass decisions this sure are kept (see topictag.furniture.combine)  # the synthetic plain documents count half as much as an annotated page's lines


def train_furniture(pages, C=1.0, extra=()) -> tuple[FurnitureModel, list[np.ndarray]]:
    """The two passes, and each page's out-of-fold furniture probabilities (for training the boundaries).

    ``extra`` pages (the synthetic plain documents) are in every fold's training set, never scored.
    """
    everything = list(pages) + list(extra)
    features, labels = furniture_data(everything)
    weights = [np.full(len(y), 1.0 if i < len(pages) else PLAIN_WEIGHT) for i, y in enumerate(labels)]
    folds = page_folds(pages) + [-1] * len(extra)

    def fit(members, inputs):
        return fit_layer(np.vstack([inputs[i] for i in members]), np.concatenate([labels[i] for i in members]), C, sample_weight=np.concatenate([weights[i] for i in members]))

    def out_of_fold(inputs):
        result = [None] * len(everything)
        for k in range(FOLDS):
            layer = fit([i for i in range(len(everything)) if folds[i] != k], inputs)
            for i in range(len(everything)):
                if folds[i] == k:
                    result[i] = layer(inputs[i])
        return result

    first_oof = out_of_fold(features)
    first = fit(range(len(everything)), features)
    for i in range(len(pages), len(everything)):
        first_oof[i] = first(features[i])  # extra pages: in-sample first pass (they are never evaluated)
    stacked = [np.hstack([features[i], context_features(first_oof[i], everything[i].lines)]) for i in range(len(everything))]
    second_oof = [combine(first_oof[i], probs, SURE) if probs is not None else None for i, probs in enumerate(out_of_fold(stacked))]
    second = fit(range(len(everything)), stacked)
    # Calling content furniture loses part of a story; the other mistake only leaves a line inside one:
    # favour the furniture class's precision (F0.5).
    threshold = best_threshold(np.concatenate(second_oof[: len(pages)]), np.concatenate(labels[: len(pages)]), beta=0.5)
    return FurnitureModel(first, second, threshold, SURE), second_oof[: len(pages)]


def best_threshold(probs, y, grid=np.linspace(0.2, 0.8, 61), beta: float = 1.0) -> float:
    best = max(grid, key=lambda t: _f_beta(probs >= t, y == 1, beta))
    return float(round(best, 3))


def _f_beta(predicted, gold, beta: float) -> float:
    tp = np.sum(predicted & gold)
    precision = tp / max(predicted.sum(), 1)
    recall = tp / max(gold.sum(), 1)
    b2 = beta * beta
    return (1 + b2) * precision * recall / (b2 * precision + recall) if precision + recall else 0.0


def boundary_rows(page, furniture_probs, threshold, model, gold_furniture=False):
    """Boundary examples of one page: at each step between predicted content lines, with gold story state."""
    features = line_features(page.text, page.lines)
    if gold_furniture:
        content = [i for i, f in enumerate(page.line_furniture) if not f]
    else:
        content = [i for i in range(len(page.lines)) if furniture_probs[i] < threshold]
    if len(content) < 2:
        return [], []
    probs = model.predict_proba([page.text[page.lines[i].start : page.lines[i].end] for i in content])
    rows, targets = [], []
    story_of = page.line_story
    story_start = 0
    for k in range(1, len(content)):
        a, b = content[k - 1], content[k]
        members = list(range(story_start, k))
        mean = probs[members].mean(axis=0)
        following = probs[k] if k + 1 == len(content) or features[b, F["headline_shape"]] == 0 else (probs[k] + probs[k + 1]) / 2
        shift = 0.5 * float(np.abs(mean - following).sum())
        change = int(np.argmax(mean)) != int(np.argmax(following))
        has_body = any(features[content[m], F["headline_shape"]] == 0 for m in members)
        rows.append(boundary_features(features, page.lines, a, b, len(members), has_body, shift, change))
        # gold: a new story starts at b (a predicted-content line that is gold furniture joins no story)
        new = story_of[b] is not None and story_of[b] != story_of[a]
        targets.append(int(new))
        if new:
            story_start = k
    return rows, targets


SYNTHETIC_WEIGHT = 0.5


def train_boundaries(pages, furniture_oof, threshold, model, C=1.0, extra=(), extra_model=None):
    """The boundary model, from steps between predicted content lines and between gold content lines of
    ``pages``, plus (weighted less, in every fold) the gold steps of ``extra`` documents scored by ``extra_model``."""
    data = [boundary_rows(p, furniture_oof[i], threshold, model) for i, p in enumerate(pages)]
    gold_data = [boundary_rows(p, None, threshold, model, gold_furniture=True) for p in pages]
    extra_data = [boundary_rows(p, None, threshold, extra_model, gold_furniture=True) for p in extra]
    folds = page_folds(pages)

    def arrays(items):
        return [np.array(rows, dtype=float).reshape(-1, len(BOUNDARY_FEATURES)) for rows, _ in items], [np.array(t, dtype=int) for _, t in items]

    X, y = arrays(data)
    Xg, yg = arrays(gold_data)
    Xe, ye = arrays(extra_data)
    we = [np.full(len(t), SYNTHETIC_WEIGHT) for t in ye]

    def fit(members):
        inputs = [X[i] for i in members] + [Xg[i] for i in members] + Xe
        targets = [y[i] for i in members] + [yg[i] for i in members] + ye
        weights = [np.ones(len(y[i])) for i in members] + [np.ones(len(yg[i])) for i in members] + we
        return fit_layer(np.vstack(inputs), np.concatenate(targets), C, sample_weight=np.concatenate(weights))

    oof = [None] * len(pages)
    for k in range(FOLDS):
        layer = fit([i for i in range(len(pages)) if folds[i] != k])
        for i in range(len(pages)):
            if folds[i] == k and len(X[i]):
                oof[i] = layer(X[i])
    layer = fit(range(len(pages)))
    probs = np.concatenate([o for o in oof if o is not None])
    gold = np.concatenate([y[i] for i in range(len(pages)) if oof[i] is not None])
    return layer, best_threshold(probs, gold)


def tune_label_scale(pages, model, grid=(1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4)) -> float:
    """The scale of the labels' thresholds that labels the gold stories of ``pages`` best (ties: closest to 1)."""
    texts = ["\n".join(p.text[a:b] for a, b in s.ranges) for p in pages for s in p.stories]
    gold = [s.label for p in pages for s in p.stories]
    scores = {scale: np.mean([pr.top == g for pr, g in zip(model.tag_many(texts, threshold_scale=scale), gold)]) for scale in grid}
    return float(max(grid, key=lambda scale: (round(scores[scale], 3), scale)))


def train_all(pages, C=1.0, model=None):
    """Both models and the boundary threshold, trained on ``pages`` (plus synthetic plain documents)."""
    from synthetic_pages import cross_fitted_model, multi_story_documents, plain_documents

    model = model or default_model()
    furniture, oof = train_furniture(pages, C, extra=plain_documents())
    boundary, threshold = train_boundaries(pages, oof, furniture.threshold, model, C, extra=multi_story_documents(), extra_model=cross_fitted_model())
    return furniture, boundary, threshold


FURNITURE_GRID = (0.25, 0.35, 0.45, 0.55)
BOUNDARY_GRID = (0.2, 0.275, 0.35, 0.45, 0.55)


def cross_validate(pages, C=1.0):
    """Story-level figures out of fold (models trained on the other folds) for each pair of thresholds.

    Returns ``{(furniture threshold, boundary threshold): figures}``: an honest estimate for development, and
    what the shipped thresholds are chosen by.
    """
    from dataclasses import replace

    from evaluate_segments import score_page, summarise

    from topictag.segment import Segmenter

    model = default_model()
    folds = page_folds(pages)
    rows = {pair: [] for pair in itertools.product(FURNITURE_GRID, BOUNDARY_GRID)}
    for k in range(FOLDS):
        train = [p for i, p in enumerate(pages) if folds[i] != k]
        furniture, boundary, _ = train_all(train, C, model)
        scale = tune_label_scale(train, model)
        for (f, b), found in rows.items():
            segmenter = Segmenter(model, furniture_model=replace(furniture, threshold=f), boundary_model=boundary, boundary_threshold=b, label_threshold_scale=scale)
            found += [score_page(p, segmenter.segment(p.text)) for i, p in enumerate(pages) if folds[i] == k]
    return {pair: summarise(found) for pair, found in rows.items()}


def objective(figures: dict) -> float:
    """Stories right and in a segment of their own, less furniture given a topic, less Pk: without Pk the
    lowest boundary threshold wins by a hair on our pages and over-splits long articles elsewhere (BBC)."""
    return figures["stories_own_segment"] - figures["furniture_chars_topic"] - figures["pk"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "src" / "topictag" / "data" / "segmenter.json")
    parser.add_argument("--C", type=float, default=1.0)
    parser.add_argument("--kind", choices=["trees", "linear"], default="trees")
    parser.add_argument("--cv", action="store_true", help="only print the cross-validated figures; write nothing")
    args = parser.parse_args()
    global KIND
    KIND = args.kind
    pages, heldout = split(read_pages())
    print(f"training on {len(pages)} pages ({len(heldout)} held out)", file=sys.stderr)
    results = cross_validate(pages, args.C)
    (furniture_threshold, boundary_threshold), figures = max(results.items(), key=lambda item: objective(item[1]))
    for (f, b), found in sorted(results.items()):
        print(f"  furniture {f} boundary {b}: own {found['stories_own_segment']:.4f} furniture-topic {found['furniture_chars_topic']:.4f} Pk {found['pk']:.4f}", file=sys.stderr)
    print("cross-validated on the training pages, chosen thresholds:", file=sys.stderr)
    print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in figures.items()}, indent=1), file=sys.stderr)
    if args.cv:
        return
    furniture, boundary, _ = train_all(pages, args.C)
    furniture = FurnitureModel(furniture.first, furniture.second, furniture_threshold, furniture.sure)
    threshold = boundary_threshold
    scale = tune_label_scale(pages, default_model())
    print(f"furniture threshold {furniture.threshold}, boundary threshold {threshold}, label threshold scale {scale}", file=sys.stderr)
    payload = {
        "about": "topictag segmenter: line furniture model (two logistic passes) and story-boundary model, trained by training/train_segmenter.py",
        "trained_on": [p.id for p in pages],
        "feature_names": FEATURE_NAMES,
        "context_names": CONTEXT_NAMES,
        "boundary_feature_names": BOUNDARY_FEATURES,
        "kind": args.kind,
        "furniture": furniture.to_dict(),
        "boundary": boundary.to_dict(),
        "boundary_threshold": threshold,
        "label_threshold_scale": scale,
    }
    args.out.write_text(json.dumps(_rounded(payload), indent=1) + "\n", encoding="utf-8")
    print(f"wrote {args.out}", file=sys.stderr)


def _rounded(value):
    if isinstance(value, float):
        return round(value, 8)
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    return value


if __name__ == "__main__":
    main()
