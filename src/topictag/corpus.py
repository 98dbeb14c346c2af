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


def read_dataset(path: str | Path, text_col: str = "text", label_col: str | None = None, id_col: str = "id") -> Dataset:
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
        examples = _read_table(path, text_col, label_col, id_col)
    examples = [e for e in examples if e.text.strip()]
    if not examples:
        raise DataError(f"{path}: no non-empty text in column {text_col!r}" if path.is_file() else f"{path}: no .txt files with text")
    return Dataset(tuple(examples), source=str(path), sha256=_sha256(path))


def _read_folder(folder: Path) -> list[Example]:
    examples = []
    for label_dir in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for file in sorted(label_dir.rglob("*.txt")):
            if not file.is_file():
                continue  # FIFOs, sockets, devices and broken links are not training texts
            try:
                text, _ = decode(file.read_bytes())
            except OSError as error:
                raise DataError(f"{file}: cannot read ({error.strerror or error})") from None
            except DataError as error:
                raise DataError(f"{file}: {error}") from None
            examples.append(Example(str(file.relative_to(folder)), text, (label_dir.name,)))
    return examples


def _read_table(path: Path, text_col: str, label_col: str | None, id_col: str = "id") -> list[Example]:
    suffix = path.suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise DataError(f"{path}: unknown format {suffix or '(no extension)'!r}; use .csv, .tsv, .jsonl, .parquet or a folder")
    rows = []
    for number, row, problem in table_rows(path):
        if problem:
            raise DataError(f"{path}:{number}: " + ("expected a JSON object per line" if problem == NOT_AN_OBJECT else f"not valid JSON ({problem})"))
        rows.append((number, row))
    if not rows:
        raise DataError(f"{path}: the file has no rows")
    columns = list(dict.fromkeys(key for _, row in rows[:1000] for key in row))
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
    for number, row in rows:
        text = row.get(text_col)
        if _is_missing(text):
            text = ""
        elif not isinstance(text, str):
            raise DataError(f"{path}:{number}: {text_col!r} is a {type(text).__name__}, not a string")
        try:
            labels = _parse_labels(row.get(label_col), split_cells)
        except DataError as error:
            raise DataError(f"{path}:{number}: {error}") from None
        row_id = row.get(id_col)
        examples.append(Example(str(number if _is_missing(row_id) else row_id), text, labels))
    return examples


NOT_AN_OBJECT = "not an object"


def format_bytes(n: int) -> str:
    """Sizes as people read them, in binary units: 64 MiB, not 67.1 MB."""
    if n < 1024:
        return f"{n} bytes"
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        n /= 1024
        if n < 1024 or unit == "TiB":
            return f"{n:.1f} {unit}".replace(".0 ", " ")
    raise AssertionError


MAX_LINE_BYTES = 64 * 1024 * 1024  # a JSONL line longer than this is a problem row, never read whole
JSONL_BLOCK = 1 << 20  # bytes read at a time


def table_rows(path: Path, *, replace_undecodable: bool = False, batch_size: int = 512, max_line_bytes: int = MAX_LINE_BYTES):
    """Stream a CSV/TSV/JSONL/Parquet table as ``(row number, row dict, problem)``.

    ``problem`` says why a JSONL line is not a row (the JSON error, :data:`NOT_AN_OBJECT`, or a line longer
    than ``max_line_bytes``), else None; callers decide whether that stops them. A table that is not UTF-8
    is an error unless ``replace_undecodable``; a damaged Parquet file or CSV is always an error.
    """
    suffix = path.suffix.lower()
    errors = "replace" if replace_undecodable else "strict"
    if suffix in (".jsonl", ".ndjson"):
        for number, line in jsonl_lines(path, max_line_bytes, errors):
            if line is None:
                yield number, {}, f"line longer than {format_bytes(max_line_bytes)}"
            else:
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
        csv.field_size_limit(min(max_line_bytes, 2**31 - 1))
        try:
            with open(path, encoding="utf-8-sig", errors=errors, newline="") as handle:
                for number, row in enumerate(csv.DictReader(handle, delimiter=CSV_DELIMITERS[suffix]), 1):
                    yield number, row, None
        except UnicodeDecodeError:
            raise DataError(f"{path}: not UTF-8 text; re-save the table as UTF-8") from None
        except csv.Error as error:
            raise DataError(f"{path}: malformed {suffix[1:].upper()} ({error})") from None


def jsonl_lines(path: Path, max_bytes: int = MAX_LINE_BYTES, errors: str = "replace"):
    """The non-blank lines of a JSONL file as ``(line number, text)``; ``text`` is None for a line longer
    than ``max_bytes``, which is skipped without being held in memory. A UTF-8 byte-order mark is dropped.
    Read in blocks and split in C (a readline call per line costs more than the rest of the reading)."""
    for first, lines, data in jsonl_blocks(path, max_bytes):
        if data is None:
            yield first, None
        else:
            yield from block_lines(data, first, max_bytes, errors, path)


def jsonl_blocks(path: Path, max_bytes: int = MAX_LINE_BYTES, block_size: int | None = None):
    """A JSONL file as runs of whole lines, ``(number of the first line, number of lines, bytes)``, read
    ``block_size`` bytes at a time; a line longer than ``max_bytes`` comes alone as ``(its number, 1, None)``
    and is never held in memory. :func:`block_lines` turns a run into lines. A parallel ``tag`` sends runs to
    its workers, which split and decode them, so the parent does not touch every line."""
    block_size = block_size or JSONL_BLOCK
    number = 0  # lines before the next run
    carry = b""  # the start of a line that goes on in the next block
    skipping = False  # inside a line already longer than max_bytes
    with open(path, "rb") as handle:
        while block := handle.read(block_size):
            if skipping:
                end = block.find(b"\n")
                if end < 0:
                    continue
                number += 1
                yield number, 1, None
                skipping, block = False, block[end + 1 :]
            cut = block.rfind(b"\n")
            if cut < 0:
                carry += block
                if len(carry) > max_bytes:
                    skipping, carry = True, b""
                continue
            data, carry = carry + block[: cut + 1], block[cut + 1 :]
            if len(carry) > max_bytes:
                skipping, carry = True, b""
            lines = data.count(b"\n")
            yield number + 1, lines, data
            number += lines
    if skipping:
        yield number + 1, 1, None
    elif carry:
        yield number + 1, 1, carry


def block_lines(data: bytes, first: int, max_bytes: int = MAX_LINE_BYTES, errors: str = "replace", path: Path | str = ""):
    """The non-blank lines of a run from :func:`jsonl_blocks` as ``(line number, text)``, as :func:`jsonl_lines`."""
    pieces = data.split(b"\n")
    ended = pieces[-1] == b""  # the run ends with a newline
    if ended:
        pieces.pop()
    number = first - 1
    for k, piece in enumerate(pieces):
        number += 1
        if len(piece) > max_bytes:
            yield number, None
            continue
        if number == 1 and piece.startswith(b"\xef\xbb\xbf"):
            piece = piece[3:]
        try:
            text = piece.decode("utf-8", errors)
        except UnicodeDecodeError:
            raise DataError(f"{path}:{number}: not UTF-8 text; re-save the file as UTF-8") from None
        if text.strip():
            yield number, text + "\n" if ended or k < len(pieces) - 1 else text


def parse_json_row(line: str) -> tuple[dict, str | None]:
    """A JSONL line as a row dict, or an empty dict and the reason it is not one (with its column)."""
    try:
        row = json.loads(line)
    except json.JSONDecodeError as error:
        return {}, f"{error.msg.removesuffix(' at')} at column {error.colno}"
    except RecursionError:
        return {}, "nested too deeply"
    return (row, None) if isinstance(row, dict) else ({}, NOT_AN_OBJECT)


def _parse_labels(cell, split_cells: bool) -> tuple[str, ...]:
    """Normalise a label cell to a tuple of label names; empty means "no topic"."""
    if _is_missing(cell):
        return ()
    if isinstance(cell, str):
        parts = cell.split(LABEL_SEPARATOR) if split_cells else [cell]
    elif isinstance(cell, (list, tuple)) or (hasattr(cell, "__iter__") and not isinstance(cell, (dict, bytes))):
        parts = list(cell)
        if not all(isinstance(part, str) for part in parts):
            bad = next(part for part in parts if not isinstance(part, str))
            raise DataError(f"labels must be strings; found {json.dumps(bad) if bad is None or isinstance(bad, (int, float)) else type(bad).__name__} in the label list")
    else:
        raise DataError(f"labels must be a string or a list of strings, not {type(cell).__name__}")
    return tuple(dict.fromkeys(part.strip() for part in parts if part.strip()))


def _is_missing(value) -> bool:
    return value is None or (isinstance(value, float) and value != value)  # NaN: pandas' empty cell


def decode(data: bytes) -> tuple[str, str]:
    """Decode bytes and say how: UTF-16 by its byte-order mark, else UTF-8 (BOM dropped), cp1252, then latin-1.

    Bytes that start with a UTF-16 byte-order mark but do not decode as UTF-16, or decode to text holding
    NUL characters, are not text: :class:`DataError`.
    """
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            text = data.decode("utf-16")
        except UnicodeDecodeError:
            raise DataError("binary file, not text (starts with a UTF-16 byte-order mark but is not UTF-16)") from None
        if "\x00" in text:
            raise DataError("binary file, not text (UTF-16 with NUL characters)")
        return text, "utf-16"
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
