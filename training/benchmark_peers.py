"""Benchmark topictag against fastText and plain scikit-learn pipelines, on the same splits, in one run.

    python training/benchmark_peers.py [--data ../shared/data] [--folds 5] [--datasets ag_news,bbc,20news,reuters]
        [--models ...] [--skip-autotune] [--autotune-seconds 60] [--json PATH] [--chart PATH]

Needs the benchmark-only extras: ``pip install fasttext matplotlib`` (never runtime dependencies of topictag).

Datasets (JSON Lines ``{"id", "text", "labels", "split"?}``, read by path from --data, never copied):
  ag_news, bbc, 20news   single label (labels[0]); StratifiedKFold(--folds, shuffle, seed 0)
  reuters                ModApte train/test from the "split" field; multi-label over the categories with at
                         least one train and one test document; documents keep their (possibly empty) lists

Models:
  topictag               TopicClassifier() with no options (single label: negative_label="__none__", a label
                         that never occurs, and predict(); a "__none__" answer counts as wrong; Reuters: label
                         lists and predict_tags())
  fasttext               fastText supervised, tutorial settings for small data: wordNgrams=2, epoch=25, lr=1.0,
                         on text normalised as the tutorial does (lower case, punctuation split off; --fasttext-raw
                         to feed it raw text), thread=12 (see below)
  fasttext-autotune      fastText autotune, --autotune-seconds budget, validated on a held-out 10% of the
                         training fold (fastText then retrains the best settings on the other 90%)
  sk-linearsvc, sk-logreg, sk-sgd
                         TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True) + LinearSVC /
                         LogisticRegression(max_iter=1000) / SGDClassifier, all other options default
  sk-complementnb        TfidfVectorizer() (defaults: unigrams) + ComplementNB
  Reuters: fastText uses loss "ova", a probability threshold of 0.5 and (autotune) metric "f1"; documents
  without a topic get a placeholder label (dropped from predictions) so fastText sees them as negatives;
  the scikit-learn models are wrapped in OneVsRestClassifier over a MultiLabelBinarizer.

fastText threads: fastText 0.9.3 initialises its input matrix in ten blocks, one per training thread, so with
fewer than 10 threads most word vectors start at zero (facebookresearch/fastText issue #1061); the Python
binding's default of cpu_count() - 1 threads hits this on small machines (BBC accuracy drops from ~0.94 to
~0.77 on 2 cores). We pass thread=12, the default of the fastText command line its tutorial uses. Its fit
therefore uses every core, while the scikit-learn and topictag fits run on one core (liblinear, lbfgs).

The topictag under test is whatever `import topictag` finds; each run records a hash of its sources
(topictag_source_sha256 in the JSON). To benchmark a fixed version, copy src/topictag somewhere and put
that folder first on PYTHONPATH.

Every (dataset, fold, model) runs fit + predict in a fresh process (multiprocessing "spawn"), one at a time,
so that peak memory is that model's alone: the child resets its RSS high-water mark after loading the data
(/proc/self/clear_refs) and reports VmHWM growth. Predict throughput is single-core (threadpoolctl limits,
fastText's own one-line-at-a-time predict) and includes vectorising, measured on the test fold repeated to
at least --throughput-docs documents. Model size is the file each library writes: topictag's bundle,
fastText's save_model (.bin), joblib.dump of the scikit-learn pipeline.

Output: a Markdown table on stdout, all figures as JSON (--json), a chart of accuracy (micro-F1 for
Reuters) against predict throughput per dataset (--chart). Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import gc
import json
import math
import multiprocessing
import os
import platform
import re
import shutil
import statistics
import sys
import tempfile
import time
import warnings
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

DATASETS = {  # short name -> (file, kind)
    "ag_news": ("ag_news_test.jsonl", "single"),
    "bbc": ("bbc.jsonl", "single"),
    "20news": ("20news_8groups_test.jsonl", "single"),
    "reuters": ("reuters21578_modapte.jsonl", "multi"),
}
MODELS = [
    "topictag",
    "fasttext",
    "fasttext-autotune",
    "sk-linearsvc",
    "sk-logreg",
    "sk-sgd",
    "sk-complementnb",
]
NONE_LABEL = "__none__"  # single label: a label that never occurs, so every class is a topic for topictag
FT_NONE = "__label____no_topic__"  # Reuters: placeholder label of topic-less documents for fastText
FT_TUTORIAL = {"wordNgrams": 2, "epoch": 25, "lr": 1.0}
FT_THREADS = 12  # >= 10 avoids fastText issue #1061 (see the module docstring); the fastText CLI default
FT_PUNCTUATION = re.compile(r"([.!?,'/()])")
MULTI_THRESHOLD = 0.5
SEED = 0


# ---- data and splits ----------------------------------------------------------------------------


def read_jsonl(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def load_split(data_dir: str, dataset: str, fold: int, n_folds: int) -> dict:
    """The training and test part of one fold (single label) or of ModApte (Reuters), deterministically."""
    import numpy as np

    filename, kind = DATASETS[dataset]
    rows = read_jsonl(Path(data_dir) / filename)
    if kind == "single":
        from sklearn.model_selection import StratifiedKFold

        texts = [row["text"] for row in rows]
        labels = [row["labels"][0] for row in rows]
        folds = list(StratifiedKFold(n_folds, shuffle=True, random_state=SEED).split(np.zeros(len(labels)), labels))
        train, test = folds[fold]
        return {
            "kind": kind,
            "classes": sorted(set(labels)),
            "train_texts": [texts[i] for i in train],
            "train_y": [labels[i] for i in train],
            "test_texts": [texts[i] for i in test],
            "test_y": [labels[i] for i in test],
        }
    train_rows = [row for row in rows if row.get("split") == "train"]
    test_rows = [row for row in rows if row.get("split") == "test"]
    in_train = {label for row in train_rows for label in row["labels"]}
    in_test = {label for row in test_rows for label in row["labels"]}
    categories = sorted(in_train & in_test)
    keep = set(categories)
    return {
        "kind": kind,
        "classes": categories,
        "train_texts": [row["text"] for row in train_rows],
        "train_y": [[label for label in row["labels"] if label in keep] for row in train_rows],
        "test_texts": [row["text"] for row in test_rows],
        "test_y": [[label for label in row["labels"] if label in keep] for row in test_rows],
    }


def describe_dataset(data_dir: str, dataset: str) -> dict:
    split = load_split(data_dir, dataset, 0, 2) if DATASETS[dataset][1] == "single" else load_split(data_dir, dataset, 0, 1)
    n = len(split["train_texts"]) + len(split["test_texts"])
    texts = split["train_texts"] + split["test_texts"]
    info = {
        "file": DATASETS[dataset][0],
        "kind": DATASETS[dataset][1],
        "documents": n,
        "classes": len(split["classes"]),
        "mean_bytes_per_doc": round(sum(len(t.encode("utf-8")) for t in texts) / n),
    }
    if info["kind"] == "multi":
        info["train_documents"] = len(split["train_texts"])
        info["test_documents"] = len(split["test_texts"])
        info["test_documents_without_topic"] = sum(not y for y in split["test_y"])
    return info


# ---- the models ---------------------------------------------------------------------------------


class TopictagModel:
    def __init__(self, kind, classes, workdir):
        from topictag import TopicClassifier

        self.kind = kind
        if kind == "single":
            self.model = TopicClassifier(negative_label=NONE_LABEL)
        else:
            if "other" in classes:  # the default negative label must not be a real category
                raise SystemExit("Reuters has a category 'other': the default negative label would clash")
            self.model = TopicClassifier()

    def fit(self, texts, y):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # rare Reuters labels: "use threshold 0.5 and uncalibrated scores"
            self.model.fit(texts, y)

    def predict(self, texts):
        if self.kind == "single":
            return [None if label == NONE_LABEL else label for label in self.model.predict(texts)]
        return [set(tags) for tags in self.model.predict_tags(texts)]

    def diagnostics(self, texts, gold) -> dict:
        """Single label: accuracy of the most probable topic, as if no tag threshold applied (not timed)."""
        if self.kind != "single":
            return {}
        import numpy as np

        best = np.asarray(self.model.topics_, dtype=object)[np.argmax(self.model.predict_proba(texts)[:, :-1], axis=1)]
        return {"accuracy_top1_unthresholded": float(np.mean(best == np.asarray(gold, dtype=object)))}

    def save(self, path) -> int:
        path = Path(str(path) + ".topictag")
        self.model.save(path)
        return path.stat().st_size


class SklearnModel:
    def __init__(self, name, kind, classes, workdir):
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression, SGDClassifier
        from sklearn.multiclass import OneVsRestClassifier
        from sklearn.naive_bayes import ComplementNB
        from sklearn.pipeline import Pipeline
        from sklearn.preprocessing import MultiLabelBinarizer
        from sklearn.svm import LinearSVC

        if name == "sk-complementnb":
            vectorizer, classifier = TfidfVectorizer(), ComplementNB()
        else:
            vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
            classifier = {  # defaults; a fixed seed only makes the runs repeatable
                "sk-linearsvc": lambda: LinearSVC(random_state=SEED),
                "sk-logreg": lambda: LogisticRegression(max_iter=1000),
                "sk-sgd": lambda: SGDClassifier(random_state=SEED),
            }[name]()
        self.kind = kind
        if kind == "multi":
            classifier = OneVsRestClassifier(classifier)
            self.binarizer = MultiLabelBinarizer(classes=classes)
        else:
            self.binarizer = None
        self.pipeline = Pipeline([("tfidf", vectorizer), ("classifier", classifier)])

    def fit(self, texts, y):
        target = self.binarizer.fit_transform(y) if self.binarizer is not None else y
        self.pipeline.fit(texts, target)

    def predict(self, texts):
        predicted = self.pipeline.predict(texts)
        if self.binarizer is None:
            return list(predicted)
        return [set(labels) for labels in self.binarizer.inverse_transform(predicted)]

    def save(self, path) -> int:
        import joblib

        path = Path(str(path) + ".joblib")
        joblib.dump((self.pipeline, self.binarizer), path)
        return path.stat().st_size


def fasttext_line(text: str, normalise: bool = True) -> str:
    """One line of text for fastText; normalised as in its tutorial: punctuation split off, lower case."""
    if normalise:
        text = FT_PUNCTUATION.sub(r" \1 ", text).lower()
    return " ".join(text.split())  # newlines and runs of whitespace become single spaces


class FastTextModel:
    def __init__(self, name, kind, classes, workdir, autotune_seconds=60, normalise=True):
        self.kind = kind
        self.normalise = normalise
        self.autotune = name == "fasttext-autotune"
        self.autotune_seconds = autotune_seconds
        self.workdir = Path(workdir)
        self.model = None
        self.chosen_args = None

    def _write(self, path, texts, y):
        with open(path, "w", encoding="utf-8") as handle:
            for text, labels in zip(texts, y):
                labels = [labels] if isinstance(labels, str) else list(labels)
                for label in labels:
                    if re.search(r"\s", label):
                        raise ValueError(f"fastText labels cannot contain whitespace: {label!r}")
                tags = " ".join(f"__label__{label}" for label in labels) or FT_NONE
                handle.write(f"{tags} {fasttext_line(text, self.normalise)}\n")

    def fit(self, texts, y):
        import fasttext

        params = {"verbose": 0, "seed": SEED, "thread": FT_THREADS}
        if self.kind == "multi":
            params["loss"] = "ova"
        train_file = self.workdir / "fasttext_train.txt"
        if not self.autotune:
            self._write(train_file, texts, y)
            self.model = fasttext.train_supervised(input=str(train_file), **FT_TUTORIAL, **params)
        else:
            from sklearn.model_selection import train_test_split

            stratify = y if self.kind == "single" else None
            fit_idx, val_idx = train_test_split(range(len(texts)), test_size=0.1, random_state=SEED, stratify=stratify)
            validation_file = self.workdir / "fasttext_validation.txt"
            self._write(train_file, [texts[i] for i in fit_idx], [y[i] for i in fit_idx])
            self._write(validation_file, [texts[i] for i in val_idx], [y[i] for i in val_idx])
            with _stderr_to_devnull():  # autotune draws a progress line on stderr whatever verbose says
                self.model = fasttext.train_supervised(
                    input=str(train_file),
                    autotuneValidationFile=str(validation_file),
                    autotuneDuration=self.autotune_seconds,
                    autotuneMetric="f1",
                    **params,
                )
        args = self.model.f.getArgs()
        self.chosen_args = {
            key: getattr(args, key)
            for key in ("epoch", "lr", "dim", "wordNgrams", "minn", "maxn", "bucket", "dsub", "thread")
            if hasattr(args, key)
        }
        self.chosen_args["loss"] = str(args.loss).rsplit(".", 1)[-1]

    def predict(self, texts):
        # The high-level model.predict fails under NumPy 2 (np.array(copy=False)): use the C++ binding.
        # It returns a list of (probability, "__label__x") pairs, best first.
        predict = self.model.f.predict
        if self.kind == "single":
            out = []
            for text in texts:
                pairs = predict(fasttext_line(text, self.normalise) + "\n", 1, 0.0, "strict")
                out.append(pairs[0][1][len("__label__"):] if pairs else None)
            return out
        out = []
        for text in texts:
            pairs = predict(fasttext_line(text, self.normalise) + "\n", -1, MULTI_THRESHOLD, "strict")
            out.append({label[len("__label__"):] for _, label in pairs if label != FT_NONE})
        return out

    def save(self, path) -> int:
        path = Path(str(path) + ".bin")
        self.model.save_model(str(path))
        return path.stat().st_size


def make_model(name, kind, classes, workdir, task):
    if name == "topictag":
        return TopictagModel(kind, classes, workdir)
    if name.startswith("fasttext"):
        return FastTextModel(name, kind, classes, workdir, task["autotune_seconds"], not task["fasttext_raw"])
    return SklearnModel(name, kind, classes, workdir)


# ---- metrics ------------------------------------------------------------------------------------


def score(kind, classes, gold, predicted) -> dict:
    from sklearn.metrics import f1_score
    from sklearn.preprocessing import MultiLabelBinarizer

    if kind == "single":
        predicted = [NONE_LABEL if p is None else p for p in predicted]
        return {
            "accuracy": sum(g == p for g, p in zip(gold, predicted)) / len(gold),
            "macro_f1": float(f1_score(gold, predicted, labels=classes, average="macro", zero_division=0)),
            "no_prediction": sum(p == NONE_LABEL for p in predicted) / len(gold),
        }
    binarizer = MultiLabelBinarizer(classes=classes)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # predicted labels outside the categories are ignored (none expected)
        true = binarizer.fit_transform(gold)
        pred = binarizer.transform([set(p) & set(classes) for p in predicted])
    return {
        "micro_f1": float(f1_score(true, pred, average="micro", zero_division=0)),
        "macro_f1": float(f1_score(true, pred, average="macro", zero_division=0)),
        "exact_match": sum(set(g) == set(p) for g, p in zip(gold, predicted)) / len(gold),
        "no_prediction": sum(not p for p in predicted) / len(gold),
    }


# ---- one run in a fresh process -----------------------------------------------------------------


def _status_kib(key: str) -> int:
    with open("/proc/self/status") as handle:
        match = re.search(rf"^{key}:\s+(\d+) kB", handle.read(), re.M)
    return int(match.group(1)) if match else 0


def _reset_peak_rss() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")  # resets VmHWM to the current RSS (Linux >= 4.0)
        return True
    except OSError:
        return False


@contextmanager
def _stderr_to_devnull():
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(devnull)
        os.close(saved)


def run_task(task: dict) -> dict:
    """Fit, evaluate, time and size one model on one fold. Runs in a fresh "spawn" child process."""
    from threadpoolctl import threadpool_limits

    split = load_split(task["data"], task["dataset"], task["fold"], task["folds"])
    kind, classes = split["kind"], split["classes"]
    workdir = tempfile.mkdtemp(prefix="topictag-bench-")
    try:
        model = make_model(task["model"], kind, classes, workdir, task)
        gc.collect()
        peak_reset = _reset_peak_rss()
        rss_before = _status_kib("VmRSS")

        started = time.perf_counter()
        model.fit(split["train_texts"], split["train_y"])
        fit_seconds = time.perf_counter() - started

        test_texts = split["test_texts"]
        with threadpool_limits(1):
            predicted = model.predict(test_texts)
            repeats = max(1, math.ceil(task["throughput_docs"] / len(test_texts)))
            batch = test_texts * repeats
            # Warm up on the timed batch itself: after the RSS high-water mark was reset (clear_refs), the
            # first write to every page faults, which would charge batch-sized temporaries to prediction.
            model.predict(batch)
            started = time.perf_counter()
            model.predict(batch)
            predict_seconds = time.perf_counter() - started
        peak_kib = _status_kib("VmHWM") - rss_before
        size = model.save(Path(workdir) / "model")

        result = {
            **{k: task[k] for k in ("dataset", "model", "fold")},
            "topictag_source_sha256": topictag_source_hash() if task["model"] == "topictag" else None,
            **score(kind, classes, split["test_y"], predicted),
            "fit_seconds": fit_seconds,
            "train_documents": len(split["train_texts"]),
            "test_documents": len(test_texts),
            "throughput_documents": len(batch),
            "predict_seconds": predict_seconds,
            "docs_per_second": len(batch) / predict_seconds,
            "mb_per_second": sum(len(t.encode("utf-8")) for t in batch) / 1e6 / predict_seconds,
            "peak_rss_growth_mb": peak_kib / 1024,
            "peak_rss_reset": peak_reset,
            "model_bytes": size,
        }
        if isinstance(model, FastTextModel):
            result["fasttext_args"] = model.chosen_args
        if hasattr(model, "diagnostics"):
            with threadpool_limits(1):
                result.update(model.diagnostics(test_texts, split["test_y"]))
        return result
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def run_isolated(task: dict) -> dict:
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return pool.submit(run_task, task).result()


# ---- machine ------------------------------------------------------------------------------------


def topictag_source_hash() -> str:
    """A short hash of the installed topictag sources: the package under test may change between runs."""
    import hashlib

    import topictag

    digest = hashlib.sha256()
    for path in sorted(Path(topictag.__file__).parent.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def machine_info() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    memory_gb = None
    try:
        with open("/proc/meminfo") as handle:
            memory_gb = round(int(re.search(r"MemTotal:\s+(\d+)", handle.read()).group(1)) / 1024**2, 1)
    except (OSError, AttributeError):
        pass
    versions = {}
    for package in ("topictag", "scikit-learn", "numpy", "scipy", "fasttext", "joblib", "skops", "threadpoolctl", "matplotlib"):
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            versions[package] = None
    try:
        import numpy  # noqa: F401  load the libraries whose thread pools we want to see
        import scipy.linalg  # noqa: F401
        import sklearn.linear_model  # noqa: F401
        from threadpoolctl import threadpool_info

        blas = sorted({f"{p.get('internal_api')} {p.get('version')}" for p in threadpool_info()})
    except Exception:
        blas = []
    return {
        "topictag_source_sha256": topictag_source_hash(),
        "load_average_at_start": os.getloadavg() if hasattr(os, "getloadavg") else None,
        "cpu": cpu,
        "logical_cpus": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "memory_gb": memory_gb,
        "os": platform.platform(),
        "python": platform.python_version(),
        "versions": versions,
        "thread_pools": blas,
    }


# ---- summaries and output -----------------------------------------------------------------------


def summarise(runs: list[dict]) -> dict:
    def mean(key):
        values = [r[key] for r in runs if r.get(key) is not None]
        return statistics.fmean(values) if values else None

    def stdev(key):
        values = [r[key] for r in runs if r.get(key) is not None]
        return statistics.stdev(values) if len(values) > 1 else None

    summary = {"folds": len(runs)}
    for key in ("accuracy", "micro_f1", "macro_f1", "exact_match", "no_prediction", "accuracy_top1_unthresholded", "fit_seconds", "docs_per_second", "mb_per_second", "model_bytes"):
        if any(key in r for r in runs):
            summary[key] = mean(key)
            if key in ("accuracy", "micro_f1", "macro_f1"):
                summary[key + "_std"] = stdev(key)
    summary["peak_rss_growth_mb"] = max(r["peak_rss_growth_mb"] for r in runs)
    if "fasttext_args" in runs[0]:
        summary["fasttext_args"] = [r["fasttext_args"] for r in runs]
    return summary


def headline(summary: dict):
    return summary.get("accuracy", summary.get("micro_f1"))


def markdown_table(results: dict, datasets: dict) -> str:
    lines = [
        "| dataset | model | accuracy (micro-F1) | macro-F1 | fit s/fold | predict docs/s | predict MB/s | peak RSS MB | model MB |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for dataset, models in results.items():
        for name, s in models.items():
            primary = headline(s)
            label = f"{primary:.4f}" if "accuracy" in s else f"({primary:.4f})"
            lines.append(
                f"| {dataset} | {name} | {label} | {s['macro_f1']:.4f} | {s['fit_seconds']:.2f} | "
                f"{s['docs_per_second']:,.0f} | {s['mb_per_second']:.2f} | {s['peak_rss_growth_mb']:,.0f} | "
                f"{s['model_bytes'] / 1e6:,.1f} |"
            )
    return "\n".join(lines)


def draw_chart(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    names = list(results)
    columns = min(2, len(names))
    rows = math.ceil(len(names) / columns)
    figure, axes = plt.subplots(rows, columns, figsize=(6.8 * columns, 4.8 * rows), squeeze=False)
    colours = {name: plt.cm.tab10(i) for i, name in enumerate(MODELS)}
    for ax, dataset in zip(axes.flat, names):
        points = [(model, s["docs_per_second"], headline(s)) for model, s in results[dataset].items()]
        xs, ys = [p[1] for p in points], [p[2] for p in points]
        ax.set_xscale("log")
        ax.set_xlim(min(xs) / 1.7, max(xs) * 2.6)
        pad = max(0.005, (max(ys) - min(ys)) * 0.12)
        ax.set_ylim(min(ys) - pad, max(ys) + pad)
        for model, x, y in points:
            star = model == "topictag"
            ax.scatter([x], [y], s=110 if star else 40, color=colours.get(model), marker="*" if star else "o", zorder=3)
        _label_points(ax, points, lambda model: colours.get(model, "black"))
        ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel("predict throughput, docs/s (one core, log scale)")
        ax.set_ylabel("micro-F1" if DATASETS[dataset][1] == "multi" else "accuracy")
        ax.set_title(dataset)
        ax.grid(True, which="both", alpha=0.3)
    for ax in list(axes.flat)[len(names):]:
        ax.set_visible(False)
    figure.suptitle("topictag vs peers: accuracy against single-core predict throughput")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def _label_points(ax, points, colour) -> None:
    """Name each point, trying a few offsets so that labels of nearby points do not overlap."""
    ax.figure.canvas.draw()
    renderer = ax.figure.canvas.get_renderer()
    offsets = [(6, 4, "left"), (6, -11, "left"), (-6, 4, "right"), (-6, -11, "right"), (6, 14, "left"), (6, -21, "left"), (-6, 14, "right"), (-6, -21, "right")]
    from matplotlib.transforms import Bbox

    placed = []
    for _, x, y in points:  # keep labels off the markers too
        px, py = ax.transData.transform((x, y))
        placed.append(Bbox.from_extents(px - 5, py - 5, px + 5, py + 5))
    for model, x, y in sorted(points, key=lambda p: -p[2]):
        for dx, dy, align in offsets:
            text = ax.annotate(model, (x, y), textcoords="offset points", xytext=(dx, dy), fontsize=8, ha=align, color=colour(model))
            box = text.get_window_extent(renderer).expanded(1.05, 1.15)
            if not any(box.overlaps(other) for other in placed):
                break
            text.remove()
        else:
            text = ax.annotate(model, (x, y), textcoords="offset points", xytext=(6, 4), fontsize=8, color=colour(model))
            box = text.get_window_extent(renderer)
        placed.append(box)


def machine_text(machine: dict) -> str:
    versions = ", ".join(f"{k} {v}" for k, v in machine["versions"].items() if v)
    return (
        f"Machine: {machine['cpu']}, {machine['usable_cpus']} usable of {machine['logical_cpus']} logical CPUs, "
        f"{machine['memory_gb']} GB RAM, {machine['os']}; Python {machine['python']}; {versions}; "
        f"thread pools: {', '.join(machine['thread_pools']) or 'none'}; topictag source sha256 "
        f"{machine['topictag_source_sha256']}; load average at start {(machine['load_average_at_start'] or [float('nan')])[0]:.2f}"
    )


# ---- main ---------------------------------------------------------------------------------------


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data"), help="folder of the JSON Lines datasets")
    parser.add_argument("--folds", type=int, default=5, help="cross-validation folds of the single-label datasets")
    parser.add_argument("--datasets", default=",".join(DATASETS), help=f"comma-separated subset of {','.join(DATASETS)}")
    parser.add_argument("--models", default=",".join(MODELS), help=f"comma-separated subset of {','.join(MODELS)}")
    parser.add_argument("--skip-autotune", action="store_true", help="leave out fasttext-autotune")
    parser.add_argument("--autotune-seconds", type=int, default=60, help="fastText autotune budget per fit")
    parser.add_argument("--autotune-datasets", default=None, help="run autotune only on these datasets (default: all selected)")
    parser.add_argument("--fasttext-raw", action="store_true", help="feed fastText raw text, not the tutorial's normalisation")
    parser.add_argument("--throughput-docs", type=int, default=5000, help="minimum documents in the timed predict batch")
    parser.add_argument("--json", type=Path, default=None, help="write all figures here")
    parser.add_argument("--chart", type=Path, default=None, help="write the accuracy vs throughput chart (PNG) here")
    args = parser.parse_args(argv)
    args.datasets = [d.strip() for d in args.datasets.split(",") if d.strip()]
    args.models = [m.strip() for m in args.models.split(",") if m.strip()]
    for name in args.datasets:
        if name not in DATASETS:
            parser.error(f"unknown dataset {name!r}; choose from {', '.join(DATASETS)}")
    for name in args.models:
        if name not in MODELS:
            parser.error(f"unknown model {name!r}; choose from {', '.join(MODELS)}")
    if args.skip_autotune and "fasttext-autotune" in args.models:
        args.models.remove("fasttext-autotune")
    args.autotune_datasets = args.datasets if args.autotune_datasets is None else [d.strip() for d in args.autotune_datasets.split(",")]
    if args.folds < 2:
        parser.error("--folds must be at least 2")
    return args


def main(argv=None) -> None:
    args = parse_args(argv)
    data = Path(args.data).resolve()
    for name in args.datasets:
        if not (data / DATASETS[name][0]).is_file():
            raise SystemExit(f"{data / DATASETS[name][0]}: no such file (set --data)")
    machine = machine_info()
    print(machine_text(machine), file=sys.stderr)

    started = time.perf_counter()
    runs, results, described = [], {}, {}
    for dataset in args.datasets:
        described[dataset] = describe_dataset(str(data), dataset)
        n_folds = args.folds if DATASETS[dataset][1] == "single" else 1
        models = [m for m in args.models if m != "fasttext-autotune" or dataset in args.autotune_datasets]
        per_model = {m: [] for m in models}
        for fold in range(n_folds):
            for model in models:
                task = {
                    "data": str(data),
                    "dataset": dataset,
                    "model": model,
                    "fold": fold,
                    "folds": args.folds,
                    "autotune_seconds": args.autotune_seconds,
                    "throughput_docs": args.throughput_docs,
                    "fasttext_raw": args.fasttext_raw,
                }
                result = run_isolated(task)
                runs.append(result)
                per_model[model].append(result)
                primary = result.get("accuracy", result.get("micro_f1"))
                print(
                    f"[{time.perf_counter() - started:7.1f}s] {dataset} fold {fold + 1}/{n_folds} {model}: "
                    f"{primary:.4f} macro-F1 {result['macro_f1']:.4f} fit {result['fit_seconds']:.1f}s "
                    f"{result['docs_per_second']:,.0f} docs/s peak +{result['peak_rss_growth_mb']:,.0f} MB "
                    f"size {result['model_bytes'] / 1e6:,.1f} MB",
                    file=sys.stderr,
                    flush=True,
                )
        results[dataset] = {m: summarise(r) for m, r in per_model.items()}

    elapsed = time.perf_counter() - started
    table = markdown_table(results, described)
    command = "python training/benchmark_peers.py " + " ".join(sys.argv[1:] if argv is None else argv)
    print(f"Command: `{command.strip()}`  \n{machine_text(machine)}  \nTotal run time: {elapsed / 60:.1f} min\n")
    print(table)
    print(
        "\naccuracy (micro-F1): accuracy for single-label datasets, (micro-F1) in brackets for Reuters; "
        "means over folds. Peak RSS: largest growth of the process's resident set during fit+predict, over folds."
    )
    if args.json:
        payload = {
            "command": command.strip(),
            "machine": machine,
            "settings": {
                "folds": args.folds,
                "seed": SEED,
                "autotune_seconds": args.autotune_seconds if "fasttext-autotune" in args.models else None,
                "throughput_docs": args.throughput_docs,
                "fasttext_tutorial": FT_TUTORIAL,
                "fasttext_threads": FT_THREADS,
                "fasttext_text": "raw" if args.fasttext_raw else "tutorial normalisation (lower case, punctuation split)",
                "multilabel_threshold_fasttext": MULTI_THRESHOLD,
            },
            "datasets": described,
            "results": results,
            "runs": runs,
            "total_seconds": elapsed,
            "load_average_at_end": os.getloadavg() if hasattr(os, "getloadavg") else None,
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    if args.chart:
        args.chart.parent.mkdir(parents=True, exist_ok=True)
        draw_chart(results, args.chart)


if __name__ == "__main__":
    main()
