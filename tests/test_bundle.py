"""Model bundles: exact round trips, atomic saves, and hostile or damaged files refused in one line."""

import hashlib
import io
import json
import zipfile

import numpy as np
import pytest

import topictag
from topictag import ModelError, TopicClassifier, outputs


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
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(outputs.os, "replace", crash)
    with pytest.raises(topictag.OutputError, match=r"No space left on device\); the old file is unchanged"):
        tiny_model.save(path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["model.topictag"]


def test_the_shipped_default_bundle_loads(tmp_path):
    from topictag.default import DEFAULT_BUNDLE_NAME, PACKAGE_DATA

    model = topictag.load(PACKAGE_DATA / DEFAULT_BUNDLE_NAME)
    assert model.tag("Tariffs on imported steel rise again").top == "trade"


# ---- hostile and damaged bundles -----------------------------------------------------------------


@pytest.fixture
def saved(tiny_model, tmp_path):
    path = tmp_path / "model.topictag"
    tiny_model.save(path)
    return path


def _members(path):
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def _write(path, members, checksums=True):
    """Re-zip ``members``; with ``checksums`` recompute checksums.json, as a careful forger would."""
    members = dict(members)
    if checksums and "checksums.json" in members:
        members["checksums.json"] = json.dumps({n: hashlib.sha256(d).hexdigest() for n, d in members.items() if n != "checksums.json"}).encode()
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)


def _edit_manifest(path, change, checksums=True):
    members = _members(path)
    manifest = json.loads(members["bundle.json"])
    change(manifest)
    members["bundle.json"] = json.dumps(manifest).encode()
    _write(path, members, checksums)


def _refused(path, reason):
    with pytest.raises(ModelError) as raised:
        topictag.load(path)
    message = str(raised.value)
    assert message.startswith(f"{path}: not a valid topictag model (") and "\n" not in message, message
    assert reason in message, message


def test_editing_any_member_is_caught_by_the_checksums(saved):
    _edit_manifest(saved, lambda m: m["thresholds"].update(trade=0.01), checksums=False)
    _refused(saved, "bundle.json does not match its checksum")


@pytest.mark.parametrize("key", ["thresholds", "calibration", "topics", "probe", "params", "training_info", "cv_metrics"])
def test_a_manifest_without_a_key_is_refused(saved, key):
    _edit_manifest(saved, lambda m: m.pop(key))
    _refused(saved, f"lacks {key!r}")


@pytest.mark.parametrize(
    "change, reason",
    [
        (lambda m: m.update(thresholds=[0.5]), "'thresholds' should be a JSON object, not array"),
        (lambda m: m.update(topics="trade"), "'topics' should be a JSON array"),
        (lambda m: m["params"].update(surprise=1), "invalid parameter 'surprise'"),
        (lambda m: m["params"].update(ngram_range=[1, 3]), "ngram_range"),
        (lambda m: m["thresholds"].update(trade=float("nan")), "not valid JSON"),
        (lambda m: m["thresholds"].update(trade=7), "is not a probability"),
        (lambda m: m["calibration"].update(trade=[1]), "slope, intercept"),
        (lambda m: m.update(topics=m["topics"][:-1] + ["renamed"]), "exactly one entry per topic"),
        (lambda m: m["arrays"]["weights"].update(shape=[3, 3]), "shape"),
        (lambda m: m["arrays"]["weights"].update(shape=[2**39, 4]), "shape"),
        (lambda m: m.update(extra_key=1), "unknown keys extra_key"),
    ],
)
def test_a_manifest_with_wrong_contents_is_refused(saved, change, reason):
    _edit_manifest(saved, change)
    _refused(saved, reason)


def test_deeply_nested_json_is_refused_without_recursion_errors(saved):
    members = _members(saved)
    members["bundle.json"] = b"[" * 100_000 + b"]" * 100_000
    _write(saved, members)
    _refused(saved, "not")


def test_a_bad_token_pattern_is_refused_without_being_run(saved):
    members = _members(saved)
    settings = json.loads(members["scorer.json"])
    for pattern in ["(unclosed", r"([\w ]+)+!"]:
        settings["token_pattern"] = pattern
        members["scorer.json"] = json.dumps(settings).encode()
        _write(saved, members)
        _refused(saved, "unsupported token pattern")


def _npy(array):
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def test_array_headers_are_checked_before_anything_is_allocated(saved):
    members = _members(saved)
    header = np.lib.format.header_data_from_array_1_0(np.zeros((1, 1)))
    header["shape"] = (2**40, 1024)  # 8 PiB claimed in a few bytes
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, header)
    members["scorer/weights.npy"] = buffer.getvalue() + b"\0" * 64
    _write(saved, members)
    _refused(saved, "array weights")


@pytest.mark.parametrize(
    "name, change, reason",
    [
        ("weights", lambda a: np.full_like(a, np.nan), "not all finite"),
        ("unigram_features", lambda a: np.where(a == a.max(), a.max() + 10**6, a), "out of range"),
        ("bigram_keys", lambda a: a[::-1].copy(), "not sorted"),
        ("idf", lambda a: -a, "idf is not positive"),
    ],
)
def test_arrays_out_of_range_or_not_finite_are_refused(saved, name, change, reason):
    members = _members(saved)
    array = np.lib.format.read_array(io.BytesIO(members[f"scorer/{name}.npy"]))
    members[f"scorer/{name}.npy"] = _npy(change(array))
    _write(saved, members)
    _refused(saved, reason)


def test_zeroed_weights_with_recomputed_checksums_are_caught_by_the_probe(saved):
    members = _members(saved)
    weights = np.lib.format.read_array(io.BytesIO(members["scorer/weights.npy"]))
    members["scorer/weights.npy"] = _npy(np.zeros_like(weights))
    _write(saved, members)
    with pytest.raises(ModelError, match="different predictions"):
        topictag.load(saved)


def test_a_zip_bomb_member_is_refused_before_it_is_inflated(saved, monkeypatch):
    from topictag import bundle

    monkeypatch.setattr(bundle, "MAX_MANIFEST_BYTES", 1 << 20)
    members = _members(saved)
    members["bundle.json"] = b" " * (50 << 20)  # deflates to a few KiB
    _write(saved, members)
    _refused(saved, "bundle.json is larger than")


def test_unexpected_members_are_refused(saved):
    members = _members(saved)
    members["pipeline.skops"] = b"anything at all"
    _write(saved, members)
    _refused(saved, "unexpected members pipeline.skops")


def test_a_topictag_0_1_bundle_is_read_without_touching_its_pipeline(tiny_model, saved, tmp_path):
    """Format 2: the arrays in a nested scorer.npz, no checksums, a skops pipeline that is never read."""
    members = _members(saved)
    manifest = json.loads(members["bundle.json"])
    manifest["format_version"] = 2
    del manifest["arrays"]
    npz = io.BytesIO()
    np.savez(npz, **{name: np.lib.format.read_array(io.BytesIO(members[f"scorer/{name}.npy"])) for name in ("unigram_features", "bigram_keys", "bigram_features", "idf", "weights", "bias")})
    old = tmp_path / "old.topictag"
    _write(old, {"bundle.json": json.dumps(manifest).encode(), "scorer.npz": npz.getvalue(), "scorer.json": members["scorer.json"], "pipeline.skops": b"not even a zip: never read"})
    assert topictag.load(old).tag("Tariffs on steel").to_dict() == tiny_model.tag("Tariffs on steel").to_dict()


def test_the_scikit_learn_pipeline_is_rebuilt_from_the_weights(tiny_corpus, tmp_path):
    texts, labels = tiny_corpus
    model = TopicClassifier(classifier="cnb").fit(texts, labels)
    model.save(tmp_path / "m.topictag")
    pipeline = topictag.load(tmp_path / "m.topictag").pipeline_
    from sklearn.pipeline import Pipeline

    assert isinstance(pipeline, Pipeline)
    decision = np.column_stack([e.decision_function(pipeline[0].transform(texts)) for e in pipeline[-1].estimators_])
    assert np.allclose(decision, model.scorer_.scores(texts)[0], rtol=1e-12, atol=1e-12)


def test_the_pipeline_is_rebuilt_on_request_and_matches(tiny_model, saved):
    loaded = topictag.load(saved)
    texts = ["Tariffs on steel and missile tests", "Storm cuts power"]
    assert np.array_equal(loaded._reference_probabilities(texts), tiny_model._reference_probabilities(texts))


def test_a_model_that_predicts_differently_than_when_saved_is_refused(saved):
    def shift_probe(manifest):
        manifest["probe"]["probabilities"][0][0] += 0.01
        manifest["training_info"]["versions"]["topictag"] = "0.0.1"

    _edit_manifest(saved, shift_probe)
    with pytest.raises(ModelError, match="different predictions.*saved by topictag 0.0.1"):
        topictag.load(saved)


@pytest.mark.parametrize("content", [b"", b"not a zip at all", b"PK\x03\x04 broken"])
def test_unreadable_files_are_model_errors(content, tmp_path):
    path = tmp_path / "bad.topictag"
    path.write_bytes(content)
    _refused(path, "")


def test_missing_model_file_and_folder(tmp_path):
    with pytest.raises(ModelError, match="no such model file"):
        topictag.load(tmp_path / "nope.topictag")
    with pytest.raises(ModelError, match="is a folder, not a model file"):
        topictag.load(tmp_path)


def test_other_zip_files_are_not_models(tmp_path):
    path = tmp_path / "other.zip"
    _write(path, {"bundle.json": json.dumps({"format": "something-else"}).encode(), "pipeline.skops": b""})
    _refused(path, "not a topictag manifest")


def test_a_loaded_model_can_be_pickled_for_other_processes(tiny_model, saved):
    import pickle

    copy = pickle.loads(pickle.dumps(topictag.load(saved)))
    assert copy.tag("Tariffs on steel").to_dict() == tiny_model.tag("Tariffs on steel").to_dict()
