"""Model bundles: one zip file with a JSON manifest, the compiled scorer and the fitted scikit-learn pipeline.

- ``bundle.json``: labels, thresholds, calibration, metadata, cross-validated metrics, probe predictions.
- ``scorer.npz`` + ``scorer.json``: the :class:`~topictag.vectorize.LinearTextModel` that tags (numbers and
  strings only; read with ``allow_pickle=False``). It does not depend on the scikit-learn version.
- ``pipeline.skops``: the scikit-learn ``Pipeline``, rebuilt only when asked for (``model.pipeline_``). skops
  rebuilds only the types on :data:`TRUSTED_TYPES`, exactly those topictag writes; anything else is refused.

Nothing in a bundle is unpickled. The probe texts are re-scored on load: a bundle that answers differently
than when it was saved (damage, or a format this version reads differently) is refused, never silently wrong.
"""

from __future__ import annotations

import functools
import io
import json
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from .errors import ModelError

FORMAT = "topictag-bundle"
FORMAT_VERSION = 2
PROBE_TOLERANCE = 1e-9

# Every type a topictag pipeline contains, for all four classifiers. skops would trust more scikit-learn
# types by default; we check the file's schema against this list ourselves before loading anything.
TRUSTED_TYPES = [
    "builtins.dict",
    "builtins.list",
    "builtins.str",
    "builtins.tuple",
    "numpy.float64",
    "numpy.ndarray",
    "sklearn.feature_extraction.text.TfidfTransformer",
    "sklearn.feature_extraction.text.TfidfVectorizer",
    "sklearn.linear_model._logistic.LogisticRegression",
    "sklearn.linear_model._sgd_fast.Hinge",
    "sklearn.linear_model._stochastic_gradient.SGDClassifier",
    "sklearn.multiclass.OneVsRestClassifier",
    "sklearn.multiclass._ConstantPredictor",
    "sklearn.naive_bayes.ComplementNB",
    "sklearn.pipeline.Pipeline",
    "sklearn.preprocessing._label.LabelBinarizer",
    "sklearn.svm._classes.LinearSVC",
]


def save_bundle(model, path) -> None:
    """Write ``model`` to ``path`` atomically: a crash leaves the old file or nothing, never half a bundle."""
    import skops.io as sio

    path = Path(path)
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "params": _jsonable(model.get_params()),
        "topics": list(model.topics_),
        "negative_label": model.negative_label,
        "thresholds": model.thresholds_,
        "calibration": {t: list(ab) for t, ab in model.calibration_.items()},
        "rare_labels": list(model.rare_labels_),
        "training_info": _jsonable(model.training_info_),
        "cv_metrics": model.cv_metrics_,
    }
    probe_texts = _probe_texts(model)
    manifest["probe"] = {"texts": probe_texts, "probabilities": model._reference_probabilities(probe_texts).tolist()}
    arrays, scorer_settings = model.scorer_.to_arrays()
    scorer_arrays = io.BytesIO()
    np.savez(scorer_arrays, **arrays)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("bundle.json", json.dumps(manifest, indent=2, sort_keys=True))
        archive.writestr("scorer.npz", scorer_arrays.getvalue())
        archive.writestr("scorer.json", json.dumps(scorer_settings, ensure_ascii=False))
        archive.writestr("pipeline.skops", sio.dumps(model.pipeline_))
    atomic_write_bytes(path, buffer.getvalue())


def load_bundle(path):
    """Read a bundle written by :func:`save_bundle` and verify its probe predictions."""
    from .model import TopicClassifier
    from .vectorize import LinearTextModel

    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path}: no such model file")
    try:
        with zipfile.ZipFile(path) as archive:
            manifest = json.loads(archive.read("bundle.json"))
            if manifest.get("format") != FORMAT or manifest.get("format_version") != FORMAT_VERSION:
                raise ModelError(f"{path}: not a topictag model of format version {FORMAT_VERSION}")
            with np.load(io.BytesIO(archive.read("scorer.npz")), allow_pickle=False) as arrays:
                scorer = LinearTextModel.from_arrays(dict(arrays), json.loads(archive.read("scorer.json")))
            pipeline_bytes = archive.read("pipeline.skops")
    except (zipfile.BadZipFile, KeyError, ValueError, TypeError, OSError) as error:
        raise ModelError(f"{path}: not a topictag model ({error})") from None

    model = TopicClassifier(**_params(manifest["params"]))
    model.scorer_ = scorer
    model._pipeline_loader = functools.partial(_load_pipeline, pipeline_bytes, path)  # picklable, unlike a lambda
    model.classifier_ = manifest["training_info"].get("classifier", model.classifier)
    model.topics_ = list(manifest["topics"])
    model.classes_ = np.array(model.topics_ + [model.negative_label], dtype=object)
    model.thresholds_ = {t: float(v) for t, v in manifest["thresholds"].items()}
    model.calibration_ = {t: tuple(ab) for t, ab in manifest["calibration"].items()}
    model.rare_labels_ = list(manifest["rare_labels"])
    model.training_info_ = manifest["training_info"]
    model.cv_metrics_ = manifest["cv_metrics"]
    _verify_probe(model, manifest["probe"], path)
    return model


def _load_pipeline(data: bytes, path: Path):
    """The scikit-learn pipeline of a bundle, rebuilt by skops from the allow-listed types only."""
    import skops.io as sio

    try:
        untrusted = _types_in_skops(data) - set(TRUSTED_TYPES)
    except (zipfile.BadZipFile, KeyError, json.JSONDecodeError) as error:
        raise ModelError(f"{path}: damaged model file ({error})") from None
    if untrusted:
        raise ModelError(f"{path}: refusing to load types topictag never writes: {', '.join(sorted(untrusted))}")
    try:
        return sio.loads(data, trusted=TRUSTED_TYPES)
    except Exception as error:  # skops and scikit-learn raise many types for a pipeline they cannot rebuild
        import sklearn

        raise ModelError(f"{path}: scikit-learn {sklearn.__version__} cannot rebuild this pipeline ({error}); retrain with 'topictag train'") from None


def _types_in_skops(data: bytes) -> set[str]:
    """Every ``module.Class`` named anywhere in a skops file's schema."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        schema = json.loads(archive.read("schema.json"))
    found, stack = set(), [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if "__class__" in node:
                found.add(f"{node.get('__module__', '')}.{node['__class__']}")
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return found


def _verify_probe(model, probe, path):
    try:
        got = model._topic_probabilities(probe["texts"])
        same = np.allclose(got, np.array(probe["probabilities"]), rtol=0, atol=PROBE_TOLERANCE)
    except Exception:  # a damaged scorer may fail in many ways
        same = False
    if not same:
        built = model.training_info_.get("versions", {}).get("topictag", "unknown")
        raise ModelError(
            f"{path}: the model gives different predictions here than when it was saved "
            f"(saved by topictag {built}); retrain it with 'topictag train'"
        )


def _probe_texts(model, n_texts: int = 8, n_terms: int = 40) -> list[str]:
    """Pseudo-texts drawn from the model's own vocabulary: they exercise every stage without storing data."""
    vocabulary = sorted(model.scorer_.feature_names())
    rng = np.random.default_rng(0)
    return [" ".join(rng.choice(vocabulary, size=min(n_terms, len(vocabulary)))) for _ in range(n_texts)]


def _params(params: dict) -> dict:
    params = dict(params)
    if isinstance(params.get("ngram_range"), list):
        params["ngram_range"] = tuple(params["ngram_range"])
    return params


def _jsonable(value):
    return json.loads(json.dumps(value, default=lambda v: v.item() if hasattr(v, "item") else list(v)))


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path``, flush it to disk, then rename it into place."""
    path = Path(path)
    if path.parent and not path.parent.exists():
        raise ModelError(f"{path.parent}: no such folder")
    handle, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as temp:
            temp.write(data)
            temp.flush()
            os.fsync(temp.fileno())
        os.chmod(temp_name, 0o666 & ~_umask())  # mkstemp creates 0600; give the file the usual permissions
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise


load = load_bundle  # the public name: topictag.load(path)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
