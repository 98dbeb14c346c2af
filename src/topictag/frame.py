"""pandas helper: add tag columns to a DataFrame."""

from __future__ import annotations


def add_tags(frame, text_col: str = "text", model=None, *, threshold: float | None = None, top_k: int | None = None, scores: bool = True):
    """Return a copy of ``frame`` with ``tags`` (list), ``top`` and, if ``scores``, one ``score_<label>`` column per label."""
    from .default import default_model
    from .errors import DataError

    if text_col not in frame.columns:
        raise DataError(f"no text column {text_col!r}; columns found: {', '.join(map(str, frame.columns))}")
    model = model or default_model()
    texts = ["" if text != text or text is None else str(text) for text in frame[text_col]]
    predictions = model.tag_many(texts, threshold=threshold, top_k=top_k)
    result = frame.copy()
    result["tags"] = [list(p.tags) for p in predictions]
    result["top"] = [p.top for p in predictions]
    if scores:
        for label in model.topics_:
            result[f"score_{label}"] = [p.scores[label] for p in predictions]
    return result
