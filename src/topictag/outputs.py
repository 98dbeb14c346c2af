"""Write records and files: JSONL, CSV, Parquet or text, to stdout, a file or a device; atomically; locked; resumable.

Where output lands (:func:`resolve_output`):

- a regular file (or a symbolic link to one: its target is written) is replaced atomically, through a
  temporary file beside it renamed into place once complete, so a failed run (full disk, ``RLIMIT_FSIZE``,
  Ctrl-C, SIGTERM) leaves the old file untouched. JSONL record output is the exception: it is append-only
  and flushed as it goes, so a crashed run can be continued with ``--resume``.
- anything else (``/dev/null``, ``/dev/stdout``, a FIFO, a terminal) is written straight into, never replaced.

A file being written is locked (an exclusive ``flock`` on a ``.<name>.lock`` file beside it), so a second run
writing the same output fails at once with a clear message instead of interleaving or losing records.
Text is always written as UTF-8; characters that cannot be encoded (lone surrogates from non-UTF-8 file
names or JSON escapes) are written as backslash escapes (``\\udcff``), which JSON reads back as the same string.
"""

from __future__ import annotations

import csv
import errno
import io
import json
import os
import stat
import sys
import tempfile
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .errors import DataError, OutputError, UsageError

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; outputs are still written atomically
    fcntl = None

FLUSH_EVERY = 512  # JSONL records between flushes: a crash loses at most this many to --resume
CSV_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class Target:
    """Where an output goes: ``path`` as the user named it, ``write_path`` the file actually written."""

    path: Path
    write_path: Path
    regular: bool  # a regular file (replaced atomically and locked); else a device/FIFO written straight in


def format_for(output: Path | None, explicit: str | None, by_suffix: dict[str, str], default: str) -> str:
    """The output format: ``explicit``, else the output file's extension, else ``default``.

    An explicit format that contradicts a known extension is a :class:`UsageError`: ``-o tags.csv --format
    jsonl`` would leave a file whose name lies about its content.
    """
    implied = by_suffix.get(output.suffix.lower()) if output is not None else None
    if explicit is not None and implied is not None and explicit != implied:
        raise UsageError(f"--format {explicit} contradicts the output file's extension {output.suffix!r} (that is {implied})")
    return explicit or implied or default


def resolve_output(path: Path, inputs: Iterable = ()) -> Target:
    """Check where ``path`` points before any work, and that it is not one of ``inputs``."""
    path = Path(path)
    try:
        info = os.stat(path)
    except FileNotFoundError:
        info = None
    except OSError as error:
        raise OutputError(f"{path}: {_reason(error)}") from None
    if info is not None and stat.S_ISDIR(info.st_mode):
        raise OutputError(f"{path}: is a folder; name a file to write")
    if info is not None and not stat.S_ISREG(info.st_mode):
        return Target(path, path, regular=False)
    real = Path(os.path.realpath(path))
    if not real.parent.is_dir():
        raise OutputError(f"{path}: no such folder {str(real.parent)!r}")
    if info is not None:
        for item in inputs:
            if isinstance(item, str) and item != "-" and _same_file(item, info):
                raise UsageError(f"--output {path} is also an input; write the results to another file")
    return Target(path, real, regular=True)


def _same_file(path: str, info: os.stat_result) -> bool:
    try:
        other = os.stat(path)
    except OSError:
        return False
    return (other.st_dev, other.st_ino) == (info.st_dev, info.st_ino)


def _reason(error: OSError) -> str:
    if error.errno == errno.ELOOP:
        return "symbolic link loop"
    if error.errno == errno.EFBIG:
        return "file too large for this system's file size limit"
    return error.strerror or str(error)


# ---- locking and atomic files -------------------------------------------------------------------


def flock_open(path: Path, mode: str, error_type, busy: str, what: Path | None = None):
    """``path`` opened with ``mode`` and holding an exclusive ``flock``; ``busy`` (raised as ``error_type``) if
    another process holds it. Closing the handle releases the lock."""
    try:
        handle = open(path, mode)
    except OSError as error:
        raise error_type(f"{what or path}: cannot lock for writing ({_reason(error)})") from None
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        raise error_type(busy) from None
    return handle


def lock_beside(path: Path, error_type, busy: str):
    """An open handle holding an exclusive ``flock`` on ``.<name>.lock`` beside ``path`` (see :func:`flock_open`)."""
    lock_path = path.with_name(f".{path.name}.lock")
    while True:
        handle = flock_open(lock_path, "a+b", error_type, busy, what=path)
        try:  # the lock file may have been removed by the run that held it: lock the file that is there now
            if os.fstat(handle.fileno()).st_ino == os.stat(lock_path).st_ino:
                return handle
        except FileNotFoundError:
            pass
        handle.close()


@contextmanager
def locked(target: Target):
    """Hold an exclusive lock for writing ``target`` (a no-op for devices and FIFOs)."""
    if not target.regular or fcntl is None:
        yield
        return
    lock_path = target.write_path.with_name(f".{target.write_path.name}.lock")
    handle = lock_beside(target.write_path, OutputError, f"{target.path}: another topictag run is writing this file; wait for it or choose another output")
    try:
        yield
    finally:
        try:
            os.unlink(lock_path)
        except OSError:
            pass
        handle.close()


@contextmanager
def atomic_file(target: Target, what: str = "output"):
    """A binary handle whose content replaces ``target`` only when the block completes without error.

    Devices and FIFOs are written straight into. Any OS error (full disk, file size limit, permissions)
    becomes one :class:`OutputError` that says the old file was left as it was.
    """
    if not target.regular:
        try:
            with open(target.write_path, "wb") as handle:
                yield handle
        except OSError as error:
            raise OutputError(f"{target.path}: cannot write {what} ({_reason(error)})") from None
        return
    path = target.write_path
    try:
        fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as error:
        raise OutputError(f"{target.path}: cannot write {what} ({_reason(error)})") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, _mode_for(path))
        os.replace(temp, path)
    except OSError as error:
        _remove(temp)
        kept = "the old file is unchanged" if path.exists() else "nothing was written"
        raise OutputError(f"{target.path}: cannot write {what} ({_reason(error)}); {kept}") from None
    except BaseException:
        _remove(temp)
        raise


def _mode_for(path: Path) -> int:
    """Keep an existing file's permissions; a new file gets the usual 0666 minus the umask (mkstemp gives 0600)."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        mask = os.umask(0)
        os.umask(mask)
        return 0o666 & ~mask


def _remove(path) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def write_bytes_atomically(path, data: bytes, what: str = "file") -> None:
    """Write ``data`` to ``path`` (resolved as :func:`resolve_output` does), atomically and locked."""
    target = resolve_output(Path(path))
    with locked(target), atomic_file(target, what) as handle:
        handle.write(data)


# ---- records -----------------------------------------------------------------------------------


def encode(text: str) -> bytes:
    return text.encode("utf-8", "backslashreplace")


def safe_text(text: str) -> str:
    """``text`` as valid UTF-8 text: lone surrogates become backslash escapes."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def json_line(record: dict) -> str:
    return json.dumps(record, ensure_ascii=False) + "\n"


def csv_columns(labels, extra_columns=()) -> list[str]:
    return ["source", "top", "tags", *[f"score_{label}" for label in labels], "error", *extra_columns]


def flatten_record(record: dict, columns: list[str]) -> dict:
    """A record as flat columns: ``tags`` a list, one ``score_<label>`` per label."""
    scores = record.get("scores", {})
    flat = {}
    for column in columns:
        if column.startswith("score_") and column[6:] in scores:
            flat[column] = scores[column[6:]]
        else:
            flat[column] = record.get(column)
    return flat


def csv_cell(value, column: str = ""):
    """A CSV cell: tags joined by ``|``, other lists and objects as JSON, and text that a spreadsheet would run
    as a formula (starting with ``= + - @``, tab or carriage return) prefixed with ``'``, as spreadsheet
    tools expect."""
    if value is None:
        return ""
    if column == "tags" and isinstance(value, list):
        value = "|".join(value)
    elif isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, str) and value.startswith(CSV_FORMULA_STARTS):
        return "'" + value
    return value


WRITE_EVERY = 128  # JSONL records joined into one write (a write per record costs more than the record)


def write_jsonl(lines: Iterable[str], handle) -> int:
    """Write JSON lines to a binary handle, flushing every :data:`FLUSH_EVERY` lines."""
    count = 0
    pending: list[str] = []
    for count, line in enumerate(lines, 1):
        pending.append(line if isinstance(line, str) else json_line(line))
        if len(pending) >= WRITE_EVERY or count % FLUSH_EVERY == 0:
            handle.write(encode("".join(pending)))
            pending.clear()
            if count % FLUSH_EVERY == 0:
                handle.flush()
    if pending:
        handle.write(encode("".join(pending)))
    handle.flush()
    return count


def write_csv(records: Iterable[dict], handle, labels, extra_columns=()) -> int:
    """Stream records as CSV to a binary handle (never built whole in memory)."""
    columns = csv_columns(labels, extra_columns)
    text = io.TextIOWrapper(handle, encoding="utf-8", errors="backslashreplace", newline="", write_through=False)
    writer = csv.writer(text)
    writer.writerow(columns)
    count = 0
    for count, record in enumerate(records, 1):
        writer.writerow([csv_cell(v, c) for c, v in flatten_record(record, columns).items()])
    text.flush()
    text.detach()
    return count


def write_parquet(records: Iterable[dict], handle, labels, extra_columns=(), row_group: int = 4096) -> int:
    """Write records to Parquet row group by row group: ``tags`` a list column, scores floats, the rest text."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns = csv_columns(labels, extra_columns)

    def kind(column):
        if column == "tags":
            return pa.list_(pa.string())
        return pa.float64() if column.startswith("score_") and column[6:] in labels else pa.string()

    schema = pa.schema([pa.field(c, kind(c)) for c in columns])
    count = 0
    with pq.ParquetWriter(handle, schema) as writer:
        chunk = []
        for record in records:
            row = flatten_record(record, columns)
            for column, value in row.items():
                if column == "tags":
                    row[column] = None if value is None else [safe_text(v) for v in value]
                elif value is not None and schema.field(column).type == pa.string():
                    row[column] = safe_text(value if isinstance(value, str) else json.dumps(value, ensure_ascii=False) if isinstance(value, (list, dict)) else str(value))
            chunk.append(row)
            if len(chunk) >= row_group:
                writer.write_table(pa.Table.from_pylist(chunk, schema=schema))
                count += len(chunk)
                chunk = []
        if chunk or not count:
            writer.write_table(pa.Table.from_pylist(chunk, schema=schema))
            count += len(chunk)
    return count


@contextmanager
def appending(target: Target, resume: bool):
    """A binary handle for streamed JSONL records: appended to on ``resume``, else the file is emptied first.

    The caller holds :func:`locked`. A write error says how to continue.
    """
    try:
        handle = open(target.write_path, "ab" if resume or not target.regular else "wb")
    except OSError as error:
        raise OutputError(f"{target.path}: cannot write ({_reason(error)})") from None
    try:
        yield handle
    except OSError as error:
        hint = "; free space and run again with --resume to continue" if target.regular else ""
        raise OutputError(f"{target.path}: cannot write ({_reason(error)}){hint}") from None
    finally:
        try:
            handle.close()
        except OSError:
            pass


def write_stdout(chunks: Iterable[str | bytes]) -> None:
    """Stream text to stdout as UTF-8, whatever the locale."""
    out = sys.stdout.buffer if hasattr(sys.stdout, "buffer") else None
    for chunk in chunks:
        if out is None:
            sys.stdout.write(chunk if isinstance(chunk, str) else chunk.decode("utf-8"))
        else:
            out.write(chunk if isinstance(chunk, bytes) else encode(chunk))
    (out or sys.stdout).flush()


# ---- resuming ------------------------------------------------------------------------------------


def resume_counts(path: Path) -> Counter:
    """How many records each source already has in a JSONL output; a torn last line (a crash) is cut off.

    Inputs are skipped by position (the n-th input with a given source is done if the file holds n records
    of that source), so repeated sources, such as duplicate ids, are each tagged exactly once.
    """
    counts: Counter = Counter()
    if not path.exists():
        return counts
    try:
        with open(path, "rb+") as handle:
            offset, number = 0, 0
            for line in handle:
                number += 1
                if not line.endswith(b"\n"):
                    handle.truncate(offset)
                    break
                offset += len(line)
                if line.strip():
                    counts[_record_source(line, path, number)] += 1
    except OSError as error:
        raise OutputError(f"{path}: cannot resume ({_reason(error)})") from None
    return counts


def _record_source(line: bytes, path: Path, number: int) -> str:
    try:
        record = json.loads(line)
        source = record["source"]
    except (ValueError, KeyError, TypeError, RecursionError):
        source = None
    if not isinstance(source, str):
        raise DataError(f"{path}:{number}: not a topictag record; cannot resume from this file")
    return source


def skip_done(items: Iterable, done: Counter, source_of) -> Iterator:
    """The items not yet recorded: the k-th occurrence of a source is done if ``done[source] > k``."""
    seen: Counter = Counter()
    for item in items:
        source = source_of(item)
        seen[source] += 1
        if seen[source] > done.get(source, 0):
            yield item
