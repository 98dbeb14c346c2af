"""Finding and reading inputs: folders, globs, odd files, bounded reads, decoding, tables, HTML."""

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from topictag import DataError, inputs
from topictag.inputs import Document, InputOptions, expand_inputs, iter_documents, read_document

needs_fifo = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")


def paths_of(found):
    return [f if isinstance(f, str) else f.source for f in found]


def test_folders_are_walked_in_order_skipping_hidden(tmp_path):
    (tmp_path / "b").mkdir()
    (tmp_path / ".hidden").mkdir()
    for name in ("z.txt", "a.txt", ".dot.txt", "b/c.txt", ".hidden/h.txt"):
        (tmp_path / name).write_text("x")
    assert [Path(p).relative_to(tmp_path).as_posix() for p in expand_inputs([str(tmp_path)])] == ["a.txt", "z.txt", "b/c.txt"]


def test_folders_nested_deeper_than_the_recursion_limit(tmp_path):
    here = os.getcwd()
    os.chdir(tmp_path)
    try:
        for _ in range(1200):
            os.mkdir("d")
            os.chdir("d")
        Path("x.txt").write_text("Tariffs")
    finally:
        os.chdir(here)
    try:
        [found] = expand_inputs([str(tmp_path)])
        assert found == str(tmp_path) + "/d" * 1200 + "/x.txt"
    finally:
        _remove_deep(tmp_path, 1200)


def _remove_deep(root, depth):
    """Remove the chain of folders without recursion (shutil.rmtree, and so pytest's clean-up, would fail)."""
    here = os.getcwd()
    os.chdir(root)
    try:
        for _ in range(depth):
            os.chdir("d")
        Path("x.txt").unlink()
        for _ in range(depth):
            os.chdir("..")
            os.rmdir("d")
    finally:
        os.chdir(here)


def test_symlink_loops_never_repeat_files(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.txt").write_text("Tariffs")
    (tmp_path / "docs" / "loop").symlink_to(tmp_path / "docs", target_is_directory=True)
    assert paths_of(expand_inputs([str(tmp_path / "docs")])) == [str(tmp_path / "docs" / "a.txt")]
    assert paths_of(expand_inputs([f"{tmp_path}/docs/**/*.txt"])) == [f"{tmp_path}/docs/a.txt"]


def test_a_self_looping_symlink_named_directly_says_so(tmp_path):
    (tmp_path / "self").symlink_to(tmp_path / "self")
    with pytest.raises(DataError, match="symbolic link loop"):
        expand_inputs([str(tmp_path / "self")])


def test_broken_links_in_folders_get_an_error_record(tmp_path):
    (tmp_path / "gone").symlink_to(tmp_path / "nowhere.txt")
    [found] = expand_inputs([str(tmp_path)])
    assert isinstance(found, Document) and found.error == "cannot read: broken symbolic link"


def test_globs_match_like_glob(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    for name in ("x.txt", "a/y.txt", "a/b/z.txt", "a/b/w.md", "a/.h.txt"):
        (tmp_path / name).write_text("x")
    assert paths_of(expand_inputs([f"{tmp_path}/**/*.txt"])) == [f"{tmp_path}/{n}" for n in ("a/b/z.txt", "a/y.txt", "x.txt")]
    assert paths_of(expand_inputs([f"{tmp_path}/a/*.txt"])) == [f"{tmp_path}/a/y.txt"]
    assert paths_of(expand_inputs([f"{tmp_path}/*/b/?.md"])) == [f"{tmp_path}/a/b/w.md"]
    with pytest.raises(DataError, match="no files match"):
        expand_inputs([f"{tmp_path}/*.csv"])


@needs_fifo
def test_a_fifo_in_a_folder_gets_an_error_record_and_is_never_opened(tmp_path):
    (tmp_path / "a.txt").write_text("Tariffs on steel")
    os.mkfifo(tmp_path / "b.fifo")
    (tmp_path / "c.txt").write_text("Missile test")
    documents = list(iter_documents(expand_inputs([str(tmp_path)])))  # would hang if the FIFO were opened
    assert [d.error for d in documents] == [None, "not a regular file (FIFO); name it explicitly to read it as a stream", None]


@needs_fifo
def test_a_fifo_named_explicitly_is_read_as_a_stream(tmp_path):
    fifo = tmp_path / "in.fifo"
    os.mkfifo(fifo)
    writer = threading.Thread(target=lambda: fifo.write_bytes(b"Tariffs on steel"))
    writer.start()
    [document] = list(iter_documents(expand_inputs([str(fifo)])))
    writer.join()
    assert document.text == "Tariffs on steel"


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_reads_of_devices_and_stdin_are_bounded():
    assert read_document("/dev/zero", max_bytes=1 << 20).error == "binary file, not text"
    code = "from topictag.inputs import read_document; print(read_document('-', max_bytes=100000).error)"
    with subprocess.Popen(["yes", "Tariffs on steel"], stdout=subprocess.PIPE) as endless:
        result = subprocess.run([sys.executable, "-c", code], stdin=endless.stdout, capture_output=True, text=True, timeout=60)
        endless.kill()
    assert result.stdout.strip() == "file too large (more than limit 97.7 KiB; raise --max-bytes)"


@pytest.mark.parametrize(
    "data",
    [b"\xff\xfe" + b"abc", b"\xff\xfe" + "x".encode("utf-16-le") + b"\x00\xd8", b"\xff\xfe\x00\x00\x01\x02\x03\x04garbage\x00"],
    ids=["odd-length", "lone-surrogate", "binary"],
)
def test_undecodable_utf16_looking_files_get_an_error_record(tmp_path, data):
    path = tmp_path / "bad.txt"
    path.write_bytes(data)
    assert read_document(str(path)).error.startswith("binary file, not text")


def test_files_larger_than_the_limit_are_refused_without_reading(tmp_path):
    path = tmp_path / "big.txt"
    path.write_bytes(b"Tariffs. " * 200)
    assert read_document(str(path), max_bytes=1000).error == "file too large (1.8 KiB > limit 1000 bytes; raise --max-bytes)"
    assert inputs.format_bytes(64 * 1024 * 1024) == "64 MiB" and inputs.format_bytes(1000) == "1000 bytes"


def test_read_text_is_the_text_that_offsets_index(tmp_path):
    path = tmp_path / "bom.txt"
    path.write_bytes(b"\xef\xbb\xbfTariffs rise\r\nSecond line\r\n")
    text = inputs.read_text(path)
    assert text == "Tariffs rise\r\nSecond line\r\n"


def jsonl(path, *rows):
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")
    return str(path)


def test_jsonl_rows_that_are_not_usable_get_clear_error_records(tmp_path):
    table = jsonl(tmp_path / "t.jsonl", {"text": 42}, {"text": None}, {"body": "x"}, '{"text": "a\tb"}', "[1, 2]", {"text": "Tariffs"})
    errors = [d.error for d in iter_documents([table])]
    assert errors == [
        "'text' is a number, not a string",
        "empty text",
        "no 'text' field",
        "malformed JSON line (Invalid control character at column 12)",
        "malformed JSON line (not an object)",
        None,
    ]


def test_jsonl_lines_longer_than_the_limit_are_skipped_not_loaded(tmp_path):
    table = jsonl(tmp_path / "t.jsonl", {"text": "x" * 5000}, {"text": "Tariffs"})
    documents = list(iter_documents([table], InputOptions(max_bytes=1000)))
    assert documents[0].error == "line longer than 1000 bytes; raise --max-bytes" and documents[1].text == "Tariffs"


def test_jsonl_tables_are_checked_across_rows_not_only_the_first(tmp_path):
    table = jsonl(tmp_path / "t.jsonl", "not json", {"id": 1, "text": "Tariffs"}, {"id": 2, "text": "Steel", "desk": "biz"})
    inputs.check_tables([table], InputOptions(keep_cols=("desk",)))  # desk appears in row 3 only: fine for JSONL
    documents = list(iter_documents([table], InputOptions(keep_cols=("desk",))))
    assert [d.extra.get("desk") for d in documents] == [None, None, "biz"]
    with pytest.raises(DataError, match="no column 'body'"):
        inputs.check_tables([table], InputOptions(text_col="body"))


def test_csv_tables_still_need_their_columns(tmp_path):
    table = tmp_path / "t.csv"
    table.write_text("headline,desk\nTariffs,biz\n")
    with pytest.raises(DataError, match="no column 'text'; columns found: headline, desk"):
        inputs.check_tables([str(table)], InputOptions())


def test_a_damaged_table_is_an_error_record_not_the_end_of_the_run(tmp_path):
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"PAR1 not really")
    good = tmp_path / "good.txt"
    good.write_text("Tariffs")
    documents = list(iter_documents([str(bad), str(good)]))
    assert documents[0].source == str(bad) and documents[0].error.startswith("cannot read Parquet")
    assert documents[1].text == "Tariffs"


def test_html_main_text_and_fallback():
    text, extractor = inputs.extract_html("<p>x</p><script>var a</script>")
    assert extractor in ("trafilatura", "html-text")
    assert inputs.extract_html("<html><body><div>Only</div></body></html>")[0].strip() == "Only"
