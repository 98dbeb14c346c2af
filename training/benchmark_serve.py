"""Load benchmark of `topictag serve`: concurrent clients on loopback, requests per second, latency, memory.

    python training/benchmark_serve.py [--clients 16] [--seconds 30] [--workers 1 2]

Starts the installed `topictag serve` (default model) on a free loopback port for each --workers value, then
runs, one after the other, for --seconds each with --clients concurrent keep-alive clients (threads of this
process, each with its own HTTP connection):

  tag-1       POST /v1/tag with one headline-and-lead text
  tag-100     POST /v1/tag with 100 such texts
  segment     POST /v1/segment with examples/page.txt (a scraped-page shape, about 6 kB)

Prints requests/s, texts/s, p50/p99 latency, errors (any status but 200, or a failed connection) and the
resident memory of the server's process tree before, at peak (sampled every 0.1 s) and after each load. The texts are generated from
labels/ snippets, never from ../shared/data. Client and server share the machine's cores: on 2 cores the
client's own work is part of what is measured.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def texts_from_labels(n: int, seed: int = 0) -> list[str]:
    rows = []
    for path in sorted((ROOT / "labels").glob("*.jsonl")):
        rows += [json.loads(line)["text"] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return random.Random(seed).sample(rows, n)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tree_rss(pid: int) -> int:
    """Resident bytes of a process and its descendants (Linux /proc)."""
    total, stack = 0, [pid]
    while stack:
        current = stack.pop()
        try:
            with open(f"/proc/{current}/statm") as handle:
                total += int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
            with open(f"/proc/{current}/task/{current}/children") as handle:
                stack += [int(c) for c in handle.read().split()]
        except (OSError, ValueError):
            continue
    return total


def start_server(workers: int):
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "topictag", "serve", "--port", str(port), "--workers", str(workers)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/healthz")
            response = connection.getresponse()
            response.read()
            if response.status == 200:
                # with several workers, wait until each has loaded its model: ask until the answers are fast
                for _ in range(4 * workers):
                    connection.request("GET", "/v1/model")
                    connection.getresponse().read()
                return process, port
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit("the server did not start")


def run_load(port: int, path: str, body: bytes, clients: int, seconds: float, texts_per_request: int, server_pid: int) -> dict:
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    stop = time.perf_counter() + seconds
    peak = [0]

    def client() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        mine = []
        while time.perf_counter() < stop:
            started = time.perf_counter()
            try:
                connection.request("POST", path, body=body, headers={"Content-Type": "application/json"})
                response = connection.getresponse()
                response.read()
                ok = response.status == 200
            except (OSError, http.client.HTTPException):
                ok = False
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            if ok:
                mine.append(time.perf_counter() - started)
            else:
                with lock:
                    errors[0] += 1
        with lock:
            latencies.extend(mine)

    def sample() -> None:
        while time.perf_counter() < stop:
            peak[0] = max(peak[0], tree_rss(server_pid))
            time.sleep(0.1)

    threads = [threading.Thread(target=client) for _ in range(clients)] + [threading.Thread(target=sample)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    latencies.sort()

    def quantile(q: float) -> float:
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000 if latencies else float("nan")

    return {"requests_per_s": len(latencies) / elapsed, "texts_per_s": len(latencies) * texts_per_request / elapsed,
            "p50_ms": quantile(0.5), "p99_ms": quantile(0.99), "errors": errors[0], "requests": len(latencies), "peak_rss_mb": peak[0] / 1e6}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    texts = texts_from_labels(101)
    page = (ROOT / "examples" / "page.txt").read_text(encoding="utf-8")
    loads = [
        ("tag-1", "/v1/tag", json.dumps({"texts": texts[:1]}).encode(), 1),
        ("tag-100", "/v1/tag", json.dumps({"texts": texts[1:101]}).encode(), 100),
        ("segment", "/v1/segment", json.dumps({"text": page}).encode(), 1),
    ]
    print(f"{args.clients} clients, {args.seconds:.0f} s per load, {os.cpu_count()} cores\n")
    print("| workers | load | requests/s | texts/s | p50 ms | p99 ms | errors | server RSS before MB | peak MB | after MB |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for workers in args.workers:
        process, port = start_server(workers)
        try:
            for name, path, body, per_request in loads:
                before = tree_rss(process.pid) / 1e6
                found = run_load(port, path, body, args.clients, args.seconds, per_request, process.pid)
                after = tree_rss(process.pid) / 1e6
                print(f"| {workers} | {name} | {found['requests_per_s']:,.0f} | {found['texts_per_s']:,.0f} | {found['p50_ms']:.1f} | {found['p99_ms']:.1f} | {found['errors']} | {before:.0f} | {found['peak_rss_mb']:.0f} | {after:.0f} |", flush=True)
        finally:
            process.terminate()
            process.wait(timeout=30)


if __name__ == "__main__":
    main()
