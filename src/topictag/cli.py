"""The ``topictag`` command line: parses arguments, calls the library, turns its errors into messages.

scikit-learn and pandas are imported inside commands, so ``--help`` and ``--version`` stay fast.
"""

from __future__ import annotations

import io
import json
import sys
import warnings
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from . import __version__
from .errors import DataError, TopictagError


class UsageError(TopictagError):
    """Options that do not go together: exit code 2, like any usage error."""

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


# Options shared by several commands, written once.
ModelOption = Annotated[Optional[Path], typer.Option("--model", "-m", help="Model bundle; default: the bundled default model.")]
TextColOption = Annotated[str, typer.Option("--text-col", help="Column holding the text.")]
LabelColOption = Annotated[Optional[str], typer.Option("--label-col", help="Column holding the label(s); default 'label' or 'labels'.")]
ReportFormatOption = Annotated[ReportFormat, typer.Option("--format", "-f", help="table for people, json for machines.")]


def _version(value: bool):
    if value:
        typer.echo(f"topictag {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")] = False,
):
    """Tag news articles with topics, train on your own labels, explain every tag."""


@contextmanager
def _user_errors():
    """Show library errors and warnings as one line on stderr; errors exit with code 1."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            yield
        except TopictagError as error:
            _echo_warnings(caught)
            typer.echo(f"Error: {error}", err=True)
            raise typer.Exit(2 if isinstance(error, UsageError) else 1) from None
        except KeyboardInterrupt:
            typer.echo("Error: interrupted", err=True)
            raise typer.Exit(130) from None
    _echo_warnings(caught)


def _echo_warnings(caught):
    seen = set()
    for warning in caught:
        message = str(warning.message)
        if message not in seen and issubclass(warning.category, UserWarning):
            seen.add(message)
            typer.echo(f"Warning: {message}", err=True)


def _load_model(path: Optional[Path]):
    from .default import load_model

    return load_model(path)


@app.command()
def train(
    data: Annotated[Path, typer.Argument(help="CSV/TSV, JSONL or Parquet table, or a folder with one sub-folder of .txt files per label.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to write the model bundle.")],
    text_col: TextColOption = "text",
    label_col: LabelColOption = None,
    negative_label: Annotated[str, typer.Option(help="Label of examples that belong to no topic; never emitted as a tag.")] = "other",
    classifier: Annotated[Classifier, typer.Option(help="Linear model fitted one-vs-rest per label; auto keeps the best of svm, sgd and cnb by cross-validated micro-F1.")] = Classifier.auto,
    negative_weight: Annotated[float, typer.Option(min=0.0, help="Choose thresholds as if texts without a label were this many times as common as in DATA.")] = 1.0,
    cv: Annotated[int, typer.Option(min=2, help="Cross-validation folds for thresholds and metrics.")] = 5,
    seed: Annotated[int, typer.Option(help="Random seed: same data and seed give identical predictions.")] = 0,
    format: ReportFormatOption = ReportFormat.table,
):
    """Train a model on labeled texts, print its cross-validated quality, and save it."""
    with _user_errors():
        from .corpus import read_dataset
        from .model import TopicClassifier

        dataset = read_dataset(data, text_col=text_col, label_col=label_col)
        model = TopicClassifier(classifier=classifier.value, negative_label=negative_label, negative_weight=negative_weight, cv=cv, random_state=seed)
        model.fit(dataset.texts, dataset.label_sets)
        model.training_info_["data"] = {"path": dataset.source, "sha256": dataset.sha256}
        model.save(out)
    _print_report(model.cv_metrics_, format, title=f"Cross-validated quality ({cv} folds, {len(dataset)} examples)")
    typer.echo(f"Saved {out}", err=True)


@app.command()
def tag(
    inputs: Annotated[list[str], typer.Argument(help="Files, folders (recursive), globs, tables (.csv .tsv .jsonl .parquet: one input per row), or - for stdin.")],
    model_path: ModelOption = None,
    format: Annotated[Optional[TagFormat], typer.Option("--format", "-f", help="Default: table on a terminal, jsonl otherwise.")] = None,
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
    max_bytes: Annotated[int, typer.Option(min=1, help="Refuse text files larger than this (bytes); they get an error record.")] = 64 * 1024 * 1024,
):
    """Tag inputs with topics: one record per input (source, tags, top, scores), in input order."""
    import os
    import time

    from . import batch

    if format is None:
        format = TagFormat.table if output is None and sys.stdout.isatty() else TagFormat.jsonl
    keep = tuple(c.strip() for item in keep_cols or [] for c in item.split(",") if c.strip())
    options = batch.InputOptions(lines=lines, text_col=text_col, id_col=id_col, keep_cols=keep, max_bytes=max_bytes)
    with _user_errors():
        if format is TagFormat.parquet and output is None:
            raise UsageError("--format parquet needs --output")
        if resume and (output is None or format is not TagFormat.jsonl):
            raise UsageError("--resume needs a JSONL --output")
        paths = batch.expand_inputs(inputs, include or [], exclude or [])
        batch.check_tables(paths, options)
        model = _load_model(model_path)
        done = batch.resume_sources(output) if resume else set()
        has_tables = any(Path(p).suffix.lower() in batch.TABLE_SUFFIXES for p in paths)
        if done and not lines:  # plain files already recorded need not be read again
            paths = [p for p in paths if p not in done or Path(p).suffix.lower() in batch.TABLE_SUFFIXES]
        items = batch.work_items(paths, options)
        if done:  # resuming: read each item here to learn its source, and skip those already recorded
            items = (document for document in (batch.read_item(item, options) for item in items) if document.source not in done)
        small = len(paths) <= batch.CHUNK_SIZE and not has_tables and not lines
        workers = 1 if small else (jobs or os.cpu_count() or 1)
        model_ref = None if model_path is None else str(model_path)
        as_json = format is TagFormat.jsonl
        results = batch.tag_stream(
            items, model_ref, jobs=workers, threshold=threshold, top_k=top_k, options=options, as_json=as_json, model=model if workers == 1 else None
        )
        counter = _Counter()
        records = counter.count(results)
        if not quiet and sys.stderr.isatty():
            records = _with_progress(records, total=None if has_tables or lines else len(paths))
        started = time.perf_counter()
        if format is TagFormat.table:
            _print_tag_table(list(records), output)
        elif format is TagFormat.parquet:
            batch.write_parquet(records, output, model.topics_, keep)
        elif format is TagFormat.jsonl and output is not None:
            _append_lines(batch.format_records(records, "jsonl", model.topics_), output, append=resume)
        else:
            _write_text(batch.format_records(records, format.value, model.topics_, keep), output)
        seconds = time.perf_counter() - started
    if not quiet:
        rate = counter.total / seconds if seconds > 0 else 0.0
        skipped = f", {len(done)} already done" if done else ""
        typer.echo(f"Tagged {counter.total - counter.failed} inputs, {counter.failed} failed{skipped}, in {seconds:.1f} s ({rate:,.0f} docs/s)", err=True)
    if strict and counter.failed:
        raise typer.Exit(1)


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


def _append_lines(lines, output: Path, append: bool, flush_every: int = 512):
    """JSONL output is append-only (so a crashed run can be resumed): written and flushed as it goes."""
    with open(output, "a" if append else "w", encoding="utf-8") as handle:
        for count, line in enumerate(lines, 1):
            handle.write(line)
            if count % flush_every == 0:
                handle.flush()


@app.command()
def segment(
    inputs: Annotated[list[str], typer.Argument(help="Documents: files, folders (recursive), globs, or - for stdin.")],
    model_path: ModelOption = None,
    format: Annotated[Optional[SegmentFormat], typer.Option("--format", "-f", help="Default: table on a terminal, json otherwise.")] = None,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Write here (atomically) instead of stdout.")] = None,
    furniture_pattern: Annotated[
        Optional[list[str]], typer.Option("--furniture-pattern", help="Extra regular expression for non-content lines (repeatable).")
    ] = None,
):
    """Split documents into contiguous per-topic spans with exact character offsets."""
    from .batch import expand_inputs, read_documents
    from .segment import DEFAULT_FURNITURE_PATTERNS

    if format is None:
        format = SegmentFormat.table if output is None and sys.stdout.isatty() else SegmentFormat.json
    with _user_errors():
        paths = expand_inputs(inputs)
        model = _load_model(model_path)
        patterns = DEFAULT_FURNITURE_PATTERNS + list(furniture_pattern or [])
        results = []
        for document in read_documents(paths):
            if document.error:
                results.append((document, None))
            else:
                results.append((document, model.segment(document.text, furniture_patterns=patterns)))
    records = [
        {"source": d.source, "error": d.error} if segments is None else {"source": d.source, "segments": [s.to_dict() for s in segments]}
        for d, segments in results
    ]
    if format is SegmentFormat.json:
        payload = records[0] if len(records) == 1 else records
        _write_text([json.dumps(payload, ensure_ascii=False, indent=2) + "\n"], output)
    elif format is SegmentFormat.jsonl:
        _write_text((json.dumps(r, ensure_ascii=False) + "\n" for r in records), output)
    elif format is SegmentFormat.html:
        from .render import segments_html

        documents = [(d.source, d.text, segments or []) for d, segments in results]
        _write_text([segments_html(documents, model.topics_, model.negative_label)], output)
    else:
        _print_segment_table(records, output)


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
        predicted = model.predict_tags(dataset.texts)
        gold = [tuple(label for label in labels if label != model.negative_label) for labels in dataset.label_sets]
        unknown = sorted({label for labels in gold for label in labels} - set(model.topics_))
        if unknown:
            warnings.warn(f"labels the model does not know are counted as misses: {', '.join(unknown)}")
        report = evaluate_predictions(gold, predicted, model.topics_, model.negative_label)
    _print_report(report, format, title=f"Evaluation on {data} ({len(dataset)} examples)")


@app.command()
def explain(
    text_or_file: Annotated[str, typer.Argument(help="Text to explain, a file holding it, or - for stdin.")],
    model_path: ModelOption = None,
    label: Annotated[Optional[list[str]], typer.Option("--label", "-l", help="Label to explain (repeatable); default: the text's tags, or its best label.")] = None,
    terms: Annotated[int, typer.Option(min=1, help="Terms to show in each direction.")] = 10,
    format: ReportFormatOption = ReportFormat.table,
):
    """Show which terms pushed each label's score up and down (weight x feature, in log-odds)."""
    from .batch import read_document

    with _user_errors():
        text = text_or_file
        if text_or_file == "-" or Path(text_or_file).is_file():
            document = read_document(text_or_file)
            if document.error:
                raise DataError(f"{text_or_file}: {document.error}")
            text = document.text
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


@app.command()
def info(
    model_path: Annotated[Optional[Path], typer.Argument(help="Model bundle; default: the bundled default model.")] = None,
    format: ReportFormatOption = ReportFormat.table,
):
    """Show a model's labels, thresholds, training metadata and cross-validated metrics."""
    with _user_errors():
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
    if "data" in training:
        typer.echo(f"Data: {training['data']['path']} (sha256 {training['data']['sha256'][:12]})")
    typer.echo(f"Classifier: {training.get('classifier', model.classifier)}")
    typer.echo("Parameters: " + ", ".join(f"{k}={v}" for k, v in training.get("params", {}).items()))
    typer.echo("Versions: " + ", ".join(f"{k} {v}" for k, v in training.get("versions", {}).items()))
    _print_report(model.cv_metrics_, ReportFormat.table, title="Cross-validated quality")


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


def _print_segment_table(records: list[dict], output: Optional[Path]):
    from rich.table import Table

    table = Table()
    for column in ("source", "start", "end", "label", "score", "text"):
        table.add_column(column, justify="right" if column in ("start", "end", "score") else "left", overflow="fold")
    for record in records:
        if "error" in record:
            table.add_row(record["source"], "", "", "[red]error[/red]", "", record["error"])
        for s in record.get("segments", []):
            preview = " ".join(s["text"].split())
            preview = preview if len(preview) <= 70 else preview[:67] + "..."
            table.add_row(record["source"], str(s["start"]), str(s["end"]), s["label"], f"{s['score']:.2f}", preview)
    _print_table(table, output)


def _print_table(table, output: Optional[Path]):
    from rich.console import Console

    if output is None:
        Console().print(table)
        return
    console = Console(record=True, width=120, file=io.StringIO())
    console.print(table)
    _write_text([console.export_text()], output)


def _print_tag_table(records: list[dict], output: Optional[Path]):
    from rich.table import Table

    table = Table()
    for column in ("source", "top", "tags", "score"):
        table.add_column(column, justify="right" if column == "score" else "left", overflow="fold")
    for record in records:
        if "error" in record:
            table.add_row(record["source"], "[red]error[/red]", record["error"], "")
        else:
            best = max(record["scores"].values(), default=0.0)
            table.add_row(record["source"], record["top"], ", ".join(record["tags"]) or "-", f"{best:.3f}")
    _print_table(table, output)


def _write_text(chunks, output: Optional[Path]):
    """Stream chunks to stdout, or collect them and replace ``output`` atomically."""
    if output is None:
        for chunk in chunks:
            sys.stdout.write(chunk)
        sys.stdout.flush()
        return
    from .bundle import atomic_write_bytes

    atomic_write_bytes(output, "".join(chunks).encode("utf-8"))


def run():
    app()
