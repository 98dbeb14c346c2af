"""pandas helper: add tag columns to a DataFrame."""

from __future__ import annotations


def add_tags(frame, text_col: str = "text", model=None, *, threshold: float | None = None, top_k: int | None = None, scores: bool = True):
    """Return a copy of ``frame`` with ``tags`` (list), ``top`` and, if ``scores``, one ``score_<label>`` column per label."""
    from .default import default_model
    from .errors import DataError

    if text_col not in frame.columns:
        raise DataError(f"no text column {text_col!r}; columns found: {', '.join(map(str, frame.columns))}")
    model = model or default_model()
    texts = [text if isinstance(text, str) else "" if _missing(text) else str(text) for text in frame[text_col]]
    predictions = model.tag_many(texts, threshold=threshold, top_k=top_k)
    result = frame.copy()
    result["tags"] = [list(p.tags) for p in predictions]
    result["top"] = [p.top for p in predictions]
    if scores:
        for label in model.topics_:
            result[f"score_{label}"] = [p.scores[label] for p in predictions]
    return result


def add_tags_dask(frame, text_col: str = "text", model_path=None, *, threshold: float | None = None, top_k: int | None = None, scores: bool = True):
    """:func:`add_tags` over a ``dask.dataframe``, partition by partition (``pip install "topictag[dask]"``).

    Workers load the model from ``model_path`` (a bundle path; None for the default model) once each, so it
    is never shipped with every task. Run it on a ``dask.distributed`` cluster for several machines.
    """
    from .errors import DataError

    if text_col not in frame.columns:
        raise DataError(f"no text column {text_col!r}; columns found: {', '.join(map(str, frame.columns))}")
    model_ref = None if model_path is None else str(model_path)
    labels = _worker_model(model_ref).topics_
    meta = frame._meta.assign(tags=[], top=[])
    meta["tags"] = meta["tags"].astype(object)
    meta["top"] = meta["top"].astype(object)
    if scores:
        meta = meta.assign(**{f"score_{label}": [] for label in labels}).astype({f"score_{label}": float for label in labels})
    options = {"text_col": text_col, "threshold": threshold, "top_k": top_k, "scores": scores}
    return frame.map_partitions(_tag_partition, model_ref, options, meta=meta)


_worker_models: dict = {}


def _worker_model(model_ref):
    """The model named by ``model_ref`` (a bundle path, or None for the default), loaded once per process."""
    if model_ref not in _worker_models:
        from .default import load_model

        _worker_models[model_ref] = load_model(model_ref)
    return _worker_models[model_ref]


def _missing(value) -> bool:
    import pandas as pd

    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _tag_partition(partition, model_ref, options):
    return add_tags(partition, model=_worker_model(model_ref), **options)
