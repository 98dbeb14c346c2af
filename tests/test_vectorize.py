"""The fast vectorizer and scorer give exactly what the scikit-learn pipeline gives."""

import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from topictag import TopicClassifier
from topictag.model import _raw_scores
from topictag.vectorize import LinearTextModel, linear_weights

TEXTS = [
    "Tariffs on imported steel rise; exporters brace for retaliation.",
    "Café owners in São Paulo protest new rules",  # accents: stripped as scikit-learn does
    "ÉTATS-UNIS: la Maison Blanche annonce des droits de douane",
    "Missile test, missile test, missile test!",  # repeated terms: sublinear tf
    "",
    "x y z",  # no token of two characters: an empty row
    "unknownword anotherunknown tariffs",
    "Ｆｕｌｌｗｉｄｔｈ ｔｅｘｔ and ligatures ﬁnance",
]


@pytest.mark.parametrize("classifier", ["logreg", "svm", "sgd", "cnb"])
def test_features_and_scores_equal_the_sklearn_pipeline(classifier, tiny_corpus):
    texts, labels = tiny_corpus
    model = TopicClassifier(classifier=classifier).fit(texts + TEXTS[:3], labels + [["trade"], ["other"], ["trade"]])
    reference = model.pipeline_[0].transform(texts + TEXTS).tocsr()
    reference.sort_indices()
    indptr, indices, data = model.scorer_.features(texts + TEXTS)
    assert np.array_equal(reference.indptr, indptr)
    assert np.array_equal(reference.indices, indices)
    assert np.array_equal(reference.data, data)
    scores, _ = model.scorer_.scores(texts + TEXTS)
    assert np.allclose(scores, _raw_scores(model.pipeline_, texts + TEXTS), rtol=1e-12, atol=1e-12)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.text(alphabet=st.characters(), max_size=80) | st.sampled_from(["tariffs on steel", "missile test", "Chip export controls"]), min_size=1, max_size=6))
def test_any_text_gives_the_same_features(tiny_model, texts):
    reference = tiny_model.pipeline_[0].transform(texts).tocsr()
    reference.sort_indices()
    indptr, indices, data = tiny_model.scorer_.features(texts)
    assert np.array_equal(reference.indptr, indptr) and np.array_equal(reference.indices, indices)
    assert np.allclose(reference.data, data, rtol=1e-12, atol=0)


def test_round_trip_through_arrays(tiny_model):
    arrays, settings_ = tiny_model.scorer_.to_arrays()
    copy = LinearTextModel.from_arrays(arrays, settings_)
    assert np.array_equal(copy.scores(TEXTS)[0], tiny_model.scorer_.scores(TEXTS)[0])
    assert copy.feature_names() == list(tiny_model.pipeline_[0].get_feature_names_out())


def test_unsupported_vectorizer_settings_are_refused(tiny_model):
    from sklearn.base import clone

    pipeline = clone(tiny_model.pipeline_).set_params(features__ngram_range=(1, 3))
    pipeline.fit(["tariffs on steel imports", "missile test at sea"], np.array([[1, 0], [0, 1]]))
    with pytest.raises(ValueError, match="fast vectorizer supports"):
        LinearTextModel.from_pipeline(pipeline, linear_weights)


def test_loading_a_model_and_tagging_does_not_import_sklearn(tiny_model, tmp_path):
    path = tmp_path / "m.topictag"
    tiny_model.save(path)
    code = (
        "import sys, topictag; m = topictag.load(sys.argv[1]); p = m.tag('Tariffs on steel'); "
        "print(p.top, sorted(x for x in ('sklearn', 'pandas', 'skops') if x in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "trade []", result.stderr


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(alphabet=st.characters(), max_size=80) | st.sampled_from(["Tariffs on steel", "naïve café", "x\x00yz", "\U0001f600ab", "\ud800ab"]), max_size=6))
def test_hashed_tokens_are_exactly_the_regular_expressions(texts):
    import re

    from topictag.tokens import Vocabulary

    expected = [re.findall(r"(?u)\b\w\w+\b", text) for text in texts]
    distinct = sorted({token for tokens in expected for token in tokens})
    known = distinct[::2] + ["zz"]
    vocabulary = Vocabulary(known)
    ids, docs = vocabulary.token_ids(texts)
    found = [[] for _ in texts]
    for token_id, doc in zip(ids.tolist(), docs.tolist()):
        found[doc].append(known[token_id] if token_id >= 0 else None)
    assert found == [[t if t in set(known) else None for t in tokens] for tokens in expected]
