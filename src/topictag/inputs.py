"""Find and read the documents to tag or segment: files, folders, globs, stdin, FIFOs, tables and HTML.

Data flow: :func:`expand_inputs` (paths, plus an error :class:`Document` for anything found in a folder that
cannot be opened safely) -> :func:`read_document` (bounded read, binary sniffing, decoding, HTML main text)
or :func:`table_documents` (one document per row). A problem with one input becomes that document's
``error``; only a problem with the whole run (a path that matches nothing) raises.
"""

from __future__ import annotations

import errno
import fnmatch
import glob
import os
import stat
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .corpus import TABLE_SUFFIXES, decode, format_bytes, parse_json_row, table_rows
from .errors import DataError

BINARY_SNIFF_BYTES = 8192
HTML_SUFFIXES = {".html", ".htm", ".xhtml"}
DEFAULT_MAX_BYTES = 64 * 1024 * 1024  # a text (or one table line) larger than this is refused: --max-bytes
READ_CHUNK = 1 << 20


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


def source_name(path: str) -> str:
    """How a path appears in records: its bytes read as UTF-8 whatever the locale's file-system encoding
    (bytes that are not UTF-8 stay surrogate escapes, written out as ``\\udcXX``)."""
    if path.isascii():
        return path
    return os.fsencode(path).decode("utf-8", "surrogateescape")


class RegularFile(str):
    """A path found while walking a folder that is known to be a regular file (no need to stat it again)."""

    __slots__ = ()


def _suffix(path: str) -> str:
    name = os.path.basename(path)
    dot = name.rfind(".")
    return name[dot:].lower() if 0 < dot < len(name) - 1 else ""


def is_table(path: str, options: InputOptions) -> bool:
    return options.tables and path != "-" and _suffix(path) in TABLE_SUFFIXES


def is_jsonl(path: str, options: InputOptions) -> bool:
    return options.tables and path != "-" and _suffix(path) in (".jsonl", ".ndjson")


# ---- finding inputs ----------------------------------------------------------------------------


def expand_inputs(inputs: Iterable[str], include: Iterable[str] = (), exclude: Iterable[str] = ()) -> list[str | Document]:
    """Resolve files, folders (recursive), globs and ``-`` (stdin) to paths, in a stable order.

    Folders and ``**`` globs are walked in sorted order without following symbolic links to folders (so a
    link loop cannot repeat files), skipping hidden names; ``include``/``exclude`` globs filter the files
    found in folders by name or relative path. Anything found in a folder that is not a regular file (a
    FIFO, socket or device, a broken link) becomes an error :class:`Document` and is never opened; a FIFO or
    device named explicitly is read as a stream, like ``-``. A path or glob that matches nothing raises
    before any work starts.
    """
    include, exclude = list(include), list(exclude)
    found: list[str | Document] = []
    for item in inputs:
        if item == "-":
            found.append("-")
            continue
        try:
            mode = os.stat(item).st_mode
        except OSError as error:
            if error.errno == errno.ELOOP:
                raise DataError(f"{item}: symbolic link loop") from None
            if os.path.lexists(item) and error.errno == errno.ENOENT:
                raise DataError(f"{item}: broken symbolic link") from None
            if error.errno in (errno.ENOENT, errno.ENOTDIR) and glob.has_magic(item):
                matches = sorted(_glob(item), key=lambda m: m if isinstance(m, str) else m.source)
                if not any(isinstance(m, str) for m in matches):
                    raise DataError(f"{item}: no files match") from None
                found.extend(matches)
                continue
            if error.errno in (errno.ENOENT, errno.ENOTDIR):
                raise DataError(f"{item}: no such file or folder") from None
            raise DataError(f"{item}: cannot read ({error.strerror or error})") from None
        if stat.S_ISDIR(mode):
            found.extend(entry for entry in _walk(Path(item)) if _selected(entry, item, include, exclude))
        else:
            found.append(item)
    return found


def _selected(entry: str | Document, folder: str, include: list[str], exclude: list[str]) -> bool:
    if not include and not exclude:
        return True
    path = entry if isinstance(entry, str) else entry.source
    relative = os.path.relpath(path, folder)
    name = os.path.basename(path)

    def matches(patterns):
        return any(fnmatch.fnmatch(name, p) or fnmatch.fnmatch(relative, p) for p in patterns)

    return (not include or matches(include)) and not matches(exclude)


def _walk(folder: Path) -> Iterator[str | Document]:
    """Files under ``folder``: each folder's files (sorted) before its sub-folders, iteratively (any depth)."""
    stack = [str(folder)]
    while stack:
        directory = stack.pop()
        try:
            with os.scandir(directory) as scan:
                entries = sorted((e for e in scan if not e.name.startswith(".")), key=lambda e: e.name)
        except OSError as error:
            yield Document(source_name(directory), error=f"cannot read folder: {error.strerror or error}")
            continue
        subfolders = []
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                subfolders.append(entry.path)
            elif entry.is_file(follow_symlinks=False):  # the folder listing's own type: no stat call
                yield RegularFile(entry.path)
            elif not entry.is_symlink() or not _is_link_to_folder(entry.path):
                yield _file_or_problem(entry.path)
        stack.extend(reversed(subfolders))


def _is_link_to_folder(path: str) -> bool:
    try:
        return stat.S_ISDIR(os.stat(path).st_mode)
    except OSError:
        return False


def _file_or_problem(path: str) -> str | Document:
    """A path found while walking: kept if it is a regular file, else the reason it is not read."""
    try:
        mode = os.stat(path).st_mode
    except OSError as error:
        if error.errno == errno.ELOOP:
            return Document(source_name(path), error="cannot read: symbolic link loop")
        if error.errno == errno.ENOENT and os.path.lexists(path):
            return Document(source_name(path), error="cannot read: broken symbolic link")
        return Document(source_name(path), error=f"cannot read: {error.strerror or error}")
    if stat.S_ISREG(mode):
        return RegularFile(path)
    return Document(source_name(path), error=f"not a regular file ({_file_type(mode)}); name it explicitly to read it as a stream")


def _file_type(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, "FIFO"), (stat.S_ISSOCK, "socket"), (stat.S_ISCHR, "character device"), (stat.S_ISBLK, "block device")):
        if test(mode):
            return name
    return "special file"


def _glob(pattern: str) -> Iterator[str | Document]:
    """Files matching a glob (``*``, ``?``, ``[...]``, ``**`` for any number of folders), sorted, never
    following symbolic links to folders. Like :mod:`glob`, wildcards do not match names starting with a dot."""
    parts = pattern.split(os.sep)
    first_magic = next(i for i, part in enumerate(parts) if glob.has_magic(part))
    base = os.sep.join(parts[:first_magic])
    components = [p for p in parts[first_magic:] if p]
    if first_magic == 0:
        base, prefix = ".", ""
    else:
        base = base or os.sep
        prefix = base if base.endswith(os.sep) else base + os.sep
    if not os.path.isdir(base):
        return
    start = _closure({0}, components)
    stack = [(base, prefix, start)]
    while stack:
        directory, shown, states = stack.pop()
        try:
            with os.scandir(directory) as scan:
                entries = sorted(scan, key=lambda e: e.name)
        except OSError:
            continue
        subfolders = []
        for entry in entries:
            after = _step(states, entry.name, components)
            if not after:
                continue
            if entry.is_dir(follow_symlinks=False):
                subfolders.append((entry.path, shown + entry.name + os.sep, after))
            elif len(components) in after and not (entry.is_symlink() and _is_link_to_folder(entry.path)):
                found = _file_or_problem(entry.path)
                yield shown + entry.name if isinstance(found, str) else Document(source_name(shown + entry.name), error=found.error)
        stack.extend(reversed(subfolders))


def _closure(states: set[int], components: list[str]) -> set[int]:
    """Pattern positions reachable without consuming a name: ``**`` may match zero folders."""
    result, pending = set(states), list(states)
    while pending:
        i = pending.pop()
        if i < len(components) and components[i] == "**" and i + 1 not in result:
            result.add(i + 1)
            pending.append(i + 1)
    return result


def _step(states: set[int], name: str, components: list[str]) -> set[int]:
    after = set()
    for i in states:
        if i >= len(components):
            continue
        component = components[i]
        if component == "**":
            if not name.startswith("."):
                after.add(i)
        elif (not name.startswith(".") or component.startswith(".")) and fnmatch.fnmatchcase(name, component):
            after.add(i + 1)
    return _closure(after, components) if after else after


def check_tables(paths: Iterable[str | Document], options: InputOptions) -> None:
    """Fail before any work if a table lacks the text column (or the id/kept columns), naming the columns found.

    CSV, TSV and Parquet have a header; JSONL rows need not share keys, so a JSONL table is refused only if
    no object among its first lines has the text column (rows without it get their own error record).
    """
    for path in paths:
        if not isinstance(path, str) or not is_table(path, options) or not os.path.isfile(path):
            continue
        columns = _table_columns(Path(path), options)
        if columns is None:
            continue  # no rows to check
        if is_jsonl(path, options):
            wanted = [options.text_col]
        else:
            wanted = [options.text_col] + ([options.id_col] if options.id_col else []) + list(options.keep_cols)
        missing = [c for c in wanted if c not in columns]
        if missing:
            raise DataError(f"{path}: no column {', '.join(map(repr, missing))}; columns found: {', '.join(map(str, columns))}")


JSONL_COLUMN_SCAN = 1000  # lines of a JSONL table looked at to find its columns


def _table_columns(path: Path, options: InputOptions) -> list[str] | None:
    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            import pyarrow.parquet as pq

            return pq.ParquetFile(path).schema_arrow.names
        if suffix in (".csv", ".tsv"):
            import csv

            with open(path, encoding="utf-8-sig", errors="replace", newline="") as handle:
                return next(csv.reader(handle, delimiter="\t" if suffix == ".tsv" else ","), None)
        from .corpus import jsonl_lines

        columns: dict[str, None] = {}
        objects = 0
        for number, line in jsonl_lines(path, options.max_bytes):
            if number > JSONL_COLUMN_SCAN or objects >= 100:
                break
            row, problem = parse_json_row(line) if line is not None else ({}, "too long")
            if problem is None:
                objects += 1
                columns.update(dict.fromkeys(map(str, row)))
                if options.text_col in row:
                    return list(columns)
        return list(columns) if objects else None
    except OSError as error:
        raise DataError(f"{path}: cannot read ({error.strerror or error})") from None
    except DataError:
        raise
    except Exception as error:  # pyarrow and csv raise many types for a damaged file
        raise DataError(f"{path}: cannot read table ({error})") from None


# ---- reading documents -------------------------------------------------------------------------


def iter_documents(paths: Iterable[str | Document], options: InputOptions = InputOptions()) -> Iterator[Document]:
    """One document per text file, per table row, or (with ``lines``) per non-empty line."""
    for path in paths:
        if isinstance(path, Document):
            yield path
        elif is_table(path, options):
            yield from table_documents(path, options)
        else:
            yield from split_lines(read_document(path, options.max_bytes), options)


def split_lines(document: Document, options: InputOptions) -> Iterator[Document]:
    if not options.lines or document.error:
        yield document
        return
    for number, line in enumerate(document.text.splitlines(), 1):
        if line.strip():
            yield Document(f"{document.source}:{number}", line, extra=document.extra)


def read_documents(paths: Iterable[str | Document], lines: bool = False, max_bytes: int = DEFAULT_MAX_BYTES) -> Iterator[Document]:
    """Plain text (and HTML) documents, one per file: what ``topictag segment`` reads."""
    yield from iter_documents(paths, InputOptions(lines=lines, tables=False, max_bytes=max_bytes))


def read_text(path: str | os.PathLike) -> str:
    """The text of a file exactly as topictag reads it (the text that segment offsets index).

    Decoded as :func:`topictag.corpus.decode` does (a UTF-8 byte-order mark dropped, line ends kept as they
    are in the file, so ``\\r\\n`` counts as two characters); HTML reduced to its main text.
    """
    document = read_document(os.fspath(path))
    if document.error:
        raise DataError(f"{path}: {document.error}")
    return document.text


def read_document(path: str, max_bytes: int = DEFAULT_MAX_BYTES) -> Document:
    """Read and decode one file (or stdin for ``-``) into a :class:`Document`; problems become its ``error``.

    Regular files larger than ``max_bytes`` are refused without reading; streams (stdin, FIFOs, devices)
    are read up to ``max_bytes`` and refused past it, so no input can exhaust memory.
    """
    try:
        if path == "-":
            data = _read_bounded(sys.stdin.buffer, max_bytes)
        else:
            info = os.stat(path)
            if stat.S_ISDIR(info.st_mode):
                return Document(source_name(path), error="cannot read: is a folder")
            if stat.S_ISREG(info.st_mode) and info.st_size > max_bytes:
                return Document(source_name(path), error=_too_large(info.st_size, max_bytes))
            with open(path, "rb") as handle:
                data = _read_bounded(handle, max_bytes)
    except _TooLarge:
        return Document(source_name(path), error=_too_large(None, max_bytes))
    except _Binary:
        return Document(source_name(path), error="binary file, not text")
    except OSError as error:
        return Document(source_name(path), error=f"cannot read: {error.strerror or error}")
    return document_from_bytes(path, data)


def document_from_bytes(path: str, data: bytes) -> Document:
    if looks_binary(data):
        return Document(source_name(path), error="binary file, not text")
    try:
        text, encoding = decode(data)
    except DataError as error:
        return Document(source_name(path), error=str(error))
    extra = {} if encoding == "utf-8" else {"encoding": encoding}
    if path != "-" and Path(path).suffix.lower() in HTML_SUFFIXES:
        text, extractor = extract_html(text)
        extra["extractor"] = extractor
    if not text.strip():
        return Document(source_name(path), error="empty text", extra=extra)
    return Document(source_name(path), text, extra=extra)


def _too_large(size: int | None, max_bytes: int) -> str:
    what = "more than" if size is None else f"{format_bytes(size)} >"
    return f"file too large ({what} limit {format_bytes(max_bytes)}; raise --max-bytes)"


class _TooLarge(Exception):
    pass


class _Binary(Exception):
    pass


def _read_bounded(handle, max_bytes: int) -> bytes:
    """Read at most ``max_bytes`` (else :class:`_TooLarge`); stop at once if the first bytes are binary."""
    chunks, total, sniffed = [], 0, False
    while True:
        chunk = handle.read(min(READ_CHUNK, max_bytes + 1 - total))
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
        if not sniffed and total >= BINARY_SNIFF_BYTES:
            sniffed = True
            if looks_binary(b"".join(chunks)[:BINARY_SNIFF_BYTES]):
                raise _Binary
        if total > max_bytes:
            raise _TooLarge
    return b"".join(chunks)


def looks_binary(data: bytes) -> bool:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return False  # UTF-16 with a byte-order mark: checked when decoding
    head = data[:BINARY_SNIFF_BYTES]
    return b"\x00" in head or head.startswith((b"PK\x03\x04", b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"%PDF"))


def extract_html(html: str) -> tuple[str, str]:
    """The main text of an HTML page by trafilatura; the page's whole visible text if it finds none."""
    try:
        import trafilatura

        text = trafilatura.extract(html, include_comments=False, include_tables=False, favor_recall=True)
    except Exception:  # a hostile page may break the extractor in many ways: fall back to visible text
        text = None
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


# ---- table rows --------------------------------------------------------------------------------


def table_documents(path: str, options: InputOptions, batch_size: int = 512) -> Iterator[Document]:
    """One document per row; a table that breaks partway gives an error document and the run goes on."""
    try:
        for number, row, problem in table_rows(Path(path), replace_undecodable=True, batch_size=batch_size, max_line_bytes=options.max_bytes):
            yield Document(f"{source_name(path)}:{number}", error=row_problem(problem)) if problem else row_document(path, number, row, options)
    except DataError as error:
        yield Document(source_name(path), error=str(error).removeprefix(f"{path}: "))


def row_document(path: str, number: int, row: dict, options: InputOptions) -> Document:
    source = f"{source_name(path)}:{number}"
    if options.id_col and not is_missing(row.get(options.id_col)):
        source = str(row[options.id_col])
    extra = {column: plain_value(row.get(column)) for column in options.keep_cols}
    if options.text_col not in row:
        return Document(source, error=f"no {options.text_col!r} field", extra=extra)
    text = row[options.text_col]
    if is_missing(text):
        return Document(source, error="empty text", extra=extra)
    if not isinstance(text, str):
        return Document(source, error=f"{options.text_col!r} is a {_json_type(text)}, not a string", extra=extra)
    return Document(source, text, error=None if text.strip() else "empty text", extra=extra)


def parse_row_line(path: str, number: int, line: str | None, options: InputOptions) -> Document:
    """The document of one raw JSONL line (``None``: the line was longer than ``max_bytes``)."""
    if line is None:
        return Document(f"{source_name(path)}:{number}", error=f"line longer than {format_bytes(options.max_bytes)}; raise --max-bytes")
    row, problem = parse_json_row(line)
    if problem:
        return Document(f"{source_name(path)}:{number}", error=row_problem(problem))
    return row_document(path, number, row, options)


def row_problem(problem: str) -> str:
    return f"{problem}; raise --max-bytes" if problem.startswith("line longer") else f"malformed JSON line ({problem})"


def _json_type(value) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, (list, tuple)):
        return "list"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def is_missing(value) -> bool:
    if value is None:
        return True
    try:
        return bool(value != value)  # NaN, pandas' NA and NaT
    except (TypeError, ValueError):
        return False


def plain_value(value):
    """A table cell as a JSON-friendly value."""
    if is_missing(value):
        return None
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        try:
            return value.item()
        except (ValueError, TypeError):
            pass
    if isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, (list, tuple)):
        return [plain_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): plain_value(v) for k, v in value.items()}
    if hasattr(value, "tolist"):
        return plain_value(value.tolist())
    return str(value)
