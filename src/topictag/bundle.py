"""Model bundles: one zip file holding a JSON manifest, the compiled scorer and checksums.

Members of a format-4 bundle:

- ``bundle.json``: labels, thresholds, calibration, metadata, cross-validated metrics, probe predictions,
  and the dtype and shape of every scorer array.
- ``scorer.json`` + ``scorer/<name>.npy``: the :class:`~topictag.vectorize.LinearTextModel` that tags (strings
  and plain numeric arrays only). It does not depend on the scikit-learn version; ``model.pipeline_`` is
  rebuilt from it as a stock scikit-learn pipeline when asked for.
- ``checksums.json``: the SHA-256 of every other member; a bundle whose content changed is refused.

Reading is defensive: every member is size-capped before it is read (no zip bomb can fill memory), the
manifest is checked against its schema, array headers are checked against the shapes the manifest declares
before anything is allocated, and nothing is unpickled. This module knows the file format only; what the
numbers mean (and the probe check) is :mod:`topictag.model`'s business. Bundles of topictag 0.1 (format 2)
are still read; the skops copy of the scikit-learn pipeline they also hold (``pipeline.skops``) is never read.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import ModelError

FORMAT = "topictag-bundle"
FORMAT_VERSION = 4
READABLE_VERSIONS = (2, 3, 4)
ARRAY_NAMES = ("unigram_features", "bigram_keys", "bigram_features", "idf", "weights", "bias")
ARRAY_DTYPES = {"unigram_features": "<i8", "bigram_keys": "<i8", "bigram_features": "<i8", "idf": "<f8", "weights": "<f8", "bias": "<f8"}
MAX_MANIFEST_BYTES = 64 << 20
MAX_SCORER_JSON_BYTES = 1 << 30
MAX_ARRAY_BYTES = 4 << 30
MAX_JSON_DEPTH = 64

# The manifest's schema: key -> accepted JSON types. Nested contents are checked by the model.
MANIFEST_SCHEMA = {
    "format": str,
    "format_version": int,
    "params": dict,
    "topics": list,
    "negative_label": str,
    "thresholds": dict,
    "calibration": dict,
    "rare_labels": list,
    "training_info": dict,
    "cv_metrics": dict,
    "probe": dict,
}


class BadBundle(ModelError):
    """Raised with the reason only; :func:`read_bundle` adds the path and the standard wording."""


@dataclass
class BundleContents:
    """What a bundle holds, checked for shape and integrity."""

    path: Path
    manifest: dict
    arrays: dict
    scorer_settings: dict


# ---- writing -------------------------------------------------------------------------------------


def write_bundle(path, manifest: dict, arrays: dict, scorer_settings: dict) -> None:
    """Write a format-3 bundle to ``path`` atomically: a crash leaves the old file or nothing, never half a bundle."""
    from .outputs import write_bytes_atomically

    manifest = dict(manifest, format=FORMAT, format_version=FORMAT_VERSION)
    manifest["arrays"] = {name: {"dtype": ARRAY_DTYPES[name], "shape": list(np.shape(arrays[name]))} for name in ARRAY_NAMES}
    members = {"bundle.json": json.dumps(manifest, indent=2, sort_keys=True, allow_nan=False).encode("utf-8")}
    members["scorer.json"] = json.dumps(scorer_settings, ensure_ascii=False).encode("utf-8")
    for name in ARRAY_NAMES:
        buffer = io.BytesIO()
        np.lib.format.write_array(buffer, np.ascontiguousarray(arrays[name], dtype=ARRAY_DTYPES[name]), allow_pickle=False)
        members[f"scorer/{name}.npy"] = buffer.getvalue()
    checksums = {name: hashlib.sha256(data).hexdigest() for name, data in members.items()}
    members["checksums.json"] = json.dumps(checksums, indent=2, sort_keys=True).encode("utf-8")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    write_bytes_atomically(path, buffer.getvalue(), what="model")


# ---- reading -------------------------------------------------------------------------------------


def read_bundle(path) -> BundleContents:
    """Read and check a bundle; any problem is one :class:`ModelError` naming the path and the reason."""
    path = Path(path)
    if path.is_dir():
        raise ModelError(f"{path}: is a folder, not a model file")
    if not path.is_file():
        raise ModelError(f"{path}: no such model file")
    try:
        with zipfile.ZipFile(path) as archive:
            return _read(archive, path)
    except BadBundle as error:
        raise ModelError(f"{path}: not a valid topictag model ({error})") from None
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError, KeyError, RecursionError, MemoryError) as error:
        reason = getattr(error, "strerror", None) or str(error) or type(error).__name__
        raise ModelError(f"{path}: not a valid topictag model ({reason})") from None


def _read(archive: zipfile.ZipFile, path: Path) -> BundleContents:
    names = set(archive.namelist())
    if "bundle.json" not in names:
        raise BadBundle("no bundle.json: not a topictag model file")
    manifest_bytes = _member(archive, "bundle.json", MAX_MANIFEST_BYTES)
    manifest = _json(manifest_bytes, "bundle.json")
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BadBundle("bundle.json is not a topictag manifest")
    version = manifest.get("format_version")
    if version not in READABLE_VERSIONS:
        raise BadBundle(f"format version {version!r}; this topictag reads format versions {', '.join(map(str, READABLE_VERSIONS))}")
    _check_schema(manifest, version)
    if version == 2:
        return _read_version_2(archive, path, manifest)
    expected = {"bundle.json", "scorer.json", "checksums.json"} | {f"scorer/{n}.npy" for n in ARRAY_NAMES}
    if version == 3:
        expected.add("pipeline.skops")  # written by development builds; never read
    if names != expected:
        extra, missing = sorted(names - expected), sorted(expected - names)
        raise BadBundle("; ".join(filter(None, [extra and f"unexpected members {', '.join(extra)}", missing and f"missing members {', '.join(missing)}"])))
    checksums = _json(_member(archive, "checksums.json", 1 << 20), "checksums.json")
    if not isinstance(checksums, dict) or set(checksums) != expected - {"checksums.json"} or not all(isinstance(v, str) for v in checksums.values()):
        raise BadBundle("checksums.json does not list every member")
    _verify(manifest_bytes, checksums["bundle.json"], "bundle.json")
    settings_bytes = _member(archive, "scorer.json", MAX_SCORER_JSON_BYTES)
    _verify(settings_bytes, checksums["scorer.json"], "scorer.json")
    declared = manifest.get("arrays")
    if not isinstance(declared, dict) or set(declared) != set(ARRAY_NAMES):
        raise BadBundle("bundle.json does not declare the scorer arrays")
    arrays = {}
    for name in ARRAY_NAMES:
        spec = declared[name]
        if not isinstance(spec, dict) or spec.get("dtype") != ARRAY_DTYPES[name] or not _is_shape(spec.get("shape")):
            raise BadBundle(f"bad declaration of array {name}")
        data = _member(archive, f"scorer/{name}.npy", MAX_ARRAY_BYTES)
        _verify(data, checksums[f"scorer/{name}.npy"], f"scorer/{name}.npy")
        arrays[name] = _npy(data, name, tuple(spec["shape"]))
    return BundleContents(path, manifest, arrays, _scorer_settings(settings_bytes))


def _read_version_2(archive: zipfile.ZipFile, path: Path, manifest: dict) -> BundleContents:
    """topictag 0.1 bundles: the arrays in a nested ``scorer.npz``, no checksums."""
    inner = _member(archive, "scorer.npz", MAX_ARRAY_BYTES)
    arrays = {}
    with zipfile.ZipFile(io.BytesIO(inner)) as npz:
        for name in ARRAY_NAMES:
            arrays[name] = _npy(_member(npz, f"{name}.npy", MAX_ARRAY_BYTES), name, None)
    settings = _scorer_settings(_member(archive, "scorer.json", MAX_SCORER_JSON_BYTES))
    return BundleContents(path, manifest, arrays, settings)


def _member(archive: zipfile.ZipFile, name: str, cap: int) -> bytes:
    """A member's bytes, refusing more than ``cap`` whatever its header claims (zip bombs)."""
    try:
        info = archive.getinfo(name)
    except KeyError:
        raise BadBundle(f"missing member {name}") from None
    if info.file_size > cap:
        raise BadBundle(f"{name} is larger than {cap} bytes")
    with archive.open(info) as handle:
        data = handle.read(cap + 1)
    if len(data) > cap:
        raise BadBundle(f"{name} is larger than {cap} bytes")
    return data


def _json(data: bytes, name: str, max_depth: int = MAX_JSON_DEPTH):
    try:
        value = json.loads(data.decode("utf-8"), parse_constant=_no_constants)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError, ValueError) as error:
        raise BadBundle(f"{name} is not valid JSON ({type(error).__name__})") from None
    if _depth(value, max_depth) > max_depth:
        raise BadBundle(f"{name} is nested too deeply")
    return value


def _no_constants(name):
    raise ValueError(f"{name} is not allowed")


def _depth(value, limit: int) -> int:
    """Nesting depth of a parsed JSON value (up to just past ``limit``), computed without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        if deepest > limit:
            return deepest
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return deepest


def _check_schema(manifest: dict, version: int) -> None:
    for key, kind in MANIFEST_SCHEMA.items():
        if key not in manifest:
            raise BadBundle(f"bundle.json lacks {key!r}")
        if not isinstance(manifest[key], kind) or (kind is int and isinstance(manifest[key], bool)):
            raise BadBundle(f"bundle.json: {key!r} should be a JSON {_json_kind(kind)}, not {_json_kind(type(manifest[key]))}")
    allowed = set(MANIFEST_SCHEMA) | ({"arrays"} if version >= 3 else set())
    unknown = set(manifest) - allowed
    if unknown:
        raise BadBundle(f"bundle.json has unknown keys {', '.join(sorted(unknown))}")


def _json_kind(kind) -> str:
    return {dict: "object", list: "array", str: "string", int: "integer", float: "number", bool: "boolean", type(None): "null"}.get(kind, kind.__name__)


def _is_shape(shape) -> bool:
    return isinstance(shape, list) and 1 <= len(shape) <= 2 and all(isinstance(n, int) and not isinstance(n, bool) and 0 <= n < 2**40 for n in shape)


def _verify(data: bytes, checksum: str, name: str) -> None:
    if hashlib.sha256(data).hexdigest() != checksum:
        raise BadBundle(f"{name} does not match its checksum: the file was changed after it was saved")


def _npy(data: bytes, name: str, shape: tuple | None) -> np.ndarray:
    """An array from .npy bytes, its header checked (dtype, shape, size) before anything is allocated."""
    handle = io.BytesIO(data)
    try:
        version = np.lib.format.read_magic(handle)
        reader = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}.get(version)
        if reader is None:
            raise BadBundle(f"array {name}: unsupported .npy version {version}")
        found_shape, fortran_order, dtype = reader(handle)
    except BadBundle:
        raise
    except Exception as error:  # numpy raises ValueError or others for a damaged header
        raise BadBundle(f"array {name}: bad .npy header ({error})") from None
    if dtype.str != ARRAY_DTYPES[name] or fortran_order:
        raise BadBundle(f"array {name}: dtype {dtype.str}, expected {ARRAY_DTYPES[name]}")
    if shape is not None and tuple(found_shape) != shape:
        raise BadBundle(f"array {name}: shape {tuple(found_shape)}, the manifest declares {shape}")
    count = int(np.prod(found_shape, dtype=np.int64)) if found_shape else 1
    body = data[handle.tell() :]
    if len(body) != count * dtype.itemsize:
        raise BadBundle(f"array {name}: {len(body)} bytes of data for shape {tuple(found_shape)}")
    return np.frombuffer(body, dtype=dtype).reshape(found_shape).copy()


def _scorer_settings(data: bytes) -> dict:
    settings = _json(data, "scorer.json")
    if not isinstance(settings, dict):
        raise BadBundle("scorer.json is not an object")
    return settings


