"""Batch tagging: expand inputs into documents, tag them in order (in parallel if asked), write one record each.

Data flow: :func:`expand_inputs` (paths) -> :func:`iter_documents` (decoded text, table rows, HTML main text,
or an error) -> :func:`tag_stream` (ordered records, chunked across processes) -> :class:`RecordWriter`.
Files are decoded by :func:`topictag.corpus.decode` and tables read by :func:`topictag.corpus.table_rows`.
Memory stays flat: every stage streams chunk by chunk.
"""

from __future__ import annotations

import csv
import fnmatch
import glob
import io
import json
import os
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .corpus import TABLE_SUFFIXES, decode, parse_json_row, table_rows
from .errors import DataError

BINARY_SNIFF_BYTES = 8192
HTML_SUFFIXES = {".html", ".htm", ".xhtml"}
DEFAULT_MAX_BYTES = 64 * 1024 * 1024  # a text file larger than this is refused (raise with --max-bytes)
CHUNK_SIZE = 512


@dataclass(frozen=True)
class Document:
    """One input to tag: its text, or the reason it could not be read, and what to carry into its record."""

    source: str
    text: str = ""
    error: str | None = None
    extra: dict = field(default_factory=dict)  # encoding, extractor, kept table columns


@dataclass(frozen=True)
class InputOptions:
    lines: bool = False  # each non-empty line of a text input is its own document
    text_col: str = "text"
    id_col: str | None = None
    keep_cols: tuple[str, ...] = ()
    max_bytes: int = DEFAULT_MAX_BYTES
    tables: bool = True  # read .csv/.tsv/.jsonl/.parquet inputs as tables (one document per row)


# ---- finding inputs ----------------------------------------------------------------------------


def expand_inputs(inputs: Iterable[str], include: Iterable[str] = (), exclude: Iterable[str] = ()) -> list[str]:
    """Resolve files, folders (recursive) and globs to a list of paths; ``-`` means stdin.

    Folders are walked in sorted order, skipping hidden files; ``include``/``exclude`` globs filter the files
    found in folders by name or relative path. A path or glob that matches nothing is an error raised before
    any work starts.
    """
    include, exclude = list(include), list(exclude)
    paths: list[str] = []
    for item in inputs:
        if item == "-":
            paths.append("-")
            continue
        path = Path(item)
        if path.is_dir():
            paths.extend(str(p) for p in _walk(path) if _selected(p.relative_to(path), include, exclude))
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


def _walk(folder: Path) -> Iterator[Path]:
    """Files under ``folder`` in sorted order, without holding the whole tree in memory."""
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if not name.startswith("."):
                yield Path(root) / name


def _selected(relative: Path, include: list[str], exclude: list[str]) -> bool:
    def matches(patterns):
        return any(fnmatch.fnmatch(relative.name, p) or fnmatch.fnmatch(str(relative), p) for p in patterns)

    return (not include or matches(include)) and not matches(exclude)


def check_tables(paths: Iterable[str], options: InputOptions) -> None:
    """Fail before any work if a table lacks the text column (or the id/kept columns), naming the columns found."""
    if not options.tables:
        return
    for path in paths:
        if path == "-" or Path(path).suffix.lower() not in TABLE_SUFFIXES:
            continue
        columns = _table_columns(Path(path))
        if columns is None:
            continue  # empty table: no rows, no records
        wanted = [options.text_col] + ([options.id_col] if options.id_col else []) + list(options.keep_cols)
        missing = [c for c in wanted if c not in columns]
        if missing:
            raise DataError(f"{path}: no column {', '.join(map(repr, missing))}; columns found: {', '.join(map(str, columns))}")


def _table_columns(path: Path) -> list[str] | None:
    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            import pyarrow.parquet as pq

            return pq.ParquetFile(path).schema_arrow.names
        if suffix in (".csv", ".tsv"):
            with open(path, encoding="utf-8-sig", errors="replace", newline="") as handle:
                return next(csv.reader(handle, delimiter="\t" if suffix == ".tsv" else ","), None)
        with open(path, encoding="utf-8-sig", errors="replace") as handle:
            for line in handle:
                if line.strip():
                    try:
                        row = json.loads(line)
                    except json.JSONDecodeError:
                        continue  # a malformed line gets its own error record later
                    return list(row) if isinstance(row, dict) else []
    except OSError as error:
        raise DataError(f"{path}: cannot read ({error.strerror or error})") from None
    except Exception as error:  # pyarrow raises many types for a damaged file
        raise DataError(f"{path}: cannot read table ({error})") from None
    return None


# ---- reading documents -------------------------------------------------------------------------


def iter_documents(paths: Iterable[str], options: InputOptions = InputOptions()) -> Iterator[Document]:
    """One document per text file, per table row, or (with ``lines``) per non-empty line."""
    for path in paths:
        suffix = "" if path == "-" else Path(path).suffix.lower()
        if options.tables and suffix in TABLE_SUFFIXES:
            yield from _table_documents(Path(path), options)
            continue
        document = read_document(path, options.max_bytes)
        if not options.lines or document.error:
            yield document
            continue
        for number, line in enumerate(document.text.splitlines(), 1):
            if line.strip():
                yield Document(f"{document.source}:{number}", line, extra=document.extra)


def read_documents(paths: Iterable[str], lines: bool = False) -> Iterator[Document]:
    """Plain text (and HTML) documents, one per file: what ``topictag segment`` reads."""
    yield from iter_documents(paths, InputOptions(lines=lines, tables=False))


def read_document(path: str, max_bytes: int = DEFAULT_MAX_BYTES) -> Document:
    """Read and decode one file (or stdin for ``-``) into a :class:`Document`; problems become its ``error``."""
    try:
        if path == "-":
            data = sys.stdin.buffer.read()
        else:
            size = os.stat(path).st_size
            if size > max_bytes:
                return Document(path, error=f"file too large ({size / 1e6:.1f} MB > limit {max_bytes / 1e6:.1f} MB; raise --max-bytes)")
            data = Path(path).read_bytes()
    except OSError as error:
        return Document(path, error=f"cannot read: {error.strerror or error}")
    if _is_binary(data):
        return Document(path, error="binary file, not text")
    text, encoding = decode(data)
    extra = {} if encoding == "utf-8" else {"encoding": encoding}
    if path != "-" and Path(path).suffix.lower() in HTML_SUFFIXES:
        text, extractor = extract_html(text)
        extra["extractor"] = extractor
    if not text.strip():
        return Document(path, error="empty text", extra=extra)
    return Document(path, text, extra=extra)


def _is_binary(data: bytes) -> bool:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return False  # UTF-16 with a byte-order mark
    head = data[:BINARY_SNIFF_BYTES]
    return b"\x00" in head or head.startswith((b"PK\x03\x04", b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"%PDF"))


def extract_html(html: str) -> tuple[str, str]:
    """The main text of an HTML page by trafilatura; the page's whole visible text if it finds none."""
    import trafilatura

    text = trafilatura.extract(html, include_comments=False, include_tables=False, favor_recall=True)
    if text and text.strip():
        return text, "trafilatura"
    return _visible_text(html), "html-text"


def _visible_text(html: str) -> str:
    from html.parser import HTMLParser

    class Collector(HTMLParser):
        skip = {"script", "style", "noscript", "template"}

        def __init__(self):
            super().__init__()
            self.parts, self.depth = [], 0

        def handle_starttag(self, tag, attrs):
            self.depth += tag in self.skip

        def handle_endtag(self, tag):
            self.depth -= tag in self.skip and self.depth > 0

        def handle_data(self, data):
            if not self.depth and data.strip():
                self.parts.append(data.strip())

    collector = Collector()
    collector.feed(html)
    return "\n".join(collector.parts)


def _table_documents(path: Path, options: InputOptions) -> Iterator[Document]:
    for number, row, problem in table_rows(path, replace_undecodable=True, batch_size=CHUNK_SIZE):
        yield Document(f"{path}:{number}", error=_json_problem(problem)) if problem else _row_document(path, number, row, options)


def _row_document(path: Path, number: int, row: dict, options: InputOptions) -> Document:
    source = f"{path}:{number}"
    if options.id_col and not _missing(row.get(options.id_col)):
        source = str(row[options.id_col])
    extra = {column: _plain(row.get(column)) for column in options.keep_cols}
    text = row.get(options.text_col)
    text = "" if _missing(text) else str(text)
    return Document(source, text, error=None if text.strip() else "empty text", extra=extra)


def _json_problem(problem: str) -> str:
    return f"malformed JSON line ({problem})"


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and value != value)


def _plain(value):
    """A table cell as a JSON-friendly value."""
    if _missing(value):
        return None
    if hasattr(value, "item"):
        return value.item()
    return value if isinstance(value, (str, int, float, bool, list, dict)) else str(value)


# ---- tagging -------------------------------------------------------------------------------------
# A work item is a Document (read by the caller: table rows, stdin, lines) or a file path that the worker
# reads itself, so that with several jobs reading and decoding run in parallel too.

_worker_models: dict = {}


@dataclass(frozen=True)
class _JsonLine:
    """A JSONL table row not parsed yet: the worker that tags it parses it."""

    path: str
    number: int
    line: str


def work_items(paths: Iterable[str], options: InputOptions = InputOptions()) -> Iterator[Document | str | _JsonLine]:
    """Plain files as paths and JSONL rows as raw lines, to be read where they are tagged; the rest as documents."""
    for path in paths:
        suffix = "" if path == "-" else Path(path).suffix.lower()
        if options.tables and suffix in (".jsonl", ".ndjson"):
            with open(path, encoding="utf-8-sig", errors="replace") as handle:
                for number, line in enumerate(handle, 1):
                    if line.strip():
                        yield _JsonLine(path, number, line)
        elif path == "-" or options.lines or (options.tables and suffix in TABLE_SUFFIXES):
            yield from iter_documents([path], options)
        else:
            yield path


def read_item(item, options: InputOptions) -> Document:
    """The document of a work item, read and decoded here."""
    if isinstance(item, Document):
        return item
    if isinstance(item, _JsonLine):
        row, problem = parse_json_row(item.line)
        if problem:
            return Document(f"{item.path}:{item.number}", error=_json_problem(problem))
        return _row_document(Path(item.path), item.number, row, options)
    return read_document(item, options.max_bytes)


def _worker_model(model_ref):
    """The model for ``model_ref`` (a bundle path, or None for the default), loaded once per process."""
    if model_ref not in _worker_models:
        from .default import load_model

        _worker_models[model_ref] = load_model(model_ref)
    return _worker_models[model_ref]


def _process(model_ref, items, options, threshold, top_k, as_json) -> list[tuple]:
    """Read, tag and (if ``as_json``) serialise one chunk: a (record, failed) pair per document, in order."""
    documents = [read_item(item, options) for item in items]
    readable = [d for d in documents if d.error is None]
    model = _worker_model(model_ref)
    predictions = iter(model.tag_many([d.text for d in readable], sources=[d.source for d in readable], threshold=threshold, top_k=top_k))
    results = []
    for document in documents:
        record = next(predictions).to_dict() if document.error is None else {"source": document.source, "error": document.error}
        record.update(document.extra)
        results.append((json.dumps(record, ensure_ascii=False) + "\n" if as_json else record, document.error is not None))
    return results


def tag_stream(
    items: Iterable[Document | str],
    model_ref=None,
    *,
    jobs: int = 1,
    threshold: float | None = None,
    top_k: int | None = None,
    options: InputOptions = InputOptions(),
    as_json: bool = False,
    chunk_size: int = CHUNK_SIZE,
    model=None,
) -> Iterator[tuple]:
    """Tag work items chunk by chunk; yield ``(record, failed)`` per document, in input order.

    ``record`` is a dict, or its JSON line if ``as_json``. With ``jobs > 1`` chunks go to worker processes
    (joblib), each of which loads the model named by ``model_ref`` once. ``model``, if given, is used in this
    process instead (``jobs`` must then be 1).
    """
    chunks = _chunks(items, chunk_size)
    if jobs == 1:
        if model is not None:
            _worker_models["__given__"] = model
            model_ref = "__given__"
        for chunk in chunks:
            yield from _process(model_ref, chunk, options, threshold, top_k, as_json)
        return
    if model is not None:
        raise ValueError("pass model_ref, not model, to tag in several processes")
    from joblib import Parallel, delayed

    tasks = (delayed(_process)(model_ref, chunk, options, threshold, top_k, as_json) for chunk in chunks)
    # return_as="generator" keeps input order and dispatches lazily, so memory stays bounded.
    for results in Parallel(n_jobs=jobs, return_as="generator", pre_dispatch="2*n_jobs")(tasks):
        yield from results


def _chunks(items, size) -> Iterator[list]:
    chunk = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


# ---- writing records -------------------------------------------------------------------------------


def format_records(records: Iterable[dict], fmt: str, labels: list[str], extra_columns: Iterable[str] = ()) -> Iterator[str]:
    """Serialise records as JSON lines or CSV text, chunk by chunk."""
    if fmt == "jsonl":
        for record in records:
            yield record if isinstance(record, str) else json.dumps(record, ensure_ascii=False) + "\n"
        return
    columns = csv_columns(labels, extra_columns)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(columns)
    for record in records:
        writer.writerow([_csv_cell(v) for v in flatten_record(record, columns).values()])
        if buffer.tell() > 1 << 16:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def csv_columns(labels, extra_columns=()) -> list[str]:
    return ["source", "top", "tags", *[f"score_{label}" for label in labels], "error", *extra_columns]


def flatten_record(record: dict, columns: list[str]) -> dict:
    """A record as flat columns: tags joined by ``|``, one ``score_<label>`` per label."""
    scores = record.get("scores", {})
    flat = {}
    for column in columns:
        if column == "tags":
            flat[column] = "|".join(record.get("tags", [])) if "tags" in record else None
        elif column.startswith("score_") and column[6:] in scores:
            flat[column] = scores[column[6:]]
        else:
            flat[column] = record.get(column)
    return flat


def _csv_cell(value):
    if value is None:
        return ""
    return json.dumps(value, ensure_ascii=False) if isinstance(value, (list, dict)) else value


def write_parquet(records: Iterable[dict], path: Path, labels: list[str], extra_columns: Iterable[str] = ()) -> int:
    """Write records to Parquet row group by row group, into a temporary file renamed into place at the end."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns = csv_columns(labels, extra_columns)
    fields = [pa.field(c, pa.float64() if c.startswith("score_") else pa.string()) for c in columns]
    schema = pa.schema(fields)
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    count = 0
    try:
        with pq.ParquetWriter(temp, schema) as writer:
            for chunk in _chunks(records, 4096):
                rows = [flatten_record(r, columns) for r in chunk]
                for row in rows:
                    for column in columns:
                        value = row[column]
                        if value is not None and not column.startswith("score_") and not isinstance(value, str):
                            row[column] = json.dumps(value, ensure_ascii=False) if isinstance(value, (list, dict)) else str(value)
                writer.write_table(pa.Table.from_pylist(rows, schema=schema))
                count += len(rows)
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return count


# ---- resuming ----------------------------------------------------------------------------------------


def resume_sources(path: Path) -> set[str]:
    """Sources already recorded in a JSONL output; a torn last line (from a crash) is cut off first."""
    if not path.exists():
        return set()
    with open(path, "rb+") as handle:
        data = handle.read()
        end = data.rfind(b"\n") + 1
        if end < len(data):
            handle.truncate(end)
    sources = set()
    for number, line in enumerate(data[:end].splitlines(), 1):
        if not line.strip():
            continue
        try:
            sources.add(json.loads(line)["source"])
        except (json.JSONDecodeError, KeyError, TypeError):
            raise DataError(f"{path}:{number}: not a topictag record; cannot resume from this file") from None
    return sources
