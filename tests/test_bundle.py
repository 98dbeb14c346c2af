import io
import json
import zipfile

import numpy as np
import pytest

import topictag
from topictag import ModelError, TopicClassifier
from topictag import bundle


@pytest.mark.parametrize("classifier", ["logreg", "svm", "sgd", "cnb"])
def test_save_load_round_trips_exactly(classifier, tiny_corpus, tmp_path):
    texts, labels = tiny_corpus
    model = TopicClassifier(classifier=classifier).fit(texts, labels)
    path = tmp_path / "model.topictag"
    model.save(path)
    loaded = topictag.load(path)
    probe = texts + ["an unseen text about tariffs and hospitals"]
    assert np.array_equal(loaded.predict_proba(probe), model.predict_proba(probe))
    assert [p.to_dict() for p in loaded.tag_many(probe)] == [p.to_dict() for p in model.tag_many(probe)]
    assert loaded.get_params() == model.get_params()
    assert loaded.thresholds_ == model.thresholds_
    assert loaded.cv_metrics_ == model.cv_metrics_
    assert loaded.training_info_["versions"]["scikit-learn"]


def test_save_is_atomic(tiny_model, tmp_path, monkeypatch):
    path = tmp_path / "model.topictag"
    tiny_model.save(path)
    before = path.read_bytes()

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(bundle.os, "replace", crash)
    with pytest.raises(OSError):
        tiny_model.save(path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["model.topictag"]


def _rewrite(path, replace):
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    members.update(replace(members))
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)


def test_types_outside_the_allow_list_are_refused(tiny_model, tmp_path):
    import skops.io as sio
    from sklearn.tree import DecisionTreeClassifier

    path = tmp_path / "model.topictag"
    tiny_model.save(path)
    _rewrite(path, lambda m: {"pipeline.skops": sio.dumps(DecisionTreeClassifier())})
    model = topictag.load(path)  # tagging never needs the pipeline ...
    assert model.tag("Tariffs on steel").top == "trade"
    with pytest.raises(ModelError, match="refusing to load types.*DecisionTreeClassifier"):
        model.pipeline_  # ... and rebuilding it checks every type first


def test_the_pipeline_is_rebuilt_on_request_and_matches(tiny_model, tmp_path):
    path = tmp_path / "model.topictag"
    tiny_model.save(path)
    loaded = topictag.load(path)
    texts = ["Tariffs on steel and missile tests", "Storm cuts power"]
    assert np.array_equal(loaded._reference_probabilities(texts), tiny_model._reference_probabilities(texts))


def test_a_model_that_predicts_differently_than_when_saved_is_refused(tiny_model, tmp_path):
    path = tmp_path / "model.topictag"
    tiny_model.save(path)

    def shift_probe(members):
        manifest = json.loads(members["bundle.json"])
        manifest["probe"]["probabilities"][0][0] += 0.01
        manifest["training_info"]["versions"]["topictag"] = "0.0.1"
        return {"bundle.json": json.dumps(manifest)}

    _rewrite(path, shift_probe)
    with pytest.raises(ModelError, match="different predictions.*saved by topictag 0.0.1"):
        topictag.load(path)


@pytest.mark.parametrize("content", [b"", b"not a zip at all", b"PK\x03\x04 broken"])
def test_unreadable_files_are_model_errors(content, tmp_path):
    path = tmp_path / "bad.topictag"
    path.write_bytes(content)
    with pytest.raises(ModelError, match="not a topictag model"):
        topictag.load(path)


def test_missing_model_file(tmp_path):
    with pytest.raises(ModelError, match="no such model file"):
        topictag.load(tmp_path / "nope.topictag")


def test_other_zip_files_are_not_models(tmp_path):
    path = tmp_path / "other.zip"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("bundle.json", json.dumps({"format": "something-else"}))
        archive.writestr("pipeline.skops", b"")
    path.write_bytes(buffer.getvalue())
    with pytest.raises(ModelError, match="format version"):
        topictag.load(path)


def test_a_loaded_model_can_be_pickled_for_other_processes(tiny_model, tmp_path):
    import pickle

    path = tmp_path / "model.topictag"
    tiny_model.save(path)
    copy = pickle.loads(pickle.dumps(topictag.load(path)))
    assert copy.tag("Tariffs on steel").to_dict() == tiny_model.tag("Tariffs on steel").to_dict()
