"""Time `Segmenter.segment` on pages of growing size: is it linear?

    python training/benchmark_segment.py [--sizes 1 2 5 10]

Each document is the annotated pages of labels/segments/ concatenated until it reaches the size (MB), so it
has every structure the segmenter meets (menus, teaser lists, digests, live blogs). Prints seconds, MB/s
and peak memory growth per size; linear time means MB/s stays flat.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from annotated import read_pages  # noqa: E402

from topictag import default_model  # noqa: E402


def document(megabytes: float, pages) -> str:
    parts, size, i = [], 0, 0
    while size < megabytes * 1e6:
        text = pages[i % len(pages)].text
        parts.append(text + "\n\n")
        size += len(text.encode("utf-8")) + 2
        i += 1
    return "".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=float, nargs="+", default=[1, 2, 5, 10])
    args = parser.parse_args()
    model = default_model()
    pages = read_pages()
    model.segment(pages[0].text)  # warm up: load the segmenter's models and the sentence splitter
    print("| size | seconds | MB/s | segments | peak RSS MB |")
    print("|---:|---:|---:|---:|---:|")
    for megabytes in args.sizes:
        text = document(megabytes, pages)
        started = time.perf_counter()
        segments = model.segment(text)
        seconds = time.perf_counter() - started
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"| {len(text.encode('utf-8')) / 1e6:.1f} MB | {seconds:.2f} | {len(text.encode('utf-8')) / 1e6 / seconds:.2f} | {len(segments):,} | {peak:.0f} |", flush=True)


if __name__ == "__main__":
    main()
