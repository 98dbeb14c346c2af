import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from topictag import batch, inputs
from topictag.cli import app

runner = CliRunner()


def invoke(*args, input=None):
    return runner.invoke(app, [str(a) for a in args], input=input)


def records(text):
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_include_and_exclude_globs(tmp_path, model_file):
    (tmp_path / "docs" / "sub").mkdir(parents=True)
    (tmp_path / "docs" / "a.txt").write_text("Tariffs on steel")
    (tmp_path / "docs" / "b.md").write_text("Missile test")
    (tmp_path / "docs" / "sub" / "c.txt").write_text("Vaccine approved")
    (tmp_path / "docs" / "sub" / "skip.txt").write_text("Storm")
    result = invoke("tag", tmp_path / "docs", "--model", model_file, "--include", "*.txt", "--exclude", "skip*")
    assert [Path(r["source"]).name for r in records(result.stdout)] == ["a.txt", "c.txt"]


def test_tables_rows_ids_kept_columns_and_bad_lines(tmp_path, model_file):
    table = tmp_path / "news.jsonl"
    table.write_text(
        json.dumps({"id": "n1", "text": "Tariffs on imported steel", "desk": "biz"}) + "\n"
        + "{not json\n"
        + json.dumps({"id": "n3", "text": "   ", "desk": "x"}) + "\n"
        + json.dumps({"id": "n4", "text": "Missile test alarms neighbours", "desk": "world"}) + "\n"
    )
    result = invoke("tag", table, "--model", model_file, "--id-col", "id", "--keep-cols", "desk")
    rows = records(result.stdout)
    assert [r["source"] for r in rows] == ["n1", f"{table}:2", "n3", "n4"]
    assert rows[0]["top"] == "trade" and rows[0]["desk"] == "biz"
    assert rows[1]["error"].startswith("malformed JSON line") and rows[2]["error"] == "empty text"
    assert rows[3]["top"] == "security"


def test_csv_with_embedded_newlines_and_parquet_tables(tmp_path, model_file):
    csv_path = tmp_path / "news.csv"
    csv_path.write_text('text,desk\n"Tariffs on\nimported steel",biz\n"Missile test, again",world\n', encoding="utf-8")
    parquet_path = tmp_path / "news.parquet"
    pd.DataFrame({"body": ["Vaccine approved for children", "Storm cuts power"]}).to_parquet(parquet_path)
    rows = records(invoke("tag", csv_path, "--model", model_file, "--keep-cols", "desk").stdout)
    assert [(r["top"], r["desk"]) for r in rows] == [("trade", "biz"), ("security", "world")]
    rows = records(invoke("tag", parquet_path, "--model", model_file, "--text-col", "body").stdout)
    assert [r["top"] for r in rows] == ["health", "other"]


def test_missing_text_column_stops_before_any_work(tmp_path, model_file):
    good = tmp_path / "a.txt"
    good.write_text("Tariffs on steel")
    table = tmp_path / "t.csv"
    table.write_text("headline,desk\nTariffs,biz\n")
    out = tmp_path / "out.jsonl"
    result = invoke("tag", good, table, "--model", model_file, "--output", out)
    assert result.exit_code == 1
    assert result.stderr.strip() == f"Error: {table}: no column 'text'; columns found: headline, desk"
    assert not out.exists()


def test_bad_inputs_each_get_a_record(tmp_path, model_file):
    files = {
        "image.png": b"\x89PNG\r\n\x1a\n" + bytes(range(256)),
        "archive.zip": b"PK\x03\x04" + b"\x00" * 40,
        "empty.txt": b"",
        "blank.txt": b" \n\t\n",
        "latin1.txt": "Tarifs sur l'acier import\xe9 \u2014 fin".encode("latin-1", errors="replace"),
        "cp1252.txt": "Tariffs \u201ccould rise\u201d on steel".encode("cp1252"),
        "utf16.txt": "Missile test alarms neighbours".encode("utf-16"),
        "utf16-broken.txt": b"\xff\xfe" + b"abc",
        "big.txt": b"Tariffs on steel. " * 100,
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    result = invoke("tag", *[tmp_path / n for n in files], "--model", model_file, "--max-bytes", 1000)
    assert result.exit_code == 0
    by_name = {Path(r["source"]).name: r for r in records(result.stdout)}
    assert len(by_name) == len(files)
    assert by_name["image.png"]["error"] == "binary file, not text"
    assert by_name["archive.zip"]["error"] == "binary file, not text"
    assert by_name["empty.txt"]["error"] == by_name["blank.txt"]["error"] == "empty text"
    assert by_name["latin1.txt"]["encoding"] == "cp1252" and "tags" in by_name["latin1.txt"]
    assert by_name["cp1252.txt"]["encoding"] == "cp1252" and by_name["cp1252.txt"]["top"] == "trade"
    assert by_name["utf16.txt"]["encoding"] == "utf-16" and by_name["utf16.txt"]["top"] == "security"
    assert by_name["utf16-broken.txt"]["error"].startswith("binary file, not text")
    assert by_name["big.txt"]["error"] == "file too large (1.8 KiB > limit 1000 bytes; raise --max-bytes)"
    assert "Tagged 3 inputs, 6 failed" in result.stderr


def test_strict_and_quiet(tmp_path, model_file):
    (tmp_path / "empty.txt").write_text("")
    (tmp_path / "ok.txt").write_text("Tariffs on steel")
    result = invoke("tag", tmp_path / "ok.txt", tmp_path / "empty.txt", "--model", model_file, "--strict", "--quiet")
    assert result.exit_code == 1 and result.stderr == "" and len(records(result.stdout)) == 2


def test_file_deleted_during_the_run_gets_an_error_record(tmp_path):
    path = tmp_path / "gone.txt"
    path.write_text("Tariffs")
    paths = inputs.expand_inputs([str(path)])
    path.unlink()
    [document] = inputs.iter_documents(paths)
    assert document.error.startswith("cannot read: No such file")


def test_html_main_text_is_extracted(tmp_path, model_file):
    page = tmp_path / "page.html"
    page.write_text(
        "<html><body><nav>Home | Sport | Weather</nav><article><h1>Steel tariffs rise</h1>"
        "<p>The government raised tariffs on imported steel to 25 percent on Monday, citing a surge of cheap imports "
        "and warning exporters of quotas.</p></article><footer>Copyright</footer></body></html>"
    )
    [record] = records(invoke("tag", page, "--model", model_file).stdout)
    assert record["extractor"] == "trafilatura" and record["top"] == "trade"


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_table_outputs(tmp_path, model_file, fmt):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.txt").write_text("Tariffs on steel")
    (tmp_path / "in" / "b.txt").write_text("")
    out = tmp_path / f"tags.{fmt}"
    result = invoke("tag", tmp_path / "in", "--model", model_file, "--format", fmt, "--output", out)
    assert result.exit_code == 0
    frame = pd.read_csv(out) if fmt == "csv" else pd.read_parquet(out)
    assert list(frame["top"].fillna("")) == ["trade", ""]
    assert list(frame["error"].fillna("")) == ["", "empty text"]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["in", "tiny.topictag", f"tags.{fmt}"])  # no temp file left


def _table(path, n):
    texts = ["Tariffs on imported steel", "Missile test alarms neighbours", "Vaccine approved for children", "Storm cuts power"]
    path.write_text("".join(json.dumps({"id": f"d{i}", "text": f"{texts[i % 4]} {i}"}) + "\n" for i in range(n)))
    return path


def test_parallel_jobs_keep_order_and_results(tmp_path, model_file):
    n = batch.PARALLEL_MIN_ITEMS + 1500
    table = _table(tmp_path / "many.jsonl", n)
    one = invoke("tag", table, "--model", model_file, "--id-col", "id", "--jobs", 1).stdout
    two = invoke("tag", table, "--model", model_file, "--id-col", "id", "--jobs", 2).stdout
    assert one == two
    assert [r["source"] for r in records(two)] == [f"d{i}" for i in range(n)]


def test_workers_split_runs_of_jsonl_lines_as_one_process_reads_them(tmp_path, model_file, monkeypatch):
    """Parallel runs send whole runs of raw JSONL lines to the workers; every odd line must come out as in
    one process: blank lines, a byte-order mark, bad JSON, non-objects, lines over --max-bytes, no final newline."""
    monkeypatch.setattr(batch, "PARALLEL_MIN_ITEMS", 0)
    monkeypatch.setattr(batch, "JSONL_RUN", 64)  # many small runs, lines cut across blocks
    rows = ['{"text": "Tariffs on steel rise"}', "", '{"text": "Navy ships in the strait"}', "not json", "[1, 2]",
            json.dumps({"text": "x" * 300}), "   ", '{"text": "Measles outbreak spreads"}'] * 30
    table = tmp_path / "odd.jsonl"
    table.write_bytes(b"\xef\xbb\xbf" + "\n".join(rows).encode())  # no newline at the end
    one = invoke("tag", table, "--model", model_file, "--max-bytes", 200, "--jobs", 1).stdout
    two = invoke("tag", table, "--model", model_file, "--max-bytes", 200, "--jobs", 2).stdout
    assert one == two
    assert len(records(two)) == 6 * 30 and "line longer than" in two and "malformed JSON line" in two


def test_small_inputs_stay_in_one_process(tmp_path, model_file, monkeypatch):
    def no_workers(*args, **kwargs):
        raise AssertionError("workers started for a small input")

    monkeypatch.setattr(batch, "_WorkerPool", no_workers)
    (tmp_path / "rows.csv").write_text("text\n" + "Tariffs on steel\n" * 36)
    assert len(records(invoke("tag", tmp_path / "rows.csv", "--model", model_file, "--jobs", 2).stdout)) == 36
    lines = "Tariffs on steel\n" * 1000
    assert len(records(invoke("tag", "-", "--lines", "--model", model_file, "--jobs", 2, input=lines).stdout)) == 1000


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_workers_exit_when_the_parent_is_killed(tmp_path, model_file):
    table = _table(tmp_path / "many.jsonl", 400_000)
    out = tmp_path / "out.jsonl"
    process = subprocess.Popen([sys.executable, "-m", "topictag", "tag", str(table), "--model", str(model_file), "--jobs", "2", "--quiet", "-o", str(out)])
    deadline = time.time() + 120
    workers = []
    while time.time() < deadline and len(workers) < 2:
        time.sleep(0.05)
        workers = _children(process.pid)
    assert len(workers) >= 2, "the workers did not start"
    process.send_signal(signal.SIGKILL)
    process.wait()
    deadline = time.time() + 10
    while time.time() < deadline and any(_alive(pid) for pid in workers):
        time.sleep(0.1)
    assert not any(_alive(pid) for pid in workers)


def _children(parent: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == parent:
            found.append(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_resume_after_sigkill_gives_every_input_exactly_once(tmp_path, model_file):
    table = _table(tmp_path / "many.jsonl", 60_000)
    clean, out = tmp_path / "clean.jsonl", tmp_path / "out.jsonl"
    command = [sys.executable, "-m", "topictag", "tag", str(table), "--model", str(model_file), "--id-col", "id", "--jobs", "1", "--quiet"]
    subprocess.run(command + ["--output", str(clean)], check=True, timeout=600)
    process = subprocess.Popen(command + ["--output", str(out)])
    deadline = time.time() + 300
    while time.time() < deadline and (not out.exists() or out.stat().st_size < 200_000):
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    partial = out.read_bytes()
    assert 0 < partial.count(b"\n") < 60_000, "the run must be killed partway"
    with open(out, "ab") as handle:  # make sure a torn last line is there to repair
        handle.write(b'{"source": "d')
    subprocess.run(command + ["--output", str(out), "--resume"], check=True, timeout=600)
    resumed = records(out.read_text())
    assert [r["source"] for r in resumed] == [f"d{i}" for i in range(60_000)]
    assert resumed == records(clean.read_text())


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(alphabet=st.characters(), max_size=300))
def test_tag_accepts_any_unicode_text(tiny_model, text):
    [prediction] = tiny_model.tag_many([text])
    assert set(prediction.scores) == set(tiny_model.topics_)
    assert all(0.0 <= p <= 1.0 for p in prediction.scores.values())
    assert set(prediction.tags) <= set(tiny_model.topics_)
    assert prediction.top in prediction.tags[:1] or (prediction.tags == () and prediction.top == "other")
    json.dumps(prediction.to_dict())


def test_dask_cluster_gives_the_single_process_results(tmp_path, model_file):
    dd = pytest.importorskip("dask.dataframe")
    distributed = pytest.importorskip("distributed")
    import topictag

    frame = pd.DataFrame({"id": range(8), "text": ["Tariffs on steel", "Missile test", "Vaccine approved", "Storm", "", "Chip export controls", "Nurses strike", "Museum opens"]})
    expected = topictag.add_tags(frame, model=topictag.load(model_file))
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None) as cluster:
        with distributed.Client(cluster):
            result = topictag.add_tags_dask(dd.from_pandas(frame, npartitions=3), model_path=model_file).compute()
    columns = ["tags", "top"] + [c for c in expected.columns if c.startswith("score_")]
    assert result[columns].to_dict("list") == expected[columns].to_dict("list")
