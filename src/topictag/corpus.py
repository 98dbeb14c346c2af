"""Read labeled datasets: CSV/TSV, JSONL, Parquet, or a folder of per-label sub-folders.

Every reader returns one :class:`Dataset`, the single in-memory shape of labeled data. The table reader
(:func:`table_rows`) and the text decoder (:func:`decode`) here are also what ``topictag tag`` reads with.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from .errors import DataError

TABLE_SUFFIXES = {".csv", ".tsv", ".jsonl", ".ndjson", ".parquet"}
CSV_DELIMITERS = {".csv": ",", ".tsv": "\t"}
ENCODINGS = ("utf-8", "cp1252", "latin-1")  # tried in order; latin-1 decodes any bytes: the documented last resort
LABEL_SEPARATOR = "|"  # multi-label cells in CSV/TSV: "trade|tech_policy"


@dataclass(frozen=True)
class Example:
    id: str
    text: str
    labels: tuple[str, ...]

    def to_dict(self) -> dict:
        return {"id": self.id, "text": self.text, "labels": list(self.labels)}


@dataclass(frozen=True)
class Dataset:
    examples: tuple[Example, ...]
    source: str = ""
    sha256: str = ""

    @property
    def texts(self) -> list[str]:
        return [e.text for e in self.examples]

    @property
    def label_sets(self) -> list[tuple[str, ...]]:
        return [e.labels for e in self.examples]

    def label_counts(self) -> dict[str, int]:
        counts = Counter(label for e in self.examples for label in e.labels)
        return dict(sorted(counts.items()))

    def __len__(self) -> int:
        return len(self.examples)


def read_dataset(path: str | Path, text_col: str = "text", label_col: str | None = None) -> Dataset:
    """Read labeled examples from a table file, a folder of ``<label>/*.txt`` files, or a folder of JSONL files.

    ``label_col`` defaults to ``label`` or ``labels``, whichever the table has. A label cell may hold
    several labels: a JSON list in JSONL, ``|``-separated text in CSV/TSV. Rows with empty text are
    dropped; a dataset with no text at all is an error.
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file or folder")
    if path.is_dir() and any(path.glob("*.jsonl")):
        return read_labels_folder(path)
    if path.is_dir():
        examples = _read_folder(path)
    else:
        examples = _read_table(path, text_col, label_col)
    examples = [e for e in examples if e.text.strip()]
    if not examples:
        raise DataError(f"{path}: no non-empty text in column {text_col!r}" if path.is_file() else f"{path}: no .txt files with text")
    return Dataset(tuple(examples), source=str(path), sha256=_sha256(path))


def _read_folder(folder: Path) -> list[Example]:
    examples = []
    for label_dir in sorted(p for p in folder.iterdir() if p.is_dir()):
        for file in sorted(label_dir.rglob("*.txt")):
            text, _ = decode(file.read_bytes())
            examples.append(Example(str(file.relative_to(folder)), text, (label_dir.name,)))
    return examples


def _read_table(path: Path, text_col: str, label_col: str | None) -> list[Example]:
    suffix = path.suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise DataError(f"{path}: unknown format {suffix or '(no extension)'!r}; use .csv, .tsv, .jsonl, .parquet or a folder")
    rows = []
    for number, row, problem in table_rows(path):
        if problem:
            raise DataError(f"{path}:{number}: " + ("expected a JSON object per line" if problem == NOT_AN_OBJECT else f"not valid JSON ({problem})"))
        rows.append(row)
    if not rows:
        raise DataError(f"{path}: the file has no rows")
    columns = list(rows[0].keys())
    if text_col not in columns:
        raise DataError(f"{path}: no text column {text_col!r}; columns found: {', '.join(map(str, columns))}")
    if label_col is None:
        label_col = next((c for c in ("label", "labels") if c in columns), None)
        if label_col is None:
            raise DataError(f"{path}: no label column 'label' or 'labels'; columns found: {', '.join(map(str, columns))}")
    elif label_col not in columns:
        raise DataError(f"{path}: no label column {label_col!r}; columns found: {', '.join(map(str, columns))}")
    split_cells = suffix in (".csv", ".tsv")
    examples = []
    for number, row in enumerate(rows, 1):
        text = row.get(text_col)
        text = "" if _is_missing(text) else str(text)
        labels = _parse_labels(row.get(label_col), split_cells)
        row_id = row.get("id")
        examples.append(Example(str(number if _is_missing(row_id) else row_id), text, labels))
    return examples


NOT_AN_OBJECT = "not an object"


def table_rows(path: Path, *, replace_undecodable: bool = False, batch_size: int = 512):
    """Stream a CSV/TSV/JSONL/Parquet table as ``(row number, row dict, problem)``.

    ``problem`` says why a JSONL line is not a row (the JSON error, or :data:`NOT_AN_OBJECT`), else None;
    callers decide whether that stops them. A CSV that is not UTF-8 is an error unless
    ``replace_undecodable``; a damaged Parquet file or CSV is always an error.
    """
    suffix = path.suffix.lower()
    errors = "replace" if replace_undecodable else "strict"
    if suffix in (".jsonl", ".ndjson"):
        with open(path, encoding="utf-8-sig", errors=errors) as lines:
            for number, line in enumerate(lines, 1):
                if line.strip():
                    yield (number, *parse_json_row(line))
    elif suffix == ".parquet":
        import pyarrow.parquet as pq

        try:
            number = 0
            for batch in pq.ParquetFile(path).iter_batches(batch_size=batch_size):
                for row in batch.to_pylist():
                    number += 1
                    yield number, row, None
        except Exception as error:  # pyarrow raises many types for a bad file
            raise DataError(f"{path}: cannot read Parquet ({error})") from None
    else:
        csv.field_size_limit(1 << 30)
        try:
            with open(path, encoding="utf-8-sig", errors=errors, newline="") as handle:
                for number, row in enumerate(csv.DictReader(handle, delimiter=CSV_DELIMITERS[suffix]), 1):
                    yield number, row, None
        except UnicodeDecodeError:
            raise DataError(f"{path}: not UTF-8 text; re-save the table as UTF-8") from None
        except csv.Error as error:
            raise DataError(f"{path}: malformed {suffix[1:].upper()} ({error})") from None


def parse_json_row(line: str) -> tuple[dict, str | None]:
    """A JSONL line as a row dict, or an empty dict and the reason it is not one."""
    try:
        row = json.loads(line)
    except json.JSONDecodeError as error:
        return {}, error.msg
    return (row, None) if isinstance(row, dict) else ({}, NOT_AN_OBJECT)


def _parse_labels(cell, split_cells: bool) -> tuple[str, ...]:
    """Normalise a label cell to a tuple of label names; empty means "no topic"."""
    if _is_missing(cell):
        return ()
    if isinstance(cell, str):
        parts = cell.split(LABEL_SEPARATOR) if split_cells else [cell]
    elif hasattr(cell, "__iter__"):
        parts = [str(part) for part in cell]
    else:
        parts = [str(cell)]
    return tuple(dict.fromkeys(part.strip() for part in parts if part.strip()))


def _is_missing(value) -> bool:
    return value is None or (isinstance(value, float) and value != value)  # NaN: pandas' empty cell


def decode(data: bytes) -> tuple[str, str]:
    """Decode bytes and say how: UTF-16 by its byte-order mark, else UTF-8 (BOM dropped), cp1252, then latin-1."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16"), "utf-16"
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    for encoding in ENCODINGS:
        try:
            return data.decode(encoding), encoding
        except UnicodeDecodeError:
            continue
    raise AssertionError("latin-1 decodes any bytes")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for file in files:
        if path.is_dir():
            digest.update(str(file.relative_to(path)).encode())
        digest.update(file.read_bytes())
    return digest.hexdigest()


def read_labels_folder(folder: str | Path) -> Dataset:
    """Read every ``*.jsonl`` file directly in ``folder`` (the project's ``labels/`` layout) as one dataset."""
    folder = Path(folder)
    files = sorted(folder.glob("*.jsonl"))
    if not files:
        raise DataError(f"{folder}: no .jsonl label files")
    examples, digest = [], hashlib.sha256()
    for file in files:
        digest.update(file.name.encode())
        digest.update(file.read_bytes())
        examples.extend(_read_table(file, "text", "labels"))
    return Dataset(tuple(examples), source=str(folder), sha256=digest.hexdigest())
