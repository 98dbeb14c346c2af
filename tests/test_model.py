import math
import os
import sys

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import cross_val_score

from topictag import DataError, TopicClassifier
from topictag.model import DEFAULT_THRESHOLD


def test_tags_follow_the_topic_of_the_text(tiny_model):
    assert tiny_model.tag("New tariffs on imported steel and cars").top == "trade"
    assert tiny_model.tag("Troops and missile batteries deployed to the border").top == "security"
    assert tiny_model.tag("Hospital nurses warn of flu outbreak").top == "health"


def test_text_about_no_topic_gets_the_negative_label_and_no_tags(tiny_model):
    prediction = tiny_model.tag("Film festival premiere draws singer and novelist")
    assert prediction.tags == ()
    assert prediction.top == "other"


def test_negative_label_is_never_a_tag(tiny_model, tiny_corpus):
    texts, _ = tiny_corpus
    for prediction in tiny_model.tag_many(texts, threshold=0.0):
        assert "other" not in prediction.tags
    assert "other" not in tiny_model.topics_


def test_multi_label_text_carries_both_tags(tiny_model):
    prediction = tiny_model.tag("Chip export controls widen the tariff dispute")
    assert set(prediction.tags) == {"trade", "tech_policy"}


def test_tags_are_sorted_best_first_and_scores_are_probabilities(tiny_model):
    prediction = tiny_model.tag("Chip export controls widen the tariff dispute", threshold=0.0)
    scores = [prediction.scores[t] for t in prediction.tags]
    assert scores == sorted(scores, reverse=True)
    assert all(0.0 <= p <= 1.0 for p in prediction.scores.values())
    assert prediction.to_dict() == {"source": None, "tags": list(prediction.tags), "top": prediction.tags[0], "scores": prediction.scores}


def test_threshold_override_and_top_k(tiny_model):
    everything = tiny_model.tag("Tariffs on steel", threshold=0.0)
    assert len(everything.tags) == len(tiny_model.topics_)
    assert tiny_model.tag("Tariffs on steel", threshold=0.0, top_k=2).tags == everything.tags[:2]
    assert tiny_model.tag("Tariffs on steel", threshold=1.0).tags == ()


def test_thresholds_are_chosen_per_label(tiny_model):
    assert set(tiny_model.thresholds_) == set(tiny_model.topics_)
    assert all(0.0 < t < 1.0 for t in tiny_model.thresholds_.values())


def test_predict_and_predict_proba_follow_classes(tiny_model):
    texts = ["Tariffs on steel", "Storm cuts power"]
    assert list(tiny_model.predict(texts)) == ["trade", "other"]
    proba = tiny_model.predict_proba(texts)
    assert proba.shape == (2, len(tiny_model.classes_))
    assert list(tiny_model.classes_) == tiny_model.topics_ + ["other"]
    assert ((proba >= 0) & (proba <= 1)).all()


@pytest.mark.parametrize("classifier", ["logreg", "svm", "sgd", "cnb"])
def test_every_classifier_gives_calibrated_probabilities(classifier, tiny_corpus):
    texts, labels = tiny_corpus
    model = TopicClassifier(classifier=classifier).fit(texts, labels)
    proba = model.predict_proba(["Tariffs on imported steel", "Missile test alarms neighbours"])
    assert ((proba >= 0) & (proba <= 1)).all()
    assert "trade" in model.predict_tags(["Tariffs on imported steel and cars"])[0]


def test_same_seed_gives_identical_predictions(tiny_corpus):
    texts, labels = tiny_corpus
    a = TopicClassifier(classifier="sgd", random_state=3).fit(texts, labels)
    b = TopicClassifier(classifier="sgd", random_state=3).fit(texts, labels)
    assert np.array_equal(a.predict_proba(texts), b.predict_proba(texts))
    assert a.thresholds_ == b.thresholds_


def test_works_with_clone_params_and_cross_val_score(tiny_corpus):
    texts, labels = tiny_corpus
    model = TopicClassifier(C=3.0, cv=3)
    copy = clone(model)
    assert copy.get_params() == model.get_params()
    copy.set_params(classifier="cnb")
    assert copy.classifier == "cnb" and model.classifier == "auto"
    single = [label[0] for label in labels]
    scores = cross_val_score(TopicClassifier(cv=3), texts, single, cv=3)
    assert len(scores) == 3 and all(0.0 <= s <= 1.0 for s in scores)
    assert scores.mean() > 0.5


def test_cv_metrics_cover_every_label_and_the_confusion(tiny_model):
    metrics = tiny_model.cv_metrics_
    assert set(metrics["labels"]) == set(tiny_model.topics_) | {"other"}
    assert {"precision", "recall", "f1"} <= set(metrics["micro"]) and set(metrics["macro"]) == {"precision", "recall", "f1"}
    assert metrics["confusion"]["labels"] == tiny_model.topics_ + ["other"]
    assert sum(map(sum, metrics["confusion"]["matrix"])) >= metrics["n"]
    assert tiny_model.training_info_["label_counts"]["other"] == 18


def test_only_one_label_is_refused():
    with pytest.raises(DataError, match="only one label"):
        TopicClassifier().fit(["a b", "c d", "e f"], ["trade", "trade", "trade"])
    with pytest.raises(DataError, match="only one label"):
        TopicClassifier().fit(["a b", "c d"], ["other", "other"])


def test_rare_labels_train_with_a_warning_and_the_documented_threshold(tiny_corpus):
    texts, labels = tiny_corpus
    texts = texts + ["A comet lands in the harbour"]
    labels = labels + [["astronomy"]]
    with pytest.warns(UserWarning, match="astronomy"):
        model = TopicClassifier().fit(texts, labels)
    assert model.thresholds_["astronomy"] == DEFAULT_THRESHOLD
    assert model.rare_labels_ == ["astronomy"]


def test_empty_label_list_means_no_topic(tiny_corpus):
    texts, labels = tiny_corpus
    as_empty = [[] if label == ["other"] else label for label in labels]
    a = TopicClassifier().fit(texts, labels)
    b = TopicClassifier().fit(texts, as_empty)
    assert np.array_equal(a.predict_proba(texts), b.predict_proba(texts))


@pytest.mark.parametrize("classifier", ["logreg", "cnb"])
def test_explanation_adds_up_to_the_score(classifier, tiny_corpus):
    texts, labels = tiny_corpus
    model = TopicClassifier(classifier=classifier).fit(texts, labels)
    text = "Tariffs and missile tests dominate the summit"
    for explanation in model.explain(text, labels=model.topics_, n_terms=10_000):
        logit = explanation.bias + sum(w for _, w in explanation.up) + sum(w for _, w in explanation.down)
        probability = 1 / (1 + math.exp(-logit))
        assert probability == pytest.approx(model.tag(text).scores[explanation.label], abs=1e-4)


def test_explanation_names_the_terms_behind_a_tag(tiny_model):
    [explanation] = tiny_model.explain("New tariffs on steel imports")
    assert explanation.label == "trade" and explanation.tagged
    assert "tariffs" in [term for term, _ in explanation.up]
    with pytest.raises(DataError, match="unknown label"):
        tiny_model.explain("x", labels=["sport"])


def test_auto_keeps_the_best_candidate_and_records_it(tiny_corpus):
    texts, labels = tiny_corpus
    model = TopicClassifier().fit(texts, labels)
    assert model.classifier == "auto" and model.classifier_ in ("svm", "sgd", "cnb")
    assert model.training_info_["classifier"] == model.classifier_
    assert TopicClassifier(classifier="cnb").fit(texts, labels).classifier_ == "cnb"


def test_fold_features_equal_a_vectorizer_fitted_on_the_fold(tiny_corpus):
    from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer

    texts, _ = tiny_corpus
    model = TopicClassifier(min_df=1)
    counts = CountVectorizer(ngram_range=(1, 2), strip_accents="unicode", dtype=np.float64).fit_transform(texts).tocsr()
    train, test = np.arange(0, 50), np.arange(50, len(texts))
    ours_train, ours_test = model._fold_features(counts, train, test)
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, strip_accents="unicode").fit([texts[i] for i in train])
    assert np.allclose(ours_train.toarray(), vectorizer.transform([texts[i] for i in train]).toarray(), rtol=1e-12, atol=1e-15)
    assert np.allclose(ours_test.toarray(), vectorizer.transform([texts[i] for i in test]).toarray(), rtol=1e-12, atol=1e-15)


def test_platt_scaling_matches_logistic_regression():
    from sklearn.linear_model import LogisticRegression

    from topictag.model import _platt

    rng = np.random.default_rng(0)
    scores = rng.normal(size=500)
    y = (rng.random(500) < 1 / (1 + np.exp(-(2 * scores - 1)))).astype(int)
    reference = LogisticRegression(C=1e4).fit(scores[:, None], y)
    assert _platt(scores, y) == pytest.approx((reference.coef_[0, 0], reference.intercept_[0]), rel=1e-3)


# ---- bad input is refused up front, with a clear message --------------------------------------


@pytest.mark.parametrize(
    "params, message",
    [
        ({"cv": 0}, "cv=0; expected an integer >= 2"),
        ({"ngram_range": (1, 3)}, r"ngram_range=\(1, 3\); expected \(1, 1\) or \(1, 2\)"),
        ({"C": -1.0}, "C=-1.0; expected a positive number"),
        ({"classifier": "forest"}, "classifier='forest'"),
        ({"min_df": 0}, "min_df=0"),
    ],
)
def test_bad_parameters_are_refused_before_any_work(tiny_corpus, params, message, monkeypatch):
    texts, labels = tiny_corpus
    model = TopicClassifier(**params)
    monkeypatch.setattr(model, "_folds", lambda *a: pytest.fail("training started"))
    with pytest.raises(ValueError, match=message):
        model.fit(texts, labels)


@pytest.mark.parametrize(
    "labels, message",
    [
        ([1, 0] * 10, "the label of text 0 is a int"),
        ([float("nan")] + ["trade", "other"] * 10, "the label of text 0 is missing"),
        ([None] + ["trade", "other"] * 10, "the label of text 0 is missing"),
        ([["trade", None]] + ["trade", "other"] * 10, "text 0 has a label that is a NoneType"),
    ],
)
def test_labels_that_are_not_strings_are_clear_errors(labels, message):
    texts = [f"text number {i} about something" for i in range(len(labels))]
    with pytest.raises(DataError, match=message):
        TopicClassifier().fit(texts, labels)


def test_texts_without_words_are_a_clear_error():
    with pytest.raises(DataError, match="no words in any text"):
        TopicClassifier(cv=2).fit(["!", "?", "...", "-"] * 3, ["trade", "other"] * 6)


def test_too_many_labels_are_refused_before_allocating(monkeypatch):
    from topictag import model as model_module

    monkeypatch.setattr(model_module, "MAX_LABELS", 10)
    texts = [f"text {i}" for i in range(40)]
    with pytest.raises(DataError, match="supports at most 10"):
        TopicClassifier().fit(texts, [f"label{i % 20}" for i in range(40)])
    with pytest.raises(DataError, match="needs about .* GiB of memory"):
        model_module._check_memory(10_000_000, 1000, 3)


def test_tag_many_refuses_sources_that_do_not_match_the_texts(tiny_model):
    with pytest.raises(DataError, match="3 texts but 2 sources"):
        tiny_model.tag_many(["a", "b", "c"], sources=["x", "y"])


def test_missing_texts_are_empty_and_other_types_are_refused(tiny_model):
    import pandas as pd

    assert [p.tags for p in tiny_model.tag_many([None, float("nan"), pd.NA])] == [(), (), ()]
    with pytest.raises(DataError, match="text 1 is a int"):
        tiny_model.tag_many(["Tariffs", 5])


@pytest.mark.skipif(not sys.platform.startswith("linux") or (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1) < 2, reason="forked fits: Linux with 2+ cores")
@pytest.mark.parametrize("classifier", ["svm", "logreg"])
def test_forked_liblinear_fits_equal_the_serial_ones(tiny_corpus, monkeypatch, classifier):
    import topictag.model as model_module

    texts, labels = tiny_corpus
    monkeypatch.setattr(model_module, "FORK_FROM_WORK", 10**12)
    serial = TopicClassifier(classifier=classifier, random_state=0).fit(texts, labels)
    monkeypatch.setattr(model_module, "FORK_FROM_WORK", 0)
    forked = TopicClassifier(classifier=classifier, random_state=0).fit(texts, labels)
    assert np.array_equal(serial.oof_probabilities_, forked.oof_probabilities_)
    assert serial.thresholds_ == forked.thresholds_
    assert np.array_equal(serial.predict_proba(texts), forked.predict_proba(texts))
