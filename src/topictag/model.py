"""The topic classifier: TF-IDF features, one-vs-rest linear models, calibrated scores, per-label thresholds.

Where a tag's threshold is chosen: :func:`_best_f1_threshold`, on out-of-fold probabilities.

scikit-learn is imported only to train (and to rebuild the fitted pipeline on request): a fitted model tags
through :class:`~topictag.vectorize.LinearTextModel`, which needs numpy alone, so loading a model and tagging
a file does not pay scikit-learn's import time. The class therefore implements the estimator protocol
(``get_params``/``set_params``, ``__sklearn_tags__``, ``score``) itself instead of inheriting it.
"""

from __future__ import annotations

import inspect
import math
import os
import platform
import sys
import time
import warnings
from dataclasses import dataclass, field

import numpy as np

from . import __version__
from .errors import DataError, ModelError
from .metrics import evaluate_predictions
from .vectorize import LinearTextModel, linear_weights

CLASSIFIERS = ("auto", "svm", "logreg", "sgd", "cnb")
AUTO_CANDIDATES = ("svm", "sgd", "cnb")  # "auto" keeps the one with the best cross-validated quality
LIBLINEAR = {"svm", "logreg"}
PROBE_TOLERANCE = 1e-9  # probabilities may differ in the last bits across CPUs; never by this much
DEFAULT_THRESHOLD = 0.5  # for labels too rare to choose a threshold by cross-validation
SCREEN_FROM_TEXTS = 2000  # with at least this many texts, "auto" ranks its candidates on one fold
SCREEN_LABELS = 10
MIN_DF_FROM_TEXTS = 5000  # ... and on at most this many labels, the most frequent
MAX_LABELS = 1000  # one classifier per label: beyond this, training takes hours and memory runs out
FORK_FROM_WORK = 100_000  # texts x labels from which liblinear's fits run in forked processes, one per core


@dataclass(frozen=True)
class Prediction:
    """The tags of one text: labels that passed their thresholds (best first) and every label's probability."""

    source: str | None
    tags: tuple[str, ...]
    top: str
    scores: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"source": self.source, "tags": list(self.tags), "top": self.top, "scores": dict(self.scores)}


class TopicClassifier:
    """Multi-label topic classifier following scikit-learn conventions.

    ``fit(texts, y)`` takes one label per text, or a list of labels per text (multi-label). Texts labeled
    only with ``negative_label`` (or with an empty list) are negatives for every topic; the negative label
    is never emitted as a tag. ``predict`` returns the best tag of each text, or the negative label.

    ``class_weight`` is None by default: each label's threshold is chosen on out-of-fold probabilities, which
    already makes up for rare positives, while "balanced" weights make liblinear take up to 70 times as many
    iterations on labels with a handful of examples (Reuters: fit 58 s -> 26 s, micro-F1 0.842 -> 0.873).
    """

    def __init__(
        self,
        classifier: str = "auto",
        negative_label: str = "other",
        C: float = 10.0,
        class_weight: str | None = None,
        ngram_range: tuple[int, int] = (1, 2),
        min_df: int | str = "auto",
        max_features: int | None = None,
        cv: int = 5,
        min_positives: int = 5,
        negative_weight: float = 1.0,
        random_state: int = 0,
        base: str | None = None,
    ):
        self.classifier = classifier
        self.negative_label = negative_label
        self.C = C
        self.class_weight = class_weight
        self.ngram_range = ngram_range
        self.min_df = min_df
        self.max_features = max_features
        self.cv = cv
        self.min_positives = min_positives
        self.negative_weight = negative_weight
        self.random_state = random_state
        self.base = base

    # ---- the scikit-learn estimator protocol -----------------------------------------------------

    _estimator_type = "classifier"

    @classmethod
    def _get_param_names(cls) -> list[str]:
        return sorted(p for p in inspect.signature(cls.__init__).parameters if p != "self")

    def get_params(self, deep: bool = True) -> dict:
        return {name: getattr(self, name) for name in self._get_param_names()}

    def set_params(self, **params) -> "TopicClassifier":
        valid = self._get_param_names()
        for name, value in params.items():
            if name not in valid:
                raise ValueError(f"invalid parameter {name!r} for TopicClassifier; valid parameters: {', '.join(valid)}")
            setattr(self, name, value)
        return self

    def __sklearn_tags__(self):
        from sklearn.base import BaseEstimator, ClassifierMixin

        class _Classifier(ClassifierMixin, BaseEstimator):
            pass

        tags = _Classifier().__sklearn_tags__()
        tags.input_tags.string = True
        tags.input_tags.two_d_array = False
        return tags

    def __repr__(self) -> str:
        defaults = inspect.signature(type(self).__init__).parameters
        changed = [f"{k}={v!r}" for k, v in self.get_params().items() if v != defaults[k].default]
        return f"TopicClassifier({', '.join(changed)})"

    def __getattr__(self, name):
        # The scikit-learn pipeline is built from the model's own weights only when someone asks for it.
        if name == "pipeline_" and "scorer_" in self.__dict__:
            self.pipeline_ = self.scorer_.to_pipeline()
            return self.pipeline_
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    # ---- fitting -------------------------------------------------------------------------------

    def fit(self, X, y, unknown=None):
        """Fit on texts ``X`` and their labels ``y``.

        ``unknown`` (optional, one entry per text): labels whose value is not known for that text; the text
        then trains neither for nor against them. With ``base="default"`` the shipped training snippets are
        added first (see :func:`topictag.default.with_base`).
        """
        self._validate_params()
        texts = _as_texts(X)
        label_sets = [_as_label_set(labels, i) for i, labels in enumerate(y)]
        if len(texts) != len(label_sets):
            raise DataError(f"{len(texts)} texts but {len(label_sets)} label entries")
        unknown = [set(u or ()) for u in unknown] if unknown is not None else None
        if self.base is not None:
            from .default import with_base

            texts, label_sets, unknown = with_base(self.base, texts, label_sets, unknown, self.negative_label)
        if unknown is not None and len(unknown) != len(texts):
            raise DataError(f"{len(texts)} texts but {len(unknown)} unknown-label entries")
        topics = sorted({label for labels in label_sets for label in labels} - {self.negative_label})
        distinct = set(topics) | ({self.negative_label} if any(not (set(s) - {self.negative_label}) for s in label_sets) else set())
        if not topics or len(distinct) < 2:
            raise DataError(f"only one label in the data ({', '.join(sorted(distinct)) or 'none'}); need at least two to train")
        if len(topics) > MAX_LABELS:
            raise DataError(f"{len(topics):,} labels: topictag trains one classifier per label and supports at most {MAX_LABELS:,}; merge rare labels first")
        candidates = AUTO_CANDIDATES if self.classifier == "auto" else (self.classifier,)
        _check_memory(len(texts), len(topics), len(candidates))
        self.topics_ = topics
        self.classes_ = np.array(topics + [self.negative_label], dtype=object)
        Y = self._indicator(label_sets)
        known = None
        if unknown is not None and any(unknown):
            known = np.array([[t not in u for t in topics] for u in unknown], dtype=bool)
        self._known = known

        self.rare_labels_ = [t for t, n in zip(topics, Y.sum(axis=0)) if n < self.min_positives]
        if self.rare_labels_:
            warnings.warn(
                f"labels with fewer than {self.min_positives} examples use threshold {DEFAULT_THRESHOLD} "
                f"(too few to choose one): {', '.join(self.rare_labels_)}",
                stacklevel=2,
            )
        started = time.perf_counter()
        folds = self._folds(label_sets)
        counter, counts = self._counts(texts)
        if len(candidates) > 1 and len(texts) >= SCREEN_FROM_TEXTS and known is None:
            candidates = (self._screen(counts, Y, folds, candidates),)
        best = None
        for name, oof_scores in self._out_of_fold_scores(counts, Y, folds, candidates).items():
            self.classifier_ = name
            self._calibrate(oof_scores, Y)
            oof_probs = self._probabilities(oof_scores)
            metrics = self._cross_validated_metrics(oof_probs, Y, folds, label_sets)
            # Tags and the best label both matter to users: rank candidates by the mean of the tags' micro-F1
            # and the share of texts with a topic whose best-scoring label is one of theirs.
            with_topic = Y.sum(axis=1) > 0
            top1 = Y[with_topic, oof_probs[with_topic].argmax(axis=1)].mean() if with_topic.any() else 0.0
            quality = (metrics["micro"]["f1"] + top1) / 2
            if best is None or quality > best[0]:
                thresholds = {t: self._threshold(oof_probs[self._rows(j), j], Y[self._rows(j), j]) for j, t in enumerate(topics)}
                best = (quality, name, dict(self.calibration_), thresholds, metrics, oof_probs)
        _, self.classifier_, self.calibration_, self.thresholds_, self.cv_metrics_, self.oof_probabilities_ = best
        self.oof_error_rates_ = self._error_rates(self.oof_probabilities_, Y)
        # The final model: the same features on all texts (what a TfidfVectorizer fitted on them gives).
        everything = np.arange(len(texts))
        (features,), columns, idf = self._fold_features(counts, everything, [], with_vocabulary=True)
        from sklearn.multiclass import OneVsRestClassifier

        if known is None and self.classifier_ in LIBLINEAR and self._fork_fits(len(texts), len(topics)):
            [final] = self._forked_one_vs_rest([self.classifier_], [(features, everything)], Y)
        else:
            final = OneVsRestClassifier(self._base_classifier(self.classifier_)) if known is None else _PerLabel(self, self.classifier_, known)
            with _quiet_constant_label_warnings():
                final.fit(features, Y)
        terms = counter.get_feature_names_out()[columns]
        columns_of = [linear_weights(estimator) for estimator in final.estimators_]
        self.scorer_ = LinearTextModel.from_terms(list(terms), idf, columns_of, strip_accents="unicode")
        self.__dict__.pop("pipeline_", None)
        self.training_info_ = {
            "n_examples": len(texts),
            "label_counts": {label: int(n) for label, n in zip(topics, Y.sum(axis=0))}
            | {self.negative_label: int((Y.sum(axis=1) == 0).sum())},
            "params": self.get_params(),
            "classifier": self.classifier_,
            "error_rates": self.oof_error_rates_,  # out of fold, at each label's threshold
            "seconds": round(time.perf_counter() - started, 3),
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "versions": library_versions(),
        }
        if self.base is not None:
            self.training_info_["base"] = self.base
        self._known = None
        return self

    def _base_classifier(self, name: str):
        from sklearn.linear_model import LogisticRegression, SGDClassifier
        from sklearn.naive_bayes import ComplementNB
        from sklearn.svm import LinearSVC

        seed = self.random_state
        if name == "logreg":
            return LogisticRegression(C=self.C, solver="liblinear", class_weight=self.class_weight, random_state=seed)
        if name == "svm":
            return LinearSVC(C=self.C / 10, class_weight=self.class_weight, tol=1e-3, random_state=seed)
        if name == "sgd":
            return SGDClassifier(alpha=1e-4 / self.C, class_weight=self.class_weight, max_iter=50, tol=1e-4, random_state=seed)
        return ComplementNB(alpha=0.3)

    def _indicator(self, label_sets) -> np.ndarray:
        index = {t: j for j, t in enumerate(self.topics_)}
        Y = np.zeros((len(label_sets), len(self.topics_)), dtype=np.uint8)
        for i, labels in enumerate(label_sets):
            for label in labels:
                if label in index:
                    Y[i, index[label]] = 1
        return Y

    def _folds(self, label_sets):
        """Cross-validation folds, stratified on each text's first label where every label allows it."""
        from sklearn.model_selection import KFold, StratifiedKFold

        first = [labels[0] if labels else self.negative_label for labels in label_sets]
        n_splits = max(2, min(self.cv, len(first)))
        _, counts = np.unique(first, return_counts=True)
        if counts.min() >= n_splits:
            splitter = StratifiedKFold(n_splits, shuffle=True, random_state=self.random_state)
        else:
            splitter = KFold(n_splits, shuffle=True, random_state=self.random_state)
        return list(splitter.split(np.zeros(len(first)), first))

    def _counts(self, texts):
        """Term counts of every text, computed once: each fold and the final model take their columns."""
        from sklearn.feature_extraction.text import CountVectorizer

        counter = CountVectorizer(ngram_range=tuple(self.ngram_range), strip_accents="unicode", dtype=np.float64)
        try:
            return counter, counter.fit_transform(texts).tocsr()
        except ValueError as error:
            if "empty vocabulary" in str(error):
                raise DataError("no words in any text: topictag learns from words of two or more letters or digits") from None
            raise

    def _screen(self, counts, Y, folds, candidates) -> str:
        """The candidate to cross-validate fully, chosen on the first fold alone (with enough texts, one fold
        of hundreds of texts ranks the candidates as the full cross-validation does, at a fraction of the cost).
        Quality as in :meth:`fit`: the mean of the tags' micro-F1 and the best label's accuracy, each label
        thresholded at its best F1 on that fold."""
        # With many labels, the candidates are ranked on the most frequent ones: the ranking rarely differs
        # and each label costs a fit.
        frequent = np.sort(np.argsort(-Y.sum(axis=0), kind="stable")[:SCREEN_LABELS])
        Y = Y[:, frequent]
        scores = self._out_of_fold_scores(counts, Y, folds[:1], candidates)
        test = folds[0][1]
        y = Y[test]
        with_topic = y.sum(axis=1) > 0

        def quality(raw):
            raw = raw[test]
            tp = fp = fn = 0
            for j in range(y.shape[1]):
                if y[:, j].sum() == 0:
                    continue
                order = np.argsort(-raw[:, j], kind="stable")
                hits = np.cumsum(y[order, j])
                ranks = np.arange(1, len(order) + 1)
                f1 = 2 * hits / (ranks + y[:, j].sum())
                k = int(np.argmax(f1))
                tp += hits[k]
                fp += ranks[k] - hits[k]
                fn += y[:, j].sum() - hits[k]
            micro = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
            top1 = y[with_topic, raw[with_topic].argmax(axis=1)].mean() if with_topic.any() else 0.0
            return (micro + top1) / 2

        return max(candidates, key=lambda name: quality(scores[name]))

    def _min_df(self, n_texts: int) -> int:
        """``min_df="auto"``: terms seen in a single text are kept for small data sets and dropped from
        :data:`MIN_DF_FROM_TEXTS` texts on, where they are mostly names and numbers that never recur: the
        model gets smaller and faster, at equal or better accuracy (docs/BENCHMARKS.md)."""
        if self.min_df == "auto":
            return 2 if n_texts >= MIN_DF_FROM_TEXTS else 1
        return self.min_df

    def _out_of_fold_scores(self, counts, Y, folds, candidates) -> dict[str, np.ndarray]:
        """Each candidate classifier's out-of-fold raw scores.

        Each fold takes the terms of its training part (as a vectorizer fitted on that part would) and
        computes idf from it alone; all candidates share the fold's features. SGD and naive Bayes fits run in
        threads, one per core; liblinear's run one after another (see below).
        """
        from concurrent.futures import ThreadPoolExecutor

        from sklearn.multiclass import OneVsRestClassifier

        fold_features = [self._fold_features(counts, train, test) for train, test in folds]

        def fit_one(task):
            k, name = task
            train_features, test_features = fold_features[k]
            if self._known is not None:
                classifier = _PerLabel(self, name, self._known[folds[k][0]])
            else:
                classifier = OneVsRestClassifier(self._base_classifier(name))
            with _quiet_constant_label_warnings():
                classifier.fit(train_features, Y[folds[k][0]])
            return _classifier_scores(classifier, test_features)

        tasks = [(k, name) for k in range(len(folds)) for name in candidates]
        # liblinear (svm, logreg) seeds one global random generator: in threads its fits would race and the
        # model would change from run to run. They run one after another; the others share the cores.
        serial = [t for t in tasks if t[1] in LIBLINEAR]
        parallel = [t for t in tasks if t[1] not in LIBLINEAR]
        if serial and self._fork_fits(len(folds[0][0]), Y.shape[1]):
            # in processes each fit has its own generator: deterministic, and one per core
            blocks = [(fold_features[k][0], folds[k][0]) for k, _ in serial]
            fitted = self._forked_one_vs_rest([name for _, name in serial], blocks, Y)
            done = {task: _classifier_scores(f, fold_features[task[0]][1]) for task, f in zip(serial, fitted)}
        else:
            done = {task: fit_one(task) for task in serial}
        if parallel:
            with ThreadPoolExecutor(max_workers=min(_cores(), len(parallel))) as pool:
                done.update(zip(parallel, pool.map(fit_one, parallel)))
        results = [done[task] for task in tasks]
        scores = {name: np.zeros(Y.shape, dtype=np.float64) for name in candidates}
        for (k, name), result in zip(tasks, results):
            scores[name][folds[k][1]] = result
        return scores

    def _fork_fits(self, n_texts: int, n_labels: int) -> bool:
        """Whether liblinear's one-vs-rest fits pay for forked worker processes (many labels and texts, more
        than one core, Linux, and not inside a daemon process, which may not have children)."""
        import multiprocessing

        return (n_texts * n_labels >= FORK_FROM_WORK and _cores() > 1 and sys.platform.startswith("linux")
                and self._known is None and not multiprocessing.current_process().daemon)

    def _forked_one_vs_rest(self, names: list[str], blocks: list, Y) -> list:
        """One-vs-rest fits, ``names[i]`` on ``blocks[i] = (features, rows of Y)``, each label's binary fit a
        task for a pool of forked processes (they read the features from the parent's memory). Equal to
        ``OneVsRestClassifier(...).fit(features, Y[rows])`` for each block."""
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        global _FORK_STATE
        _FORK_STATE = (self, names, blocks, Y)
        tasks = [(i, j) for i in range(len(blocks)) for j in range(Y.shape[1])]
        pool = ProcessPoolExecutor(_cores(), mp_context=multiprocessing.get_context("fork"), initializer=_init_fit_worker, initargs=(os.getpid(),))
        try:
            estimators = list(pool.map(_forked_binary_fit, tasks, chunksize=4))
        except BaseException:  # Ctrl-C, SIGTERM, a worker's error: stop at once, not after the queued fits
            processes = list(getattr(pool, "_processes", {}).values())
            pool.shutdown(wait=False, cancel_futures=True)
            for process in processes:
                process.terminate()
            raise
        finally:
            _FORK_STATE = None
        pool.shutdown(wait=True)
        return [_OneVsRest(estimators[i * Y.shape[1] : (i + 1) * Y.shape[1]]) for i in range(len(blocks))]

    def _fold_features(self, counts, train, test, with_vocabulary: bool = False):
        """TF-IDF features of a fold, equal to those of a ``TfidfVectorizer`` fitted on its training texts
        (and, if asked, the columns kept and their idf: the final model's vocabulary)."""
        from sklearn.preprocessing import normalize

        document_frequency = np.bincount(counts[train].indices, minlength=counts.shape[1])
        columns = np.flatnonzero(document_frequency >= self._min_df(counts.shape[0]))
        if self.max_features is not None and len(columns) > self.max_features:
            totals = np.asarray(counts[train][:, columns].sum(axis=0)).ravel()
            columns = np.sort(columns[np.argsort(-totals, kind="stable")[: self.max_features]])
        idf = np.log((1 + len(train)) / (1 + document_frequency[columns])) + 1.0
        matrices = []
        for rows in (train, test) if len(test) else (train,):
            matrix = counts[rows][:, columns].tocsr()
            np.log(matrix.data, matrix.data)
            matrix.data += 1.0
            matrix.data *= idf[matrix.indices]
            matrices.append(normalize(matrix, norm="l2", copy=False))
        return (matrices, columns, idf) if with_vocabulary else matrices

    def _error_rates(self, probs, Y) -> dict:
        """Each label's out-of-fold true and false positive rates at its threshold (topictag report corrects
        topic shares with them: adjusted classify-and-count)."""
        rates = {}
        for j, topic in enumerate(self.topics_):
            rows = self._rows(j)
            tagged = probs[rows, j] >= self.thresholds_[topic]
            positives, negatives = Y[rows, j] == 1, Y[rows, j] == 0
            rates[topic] = {
                "tpr": round(float(tagged[positives].mean()) if positives.any() else 0.0, 6),
                "fpr": round(float(tagged[negatives].mean()) if negatives.any() else 0.0, 6),
            }
        return rates

    def _calibrate(self, scores, Y):
        """Platt scaling per label on out-of-fold scores, so every classifier yields probabilities (rare
        labels too: an uncalibrated margin is no probability, and naive Bayes margins are far from 0)."""
        self.calibration_ = {}
        for j, topic in enumerate(self.topics_):
            rows = self._rows(j)
            if not len(Y[rows, j]) or Y[rows, j].min() == Y[rows, j].max():
                self.calibration_[topic] = (1.0, 0.0)
            else:
                self.calibration_[topic] = _platt(scores[rows, j], Y[rows, j])

    def _probabilities(self, scores) -> np.ndarray:
        slopes = np.array([self.calibration_[t][0] for t in self.topics_])
        intercepts = np.array([self.calibration_[t][1] for t in self.topics_])
        with np.errstate(over="ignore"):  # exp overflows to inf for very negative scores: probability 0
            return 1.0 / (1.0 + np.exp(-(scores * slopes + intercepts)))

    def _threshold(self, probs, y) -> float:
        if y.sum() < self.min_positives:
            return DEFAULT_THRESHOLD
        return _best_f1_threshold(probs, y, self.negative_weight)

    def _cross_validated_metrics(self, oof_probs, Y, folds, label_sets) -> dict:
        """Metrics of out-of-fold predictions, each fold thresholded by thresholds chosen on the other folds."""
        predicted = np.zeros(Y.shape, dtype=bool)
        for k, (_, test) in enumerate(folds):
            others = np.concatenate([t for i, (_, t) in enumerate(folds) if i != k])
            for j in range(len(self.topics_)):
                known_others = others if self._known is None else others[self._known[others, j]]
                threshold = self._threshold(oof_probs[known_others, j], Y[known_others, j])
                predicted[test, j] = oof_probs[test, j] >= threshold
        predicted_sets = [self._tags_from_row(oof_probs[i], predicted[i]) for i in range(len(Y))]
        gold_sets = [tuple(label for label in labels if label in self.topics_) for labels in label_sets]
        # A label's figures count only the texts whose value for it is known.
        return evaluate_predictions(gold_sets, predicted_sets, self.topics_, self.negative_label, known=self._known)

    def _rows(self, j: int) -> np.ndarray:
        """The texts whose value for label ``j`` is known (all of them, without ``unknown``)."""
        if getattr(self, "_known", None) is None:
            return slice(None)
        return self._known[:, j]

    # ---- predicting ----------------------------------------------------------------------------

    def predict_proba(self, X) -> np.ndarray:
        """Probabilities, one column per ``classes_``: each topic, then the negative label (no topic applies)."""
        topic_probs = self._topic_probabilities(_as_texts(X))
        none = np.prod(1.0 - topic_probs, axis=1, keepdims=True)
        return np.hstack([topic_probs, none])

    def predict(self, X) -> np.ndarray:
        """The best tag of each text, or its fallback (see ``top``): the same as ``tag_many``, vectorised."""
        texts = _as_texts(X)
        self._check_fitted()
        if not texts:
            return np.array([], dtype=object)
        probs, passed = self._decide(texts, threshold=None)
        masked = np.where(passed, probs, -1.0)
        best = masked.argmax(axis=1)
        labels = np.array(self.topics_, dtype=object)
        if self._has_negatives():
            fallback = np.full(len(texts), self.negative_label, dtype=object)
        else:
            fallback = labels[probs.argmax(axis=1)]
        return np.where(passed.any(axis=1), labels[best], fallback)

    def predict_tags(self, X, threshold: float | None = None) -> list[tuple[str, ...]]:
        return [p.tags for p in self.tag_many(_as_texts(X), threshold=threshold)]

    def score(self, X, y, sample_weight=None) -> float:  # noqa: ARG002 - the scikit-learn signature
        """Micro-averaged F1 of the predicted tags against ``y`` (single- or multi-label)."""
        gold = [tuple(sorted(set(_as_label_set(labels)) - {self.negative_label})) for labels in y]
        return evaluate_predictions(gold, self.predict_tags(X), self.topics_, self.negative_label)["micro"]["f1"]

    def tag(self, text: str, *, source: str | None = None, threshold: float | None = None, top_k: int | None = None, threshold_scale: float = 1.0) -> Prediction:
        return self.tag_many([text], sources=[source], threshold=threshold, top_k=top_k, threshold_scale=threshold_scale)[0]

    def tag_many(self, texts, *, sources=None, threshold: float | None = None, top_k: int | None = None, threshold_scale: float = 1.0) -> list[Prediction]:
        """Tag each text; ``threshold`` overrides every label's own threshold, ``threshold_scale`` multiplies
        each label's own threshold (below 1: tag more readily), ``top_k`` caps the tags."""
        texts = _as_texts(texts)
        sources = list(sources) if sources is not None else [None] * len(texts)
        if len(sources) != len(texts):
            raise DataError(f"{len(texts)} texts but {len(sources)} sources")
        self._check_fitted()
        if not texts:
            return []
        scores, tags, tops = self.tag_table(texts, threshold=threshold, top_k=top_k, threshold_scale=threshold_scale)
        topics = self.topics_
        return [
            Prediction(source, tuple(topics[j] for j in row_tags), top, dict(zip(topics, row_scores)))
            for source, row_scores, row_tags, top in zip(sources, scores, tags, tops)
        ]

    def tag_table(self, texts, *, threshold: float | None = None, top_k: int | None = None, threshold_scale: float = 1.0):
        """What :meth:`tag_many` returns, as plain lists: (scores rounded to 6 decimals, per text; each text's
        tags as label indices, best first; each text's ``top``). The fast path of ``topictag tag``."""
        probs, passed = self._decide(texts, threshold, threshold_scale)
        order = np.argsort(-probs, axis=1, kind="stable")
        ranked = np.take_along_axis(passed, order, axis=1)
        tags = [row_order[row_passed][:top_k].tolist() for row_order, row_passed in zip(order, ranked)]
        if self._has_negatives():
            fallback = [self.negative_label] * len(texts)
        else:
            fallback = [self.topics_[j] for j in probs.argmax(axis=1).tolist()]
        tops = [self.topics_[row[0]] if row else fall for row, fall in zip(tags, fallback)]
        return np.round(probs, 6).tolist(), tags, tops

    def _decide(self, texts, threshold, threshold_scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
        """Topic probabilities, and which pass their threshold (``threshold`` overrides every label's own)."""
        raw, known_terms = self.scorer_.scores(texts)
        probs = self._probabilities(raw)
        cutoffs = np.array([self.thresholds_[t] * threshold_scale if threshold is None else threshold for t in self.topics_])
        # A text with no word the model knows carries no evidence for any topic: it gets no tag.
        passed = (probs >= cutoffs) & (known_terms > 0)[:, None]
        return probs, passed

    def _has_negatives(self) -> bool:
        return self.training_info_["label_counts"].get(self.negative_label, 0) > 0

    def _tags_from_row(self, probs, passed) -> tuple[str, ...]:
        order = np.argsort(-probs, kind="stable")
        return tuple(self.topics_[j] for j in order if passed[j])

    def _topic_probabilities(self, texts) -> np.ndarray:
        self._check_fitted()
        return self._probabilities(self.scorer_.scores(texts)[0])

    def _reference_probabilities(self, texts) -> np.ndarray:
        """The same probabilities computed by the scikit-learn pipeline (the fast path is checked against it)."""
        return self._probabilities(_raw_scores(self.pipeline_, texts))

    def _check_fitted(self):
        if "scorer_" not in self.__dict__:
            raise ModelError("this TopicClassifier is not fitted yet; call fit() or load a model")

    def segment(self, text: str, **options):
        """Split ``text`` into contiguous per-topic :class:`~topictag.segment.Segment` spans.

        ``options`` are :class:`~topictag.segment.Segmenter` settings (switch penalties, furniture patterns).
        """
        from .segment import Segmenter

        self._check_fitted()
        return Segmenter(self, **options).segment(text)

    def explain(self, text: str, labels=None, n_terms: int = 10):
        """Per-term contributions to each label's score; see :func:`topictag.explain.explain`."""
        from .explain import explain

        self._check_fitted()
        return explain(self, text, labels=labels, n_terms=n_terms)

    # ---- persistence ---------------------------------------------------------------------------

    def save(self, path) -> None:
        """Write the model to one bundle file, atomically (see :mod:`topictag.bundle`)."""
        from .bundle import write_bundle

        self._check_fitted()
        probe_texts = _probe_texts(self.scorer_)
        manifest = {
            "params": _jsonable(self.get_params()),
            "topics": list(self.topics_),
            "negative_label": self.negative_label,
            "thresholds": self.thresholds_,
            "calibration": {t: list(ab) for t, ab in self.calibration_.items()},
            "rare_labels": list(self.rare_labels_),
            "training_info": _jsonable(self.training_info_),
            "cv_metrics": self.cv_metrics_,
            "probe": {"texts": probe_texts, "probabilities": self._reference_probabilities(probe_texts).tolist()},
        }
        arrays, scorer_settings = self.scorer_.to_arrays()
        write_bundle(path, manifest, arrays, scorer_settings)

    @classmethod
    def load(cls, path) -> "TopicClassifier":
        return load(path)

    @classmethod
    def _from_bundle(cls, contents) -> "TopicClassifier":
        """A fitted model from checked bundle contents; ``ValueError`` says what does not fit together."""
        manifest = contents.manifest
        params = _params(manifest["params"])
        model = cls()
        model.set_params(**params)
        model._validate_params()
        model.scorer_ = LinearTextModel.from_arrays(contents.arrays, contents.scorer_settings)
        topics = manifest["topics"]
        if not topics or not all(isinstance(t, str) and t for t in topics) or len(set(topics)) != len(topics):
            raise ValueError("topics must be distinct non-empty strings")
        if model.negative_label in topics:
            raise ValueError("the negative label is also a topic")
        if model.scorer_.weights.shape[1] != len(topics):
            raise ValueError(f"{len(topics)} topics but weights for {model.scorer_.weights.shape[1]}")
        model.topics_ = list(topics)
        model.classes_ = np.array(model.topics_ + [model.negative_label], dtype=object)
        model.thresholds_ = _per_topic(manifest["thresholds"], topics, "thresholds", _probability)
        model.calibration_ = _per_topic(manifest["calibration"], topics, "calibration", _slope_intercept)
        rare = manifest["rare_labels"]
        if not all(isinstance(t, str) and t in topics for t in rare):
            raise ValueError("rare_labels must name topics")
        model.rare_labels_ = list(rare)
        model.training_info_ = _training_info(manifest["training_info"], topics, model.negative_label)
        model.classifier_ = model.training_info_.get("classifier", model.classifier)
        model.cv_metrics_ = _cv_metrics(manifest["cv_metrics"])
        model._verify_probe(manifest["probe"], contents.path)
        return model

    def _verify_probe(self, probe: dict, path) -> None:
        """Re-score the probe texts stored at save time: a model that now answers differently is refused."""
        texts, expected = probe.get("texts"), probe.get("probabilities")
        if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
            raise ValueError("probe texts must be strings")
        expected = np.array(expected, dtype=float) if isinstance(expected, list) else None
        if expected is None or expected.shape != (len(texts), len(self.topics_)):
            raise ValueError("probe probabilities do not match the probe texts and topics")
        got = self._topic_probabilities(texts)
        if not np.allclose(got, expected, rtol=0, atol=PROBE_TOLERANCE):
            built = self.training_info_.get("versions", {}).get("topictag", "unknown")
            raise ModelError(
                f"{path}: the model gives different predictions here than when it was saved "
                f"(saved by topictag {built}); retrain it with 'topictag train'"
            )

    def _validate_params(self) -> None:
        """Check every parameter before any work (scikit-learn convention: in fit, not in __init__)."""
        checks = [
            ("classifier", self.classifier in CLASSIFIERS, f"one of {', '.join(CLASSIFIERS)}"),
            ("negative_label", isinstance(self.negative_label, str) and bool(self.negative_label.strip()), "a non-empty string"),
            ("C", _positive_number(self.C), "a positive number"),
            ("class_weight", self.class_weight in (None, "balanced"), "None or 'balanced'"),
            ("ngram_range", _ngram_range_ok(self.ngram_range), "(1, 1) or (1, 2)"),
            ("min_df", self.min_df == "auto" or _int_at_least(self.min_df, 1), "'auto' or an integer >= 1"),
            ("max_features", self.max_features is None or _int_at_least(self.max_features, 1), "None or an integer >= 1"),
            ("cv", _int_at_least(self.cv, 2), "an integer >= 2"),
            ("min_positives", _int_at_least(self.min_positives, 1), "an integer >= 1"),
            ("negative_weight", _positive_number(self.negative_weight), "a positive number"),
            ("random_state", _int_at_least(self.random_state, 0), "an integer >= 0"),
            ("base", self.base is None or isinstance(self.base, str), "None, 'default' or a path to labeled data"),
        ]
        for name, ok, expected in checks:
            if not ok:
                raise ValueError(f"TopicClassifier: {name}={getattr(self, name)!r}; expected {expected}")


class _Constant:
    """A label with one class among its known texts: a constant score (as one-vs-rest does)."""

    def __init__(self, value: float):
        self.y_ = value

    def decision_function(self, X):
        return np.full(X.shape[0], float(self.y_))


class _PerLabel:
    """One-vs-rest where each label trains only on the texts whose value for it is known."""

    def __init__(self, model, name: str, known: np.ndarray):
        self.model, self.name, self.known = model, name, known

    def fit(self, features, Y):
        self.estimators_ = []
        for j in range(Y.shape[1]):
            rows = np.flatnonzero(self.known[:, j])
            y = Y[rows, j]
            if len(rows) == 0 or y.min() == y.max():
                self.estimators_.append(_Constant(float(y[0]) if len(rows) else 0.0))
            else:
                self.estimators_.append(self.model._base_classifier(self.name).fit(features[rows], y))
        return self


def _raw_scores(pipeline, texts) -> np.ndarray:
    return _classifier_scores(pipeline[-1], pipeline[:-1].transform(texts))


_FORK_STATE = None  # what forked fit workers read: (model, names, blocks, Y), set just before the fork


class _OneVsRest:
    """Fitted binary estimators, one per label, as ``OneVsRestClassifier`` holds them."""

    def __init__(self, estimators):
        self.estimators_ = estimators


def _init_fit_worker(parent_pid: int) -> None:
    import signal

    from .batch import _die_with_parent

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _die_with_parent(parent_pid)


def _forked_binary_fit(task):
    from sklearn.multiclass import _fit_binary

    i, j = task
    model, names, blocks, Y = _FORK_STATE
    features, rows = blocks[i]
    with _quiet_constant_label_warnings():
        return _fit_binary(model._base_classifier(names[i]), features, np.asarray(Y[rows, j], dtype=np.int64), fit_params={})  # no classes: no warning for a label constant in a fold


def _classifier_scores(classifier, features) -> np.ndarray:
    """Per-label margins of a fitted one-vs-rest classifier; log-odds for naive Bayes (no decision function)."""
    columns = []
    for estimator in classifier.estimators_:
        if hasattr(estimator, "decision_function"):
            columns.append(np.ravel(estimator.decision_function(features)))
        else:
            log_probs = estimator.predict_log_proba(features)
            columns.append(log_probs[:, 1] - log_probs[:, 0])
    return np.column_stack(columns)


def _platt(scores: np.ndarray, y: np.ndarray, l2: float = 1e-4, iterations: int = 100) -> tuple[float, float]:
    """Slope and intercept of p(y=1) = sigmoid(a * score + b), by Newton's method on the log-loss.

    A tiny L2 penalty keeps the fit finite when the scores separate the classes perfectly.
    """
    a, b = 1.0, 0.0
    features = np.column_stack([scores, np.ones_like(scores)])
    for _ in range(iterations):
        with np.errstate(over="ignore"):
            p = 1.0 / (1.0 + np.exp(-(a * scores + b)))
        gradient = features.T @ (p - y) + l2 * np.array([a, b])
        weights = np.maximum(p * (1.0 - p), 1e-12)
        hessian = (features * weights[:, None]).T @ features + l2 * np.eye(2)
        step = np.linalg.solve(hessian, gradient)
        a, b = a - step[0], b - step[1]
        if np.abs(step).max() < 1e-10:
            break
    return float(a), float(b)


def _best_f1_threshold(probs: np.ndarray, y: np.ndarray, negative_weight: float = 1.0) -> float:
    """The probability cut-off that maximises F1, halfway between the best score and the next one below.

    ``negative_weight`` counts each negative example that many times, as if texts without the label were
    that much more common in the stream to be tagged than in the training data.
    """
    from sklearn.metrics import precision_recall_curve

    weights = np.where(y == 1, 1.0, negative_weight)
    precision, recall, thresholds = precision_recall_curve(y, probs, sample_weight=weights)
    with np.errstate(divide="ignore", invalid="ignore"):
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)[:-1]
    best = int(np.argmax(f1))
    below = probs[probs < thresholds[best]]
    return float((thresholds[best] + below.max()) / 2 if below.size else thresholds[best])


def _as_texts(X) -> list[str]:
    """Texts as a list of strings; a missing value (None, NaN, pandas' NA) is the empty text."""
    if isinstance(X, (str, bytes)):
        raise DataError("expected a list of texts, got a single string")
    texts = []
    for i, text in enumerate(X):
        if isinstance(text, str):
            texts.append(text)
        elif _is_missing(text):
            texts.append("")
        else:
            raise DataError(f"text {i} is a {type(text).__name__}, not a string")
    return texts


def _as_label_set(labels, i: int = 0) -> tuple[str, ...]:
    """One text's labels: a string, or a list of strings (empty: no topic)."""
    if isinstance(labels, str):
        return (labels,)
    if labels is None or (not hasattr(labels, "__iter__") and _is_missing(labels)):
        raise DataError(f"the label of text {i} is missing; give the negative label or an empty list for a text with no topic")
    if isinstance(labels, (dict, bytes)) or not hasattr(labels, "__iter__"):
        raise DataError(f"the label of text {i} is a {type(labels).__name__}; labels must be strings or lists of strings")
    labels = list(labels)
    for label in labels:
        if not isinstance(label, str):
            raise DataError(f"text {i} has a label that is a {type(label).__name__} ({label!r}); labels must be strings")
    return tuple(labels)


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _is_missing(value) -> bool:
    if value is None:
        return True
    try:
        return bool(value != value)  # NaN and pandas' NA
    except TypeError:
        return True  # pandas' NA refuses bool(): it is missing
    except ValueError:
        return False  # an array: not missing (and not a text)


def _positive_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0


def _int_at_least(value, minimum: int) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= minimum


def _ngram_range_ok(value) -> bool:
    return isinstance(value, (tuple, list)) and tuple(value) in ((1, 1), (1, 2))


def _check_memory(n_texts: int, n_labels: int, n_candidates: int) -> None:
    """Refuse a training run whose dense per-label score matrices cannot fit in this machine's memory."""
    needed = n_texts * n_labels * 8 * (n_candidates + 3)
    try:
        available = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return
    if needed > available / 2:
        raise DataError(
            f"training {n_texts:,} texts with {n_labels:,} labels needs about {needed / 2**30:.0f} GiB of memory "
            f"(this machine has {available / 2**30:.0f} GiB); use fewer labels or texts"
        )


def _params(params: dict) -> dict:
    params = dict(params)
    if isinstance(params.get("ngram_range"), list):
        params["ngram_range"] = tuple(params["ngram_range"])
    return params


def _probability(value) -> float:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0.0 <= value <= 1.0:
        raise ValueError(f"{value!r} is not a probability")
    return float(value)


def _slope_intercept(value) -> tuple[float, float]:
    if not (isinstance(value, list) and len(value) == 2 and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value)):
        raise ValueError(f"{value!r} is not a [slope, intercept] pair")
    return float(value[0]), float(value[1])


def _per_topic(mapping: dict, topics: list, name: str, convert) -> dict:
    if set(mapping) != set(topics):
        raise ValueError(f"{name} must have exactly one entry per topic")
    return {t: convert(mapping[t]) for t in topics}


def _training_info(info: dict, topics: list, negative_label: str) -> dict:
    counts = info.get("label_counts")
    if not isinstance(counts, dict) or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in counts.values()):
        raise ValueError("training_info.label_counts must map labels to counts")
    if not set(counts) <= set(topics) | {negative_label}:
        raise ValueError("training_info.label_counts names labels the model does not have")
    return info


def _cv_metrics(metrics: dict) -> dict:
    """The stored cross-validated report, checked for the shape that ``info`` and ``train`` print."""
    try:
        for row in metrics["labels"].values():
            [float(row[k]) for k in ("precision", "recall", "f1")] + [int(row["support"])]
        for average in ("micro", "macro"):
            [float(metrics[average][k]) for k in ("precision", "recall", "f1")]
        confusion = metrics["confusion"]
        if len(confusion["matrix"]) != len(confusion["labels"]):
            raise ValueError
    except (KeyError, TypeError, ValueError, AttributeError):
        raise ValueError("cv_metrics does not have the shape of a topictag report") from None
    return metrics


def _jsonable(value):
    import json

    return json.loads(json.dumps(value, default=lambda v: v.item() if hasattr(v, "item") else list(v)))


def _probe_texts(scorer, n_texts: int = 8, n_terms: int = 40) -> list[str]:
    """Pseudo-texts drawn from the model's own vocabulary: they exercise every stage without storing data."""
    vocabulary = sorted(scorer.feature_names())
    rng = np.random.default_rng(0)
    return [" ".join(rng.choice(vocabulary, size=min(n_terms, len(vocabulary)))) for _ in range(n_texts)]


def load(path) -> TopicClassifier:
    """Load a model bundle written by :meth:`TopicClassifier.save` (``topictag.load``)."""
    from .bundle import read_bundle

    contents = read_bundle(path)
    try:
        return TopicClassifier._from_bundle(contents)
    except (ValueError, TypeError, KeyError, IndexError, OverflowError, MemoryError) as error:
        raise ModelError(f"{path}: not a valid topictag model ({error})") from None


class _quiet_constant_label_warnings(warnings.catch_warnings):
    """A fold may lack a rare label entirely (one-vs-rest then predicts a constant, which is fine), and the
    iterative classifiers stop at a fixed number of passes on purpose."""

    def __enter__(self):
        super().__enter__()
        warnings.filterwarnings("ignore", message="Label not .* is present in all training examples")
        warnings.filterwarnings("ignore", message="(Maximum number of iteration|Liblinear failed to converge)")


def library_versions() -> dict[str, str]:
    import joblib
    import scipy
    import sklearn

    return {
        "topictag": __version__,
        "scikit-learn": sklearn.__version__,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "joblib": joblib.__version__,
        "python": platform.python_version(),
    }
