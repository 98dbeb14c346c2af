"""The tagging loop: work items in, one ``(record, failed)`` per input out, in input order, in one or more processes.

Data flow: :func:`work_items` (paths from :func:`topictag.inputs.expand_inputs`; plain files and JSONL lines
stay unread, to be read where they are tagged) -> :func:`tag_items` (chunks of :data:`CHUNK_SIZE`, tagged
in this process, or in worker processes when the input is large enough to pay for them) -> records, written
by :mod:`topictag.outputs`. Memory stays flat: every stage streams chunk by chunk.

Worker processes are forked on Linux (they share the loaded model, so starting one costs milliseconds) and
spawned elsewhere. They ignore Ctrl-C (the parent stops them) and die with the parent, even after
``kill -9``: no orphans keep memory.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import chain

from .corpus import block_lines, jsonl_blocks, jsonl_lines
from .errors import DataError, TopictagError
from .inputs import Document, InputOptions, RegularFile, is_jsonl, is_table, iter_documents, parse_row_line, read_document, source_name
from .outputs import json_line, skip_done

from json.encoder import encode_basestring as _quote  # noqa: E402  the C encoder json.dumps uses

CHUNK_SIZE = 2048  # work items per chunk at most
CHUNK_CHARS = 8 << 20  # and about this many characters
FILE_CHARS = 32 << 10  # what a file not read yet counts for (so at most 256 files per chunk)
JSONL_RUN = 256 << 10  # bytes of JSONL lines sent to a worker as one run
# Below this many work items (files or table rows), one process is faster than starting workers
# (measured with training/benchmark_batch.py --crossover; see docs/BENCHMARKS.md).
PARALLEL_MIN_ITEMS = 4096


@dataclass(frozen=True)
class _JsonLine:
    """A JSONL table row not parsed yet (``line`` None: too long): the process that tags it parses it."""

    path: str
    number: int
    line: str | None


@dataclass(frozen=True)
class _JsonBlock:
    """Whole raw lines of a JSONL table (see :func:`topictag.corpus.jsonl_blocks`), split where they are tagged."""

    path: str
    first: int  # number of the first line
    lines: int
    data: bytes


def work_items(paths: Iterable[str | Document], options: InputOptions = InputOptions(), blocks: bool = False) -> Iterator[Document | str | _JsonLine | _JsonBlock]:
    """Plain files as paths and JSONL rows as raw lines (or, with ``blocks``, runs of raw lines: for worker
    processes, which then split them), to be read where they are tagged; the rest as documents."""
    for path in paths:
        if isinstance(path, Document):
            yield path
        elif is_jsonl(path, options):
            yield from (_jsonl_blocks(path, options) if blocks else _jsonl_items(path, options))
        elif path == "-" or options.lines or is_table(path, options):
            yield from iter_documents([path], options)
        elif not isinstance(path, RegularFile) and not os.path.isfile(path):
            yield read_document(path, options.max_bytes)  # a FIFO or device is read here, as a stream
        else:
            yield path


def _jsonl_items(path: str, options: InputOptions) -> Iterator[_JsonLine | Document]:
    try:
        for number, line in jsonl_lines(path, options.max_bytes):
            yield _JsonLine(path, number, line)
    except OSError as error:
        yield Document(source_name(path), error=f"cannot read: {error.strerror or error}")
    except DataError as error:
        yield Document(source_name(path), error=str(error))


def _jsonl_blocks(path: str, options: InputOptions) -> Iterator[_JsonBlock | _JsonLine | Document]:
    try:
        for first, lines, data in jsonl_blocks(path, options.max_bytes, JSONL_RUN):
            yield _JsonLine(path, first, None) if data is None else _JsonBlock(path, first, lines, data)
    except OSError as error:
        yield Document(source_name(path), error=f"cannot read: {error.strerror or error}")


def read_items(item, options: InputOptions) -> Iterator[Document]:
    """The documents of a work item: one, or each row of a run of JSONL lines."""
    if isinstance(item, _JsonBlock):
        for number, line in block_lines(item.data, item.first, options.max_bytes, "replace", item.path):
            yield parse_row_line(item.path, number, line, options)
    else:
        yield read_item(item, options)


def read_item(item, options: InputOptions) -> Document:
    """The document of a work item, read and decoded here."""
    if isinstance(item, Document):
        return item
    if isinstance(item, _JsonLine):
        return parse_row_line(item.path, item.number, item.line, options)
    return read_document(item, options.max_bytes)


def pending_items(items: Iterable, done: Counter, options: InputOptions) -> Iterator:
    """The work items not yet in a resumed output (see :func:`topictag.outputs.skip_done`)."""

    def source(item):
        if isinstance(item, str):
            return source_name(item)
        if isinstance(item, _JsonLine) and not options.id_col:
            return f"{source_name(item.path)}:{item.number}"
        return read_item(item, options).source

    if options.id_col:  # a row's source is its id: parse each line once, here
        items = (read_item(item, options) if isinstance(item, _JsonLine) else item for item in items)
    return skip_done(items, done, source)


# ---- tagging -------------------------------------------------------------------------------------

_worker_model = None


RECORD_KEYS = {"source", "tags", "top", "scores", "error"}


def _tag_chunk(items, options, threshold, top_k, as_json, model=None) -> list[tuple]:
    """Read and tag one chunk: a ``(record, failed)`` pair per document, in order; JSON lines if ``as_json``.

    JSON lines are written straight from the model's arrays (the same bytes as ``json.dumps`` of the
    record), without building a Prediction and a dict per document.
    """
    model = model if model is not None else _worker_model
    documents = [document for item in items for document in read_items(item, options)]
    readable = [d for d in documents if d.error is None]
    scores, tags, tops = model.tag_table([d.text for d in readable], threshold=threshold, top_k=top_k) if readable else ([], [], [])
    topics = model.topics_
    quoted = [_quote(t) for t in topics]
    results, k = [], 0
    for document in documents:
        if document.error is not None:
            record = {"source": document.source, "error": document.error} | document.extra
            results.append((json_line(record) if as_json else record, True))
            continue
        row_scores, row_tags, top = scores[k], tags[k], tops[k]
        k += 1
        if as_json and not (RECORD_KEYS & document.extra.keys()):
            results.append((_json_record(document, row_scores, row_tags, top, quoted), False))
            continue
        record = {"source": document.source, "tags": [topics[j] for j in row_tags], "top": top, "scores": dict(zip(topics, row_scores))}
        record.update(document.extra)
        results.append((json_line(record) if as_json else record, False))
    return results


def _json_record(document, scores, tags, top, quoted) -> str:
    """``json.dumps(record, ensure_ascii=False) + "\\n"`` for a tagged document, assembled directly."""
    parts = ['{"source": ', _quote(document.source), ', "tags": [', ", ".join([quoted[j] for j in tags]), '], "top": ', _quote(top), ', "scores": {']
    parts.append(", ".join([f"{label}: {score!r}" for label, score in zip(quoted, scores)]))
    parts.append("}")
    for key, value in document.extra.items():
        parts += [", ", _quote(key), ": ", json.dumps(value, ensure_ascii=False)]
    parts.append("}\n")
    return "".join(parts)


def tag_items(
    items: Iterable,
    model,
    *,
    jobs: int = 1,
    threshold: float | None = None,
    top_k: int | None = None,
    options: InputOptions = InputOptions(),
    as_json: bool = False,
    chunk_size: int = CHUNK_SIZE,
    parallel_min_items: int | None = None,
) -> Iterator[tuple]:
    """Tag work items; yield ``(record, failed)`` per document, in input order.

    With ``jobs > 1`` and at least ``parallel_min_items`` items, chunks go to worker processes; the workers
    are started here, before the first result is asked for (so before any progress-bar thread exists).
    """
    items = iter(items)
    if parallel_min_items is None:
        parallel_min_items = PARALLEL_MIN_ITEMS
    if jobs > 1:
        head, count = [], 0
        for item in items:  # runs of JSONL lines count for their lines
            head.append(item)
            count += _size(item)
            if count >= parallel_min_items:
                break
        items = chain(head, items)
        if count >= parallel_min_items:
            return _tag_in_workers(_WorkerPool(jobs, model), items, options, threshold, top_k, as_json, chunk_size)
    return _tag_here(model, items, options, threshold, top_k, as_json, chunk_size)


def _tag_here(model, items, options, threshold, top_k, as_json, chunk_size):
    for chunk in _chunks(items, chunk_size):
        yield from _tag_chunk(chunk, options, threshold, top_k, as_json, model=model)


def _tag_in_workers(pool, items, options, threshold, top_k, as_json, chunk_size):
    try:
        pending = deque()
        for chunk in _chunks(items, chunk_size):
            pending.append(pool.submit(_tag_chunk, chunk, options, threshold, top_k, as_json))
            if len(pending) >= 2 * pool.jobs:
                yield from pool.result(pending.popleft())
        while pending:
            yield from pool.result(pending.popleft())
    except BaseException:
        pool.stop()
        raise
    pool.close()


class _WorkerPool:
    """Processes that tag chunks with ``model``; results are collected in submission order by the caller."""

    def __init__(self, jobs: int, model):
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        method = "fork" if sys.platform.startswith("linux") else "spawn"
        self.jobs = jobs
        self._executor = ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context(method), initializer=_init_worker, initargs=(model, os.getpid()))
        # Start every worker now: forking later, from a thread, is unsafe.
        for future in [self._executor.submit(_ready) for _ in range(jobs)]:
            future.result()

    def submit(self, *args):
        return self._executor.submit(*args)

    def result(self, future):
        from concurrent.futures.process import BrokenProcessPool

        try:
            return future.result()
        except BrokenProcessPool:
            raise TopictagError("a worker process died (out of memory?); run again with fewer --jobs, or with --resume to continue") from None

    def close(self):
        self._executor.shutdown(wait=True)

    def stop(self):
        """Stop at once (Ctrl-C, SIGTERM, an error): cancel what is queued and end the workers."""
        processes = list(getattr(self._executor, "_processes", {}).values())
        self._executor.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            process.terminate()
        for process in processes:
            process.join(timeout=5)


def _ready():
    return True


def _init_worker(model, parent_pid: int) -> None:
    global _worker_model
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and stops the workers
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _die_with_parent(parent_pid)
    _worker_model = model


def _die_with_parent(parent_pid: int) -> None:
    """End this worker as soon as the parent process is gone (even after ``kill -9`` of the parent)."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent_pid:
        os._exit(1)

    def watch():  # for systems without PR_SET_PDEATHSIG, and in case it was not set
        while True:
            time.sleep(1.0)
            if os.getppid() != parent_pid:
                os._exit(1)

    threading.Thread(target=watch, daemon=True, name="topictag-parent-watch").start()


def _chunks(items, size, max_chars: int = CHUNK_CHARS) -> Iterator[list]:
    """Chunks of at most ``size`` items and about ``max_chars`` characters (a file not read yet counts as
    :data:`FILE_CHARS`), so that short texts are tagged in large batches and long ones in small."""
    chunk, chars = [], 0
    count = 0
    for item in items:
        chunk.append(item)
        chars += _weight(item)
        count += _size(item)
        if count >= size or chars >= max_chars:
            yield chunk
            chunk, chars, count = [], 0, 0
    if chunk:
        yield chunk


def _size(item) -> int:
    return item.lines if isinstance(item, _JsonBlock) else 1


def _weight(item) -> int:
    if isinstance(item, _JsonBlock):
        return len(item.data)
    if isinstance(item, _JsonLine):
        return len(item.line) if item.line else 0
    if isinstance(item, Document):
        return len(item.text)
    return FILE_CHARS
