"""Read labeled datasets: CSV/TSV, JSONL, Parquet, or a folder of per-label sub-folders.

Every reader returns one :class:`Dataset`, the single in-memory shape of labeled data.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from .errors import DataError

TABLE_SUFFIXES = {".csv": ",", ".tsv": "\t", ".jsonl": None, ".ndjson": None, ".parquet": None}
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
            text = read_text_file(file)
            examples.append(Example(str(file.relative_to(folder)), text, (label_dir.name,)))
    return examples


def _read_table(path: Path, text_col: str, label_col: str | None) -> list[Example]:
    suffix = path.suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise DataError(f"{path}: unknown format {suffix or '(no extension)'!r}; use .csv, .tsv, .jsonl, .parquet or a folder")
    rows = list(read_table_rows(path))
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


def read_table_rows(path: Path):
    """Yield each row of a CSV/TSV/JSONL/Parquet table as a dict."""
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        with open(path, encoding="utf-8-sig") as lines:
            for number, line in enumerate(lines, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as error:
                    raise DataError(f"{path}:{number}: not valid JSON ({error.msg})") from None
                if not isinstance(row, dict):
                    raise DataError(f"{path}:{number}: expected a JSON object per line")
                yield row
    elif suffix == ".parquet":
        import pandas as pd

        try:
            frame = pd.read_parquet(path)
        except Exception as error:  # pyarrow raises many types for a bad file
            raise DataError(f"{path}: cannot read Parquet ({error})") from None
        yield from frame.to_dict("records")
    else:
        csv.field_size_limit(1 << 30)
        try:
            with open(path, encoding="utf-8-sig", newline="") as handle:
                yield from csv.DictReader(handle, delimiter=TABLE_SUFFIXES[suffix])
        except UnicodeDecodeError:
            raise DataError(f"{path}: not UTF-8 text; re-save the table as UTF-8") from None
        except csv.Error as error:
            raise DataError(f"{path}: malformed {suffix[1:].upper()} ({error})") from None


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


def read_text_file(path: Path) -> str:
    """Read a text file as UTF-8, falling back to cp1252 then latin-1 (which always decodes)."""
    data = path.read_bytes()
    for encoding in ("utf-8-sig", "cp1252", "latin-1"):
        try:
            return data.decode(encoding)
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
