"""The ``topictag`` command line: parses arguments, calls the library, turns its errors into messages.

scikit-learn and pandas are imported inside commands, so ``--help`` and ``--version`` stay fast.
"""

from __future__ import annotations

import io
import json
import os
import re
import signal
import sys
import threading
import warnings
from contextlib import contextmanager, nullcontext
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from . import __version__
from .errors import DataError, TopictagError, UsageError

app = typer.Typer(
    help="Tag news articles with topics, train on your own labels, explain every tag.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


class TagFormat(str, Enum):
    table = "table"
    jsonl = "jsonl"
    csv = "csv"
    parquet = "parquet"


class SegmentFormat(str, Enum):
    table = "table"
    json = "json"
    jsonl = "jsonl"
    html = "html"


class ReportFormat(str, Enum):
    table = "table"
    json = "json"


class Classifier(str, Enum):
    auto = "auto"
    logreg = "logreg"
    svm = "svm"
    sgd = "sgd"
    cnb = "cnb"


TAG_SUFFIXES = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".parquet": "parquet", ".txt": "table"}
SEGMENT_SUFFIXES = {".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl", ".html": "html", ".htm": "html", ".txt": "table"}
PATH_LIKE_SUFFIXES = {".txt", ".md", ".html", ".htm", ".json", ".jsonl", ".csv", ".tsv", ".xml", ".text"}

# Options shared by several commands, written once.
ModelOption = Annotated[Optional[Path], typer.Option("--model", "-m", help="Model bundle; default: the bundled default model.")]
TextColOption = Annotated[str, typer.Option("--text-col", help="Column holding the text.")]
LabelColOption = Annotated[Optional[str], typer.Option("--label-col", help="Column holding the label(s); default 'label' or 'labels'.")]
ReportFormatOption = Annotated[ReportFormat, typer.Option("--format", "-f", help="table for people, json for machines.")]
MaxBytesOption = Annotated[int, typer.Option("--max-bytes", min=1, help="Refuse texts (files, streams, table lines) larger than this many bytes; they get an error record.")]


def _version(value: bool):
    if value:
        typer.echo(f"topictag {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")] = False,
):
    """Tag news articles with topics, train on your own labels, explain every tag."""


# ---- errors, warnings and signals -----------------------------------------------------------------


class _Terminated(BaseException):
    """SIGTERM, raised in the main thread so that temporary files are cleaned up as after Ctrl-C."""


def _say(message: str) -> None:
    """One line on stderr, whatever characters the message holds."""
    stream = sys.stderr
    data = (message + "\n").encode("utf-8", "backslashreplace")
    if hasattr(stream, "buffer"):
        stream.flush()
        stream.buffer.write(data)
        stream.buffer.flush()
    else:
        stream.write(data.decode("utf-8"))


@contextmanager
def _user_errors():
    """Show library errors and warnings as one line on stderr; errors exit with code 1 (usage: 2)."""
    previous = _on_sigterm()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            yield
        except TopictagError as error:
            _echo_warnings(caught)
            _say(f"Error: {_one_line(error)}")
            raise typer.Exit(2 if isinstance(error, UsageError) else 1) from None
        except KeyboardInterrupt:
            _say("Error: interrupted")
            raise typer.Exit(130) from None
        except _Terminated:
            _say("Error: terminated")
            raise typer.Exit(143) from None
        except BrokenPipeError:
            _quiet_stdout()  # the reader went away (e.g. `| head`): stop quietly, like other tools
            raise typer.Exit(141) from None
        except MemoryError:
            _say("Error: out of memory")
            raise typer.Exit(1) from None
        except OSError as error:
            _say(f"Error: {error.filename + ': ' if error.filename else ''}{error.strerror or error}")
            raise typer.Exit(1) from None
        except typer.Exit:
            raise
        except Exception as error:  # a bug: still one line, with a way to see the traceback
            if os.environ.get("TOPICTAG_DEBUG"):
                raise
            _say(f"Error: internal error ({type(error).__name__}: {_one_line(error)}); set TOPICTAG_DEBUG=1 to see where")
            raise typer.Exit(1) from None
        finally:
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)
    _echo_warnings(caught)


def _one_line(error) -> str:
    return " ".join(str(error).split())


def _on_sigterm():
    if threading.current_thread() is not threading.main_thread():
        return None

    def handler(signum, frame):
        raise _Terminated

    return signal.signal(signal.SIGTERM, handler)


def _quiet_stdout():
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, io.UnsupportedOperation):
        pass


def _echo_warnings(caught):
    seen = set()
    for warning in caught:
        message = str(warning.message)
        if message not in seen and issubclass(warning.category, UserWarning):
            seen.add(message)
            _say(f"Warning: {message}")


def _load_model(path: Optional[Path]):
    from .default import load_model

    return load_model(path)


def _output_target(output: Optional[Path], inputs=()):
    from .outputs import resolve_output

    return None if output is None else resolve_output(output, inputs)


def _write_text(text: str, target) -> None:
    """Text to stdout, or to ``target`` atomically (locked)."""
    from .outputs import atomic_file, encode, locked, write_stdout

    if target is None:
        write_stdout([text])
        return
    with locked(target), atomic_file(target) as handle:
        handle.write(encode(text))


# ---- train ---------------------------------------------------------------------------------------


@app.command()
def train(
    data: Annotated[Path, typer.Argument(help="CSV/TSV, JSONL or Parquet table, or a folder with one sub-folder of .txt files per label.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to write the model bundle.")],
    text_col: TextColOption = "text",
    label_col: LabelColOption = None,
    negative_label: Annotated[str, typer.Option(help="Label of examples that belong to no topic; never emitted as a tag.")] = "other",
    classifier: Annotated[Optional[Classifier], typer.Option(help="Linear model fitted one-vs-rest per label; auto keeps the best of svm, sgd and cnb by cross-validated micro-F1. Default: auto, or the default model's settings with --base default.", show_default=False)] = None,
    negative_weight: Annotated[Optional[float], typer.Option(min=0.0, help="Choose thresholds as if texts without a label were this many times as common as in DATA. Default: 1, or the default model's 4 with --base default.", show_default=False)] = None,
    cv: Annotated[int, typer.Option(min=2, help="Cross-validation folds for thresholds and metrics.")] = 5,
    seed: Annotated[int, typer.Option(min=0, help="Random seed: same data and seed give identical predictions.")] = 0,
    base: Annotated[Optional[str], typer.Option(help="Also train on a base set: 'default' (the default model's snippets) or a labeled data path; your labels win.")] = None,
    format: ReportFormatOption = ReportFormat.table,
):
    """Train a model on labeled texts, print its cross-validated quality, and save it."""
    with _user_errors():
        from .corpus import read_dataset
        from .default import DEFAULT_MODEL_PARAMS
        from .model import TopicClassifier

        target = _output_target(out, [str(data)])
        dataset = read_dataset(data, text_col=text_col, label_col=label_col)
        if negative_weight is not None and negative_weight <= 0:
            raise UsageError("--negative-weight must be greater than 0")
        if base is not None and base != "default" and (not base.strip() or not Path(base).exists()):
            raise UsageError(f"--base {base!r}: give 'default' or a path to labeled data")
        # On top of the default model, train as it was trained (unless told otherwise), so that the
        # before/after table compares like with like.
        params = dict(DEFAULT_MODEL_PARAMS) if base == "default" and classifier is None else {"classifier": "auto"}
        params.update(negative_label=negative_label, cv=cv, random_state=seed, base=base)
        if classifier is not None:
            params["classifier"] = classifier.value
        if negative_weight is not None:
            params["negative_weight"] = negative_weight
        params.setdefault("negative_weight", 1.0)
        model = TopicClassifier(**params)
        model.fit(dataset.texts, dataset.label_sets)
        model.training_info_["data"] = {"path": dataset.source, "sha256": dataset.sha256}
        model.save(target.write_path)
    examples = model.training_info_["n_examples"]
    _print_report(model.cv_metrics_, format, title=f"Cross-validated quality ({cv} folds, {examples} examples{', with base ' + base if base else ''})")
    if base is not None and format is ReportFormat.table:
        _print_base_comparison(base, model)
    if base is not None:
        _warn_thin_new_topics(dataset, model)
    _say(f"Saved {out}")


# ---- tag -----------------------------------------------------------------------------------------


@app.command()
def tag(
    inputs: Annotated[list[str], typer.Argument(help="Files, folders (recursive), globs, tables (.csv .tsv .jsonl .parquet: one input per row), FIFOs, or - for stdin.")],
    model_path: ModelOption = None,
    format: Annotated[Optional[TagFormat], typer.Option("--format", "-f", help="Default: from the --output extension (.jsonl .csv .parquet .txt), else table on a terminal, jsonl otherwise.")] = None,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Write records here instead of stdout.")] = None,
    top_k: Annotated[Optional[int], typer.Option(min=1, help="Keep at most this many tags per input.")] = None,
    threshold: Annotated[Optional[float], typer.Option(min=0.0, max=1.0, help="Use this probability cut-off for every label instead of its own.")] = None,
    lines: Annotated[bool, typer.Option("--lines", help="Treat each non-empty line of a text input as its own input (e.g. a file of headlines).")] = False,
    include: Annotated[Optional[list[str]], typer.Option(help="In folders, tag only files matching this glob (repeatable).")] = None,
    exclude: Annotated[Optional[list[str]], typer.Option(help="In folders, skip files matching this glob (repeatable).")] = None,
    text_col: TextColOption = "text",
    id_col: Annotated[Optional[str], typer.Option("--id-col", help="Table column to use as each row's source.")] = None,
    keep_cols: Annotated[Optional[list[str]], typer.Option("--keep-cols", help="Table columns to carry into the records (repeatable or comma-separated).")] = None,
    jobs: Annotated[int, typer.Option("--jobs", "-j", min=0, help="Worker processes; 0 = all cores. Small runs stay in one process.")] = 0,
    resume: Annotated[bool, typer.Option("--resume", help="Continue a JSONL --output: skip inputs already recorded, repair a torn last line, append.")] = False,
    strict: Annotated[bool, typer.Option("--strict", help="Exit with code 1 if any input failed.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar and no summary.")] = False,
    max_bytes: MaxBytesOption = 64 * 1024 * 1024,
):
    """Tag inputs with topics: one record per input (source, tags, top, scores), in input order."""
    import time

    from . import batch, inputs as reading, outputs

    keep = tuple(c.strip() for item in keep_cols or [] for c in item.split(",") if c.strip())
    options = reading.InputOptions(lines=lines, text_col=text_col, id_col=id_col, keep_cols=keep, max_bytes=max_bytes)
    counter = _Counter()
    with _user_errors():
        default_format = "table" if output is None and sys.stdout.isatty() else "jsonl"
        fmt = outputs.format_for(output, format.value if format else None, TAG_SUFFIXES, default_format)
        if fmt == "parquet" and output is None:
            raise UsageError("--format parquet needs --output")
        if resume and (output is None or fmt != "jsonl"):
            raise UsageError("--resume needs a JSONL --output")
        paths = reading.expand_inputs(inputs, include or [], exclude or [])
        reading.check_tables(paths, options)
        target = _output_target(output, paths)
        if resume and not target.regular:
            raise UsageError(f"--resume needs a regular file; {output} is not one")
        model = _load_model(model_path)
        with outputs.locked(target) if target else nullcontext():
            done = outputs.resume_counts(target.write_path) if resume else None
            workers = jobs or _cores()
            # workers split runs of JSONL lines themselves; a resumed run needs each line's source here
            items = batch.work_items(paths, options, blocks=workers > 1 and not done)
            if done:
                items = batch.pending_items(items, done, options)
            results = batch.tag_items(items, model, jobs=workers, threshold=threshold, top_k=top_k, options=options, as_json=fmt == "jsonl")
            records = counter.count(results)
            if not quiet and sys.stderr.isatty():
                known = not (lines or any(isinstance(p, str) and (p == "-" or reading.is_table(p, options)) for p in paths))
                records = _with_progress(records, total=len(paths) if known and not done else None)
            started = time.perf_counter()
            _write_records(records, fmt, target, model.topics_, keep, resume)
            seconds = time.perf_counter() - started
    if not quiet:
        rate = counter.total / seconds if seconds > 0 else 0.0
        skipped = f", {sum(done.values()):,} already done" if done else ""
        tagged = counter.total - counter.failed
        _say(f"Tagged {tagged:,} input{'' if tagged == 1 else 's'}, {counter.failed:,} failed{skipped}, in {seconds:.1f} s ({rate:,.0f} docs/s)")
    if strict and counter.failed:
        raise typer.Exit(1)


def _cores() -> int:
    from .model import _cores as usable_cores  # one definition; imported only when a command needs it

    return usable_cores()


def _write_records(records, fmt: str, target, labels, keep, resume: bool) -> None:
    from . import outputs

    if fmt == "table":
        _write_text(_tag_table_text(list(records), to_terminal=target is None), target)
    elif fmt == "jsonl" and target is not None:
        with outputs.appending(target, resume) as handle:
            outputs.write_jsonl(records, handle)
    elif target is None:
        out = sys.stdout.buffer
        if fmt == "jsonl":
            outputs.write_jsonl(records, out)
        else:
            outputs.write_csv(records, out, labels, keep)
        out.flush()
    else:
        writer = outputs.write_csv if fmt == "csv" else outputs.write_parquet
        with outputs.atomic_file(target) as handle:
            writer(records, handle, labels, keep)


class _Counter:
    def __init__(self):
        self.total = self.failed = 0

    def count(self, results):
        for record, failed in results:
            self.total += 1
            self.failed += failed
            yield record


def _with_progress(records, total):
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = [TextColumn("tagging"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()]
    with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task("tag", total=total)
        for record in records:
            yield record
            progress.advance(task)


# ---- segment -------------------------------------------------------------------------------------


@app.command()
def segment(
    inputs: Annotated[list[str], typer.Argument(help="Documents: files, folders (recursive), globs, or - for stdin.")],
    model_path: ModelOption = None,
    format: Annotated[Optional[SegmentFormat], typer.Option("--format", "-f", help="Default: from the --output extension (.json .jsonl .html .txt), else table on a terminal, json otherwise.")] = None,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Write here (atomically) instead of stdout.")] = None,
    merge: Annotated[bool, typer.Option("--merge", help="Join neighbouring stories that got the same label (topic runs instead of stories).")] = False,
    furniture: Annotated[bool, typer.Option("--furniture", help="Also output the page furniture spans (label null, kind furniture).")] = False,
    furniture_pattern: Annotated[
        Optional[list[str]], typer.Option("--furniture-pattern", help="Extra regular expression: lines it matches whole are furniture (repeatable).")
    ] = None,
    max_bytes: MaxBytesOption = 64 * 1024 * 1024,
):
    """Split documents into their stories, each with its topic and exact character offsets; set furniture aside."""
    from . import outputs
    from .inputs import expand_inputs, read_documents
    from .segment import DEFAULT_FURNITURE_PATTERNS

    with _user_errors():
        default_format = "table" if output is None and sys.stdout.isatty() else "json"
        fmt = outputs.format_for(output, format.value if format else None, SEGMENT_SUFFIXES, default_format)
        patterns = DEFAULT_FURNITURE_PATTERNS + [_checked_pattern(p) for p in furniture_pattern or []]
        paths = expand_inputs(inputs)
        target = _output_target(output, paths)
        model = _load_model(model_path)
        results = []
        for document in read_documents(paths, max_bytes=max_bytes):
            if document.error:
                results.append((document, None))
            else:
                results.append((document, model.segment(document.text, furniture_patterns=patterns, merge=merge, furniture=furniture)))
        records = [
            {"source": outputs.safe_text(d.source), "error": d.error} if segments is None else {"source": outputs.safe_text(d.source), "segments": [s.to_dict() for s in segments]}
            for d, segments in results
        ]
        if fmt == "json":
            payload = records[0] if len(records) == 1 else records
            _write_text(json.dumps(payload, ensure_ascii=False, indent=2) + "\n", target)
        elif fmt == "jsonl":
            _write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), target)
        elif fmt == "html":
            from .render import segments_html

            documents = [(d.source, d.text, segments or []) for d, segments in results]
            _write_text(segments_html(documents, model.topics_, model.negative_label), target)
        else:
            _write_text(_segment_table_text(records, to_terminal=target is None), target)


def _checked_pattern(pattern: str) -> str:
    try:
        re.compile(pattern)
    except (re.error, RecursionError, OverflowError) as error:
        raise UsageError(f"--furniture-pattern {pattern!r} is not a valid regular expression ({error})") from None
    return pattern


# ---- evaluate, explain, info ------------------------------------------------------------------------


@app.command()
def evaluate(
    data: Annotated[Path, typer.Argument(help="Labeled data in any format 'train' reads.")],
    model_path: ModelOption = None,
    text_col: TextColOption = "text",
    label_col: LabelColOption = None,
    format: ReportFormatOption = ReportFormat.table,
):
    """Score a model on labeled data: per-label precision/recall/F1 and the confusion between labels."""
    with _user_errors():
        from .corpus import read_dataset
        from .metrics import evaluate_predictions

        dataset = read_dataset(data, text_col=text_col, label_col=label_col)
        model = _load_model(model_path)
        predictions = model.tag_many(dataset.texts)
        gold = [tuple(label for label in labels if label != model.negative_label) for labels in dataset.label_sets]
        unknown = sorted({label for labels in gold for label in labels} - set(model.topics_))
        if unknown:
            warnings.warn(f"labels the model does not know are counted as misses: {', '.join(unknown)}")
        report = evaluate_predictions(gold, [p.tags for p in predictions], model.topics_, model.negative_label, tops=[p.top for p in predictions])
        from .metrics import calibration_report

        probabilities = [[p.scores[t] for t in model.topics_] for p in predictions]
        truth = [[t in labels for t in model.topics_] for labels in gold]
        report["calibration"] = calibration_report(probabilities, truth, model.topics_)
    _print_report(report, format, title=f"Evaluation on {data} ({len(dataset)} examples)")
    if format is ReportFormat.table:
        _print_calibration(report["calibration"])


@app.command()
def explain(
    text_or_file: Annotated[str, typer.Argument(help="Text to explain, a file holding it, or - for stdin.")],
    model_path: ModelOption = None,
    label: Annotated[Optional[list[str]], typer.Option("--label", "-l", help="Label to explain (repeatable); default: the text's tags, or its best label.")] = None,
    terms: Annotated[int, typer.Option(min=1, help="Terms to show in each direction.")] = 10,
    format: ReportFormatOption = ReportFormat.table,
):
    """Show which terms pushed each label's score up and down (weight x feature, in log-odds)."""
    from .inputs import read_document

    with _user_errors():
        text = text_or_file
        if text_or_file == "-" or os.path.exists(text_or_file):
            document = read_document(text_or_file)
            if document.error:
                raise DataError(f"{text_or_file}: {document.error}")
            text = document.text
        elif _looks_like_a_path(text_or_file):
            raise DataError(f"{text_or_file}: no such file (to explain this text itself, pipe it in: echo '{text_or_file}' | topictag explain -)")
        model = _load_model(model_path)
        explanations = model.explain(text, labels=label, n_terms=terms)
    if format is ReportFormat.json:
        typer.echo(json.dumps([e.to_dict() for e in explanations], indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    console = Console()
    for e in explanations:
        verdict = "tagged" if e.tagged else "not tagged"
        console.print(f"[bold]{e.label}[/bold]: p={e.probability:.3f} (threshold {e.threshold:.3f}, {verdict}); bias {e.bias:+.2f}")
        table = Table()
        table.add_column("pushed up", style="green")
        table.add_column("", justify="right")
        table.add_column("pushed down", style="red")
        table.add_column("", justify="right")
        for i in range(max(len(e.up), len(e.down))):
            up = e.up[i] if i < len(e.up) else ("", None)
            down = e.down[i] if i < len(e.down) else ("", None)
            table.add_row(up[0], "" if up[1] is None else f"{up[1]:+.3f}", down[0], "" if down[1] is None else f"{down[1]:+.3f}")
        console.print(table)


def _looks_like_a_path(text: str) -> bool:
    """One word that names a file (``missing.txt``, ``news/a``): surely meant as a file, not as text."""
    if not text or any(c.isspace() for c in text):
        return False
    return os.sep in text or Path(text).suffix.lower() in PATH_LIKE_SUFFIXES


@app.command()
def info(
    model_file: Annotated[Optional[Path], typer.Argument(help="Model bundle (or use --model); default: the bundled default model.")] = None,
    model_path: ModelOption = None,
    format: ReportFormatOption = ReportFormat.table,
):
    """Show a model's labels, thresholds, training metadata and cross-validated metrics."""
    with _user_errors():
        if model_file is not None and model_path is not None and model_file != model_path:
            raise UsageError("give the model once: as an argument or with --model")
        model_path = model_file or model_path
        model = _load_model(model_path)
    details = {
        "labels": model.topics_,
        "negative_label": model.negative_label,
        "thresholds": {t: round(v, 4) for t, v in model.thresholds_.items()},
        "training": model.training_info_,
        "cv_metrics": model.cv_metrics_,
    }
    if format is ReportFormat.json:
        typer.echo(json.dumps(details, indent=2))
        return
    typer.echo(f"Model: {model_path or 'default'}")
    typer.echo(f"Labels: {', '.join(model.topics_)} (negative label: {model.negative_label})")
    typer.echo("Thresholds: " + ", ".join(f"{t}={v:.3f}" for t, v in model.thresholds_.items()))
    training = model.training_info_
    typer.echo(f"Trained: {training.get('created')} on {training.get('n_examples')} examples, {training.get('seconds')} s")
    typer.echo("Counts: " + ", ".join(f"{label}={n}" for label, n in training.get("label_counts", {}).items()))
    data = training.get("data")
    if isinstance(data, dict) and {"path", "sha256"} <= set(data):
        typer.echo(f"Data: {data['path']} (sha256 {str(data['sha256'])[:12]})")
    typer.echo(f"Classifier: {training.get('classifier', model.classifier)}")
    typer.echo("Parameters: " + ", ".join(f"{k}={v}" for k, v in (training.get("params") or {}).items()))
    typer.echo("Versions: " + ", ".join(f"{k} {v}" for k, v in (training.get("versions") or {}).items()))
    _print_report(model.cv_metrics_, ReportFormat.table, title="Cross-validated quality")


# ---- your own labels: suggest, export, import ------------------------------------------------------


class Strategy(str, Enum):
    uncertainty = "uncertainty"
    diverse = "diverse"
    random = "random"


@app.command()
def suggest(
    inputs: Annotated[list[str], typer.Argument(help="The unlabeled pool: anything 'tag' reads (files, folders, tables, -).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="JSONL of texts to label, with the current tags as suggestions.")],
    model_path: ModelOption = None,
    n: Annotated[int, typer.Option("--n", min=1, help="How many texts to pick.")] = 200,
    strategy: Annotated[Strategy, typer.Option(help="uncertainty: near a threshold, spread out; diverse: spread over the pool; random.")] = Strategy.uncertainty,
    text_col: TextColOption = "text",
    id_col: Annotated[Optional[str], typer.Option("--id-col", help="Table column to use as each row's id (default: the row's id field, else file:row).")] = None,
    seed: Annotated[int, typer.Option(min=0, help="Random seed (diverse, random).")] = 0,
):
    """Pick the texts whose labels would teach the model most, for 'serve --review' or another tool."""
    from . import inputs as reading
    from .labeling import suggest as pick

    with _user_errors():
        paths = reading.expand_inputs(inputs)
        options = reading.InputOptions(text_col=text_col, id_col=id_col)
        reading.check_tables(paths, options)
        if id_col is None:  # a row's own id, where it has one, names it in the labels file
            options = reading.InputOptions(text_col=text_col, id_col="id")
        target = _output_target(out, paths)
        model = _load_model(model_path)
        picked = pick(reading.iter_documents(paths, options), model, n=n, strategy=strategy.value, seed=seed)
        _write_text("".join(json.dumps(s.to_dict(), ensure_ascii=False) + "\n" for s in picked), target)
    fewer = f" (fewer than --n {n:,}: the rest were near-duplicates of texts already picked, or the pool is that small)" if len(picked) < n else ""
    _say(f"Picked {len(picked):,} texts to label ({strategy.value}) into {out}{fewer}")


class Interchange(str, Enum):
    labelstudio = "labelstudio"
    csv = "csv"


@app.command("export")
def export_labels(
    labels_file: Annotated[Path, typer.Argument(help="A JSONL labels file ({id, text, labels} per line), as 'serve --review' writes.")],
    to: Annotated[Interchange, typer.Option("--to", help="labelstudio: task JSON with choices annotations; csv: id,text,labels.")] = Interchange.labelstudio,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Write here instead of stdout.")] = None,
):
    """Export your labels for Label Studio (text classification with choices) or as plain CSV."""
    from .labeling import read_labeled, to_csv, to_label_studio

    with _user_errors():
        rows = read_labeled(labels_file)
        text = json.dumps(to_label_studio(rows), ensure_ascii=False, indent=1) + "\n" if to is Interchange.labelstudio else to_csv(rows)
        _write_text(text, _output_target(out, [str(labels_file)]))


@app.command("import")
def import_labels(
    source: Annotated[Path, typer.Argument(help="A Label Studio JSON export, or a CSV with text and labels (|-separated).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="JSONL labels file to write ({id, text, labels} per line).")],
    from_: Annotated[Interchange, typer.Option("--from", help="The format of SOURCE.")] = Interchange.labelstudio,
    text_key: Annotated[str, typer.Option(help="Label Studio: the data field that holds the text.")] = "text",
):
    """Import labels from Label Studio or CSV into a JSONL file 'train' reads."""
    from .labeling import from_csv, from_label_studio

    with _user_errors():
        try:
            raw = source.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise DataError(f"{source}: cannot read ({getattr(error, 'strerror', None) or error})") from None
        if from_ is Interchange.labelstudio:
            try:
                tasks = json.loads(raw)
            except json.JSONDecodeError as error:
                raise DataError(f"{source}: not valid JSON ({error.msg} at line {error.lineno})") from None
            rows = from_label_studio(tasks, text_key=text_key)
        else:
            rows = from_csv(raw)
        _write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), _output_target(out, [str(source)]))
    _say(f"Imported {len(rows):,} labeled texts into {out}")


# ---- report --------------------------------------------------------------------------------------


class Estimate(str, Enum):
    probability = "probability"
    corrected = "corrected"
    raw = "raw"


class Frequency(str, Enum):
    day = "day"
    week = "week"
    month = "month"


@app.command()
def report(
    tagged: Annotated[list[Path], typer.Argument(help="Output of 'topictag tag' (JSONL, CSV, Parquet) or 'topictag segment --format jsonl', with the date column carried through (--keep-cols).")],
    date_col: Annotated[str, typer.Option("--date-col", help="Column holding each document's date (ISO, RFC 2822 or epoch seconds).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="The HTML report (self-contained: charts embedded).")],
    by: Annotated[Optional[str], typer.Option("--by", help="Column to group by (outlet, country...): small multiples per group.")] = None,
    freq: Annotated[Frequency, typer.Option("--freq", help="Period length.")] = Frequency.month,
    model_path: ModelOption = None,
    csv_path: Annotated[Optional[Path], typer.Option("--csv", help="Also write the table here: one row per period, group and topic.")] = None,
    dedupe: Annotated[bool, typer.Option("--dedupe", help="Count near-duplicate texts (syndicated copy) once; needs --text-col.")] = False,
    text_col: Annotated[Optional[str], typer.Option("--text-col", help="Column holding the text (carried with --keep-cols text): for --dedupe and the terms behind the tags.")] = None,
    estimate: Annotated[Estimate, typer.Option("--estimate", help="What the charts show: probability (mean calibrated probability; the most robust in our tests), corrected (tag share corrected for error rates), raw (tag share).")] = Estimate.probability,
    rates_from: Annotated[Optional[Path], typer.Option("--rates-from", help="Labeled sample of the stream (any format 'train' reads): measure the model's error rates there instead of using those stored at training.")] = None,
    bootstrap: Annotated[int, typer.Option(min=0, help="Bootstrap replicates for the confidence intervals.")] = 200,
    seed: Annotated[int, typer.Option(min=0, help="Random seed of the bootstrap.")] = 0,
):
    """Topic shares over time (and by group), corrected for the model's known error rates, as an HTML report."""
    from .report import ALL, MIN_SEPARATION, build_report, error_rates, read_tagged, render_html, to_csv

    with _user_errors():
        if dedupe and not text_col:
            raise UsageError("--dedupe needs --text-col (tag with --keep-cols text)")
        if csv_path is not None and Path(csv_path).resolve() == Path(out).resolve():
            raise UsageError("--csv and --out name the same file")
        target = _output_target(out, [str(p) for p in tagged])
        csv_target = _output_target(csv_path, [str(p) for p in tagged])
        model = _load_model(model_path)
        rates = model.training_info_.get("error_rates")
        if rates_from is not None:
            from .corpus import read_dataset

            sample = read_dataset(rates_from)
            measured = error_rates(model, sample.texts, [set(labels) for labels in sample.label_sets])
            kept = [t for t in model.topics_ if t not in measured and t in (rates or {})]
            if kept:
                _say(f"Note: {rates_from} has no positives or no negatives for {', '.join(kept)}; their correction uses the model's own rates")
            rates = {**(rates or {}), **measured}
        weak = [t for t, r in (rates or {}).items() if t in model.topics_ and r["tpr"] - r["fpr"] < MIN_SEPARATION]
        if weak:
            _say(f"Note: the model separates {', '.join(weak)} too weakly to correct (tpr - fpr < {MIN_SEPARATION}); their corrected share is the raw share")
        rows = read_tagged(tagged, model.topics_, date_col, by=by, text_col=text_col)
        found = build_report(rows, model.topics_, rates, freq.value, dedupe=dedupe,
                             bootstrap=bootstrap, seed=seed, model=model if text_col else None)
        if not found.documents:
            raise DataError(f"no dated documents to report on ({found.undated:,} without a usable {date_col!r}, {found.skipped:,} error records or unusable rows)")
        _write_text(render_html(found, shown=estimate.value), target)
        if csv_target is not None:
            _write_text(to_csv(found), csv_target)
    periods = len({r["period"] for r in found.rows})
    empty = len({r["period"] for r in found.rows if r["group"] == ALL and r["documents"] == 0})
    gaps = f", {empty:,} of them without documents" if empty else ""
    _say(f"Reported {found.documents:,} documents over {periods:,} {freq.value}{'s' if periods != 1 else ''}{gaps} (charts: {estimate.value}; corrected by {found.estimate}); "
         f"{found.undated:,} without a usable date, {found.skipped:,} error records or unusable rows, {found.merged:,} near-duplicates merged -> {out}")
    if empty > 2 * (periods - empty):
        first, last = found.rows[0]["period"], found.rows[-1]["period"]
        _say(f"Note: most {freq.value}s from {first} to {last} have no documents; check the dates for placeholders or typos")


# ---- check ---------------------------------------------------------------------------------------


@app.command()
def check(
    data: Annotated[Path, typer.Argument(help="Labeled data in any format 'train' reads.")],
    text_col: TextColOption = "text",
    label_col: LabelColOption = None,
    id_col: Annotated[str, typer.Option("--id-col", help="Column holding each row's id (default: id, else the row number).")] = "id",
    negative_label: Annotated[str, typer.Option(help="Label of examples that belong to no topic.")] = "other",
    top: Annotated[int, typer.Option(min=1, help="Show at most this many likely label errors in the table.")] = 20,
    format: ReportFormatOption = ReportFormat.table,
):
    """Find likely label errors (confident learning), conflicting duplicates and labels too rare to learn."""
    with _user_errors():
        try:
            import cleanlab  # noqa: F401
        except ImportError:
            raise UsageError('topictag check needs its extra: pip install "topictag[check]"') from None
        from .check import check_dataset
        from .corpus import read_dataset

        dataset = read_dataset(data, text_col=text_col, label_col=label_col, id_col=id_col)
        report = check_dataset(dataset, negative_label=negative_label)
    if format is ReportFormat.json:
        typer.echo(json.dumps(report.to_dict(), indent=2, ensure_ascii=False))
        return
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console()
    console.print(f"{report.n:,} texts. Counts: " + ", ".join(f"{label}={n:,}" for label, n in report.counts.items()))
    if report.rare_labels:
        console.print(f"[bold]Too rare to learn well[/bold] (fewer than 5 texts): {', '.join(report.rare_labels)}")
    console.print(f"{len(report.duplicates)} duplicate or near-duplicate pairs with different labels; {len(report.label_issues)} likely label errors.")
    table = Table(title="Likely label errors, most likely first", title_justify="left")
    for column in ("row", "id", "label", "suggested", "confidence", "text"):
        table.add_column(column, overflow="fold", justify="right" if column in ("row", "confidence") else "left")
    for issue in report.label_issues[:top]:
        text = " ".join(issue["text"].split())
        table.add_row(str(issue["row"]), escape(str(issue["id"])), ", ".join(issue["label"]), ", ".join(issue["suggested"]), f"{issue['confidence']:.2f}", escape(text[:80] + ("..." if len(text) > 80 else "")))
    if report.label_issues:
        console.print(table)
    for pair in report.duplicates[:top]:
        how = "same text" if pair["exact"] else f"similarity {pair['similarity']:.2f}"
        console.print(f"rows {pair['rows'][0]} and {pair['rows'][1]} ({how}): {pair['labels'][0]} vs {pair['labels'][1]}")


# ---- serve ---------------------------------------------------------------------------------------


@app.command()
def serve(
    model_path: ModelOption = None,
    host: Annotated[str, typer.Option(help="Address to bind; anything but loopback needs --token or --no-auth.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes; each loads the model once.")] = 1,
    token: Annotated[Optional[str], typer.Option(envvar="TOPICTAG_TOKEN", help="Bearer token every API call must carry (or set TOPICTAG_TOKEN).")] = None,
    no_auth: Annotated[bool, typer.Option("--no-auth", help="Allow a non-loopback address without a token.")] = False,
    max_body: Annotated[int, typer.Option(min=1, help="Largest request body in bytes (413 beyond).")] = 10 * 1024 * 1024,
    max_texts: Annotated[int, typer.Option(min=1, help="Most texts per /v1/tag request (413 beyond).")] = 1000,
    review: Annotated[Optional[Path], typer.Option(help="Label the texts of this JSONL file (from 'topictag suggest') in the page at /review.")] = None,
    labels: Annotated[Optional[Path], typer.Option(help="With --review: append every answer to this JSONL file.")] = None,
):
    """Serve the tagger over HTTP: a JSON API (documented at /docs) and a web page at /."""
    import ipaddress

    with _user_errors():
        try:
            import fastapi  # noqa: F401
            import uvicorn  # noqa: F401
        except ImportError:
            raise UsageError('topictag serve needs its extra: pip install "topictag[serve]"') from None
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = host == "localhost"
        if not loopback and token is None and not no_auth:
            raise UsageError(f"--host {host} is reachable from other machines: give --token (or TOPICTAG_TOKEN), or --no-auth to serve without one")
        if (review is None) != (labels is None):
            raise UsageError("--review and --labels go together")
        if review is not None and workers > 1:
            raise UsageError("--review keeps its place in one process: use --workers 1")
        if review is not None and not review.is_file():
            raise DataError(f"{review}: no such file")
        if labels is not None and not labels.resolve().parent.is_dir():
            raise DataError(f"{labels}: no such folder {str(labels.resolve().parent)!r}")
        if review is not None and labels is not None and labels.exists() and labels.resolve() == review.resolve():
            raise UsageError("--review and --labels name the same file; append the answers to another file")
        loaded = _load_model(model_path)  # fail here, in one line, rather than in every worker
        from .serve import run as run_server

        try:
            run_server(model_path, host, port, workers, token, max_body, max_texts, review=review, labels=labels,
                       ready=lambda url: _say(f"topictag serving on {url} (API docs at {url}docs; Ctrl-C to stop)"), notice=_say, model=loaded)
        except (KeyboardInterrupt, _Terminated):
            _say("topictag serve stopped")


# ---- printing ------------------------------------------------------------------------------------


def _print_report(report: dict, format: ReportFormat, title: str):
    if format is ReportFormat.json:
        typer.echo(json.dumps(report, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(title=title, title_justify="left")
    for column in ("label", "precision", "recall", "f1", "support"):
        table.add_column(column, justify="left" if column == "label" else "right")
    for label, row in report["labels"].items():
        table.add_row(label, f"{row['precision']:.3f}", f"{row['recall']:.3f}", f"{row['f1']:.3f}", str(row["support"]))
    for average in ("micro", "macro"):
        row = report[average]
        table.add_row(f"{average} avg (topics)", f"{row['precision']:.3f}", f"{row['recall']:.3f}", f"{row['f1']:.3f}", "", style="bold")
    console.print(table)
    confusion = Table(title="Confusion (rows: true label, columns: predicted top label)", title_justify="left")
    labels = report["confusion"]["labels"]
    confusion.add_column("true \\ predicted")
    for label in labels:
        confusion.add_column(label, justify="right")
    for label, row in zip(labels, report["confusion"]["matrix"]):
        confusion.add_row(label, *map(str, row))
    console.print(confusion)


def _print_calibration(calibration: dict) -> None:
    """Brier score and expected calibration error per label, then one reliability table for all labels."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    summary = Table(title="Calibration (Brier score, expected calibration error over 10 bins)", title_justify="left")
    for column in ("label", "brier", "ece", "positives"):
        summary.add_column(column, justify="left" if column == "label" else "right")
    for label, row in calibration.items():
        summary.add_row(label, f"{row['brier']:.4f}", f"{row['ece']:.4f}", str(row["positives"]))
    console.print(summary)
    reliability = Table(title="Reliability (per probability bin: texts, observed frequency)", title_justify="left")
    reliability.add_column("bin")
    for label in calibration:
        reliability.add_column(label, justify="right")
    bins = [f"{b / 10:.1f}-{(b + 1) / 10:.1f}" for b in range(10)]
    for name in bins:
        cells = []
        for row in calibration.values():
            found = next((r for r in row["reliability"] if r["bin"] == name), None)
            cells.append(f"{found['texts']}: {found['observed']:.2f}" if found else "")
        reliability.add_row(name, *cells)
    console.print(reliability)


def _print_base_comparison(base: str, model) -> None:
    """The base topics' cross-validated quality before (the base model) and after adding your labels."""
    from rich.console import Console
    from rich.table import Table

    before = _load_model(None).cv_metrics_ if base == "default" else None
    table = Table(title="Base topics: cross-validated F1 before and after your labels", title_justify="left")
    for column in ("label", "before", "after"):
        table.add_column(column, justify="left" if column == "label" else "right")
    for label, row in model.cv_metrics_["labels"].items():
        if before is not None and label in before["labels"]:
            table.add_row(label, f"{before['labels'][label]['f1']:.3f}", f"{row['f1']:.3f}")
    if before is not None:
        Console().print(table)


FEW_FOR_A_NEW_TOPIC = 50


def _warn_thin_new_topics(dataset, model) -> None:
    """A topic of yours that the base lacks, with few texts, is swamped by the base's thousands of negatives.
    A topic is new when all the model's examples of it are yours."""
    counts = dataset.label_counts()
    trained = model.training_info_["label_counts"]
    for topic in model.topics_:
        if trained.get(topic) == counts.get(topic) and 0 < counts.get(topic, 0) < FEW_FOR_A_NEW_TOPIC:
            _say(f"Note: {topic} has {counts[topic]} of your texts against {model.training_info_['n_examples']:,} in all; "
                 f"label {FEW_FOR_A_NEW_TOPIC} or more varied ones for it to be found reliably")


def _table_text(table, to_terminal: bool) -> str:
    from rich.console import Console

    import shutil

    width = shutil.get_terminal_size((120, 24)).columns if to_terminal else 120
    console = Console(record=True, file=io.StringIO(), width=width, force_terminal=False)
    console.print(table)
    return console.export_text()


def _segment_table_text(records: list[dict], to_terminal: bool) -> str:
    from rich.markup import escape
    from rich.table import Table

    table = Table()
    for column in ("source", "start", "end", "label", "score", "text"):
        table.add_column(column, justify="right" if column in ("start", "end", "score") else "left", overflow="fold")
    for record in records:
        if "error" in record:
            table.add_row(escape(record["source"]), "", "", "error", "", escape(record["error"]))
        for s in record.get("segments", []):
            preview = " ".join(s["text"].split())
            preview = preview if len(preview) <= 70 else preview[:67] + "..."
            label = "(furniture)" if s.get("kind") == "furniture" else str(s["label"])
            table.add_row(escape(record["source"]), str(s["start"]), str(s["end"]), label, f"{s['score']:.2f}", escape(preview))
    return _table_text(table, to_terminal)


def _tag_table_text(records: list[dict], to_terminal: bool) -> str:
    from rich.markup import escape
    from rich.table import Table

    from .outputs import safe_text

    table = Table()
    for column in ("source", "top", "tags", "score"):
        table.add_column(column, justify="right" if column == "score" else "left", overflow="fold")
    for record in records:
        source = escape(safe_text(str(record["source"])))
        if "error" in record:
            table.add_row(source, "error", escape(record["error"]), "")
        else:
            best = max(record["scores"].values(), default=0.0)
            table.add_row(source, record["top"], ", ".join(record["tags"]) or "-", f"{best:.3f}")
    return _table_text(table, to_terminal)


def run():
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.reconfigure(errors="backslashreplace")
        except (AttributeError, ValueError):
            pass
    app()
