"""Your own labels: pick what to label next (``suggest``), move labels to and from Label Studio and CSV.

Picking (:func:`suggest`) streams the pool once with bounded memory and keeps a bounded candidate set:

- ``uncertainty``: texts whose probabilities sit near a label's threshold, or where two labels are both
  plausible; among the most uncertain, near-duplicates of a text already chosen are skipped and texts
  similar to those chosen are pushed down, so the picks are spread out;
- ``diverse``: a uniform sample of the pool, then farthest-point selection (each pick the text least
  similar to those already picked, cosine over the model's own TF-IDF features), starting from the most
  uncertain text;
- ``random``: a uniform sample (reservoir sampling).
"""

from __future__ import annotations

import csv
import heapq
import io
import json
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from .errors import DataError
from .outputs import CSV_FORMULA_STARTS

STRATEGIES = ("uncertainty", "diverse", "random")
CANDIDATES_PER_PICK = 10  # the bounded candidate set holds this many texts per text asked for (at least 2,000)
NEAR_DUPLICATE = 0.5  # word-trigram Jaccard similarity from which two texts count as the same story


@dataclass(frozen=True)
class Suggestion:
    id: str
    text: str
    tags: tuple
    scores: dict
    uncertainty: float

    def to_dict(self) -> dict:
        return {"id": self.id, "text": self.text, "suggested": list(self.tags), "scores": self.scores, "uncertainty": round(self.uncertainty, 6)}


def uncertainty(probabilities: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """How much labeling each text would teach: closeness of a probability to its label's threshold (1 at
    the threshold, 0 at 0 or 1), plus half the second-highest probability (two labels both plausible)."""
    span = np.maximum(thresholds, 1.0 - thresholds)
    closeness = 1.0 - np.abs(probabilities - thresholds) / span
    second = np.sort(probabilities, axis=1)[:, -2] if probabilities.shape[1] > 1 else np.zeros(len(probabilities))
    return closeness.max(axis=1) + 0.5 * second


def suggest(documents: Iterable, model, n: int = 200, strategy: str = "uncertainty", seed: int = 0, batch: int = 2048) -> list[Suggestion]:
    """Pick ``n`` texts of ``documents`` (objects with ``source`` and ``text``) to label next."""
    if strategy not in STRATEGIES:
        raise DataError(f"unknown strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}")
    if n < 1:
        raise DataError("n must be at least 1")
    keep = n if strategy == "random" else max(CANDIDATES_PER_PICK * n, 2000)
    rng = random.Random(seed)
    thresholds = np.array([model.thresholds_[t] for t in model.topics_])
    pool: list = []  # (key, order, suggestion): a heap (uncertainty) or a reservoir (sample)
    seen = 0
    for chunk in _chunks((d for d in documents if d.error is None and d.text.strip()), batch):
        probabilities = model.predict_proba([d.text for d in chunk])[:, : len(model.topics_)]
        scores, tags, _ = model.tag_table([d.text for d in chunk])
        for document, row, row_scores, row_tags, u in zip(chunk, probabilities, scores, tags, uncertainty(probabilities, thresholds)):
            item = Suggestion(document.source, document.text, tuple(model.topics_[j] for j in row_tags), dict(zip(model.topics_, row_scores)), float(u))
            seen += 1
            if strategy == "uncertainty":
                entry = (item.uncertainty, -seen, item)
                if len(pool) < keep:
                    heapq.heappush(pool, entry)
                elif entry > pool[0]:
                    heapq.heapreplace(pool, entry)
            elif len(pool) < keep:
                pool.append((0.0, seen, item))
            else:
                j = rng.randrange(seen)
                if j < keep:
                    pool[j] = (0.0, seen, item)
    candidates = [entry[2] for entry in pool]
    if strategy == "random":
        return sorted(candidates, key=lambda s: -s.uncertainty)
    if strategy == "uncertainty":
        return _spread(sorted(candidates, key=lambda s: -s.uncertainty), model, n)
    return _farthest_points(candidates, model, n)


def _chunks(items, size) -> Iterator[list]:
    chunk = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _vectors(texts, model):
    import scipy.sparse

    indptr, indices, data = model.scorer_.features(texts)
    return scipy.sparse.csr_matrix((data, indices, indptr), shape=(len(texts), len(model.scorer_.idf)))


def _shingles(text: str) -> set:
    words = text.lower().split()
    return {tuple(words[i : i + 3]) for i in range(max(len(words) - 2, 1))}


def _spread(ranked: list[Suggestion], model, n: int, penalty: float = 0.5) -> list[Suggestion]:
    """Most uncertain first, skipping near-duplicates of a pick and pushing down texts like the picks."""
    if not ranked:
        return []
    vectors = _vectors([s.text for s in ranked], model)
    chosen, chosen_shingles = [], []
    similarity_to_chosen = np.zeros(len(ranked))
    available = np.ones(len(ranked), dtype=bool)
    base = np.array([s.uncertainty for s in ranked])
    while len(chosen) < n and available.any():
        value = np.where(available, base - penalty * similarity_to_chosen, -np.inf)
        i = int(np.argmax(value))
        available[i] = False
        grams = _shingles(ranked[i].text)
        if any(len(grams & other) / max(len(grams | other), 1) >= NEAR_DUPLICATE for other in chosen_shingles):
            continue
        chosen.append(i)
        chosen_shingles.append(grams)
        similarity_to_chosen = np.maximum(similarity_to_chosen, (vectors @ vectors[i].T).toarray().ravel())
    return [ranked[i] for i in chosen]


def _farthest_points(candidates: list[Suggestion], model, n: int) -> list[Suggestion]:
    if not candidates:
        return []
    vectors = _vectors([s.text for s in candidates], model)
    first = int(np.argmax([s.uncertainty for s in candidates]))
    chosen = [first]
    closest = (vectors @ vectors[first].T).toarray().ravel()
    closest[first] = np.inf
    while len(chosen) < min(n, len(candidates)):
        i = int(np.argmin(closest))
        if not np.isfinite(closest[i]):
            break
        chosen.append(i)
        closest = np.maximum(closest, (vectors @ vectors[i].T).toarray().ravel())
        closest[chosen] = np.inf
    return [candidates[i] for i in chosen]


# ---- Label Studio and CSV ------------------------------------------------------------------------


def json_objects(path) -> Iterator[tuple[int, dict]]:
    """``(line number, object)`` of each non-blank line of a JSONL file; a line that is not JSON is an error."""
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if line.strip():
                yield number, json_line_object(line, path, number)


def json_line_object(line: str | bytes, path, number: int):
    """One JSONL line parsed; a line that is not JSON is a one-line error naming the file and line."""
    try:
        return json.loads(line)
    except ValueError as error:
        raise DataError(f"{path}:{number}: not valid JSON ({getattr(error, 'msg', error)})") from None


def read_labeled(path) -> list[dict]:
    """Rows {"id", "text", "labels"} of a JSONL labels file (what ``serve --review`` appends)."""
    return [labeled_row(row, path, number) for number, row in json_objects(path)]


def labeled_row(row, path, number: int) -> dict:
    """One labels-file row, checked: an object with a text and a list of labels."""
    if not isinstance(row, dict) or not isinstance(row.get("text"), str) or not isinstance(row.get("labels"), list):
        raise DataError(f"{path}:{number}: expected an object with text and labels")
    return {"id": str(row.get("id", number)), "text": row["text"], "labels": [str(label) for label in row["labels"]]}


def to_label_studio(rows: list[dict], from_name: str = "topic", to_name: str = "text") -> list[dict]:
    """Label Studio tasks (text classification with choices), each with its labels as a completed annotation."""
    return [
        {
            "id": i + 1,
            "data": {"text": row["text"], "topictag_id": row["id"]},
            "annotations": [{"result": [{"from_name": from_name, "to_name": to_name, "type": "choices", "value": {"choices": list(row["labels"])}}]}],
        }
        for i, row in enumerate(rows)
    ]


def from_label_studio(tasks, text_key: str = "text") -> list[dict]:
    """Rows from a Label Studio JSON export: the choices of each task's last annotation (tasks without one
    are skipped). ``text_key`` is the field of ``data`` holding the text (the ``value="$..."`` of the
    labeling config). Ids: ``topictag_id`` if the task came from ``topictag export``, else the task's id, else
    its position."""
    if not isinstance(tasks, list):
        raise DataError("a Label Studio export is a JSON list of tasks")
    rows = []
    for position, task in enumerate(tasks, 1):
        if not isinstance(task, dict) or not isinstance(task.get("data"), dict):
            raise DataError(f"task {position}: a Label Studio task needs a data object")
        data = task["data"]
        text = data.get(text_key)
        if not isinstance(text, str):
            keys = ", ".join(sorted(k for k, v in data.items() if isinstance(v, str))[:5]) or "none"
            raise DataError(f"task {task.get('id', position)}: no {text_key!r} text in data (text fields: {keys}); name it with --text-key")
        annotations = [a for a in task.get("annotations") or [] if isinstance(a, dict) and not a.get("was_cancelled")]
        if not annotations:
            continue
        choices = []
        for result in annotations[-1].get("result") or []:
            if not isinstance(result, dict) or result.get("type") != "choices" or not isinstance(result.get("value"), dict):
                continue
            value = result["value"].get("choices") or []
            choices += [value] if isinstance(value, str) else [str(label) for label in value] if isinstance(value, list) else []
        task_id = data.get("topictag_id")
        task_id = task.get("id") if task_id is None else task_id
        rows.append({"id": str(task_id) if task_id is not None else str(position), "text": text, "labels": choices})
    return rows


# A cell a spreadsheet would run as a formula gets a leading apostrophe (as topictag tag does), and so does a
# cell that starts with an apostrophe of its own; import takes exactly one off such cells.
ESCAPED_STARTS = CSV_FORMULA_STARTS + ("'",)


def to_csv(rows: list[dict]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["id", "text", "labels"])
    for row in rows:
        for label in row["labels"]:
            if "|" in label:
                raise DataError(f"label {label!r} holds '|', which separates labels in CSV; export to labelstudio instead")
        writer.writerow([_safe_cell(row["id"]), _safe_cell(row["text"]), _safe_cell("|".join(row["labels"]))])
    return buffer.getvalue()


def _safe_cell(value: str) -> str:
    return "'" + value if value.startswith(ESCAPED_STARTS) else value


def _unsafe_cell(value: str) -> str:
    return value[1:] if value.startswith("'") and value[1:].startswith(ESCAPED_STARTS) else value


def from_csv(text: str) -> list[dict]:
    reader = csv.DictReader(io.StringIO(text.removeprefix("\ufeff")))  # Excel's "CSV UTF-8" starts with a BOM
    fields = reader.fieldnames or []
    column = "labels" if "labels" in fields else "label" if "label" in fields else None
    if "text" not in fields or column is None:
        raise DataError("the CSV needs a text column and a labels (or label) column, labels |-separated")
    return [{"id": _unsafe_cell(row.get("id") or str(i)), "text": _unsafe_cell(row["text"] or ""),
             "labels": [label for label in _unsafe_cell(row.get(column) or "").split("|") if label]} for i, row in enumerate(reader, 1)]
