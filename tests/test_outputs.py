"""Writing outputs: formats from extensions, devices and links, locks, atomic replacement, full disks, escapes."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from topictag import outputs
from topictag.cli import app

runner = CliRunner()
TOPICTAG = [sys.executable, "-m", "topictag"]


def invoke(*args, input=None):
    return runner.invoke(app, [str(a) for a in args], input=input)


def records(text):
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@pytest.fixture
def news(tmp_path):
    path = tmp_path / "news.jsonl"
    path.write_text(json.dumps({"id": "n1", "text": "Tariffs on imported steel"}) + "\n" + json.dumps({"id": "n2", "text": "Missile test"}) + "\n")
    return path


def one_line_error(result, code=1):
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    message = result.stderr.strip()
    assert message.startswith("Error: ") and "\n" not in message
    return message


@pytest.mark.parametrize("name, reader", [("out.csv", pd.read_csv), ("out.parquet", pd.read_parquet), ("out.jsonl", lambda p: pd.read_json(p, lines=True))])
def test_the_format_follows_the_output_extension(tmp_path, model_file, news, name, reader):
    out = tmp_path / name
    assert invoke("tag", news, "--model", model_file, "-o", out).exit_code == 0
    assert list(reader(out)["top"]) == ["trade", "security"]


def test_a_format_that_contradicts_the_extension_is_a_usage_error(tmp_path, model_file, news):
    message = one_line_error(invoke("tag", news, "--model", model_file, "-o", tmp_path / "out.csv", "--format", "jsonl"), code=2)
    assert "contradicts" in message and not (tmp_path / "out.csv").exists()


def test_parquet_tags_are_a_list_column(tmp_path, model_file, news):
    out = tmp_path / "out.parquet"
    invoke("tag", news, "--model", model_file, "-o", out, "--threshold", "0")
    frame = pd.read_parquet(out)
    assert list(frame["tags"].iloc[0])[:1] == ["trade"] and len(frame["tags"].iloc[0]) == 4


@pytest.mark.parametrize("name", ["news.jsonl", "link.jsonl", "hard.jsonl"])
def test_an_output_that_is_an_input_is_refused_before_any_work(tmp_path, model_file, news, name):
    (tmp_path / "link.jsonl").symlink_to(news)
    os.link(news, tmp_path / "hard.jsonl")
    before = news.read_bytes()
    message = one_line_error(invoke("tag", news, "--model", model_file, "-o", tmp_path / name), code=2)
    assert "is also an input" in message
    assert news.read_bytes() == before


def test_a_second_run_writing_the_same_output_fails_at_once(tmp_path, model_file, news):
    out = tmp_path / "out.jsonl"
    out.write_text('{"source": "kept"}\n')
    target = outputs.resolve_output(out)
    with outputs.locked(target):
        for extra in ([], ["--resume"]):
            message = one_line_error(invoke("tag", news, "--model", model_file, "-o", out, *extra))
            assert "another topictag run is writing" in message
    assert out.read_text() == '{"source": "kept"}\n'
    assert invoke("tag", news, "--model", model_file, "-o", out).exit_code == 0  # the lock is gone with its holder
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_two_real_concurrent_runs_do_not_interleave(tmp_path, model_file):
    table = tmp_path / "many.jsonl"
    table.write_text("".join(json.dumps({"text": f"Tariffs on steel {i}"}) + "\n" for i in range(200_000)))
    out = tmp_path / "out.jsonl"
    command = TOPICTAG + ["tag", str(table), "--model", str(model_file), "-o", str(out), "--jobs", "1", "--quiet"]
    first = subprocess.Popen(command)
    deadline = time.time() + 120
    while time.time() < deadline and not out.exists():
        time.sleep(0.01)
    second = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert first.wait(timeout=300) == 0
    assert second.returncode == 1 and "another topictag run is writing" in second.stderr
    assert len(records(out.read_text())) == 200_000


@pytest.mark.skipif(not os.path.exists("/dev/null"), reason="needs /dev/null")
def test_devices_are_written_into_never_replaced(model_file, news):
    assert invoke("tag", news, "--model", model_file, "-o", "/dev/null").exit_code == 0
    assert invoke("tag", news, "--model", model_file, "-o", "/dev/null", "--format", "csv").exit_code == 0
    assert Path("/dev/null").is_char_device()


def test_a_symlinked_output_replaces_its_target_and_keeps_the_link(tmp_path, model_file, news):
    target = tmp_path / "real.csv"
    target.write_text("old")
    link = tmp_path / "link.csv"
    link.symlink_to(target)
    assert invoke("tag", news, "--model", model_file, "-o", link).exit_code == 0
    assert link.is_symlink() and link.resolve() == target
    assert pd.read_csv(target)["top"].tolist() == ["trade", "security"]


@pytest.mark.parametrize(
    "args, expected",
    [
        (["tag", "{news}", "-o", "{tmp}"], "is a folder"),
        (["tag", "{news}", "-o", "{tmp}/missing/out.jsonl"], "no such folder"),
        (["segment", "{news}", "-o", "{tmp}/missing/x.json"], "no such folder"),
        (["train", "{train}", "--out", "{tmp}"], "is a folder"),
    ],
)
def test_unwritable_outputs_are_one_line_errors(tmp_path, model_file, news, tiny_csv, args, expected):
    args = [a.format(news=news, tmp=tmp_path, train=tiny_csv) for a in args]
    if args[0] != "train":
        args += ["--model", str(model_file)]
    assert expected in one_line_error(invoke(*args))


def _limited(limit_bytes):
    import resource

    def apply():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))

    return apply


@pytest.mark.skipif(sys.platform != "linux", reason="RLIMIT_FSIZE behaviour checked on Linux")
@pytest.mark.parametrize("name", ["out.csv", "out.parquet", "model.topictag"])
def test_a_file_size_limit_leaves_the_old_file_intact(tmp_path, model_file, tiny_csv, name):
    table = tmp_path / "many.jsonl"
    table.write_text("".join(json.dumps({"text": f"Tariffs on steel and missiles {i}"}) + "\n" for i in range(3000)))
    out = tmp_path / name
    out.write_bytes(b"old content")
    if name.endswith(".topictag"):
        command = TOPICTAG + ["train", str(tiny_csv), "--out", str(out)]
    else:
        command = TOPICTAG + ["tag", str(table), "--model", str(model_file), "-o", str(out), "--quiet"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, preexec_fn=_limited(4_000))
    assert result.returncode == 1, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("Error")]
    assert len(lines) == 1 and "file size limit" in lines[0] and "old file is unchanged" in lines[0] and "Traceback" not in result.stderr
    assert out.read_bytes() == b"old content"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(f".{name}")) == []


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_a_full_disk_is_a_one_line_error(model_file, news):
    assert "No space left on device" in one_line_error(invoke("tag", news, "--model", model_file, "-o", "/dev/full"))


@pytest.mark.skipif(sys.platform == "darwin", reason="macOS refuses file names that are not UTF-8")
def test_file_names_that_are_not_utf8_and_lone_surrogate_ids_are_escaped(tmp_path, model_file):
    folder = tmp_path / "in"
    folder.mkdir()
    with open(os.path.join(os.fsencode(folder), b"a\xff.txt"), "w") as handle:
        handle.write("Tariffs on steel")
    table = tmp_path / "ids.jsonl"
    table.write_text('{"id": "\\ud800x", "text": "Missile test"}\n')
    out = tmp_path / "out.jsonl"
    assert invoke("tag", folder, table, "--model", model_file, "--id-col", "id", "-o", out).exit_code == 0
    raw = out.read_bytes()
    raw.decode("utf-8")  # valid UTF-8
    rows = records(raw.decode("utf-8"))
    assert [r["top"] for r in rows] == ["trade", "security"]
    assert os.fsencode(rows[0]["source"]).endswith(b"a\xff.txt")  # JSON reads the escape back to the same name
    csv_out = tmp_path / "out.csv"
    assert invoke("tag", folder, "--model", model_file, "-o", csv_out).exit_code == 0
    assert "a\\udcff.txt" in csv_out.read_text(encoding="utf-8")


def test_csv_cells_that_a_spreadsheet_would_run_are_neutralised(tmp_path, model_file):
    table = tmp_path / "t.jsonl"
    table.write_text(json.dumps({"id": "=HYPERLINK(\"x\")", "text": "Tariffs", "note": "+1 pt", "n": -5}) + "\n")
    out = tmp_path / "out.csv"
    invoke("tag", table, "--model", model_file, "--id-col", "id", "--keep-cols", "note,n", "-o", out)
    row = pd.read_csv(out, dtype=str).iloc[0]
    assert row["source"] == "'=HYPERLINK(\"x\")" and row["note"] == "'+1 pt" and row["n"] == "-5"


def test_resume_keys_on_position_so_duplicate_ids_are_each_tagged(tmp_path, model_file):
    table = tmp_path / "dup.jsonl"
    table.write_text("".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in [("1", "Tariffs"), ("1", "Missile test"), ("2", "Vaccine")]))
    out = tmp_path / "out.jsonl"
    full = records(invoke("tag", table, "--model", model_file, "--id-col", "id").stdout)
    out.write_text(json.dumps(full[0]) + "\n")
    assert invoke("tag", table, "--model", model_file, "--id-col", "id", "-o", out, "--resume").exit_code == 0
    assert records(out.read_text()) == full


def test_resume_over_a_file_that_is_not_topictag_output(tmp_path, model_file, news):
    out = tmp_path / "out.jsonl"
    out.write_bytes(b'{"source": "\xff\xfe"}\n')
    assert "not a topictag record" in one_line_error(invoke("tag", news, "--model", model_file, "-o", out, "--resume"))


def test_sigterm_cleans_up_temporary_files(tmp_path, model_file):
    table = tmp_path / "many.jsonl"
    table.write_text("".join(json.dumps({"text": f"Tariffs on steel {i}"}) + "\n" for i in range(300_000)))
    out = tmp_path / "out.parquet"
    process = subprocess.Popen(TOPICTAG + ["tag", str(table), "--model", str(model_file), "-o", str(out), "--jobs", "1", "--quiet"], stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and not list(tmp_path.glob(".out.parquet.*.tmp")):
        time.sleep(0.01)
    time.sleep(0.3)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 143 and stderr.strip() == "Error: terminated"
    assert not out.exists() and list(tmp_path.glob(".out.parquet*")) == []
