"""Batch tagging: expand inputs into documents, tag them, write one record per input.

Where a file is decoded: :func:`read_document`.
"""

from __future__ import annotations

import csv
import glob
import io
import json
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from .errors import DataError

BINARY_SNIFF_BYTES = 8192
ENCODINGS = ("utf-8-sig", "cp1252", "latin-1")  # latin-1 decodes any bytes: the documented last resort


@dataclass(frozen=True)
class Document:
    """One input to tag: its text, or the reason it could not be read."""

    source: str
    text: str = ""
    error: str | None = None


def expand_inputs(inputs: Iterable[str]) -> list[str]:
    """Resolve files, folders (recursive) and globs to a sorted list of file paths; ``-`` means stdin.

    A path or glob that matches nothing is an error raised before any work starts.
    """
    paths: list[str] = []
    for item in inputs:
        if item == "-":
            paths.append("-")
            continue
        path = Path(item)
        if path.is_dir():
            paths.extend(str(p) for p in sorted(path.rglob("*")) if p.is_file() and not _hidden(p, path))
        elif path.exists():
            paths.append(item)
        elif glob.has_magic(item):
            matches = sorted(p for p in glob.glob(item, recursive=True) if Path(p).is_file())
            if not matches:
                raise DataError(f"{item}: no files match")
            paths.extend(matches)
        else:
            raise DataError(f"{item}: no such file or folder")
    return paths


def _hidden(path: Path, root: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(root).parts)


def read_documents(paths: Iterable[str], lines: bool = False) -> Iterator[Document]:
    """One document per file (or, with ``lines``, one per non-empty line of each file)."""
    for path in paths:
        document = read_document(path)
        if not lines or document.error:
            yield document
            continue
        for number, line in enumerate(document.text.splitlines(), 1):
            if line.strip():
                yield Document(f"{document.source}:{number}", line)


def read_document(path: str) -> Document:
    """Read and decode one file (or stdin for ``-``) into a :class:`Document`."""
    try:
        data = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    except OSError as error:
        return Document(path, error=f"cannot read: {error.strerror or error}")
    if b"\x00" in data[:BINARY_SNIFF_BYTES] and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return Document(path, error="binary file, not text")
    text = decode(data)
    if not text.strip():
        return Document(path, error="empty text")
    return Document(path, text)


def decode(data: bytes) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    for encoding in ENCODINGS:
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise AssertionError("latin-1 decodes any bytes")


def tag_documents(model, documents: Iterable[Document], *, threshold=None, top_k=None, chunk_size: int = 256) -> Iterator[dict]:
    """Tag documents in chunks, yielding one record per document in input order."""
    chunk: list[Document] = []
    for document in documents:
        chunk.append(document)
        if len(chunk) >= chunk_size:
            yield from _tag_chunk(model, chunk, threshold, top_k)
            chunk = []
    yield from _tag_chunk(model, chunk, threshold, top_k)


def _tag_chunk(model, chunk, threshold, top_k) -> Iterator[dict]:
    readable = [d for d in chunk if d.error is None]
    predictions = iter(model.tag_many([d.text for d in readable], sources=[d.source for d in readable], threshold=threshold, top_k=top_k))
    for document in chunk:
        if document.error is None:
            yield next(predictions).to_dict()
        else:
            yield {"source": document.source, "error": document.error}


def format_records(records: Iterable[dict], fmt: str, labels: list[str]) -> Iterator[str]:
    """Serialise records as JSON lines or CSV text, chunk by chunk."""
    if fmt == "jsonl":
        for record in records:
            yield json.dumps(record, ensure_ascii=False) + "\n"
        return
    columns = ["source", "top", "tags", *[f"score_{label}" for label in labels], "error"]
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(columns)
    for record in records:
        scores = record.get("scores", {})
        writer.writerow(
            [record["source"], record.get("top", ""), "|".join(record.get("tags", [])), *[scores.get(label, "") for label in labels], record.get("error", "")]
        )
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    yield buffer.getvalue()
