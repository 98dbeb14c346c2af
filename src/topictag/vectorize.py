"""Fast TF-IDF features and linear scores, numerically the same as the fitted scikit-learn pipeline.

scikit-learn's ``TfidfVectorizer.transform`` builds every bigram as a string and looks each one up in a
dict, one Python call per n-gram. Here each token is looked up once; bigrams are formed from token ids with
numpy (``id1 * n_tokens + id2`` found by binary search in the sorted bigram keys) and the rest (counts,
sublinear tf, idf, l2 norm, the dot product with the weights) runs on whole batches in numpy, in the same
summation order as scikit-learn. ``tests/test_vectorize.py`` checks features and scores against the
reference pipeline. Needs only numpy at prediction time: no scikit-learn import.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from itertools import chain
from operator import methodcaller

import numpy as np

NON_ASCII = re.compile(r"[^\x00-\x7f]+")


def _without_combining(match) -> str:
    return "".join([c for c in match.group() if not unicodedata.combining(c)])


SUPPORTED = "word 1-grams or 1-2-grams, no stop words, lowercase, strip_accents None/'unicode', l2 or no norm"
# Token patterns topictag writes (scikit-learn's default). A bundle naming any other pattern is refused, so
# a hostile bundle cannot make loading compile and run a pathological regular expression.
TOKEN_PATTERNS = (r"(?u)\b\w\w+\b",)


@dataclass
class LinearTextModel:
    """``scores(texts) == pipeline.decision_function(texts)`` per label, for a TF-IDF + linear pipeline."""

    tokens: list[str]  # every token that is a feature or part of a bigram feature
    unigram_features: np.ndarray  # token id -> feature id, or -1
    bigram_keys: np.ndarray  # sorted token-id pairs, as first * len(tokens) + second
    bigram_features: np.ndarray  # feature id of each key
    idf: np.ndarray  # (n_features,)
    weights: np.ndarray  # (n_features, n_labels)
    bias: np.ndarray  # (n_labels,)
    token_pattern: str = r"(?u)\b\w\w+\b"
    lowercase: bool = True
    strip_accents: str | None = "unicode"
    sublinear_tf: bool = True
    norm: str | None = "l2"

    def __post_init__(self):
        self._pattern = re.compile(self.token_pattern)
        self._vocabulary = None  # built on first use (tokens.Vocabulary)
        self._bigrams = None

    def _lookups(self):
        if self._vocabulary is None:
            from .tokens import HashTable, Vocabulary

            self._vocabulary = Vocabulary(self.tokens)
            self._bigrams = HashTable(self.bigram_keys.astype(np.uint64), self.bigram_features.astype(np.int64))
        return self._vocabulary, self._bigrams

    # ---- building ----------------------------------------------------------------------------------

    @classmethod
    def from_terms(cls, terms: list[str], idf: np.ndarray, columns: list[tuple[np.ndarray, float]], **settings) -> "LinearTextModel":
        """Build from the feature terms (``"word"`` or ``"word word"``, in feature order), their idf, and each
        label's linear function ``(weights over the features, bias)``."""
        # Written with map() and numpy so that a vocabulary of a million terms takes a fraction of a second.
        firsts, _, seconds = zip(*map(methodcaller("partition", " "), terms)) if terms else ((), (), ())
        token_ids = dict.fromkeys(chain(firsts, filter(None, seconds)))
        for i, token in enumerate(token_ids):
            token_ids[token] = i
        tokens = list(token_ids)
        first_ids = np.fromiter(map(token_ids.__getitem__, firsts), dtype=np.int64, count=len(terms))
        is_bigram = np.fromiter(map(bool, seconds), dtype=bool, count=len(terms))
        second_ids = np.fromiter((token_ids[s] for s in seconds if s), dtype=np.int64, count=int(is_bigram.sum()))
        feature_ids = np.arange(len(terms), dtype=np.int64)
        unigram_features = np.full(len(tokens), -1, dtype=np.int64)
        unigram_features[first_ids[~is_bigram]] = feature_ids[~is_bigram]
        keys = first_ids[is_bigram] * len(tokens) + second_ids
        features = feature_ids[is_bigram]
        order = np.argsort(keys, kind="stable")
        weights = np.zeros((len(terms), len(columns)))
        bias = np.zeros(len(columns))
        for k, (w, b) in enumerate(columns):
            if w.size:
                weights[:, k] = w
            bias[k] = b
        return cls(tokens=tokens, unigram_features=unigram_features, bigram_keys=keys[order], bigram_features=features[order],
                   idf=np.asarray(idf, dtype=np.float64), weights=weights, bias=bias, **settings)

    def to_pipeline(self):
        """A stock scikit-learn ``Pipeline([TfidfVectorizer, OneVsRestClassifier])`` with exactly these weights.

        The vectorizer has this vocabulary and idf; each label's estimator is a ``LinearSVC`` holding the
        label's weights and bias, so its ``decision_function`` is this model's score (whatever classifier
        trained it: for complement naive Bayes the weights are its log-probability differences).
        """
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.multiclass import OneVsRestClassifier
        from sklearn.pipeline import Pipeline
        from sklearn.preprocessing import LabelBinarizer
        from sklearn.svm import LinearSVC

        names = self.feature_names()
        vectorizer = TfidfVectorizer(
            vocabulary={name: i for i, name in enumerate(names)},
            ngram_range=(1, 2) if len(self.bigram_keys) else (1, 1),
            token_pattern=self.token_pattern, lowercase=self.lowercase, strip_accents=self.strip_accents,
            sublinear_tf=self.sublinear_tf, norm=self.norm, dtype=np.float64,
        )
        vectorizer.fit([""])  # fixes the vocabulary; the idf is set next
        vectorizer.idf_ = self.idf
        n_labels = self.weights.shape[1]
        classifier = OneVsRestClassifier(LinearSVC())
        estimators = []
        for k in range(n_labels):
            estimator = LinearSVC()
            estimator.coef_ = self.weights[:, k][None, :].copy()
            estimator.intercept_ = np.array([self.bias[k]])
            estimator.classes_ = np.array([0, 1])
            estimator.n_features_in_ = len(names)
            estimators.append(estimator)
        classifier.estimators_ = estimators
        classifier.label_binarizer_ = LabelBinarizer().fit(np.eye(n_labels, dtype=int) if n_labels > 1 else np.array([0, 1]))
        classifier.classes_ = classifier.label_binarizer_.classes_
        return Pipeline([("features", vectorizer), ("classifier", classifier)])

    @classmethod
    def from_pipeline(cls, pipeline, linear_weights) -> "LinearTextModel":
        """Compile a fitted ``Pipeline([TfidfVectorizer, OneVsRestClassifier])``.

        ``linear_weights(estimator) -> (weights, bias)`` gives each per-label estimator as a linear function.
        """
        vectorizer = pipeline[0]
        _check_supported(vectorizer)
        terms = [""] * len(vectorizer.vocabulary_)
        for term, feature in vectorizer.vocabulary_.items():
            terms[feature] = term
        columns = [linear_weights(estimator) for estimator in pipeline[-1].estimators_]
        return cls.from_terms(
            terms, vectorizer.idf_, columns, token_pattern=vectorizer.token_pattern, lowercase=vectorizer.lowercase,
            strip_accents=vectorizer.strip_accents, sublinear_tf=vectorizer.sublinear_tf, norm=vectorizer.norm,
        )

    # ---- features and scores -----------------------------------------------------------------------

    def features(self, texts) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """CSR parts (indptr, indices, data) of the TF-IDF matrix, columns sorted within each row.

        Texts are processed in blocks of about a million characters: the sorts stay small and the
        temporary arrays bounded, whatever the number of texts.
        """
        from .tokens import text_blocks

        texts = list(texts)
        parts = [self._block_features(texts[first:last]) for first, last in text_blocks(texts)]
        if not parts:
            return np.zeros(1, dtype=np.int64), np.zeros(0, dtype=np.int64), np.zeros(0)
        offsets = np.cumsum([0] + [part[0][-1] for part in parts[:-1]])
        indptr = np.concatenate([[0]] + [part[0][1:] + offset for part, offset in zip(parts, offsets)])
        return indptr, np.concatenate([part[1] for part in parts]), np.concatenate([part[2] for part in parts])

    def _block_features(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        n_tokens = len(self.tokens)
        vocabulary, bigrams = self._lookups()
        ids, docs = vocabulary.token_ids(list(map(self._preprocess, texts)))
        known = ids >= 0
        uni = np.full(len(ids), -1, dtype=np.int64)
        uni[known] = self.unigram_features[ids[known]]
        feature_docs, feature_ids = [docs[uni >= 0]], [uni[uni >= 0]]
        if len(self.bigram_keys) and len(ids) > 1:
            pair = known[:-1] & known[1:] & (docs[:-1] == docs[1:])
            keys = ids[:-1][pair] * n_tokens + ids[1:][pair]
            found = bigrams.lookup(keys.astype(np.uint64))
            hit = found >= 0
            feature_docs.append(docs[:-1][pair][hit])
            feature_ids.append(found[hit])
        n_features = len(self.idf)
        combined = np.concatenate(feature_docs) * n_features + np.concatenate(feature_ids)
        cells, counts = np.unique(combined, return_counts=True)
        rows, indices = np.divmod(cells, n_features)
        data = counts.astype(np.float64)
        if self.sublinear_tf:
            np.log(data, data)
            data += 1.0
        data *= self.idf[indices]
        n_rows = len(texts)
        if self.norm == "l2":
            norms = np.sqrt(np.bincount(rows, weights=data * data, minlength=n_rows))
            norms[norms == 0.0] = 1.0
            data /= norms[rows]
        indptr = np.zeros(n_rows + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=n_rows), out=indptr[1:])
        return indptr, indices, data

    def scores(self, texts) -> tuple[np.ndarray, np.ndarray]:
        """Per-label linear scores and the number of known features of each text."""
        texts = list(texts)
        indptr, indices, data = self.features(texts)
        n_labels = self.weights.shape[1]
        if n_labels <= 8:
            rows = np.repeat(np.arange(len(texts)), np.diff(indptr))
            scores = np.empty((len(texts), n_labels))
            for k in range(n_labels):
                scores[:, k] = np.bincount(rows, weights=data * self.weights[indices, k], minlength=len(texts))
        else:  # many labels: one sparse-dense product (scipy is imported only for such models)
            import scipy.sparse

            matrix = scipy.sparse.csr_matrix((data, indices, indptr), shape=(len(texts), len(self.idf)))
            scores = np.asarray(matrix @ self.weights)
        return scores + self.bias, np.diff(indptr)

    def feature_names(self) -> list[str]:
        names = [""] * len(self.idf)
        for token, feature in zip(self.tokens, self.unigram_features):
            if feature >= 0:
                names[feature] = token
        n_tokens = len(self.tokens)
        for key, feature in zip(self.bigram_keys, self.bigram_features):
            first, second = divmod(int(key), n_tokens)
            names[feature] = f"{self.tokens[first]} {self.tokens[second]}"
        return names

    def _preprocess(self, text: str) -> str:
        """Lower case and accents stripped exactly as scikit-learn does (``strip_accents_unicode``)."""
        if self.lowercase:
            text = text.lower()
        if self.strip_accents == "unicode" and not text.isascii():
            normalized = unicodedata.normalize("NFKD", text)
            if normalized.isascii():
                return normalized
            # only the non-ASCII runs can hold combining characters
            return NON_ASCII.sub(_without_combining, normalized)
        return text

    # ---- persistence -----------------------------------------------------------------------------

    def to_arrays(self) -> tuple[dict[str, np.ndarray], dict]:
        arrays = {name: getattr(self, name) for name in ("unigram_features", "bigram_keys", "bigram_features", "idf", "weights", "bias")}
        settings = {name: getattr(self, name) for name in ("token_pattern", "lowercase", "strip_accents", "sublinear_tf", "norm")}
        return arrays, {"tokens": self.tokens, **settings}

    @classmethod
    def from_arrays(cls, arrays: dict, settings: dict) -> "LinearTextModel":
        """Rebuild from :meth:`to_arrays` output, checking every invariant first (``ValueError`` says which)."""
        _check_settings(settings)
        _check_arrays(arrays, settings["tokens"])
        return cls(**{name: np.asarray(arrays[name]) for name in arrays}, **settings)


def linear_weights(estimator) -> tuple[np.ndarray, float]:
    """Weights and bias of a fitted binary estimator as a linear function of the features, in its score units."""
    if hasattr(estimator, "coef_"):  # logistic regression, linear SVM, SGD
        return np.ravel(estimator.coef_), float(np.ravel(estimator.intercept_)[0])
    if hasattr(estimator, "feature_log_prob_"):  # complement NB: the difference of joint log-likelihoods
        log_prob = estimator.feature_log_prob_
        return log_prob[1] - log_prob[0], 0.0
    # one-vs-rest's constant predictor, for a label present in every training text
    return np.zeros(0), float(np.ravel(estimator.decision_function(np.zeros((1, 1))))[0])


def _check_supported(vectorizer) -> None:
    params = vectorizer.get_params()
    ok = (
        params["analyzer"] == "word"
        and params["ngram_range"][0] == 1
        and params["ngram_range"][1] in (1, 2)
        and params["stop_words"] is None
        and params["strip_accents"] in (None, "unicode")
        and params["preprocessor"] is None
        and params["tokenizer"] is None
        and params["norm"] in (None, "l2")
        and params["use_idf"]
        and not params["binary"]
    )
    if not ok:
        raise ValueError(f"the fast vectorizer supports {SUPPORTED}")


def _check_settings(settings: dict) -> None:
    expected = {"tokens", "token_pattern", "lowercase", "strip_accents", "sublinear_tf", "norm"}
    if set(settings) != expected:
        raise ValueError(f"scorer settings must have exactly the keys {', '.join(sorted(expected))}")
    tokens = settings["tokens"]
    if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens) or len(set(tokens)) != len(tokens):
        raise ValueError("scorer tokens must be a list of distinct strings")
    if settings["token_pattern"] not in TOKEN_PATTERNS:
        raise ValueError("unsupported token pattern (topictag writes only its default)")
    if not isinstance(settings["lowercase"], bool) or not isinstance(settings["sublinear_tf"], bool):
        raise ValueError("lowercase and sublinear_tf must be true or false")
    if settings["strip_accents"] not in (None, "unicode") or settings["norm"] not in (None, "l2"):
        raise ValueError("unsupported strip_accents or norm")


def _check_arrays(arrays: dict, tokens: list) -> None:
    """Shapes agree with each other, indices are in range, numbers are finite: before any text is scored."""
    names = {"unigram_features", "bigram_keys", "bigram_features", "idf", "weights", "bias"}
    if set(arrays) != names:
        raise ValueError("scorer arrays missing or unexpected")
    unigrams, keys, bigrams = arrays["unigram_features"], arrays["bigram_keys"], arrays["bigram_features"]
    idf, weights, bias = arrays["idf"], arrays["weights"], arrays["bias"]
    n_tokens, n_features = len(tokens), len(idf)
    if any(a.ndim != 1 for a in (unigrams, keys, bigrams, idf, bias)) or weights.ndim != 2:
        raise ValueError("scorer arrays have the wrong number of dimensions")
    if len(unigrams) != n_tokens or len(keys) != len(bigrams) or weights.shape != (n_features, len(bias)):
        raise ValueError("scorer array shapes do not agree with each other")
    if unigrams.size and (unigrams.min() < -1 or unigrams.max() >= n_features):
        raise ValueError("unigram feature index out of range")
    if keys.size and (keys.min() < 0 or keys.max() >= n_tokens * n_tokens or np.any(np.diff(keys) <= 0)):
        raise ValueError("bigram keys out of range or not sorted")
    if bigrams.size and (bigrams.min() < 0 or bigrams.max() >= n_features):
        raise ValueError("bigram feature index out of range")
    used = np.concatenate([unigrams[unigrams >= 0], bigrams])
    if len(used) != n_features or np.any(np.bincount(used, minlength=n_features) != 1):
        raise ValueError("features are not each named exactly once")
    if not (np.all(np.isfinite(idf)) and np.all(idf > 0) and np.all(np.isfinite(weights)) and np.all(np.isfinite(bias))):
        raise ValueError("scorer numbers are not all finite (or an idf is not positive)")
