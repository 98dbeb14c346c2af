"""Batch tagging benchmark: throughput and peak memory of `topictag tag` on a generated corpus.

    python training/benchmark_batch.py [--docs 200000] [--workdir /tmp/topictag-bench]
    python training/benchmark_batch.py --crossover [--repeats 3]

--crossover: where two worker processes start to pay. For JSONL tables and folders of files of 250 to
32,000 documents, times `topictag tag --jobs 1` against `--jobs 2` with workers forced on whatever the size
(topictag.batch.PARALLEL_MIN_ITEMS set to 0 in the process), alternating, median of --repeats runs each,
whole processes. The default `--jobs` stays in one process below PARALLEL_MIN_ITEMS items.

Generates a corpus from labels/ and templates (never from ../shared/data): each document joins two to four
snippets with a dateline and a sign-off. Writes it as one .txt file per document (in folders of 1,000) and as
one JSONL table, then runs the installed `topictag tag` on each with --jobs 1 and --jobs 2, writing JSONL
output to a file. Prints docs/s, MB/s and peak memory (the largest sum of resident memory over the process
tree, sampled every 0.1 s), and the peak memory with a tenth of the documents, to show it stays flat.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATELINES = ["LONDON", "WASHINGTON", "TOKYO", "BRUSSELS", "NAIROBI", "SAO PAULO", "NEW DELHI", "SYDNEY", "BERLIN", "SEOUL"]
SIGN_OFFS = ["Reporting by staff; editing by the desk.", "More to follow.", "(Additional reporting by our correspondents.)", ""]


def generate(n_docs: int, seed: int = 0):
    snippets = [json.loads(line)["text"] for path in sorted((ROOT / "labels").glob("*.jsonl")) for line in path.read_text(encoding="utf-8").splitlines()]
    rng = random.Random(seed)
    for i in range(n_docs):
        body = "\n\n".join(rng.sample(snippets, rng.randint(2, 4)))
        yield f"doc{i:07d}", f"{rng.choice(DATELINES)} (wire) - {body}\n\n{rng.choice(SIGN_OFFS)}".strip()


def write_corpus(workdir: Path, n_docs: int) -> tuple[Path, Path, int]:
    files, table = workdir / f"files-{n_docs}", workdir / f"table-{n_docs}.jsonl"
    if not table.exists():
        files.mkdir(parents=True, exist_ok=True)
        with open(table, "w", encoding="utf-8") as handle:
            for i, (doc_id, text) in enumerate(generate(n_docs)):
                folder = files / f"{i // 1000:04d}"
                if i % 1000 == 0:
                    folder.mkdir(exist_ok=True)
                (folder / f"{doc_id}.txt").write_text(text, encoding="utf-8")
                handle.write(json.dumps({"id": doc_id, "text": text}, ensure_ascii=False) + "\n")
    text_bytes = sum(len(json.loads(line)["text"].encode("utf-8")) for line in open(table, encoding="utf-8"))
    return files, table, text_bytes


def tree_rss(root_pid: int) -> int:
    """Resident memory (bytes) of a process and all its descendants."""
    children, rss = {}, {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(entry))
            rss[int(entry)] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, IndexError, ValueError):
            continue
    total, stack = 0, [root_pid]
    while stack:
        pid = stack.pop()
        total += rss.get(pid, 0)
        stack.extend(children.get(pid, []))
    return total


def run(command: list[str]) -> tuple[float, int]:
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    peak = 0
    while process.poll() is None:  # sampled often: the wall time is read here too
        peak = max(peak, tree_rss(process.pid))
        time.sleep(0.02)
    if process.returncode:
        raise SystemExit(f"failed: {' '.join(command)}")
    return time.perf_counter() - started, peak


FORCED_WORKERS = "import sys, topictag.batch as b; b.PARALLEL_MIN_ITEMS = 0; sys.argv = ['topictag'] + sys.argv[1:]; from topictag.cli import run; run()"


def crossover(workdir: Path, repeats: int) -> None:
    import statistics

    print("| documents | input | --jobs 1 s | --jobs 2 (forced) s | default --jobs s | 2 jobs / 1 job |\n|---:|---|---:|---:|---:|---:|")
    for n_docs in (250, 500, 1000, 2000, 4000, 8000, 16000, 32000):
        files, table, _ = write_corpus(workdir, n_docs)
        for kind, target, extra in (("JSONL table", table, ["--id-col", "id"]), ("files", files, [])):
            out = workdir / "out.jsonl"
            common = ["tag", "--quiet", str(target), *extra, "--output", str(out)]
            commands = {"one": [sys.executable, "-m", "topictag", *common, "--jobs", "1"],
                        "two": [sys.executable, "-c", FORCED_WORKERS, *common, "--jobs", "2"],
                        "default": [sys.executable, "-m", "topictag", *common]}
            times = {name: [] for name in commands}
            for _ in range(repeats):
                for name, command in commands.items():
                    times[name].append(run(command)[0])
            one, two, default = (statistics.median(times[name]) for name in ("one", "two", "default"))
            print(f"| {n_docs:,} | {kind} | {one:.2f} | {two:.2f} | {default:.2f} | {one / two:.2f}x |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=200_000)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/topictag-bench"))
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--crossover", action="store_true", help="time 1 against 2 jobs on small inputs instead")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    if args.crossover:
        crossover(args.workdir, args.repeats)
        return
    topictag = [sys.executable, "-m", "topictag", "tag", "--quiet"]
    rows = []
    for n_docs in (args.docs // 10, args.docs):
        files, table, text_bytes = write_corpus(args.workdir, n_docs)
        for kind, target, extra in (("files", files, []), ("JSONL table", table, ["--id-col", "id"])):
            for jobs in args.jobs:
                out = args.workdir / "out.jsonl"
                seconds, peak = run(topictag + [str(target), *extra, "--jobs", str(jobs), "--output", str(out)])
                assert sum(1 for _ in open(out)) == n_docs, "one record per input"
                rows.append((n_docs, kind, jobs, seconds, n_docs / seconds, text_bytes / 1e6 / seconds, peak / 1e6))
                print(f"{n_docs:>8,} docs  {kind:12s} jobs={jobs}  {seconds:7.1f} s  {n_docs / seconds:8,.0f} docs/s  {text_bytes / 1e6 / seconds:6.2f} MB/s  peak {peak / 1e6:6.0f} MB", flush=True)
    print("\n| documents | input | jobs | seconds | docs/s | MB/s | peak memory (MB) |\n|---:|---|---:|---:|---:|---:|---:|")
    for n_docs, kind, jobs, seconds, rate, mbs, peak in rows:
        print(f"| {n_docs:,} | {kind} | {jobs} | {seconds:.1f} | {rate:,.0f} | {mbs:.2f} | {peak:.0f} |")
    small = {(kind, jobs): peak for n, kind, jobs, *_, peak in rows if n == args.docs // 10}
    print()
    for n, kind, jobs, *_, peak in rows:
        if n == args.docs and (kind, jobs) in small:
            print(f"peak memory {kind}, jobs={jobs}: {args.docs:,} docs / {args.docs // 10:,} docs = {peak / small[kind, jobs]:.2f}x")
    speedups = {(kind): {} for _, kind, *_ in rows}
    for n, kind, jobs, seconds, *_ in rows:
        if n == args.docs:
            speedups[kind][jobs] = seconds
    for kind, by_jobs in speedups.items():
        if 1 in by_jobs and 2 in by_jobs:
            print(f"speed-up {kind}, 1 -> 2 jobs: {by_jobs[1] / by_jobs[2]:.2f}x")


if __name__ == "__main__":
    main()
