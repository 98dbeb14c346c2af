import json

import pandas as pd
import pytest

from topictag import DataError, read_dataset
from topictag.corpus import read_labels_folder


def test_csv_with_pipe_separated_labels(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text('text,label\n"Chips, tariffs and rules",trade|tech_policy\nRain today,other\n', encoding="utf-8")
    dataset = read_dataset(path)
    assert dataset.texts == ["Chips, tariffs and rules", "Rain today"]
    assert dataset.label_sets == [("trade", "tech_policy"), ("other",)]
    assert len(dataset.sha256) == 64


def test_tsv_with_custom_columns_and_embedded_newline(tmp_path):
    path = tmp_path / "data.tsv"
    path.write_text('body\ttopic\n"line one\nline two"\thealth\n', encoding="utf-8")
    dataset = read_dataset(path, text_col="body", label_col="topic")
    assert dataset.texts == ["line one\nline two"]
    assert dataset.label_sets == [("health",)]


def test_jsonl_with_label_lists(tmp_path):
    path = tmp_path / "data.jsonl"
    rows = [{"id": "a", "text": "x y", "labels": ["trade", "security"]}, {"id": "b", "text": "z", "labels": []}]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    dataset = read_dataset(path)
    assert [e.id for e in dataset.examples] == ["a", "b"]
    assert dataset.label_sets == [("trade", "security"), ()]


def test_parquet(tmp_path):
    path = tmp_path / "data.parquet"
    pd.DataFrame({"text": ["a b", "c d"], "labels": [["trade"], ["health", "trade"]]}).to_parquet(path)
    assert read_dataset(path).label_sets == [("trade",), ("health", "trade")]


def test_folder_of_label_subfolders(tmp_path):
    for label, text in [("trade", "tariffs"), ("health", "vaccines")]:
        (tmp_path / label).mkdir()
        (tmp_path / label / "1.txt").write_text(text, encoding="utf-8")
    dataset = read_dataset(tmp_path)
    assert sorted(zip(dataset.texts, dataset.label_sets)) == [("tariffs", ("trade",)), ("vaccines", ("health",))]


def test_rows_with_empty_text_are_dropped(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text("text,label\n,trade\nreal text,health\n", encoding="utf-8")
    assert read_dataset(path).texts == ["real text"]


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("data.csv", "body,label\nx,trade\n", "no text column 'text'; columns found: body, label"),
        ("data.csv", "text,topic\nx,trade\n", "no label column 'label' or 'labels'; columns found: text, topic"),
        ("data.csv", "text,label\n,trade\n , health\n", "no non-empty text"),
        ("data.xml", "<x/>", "unknown format '.xml'"),
        ("data.jsonl", '{"text": "a", "labels": ["x"]}\n{oops\n', "data.jsonl:2: not valid JSON"),
        ("data.csv", "", "has no rows"),
    ],
)
def test_bad_data_is_a_clear_error(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DataError, match=message.replace("(", r"\(").replace(")", r"\)")):
        read_dataset(path)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        read_dataset(tmp_path / "missing.csv")


def test_labels_folder_reads_every_jsonl_file(tmp_path):
    (tmp_path / "a.jsonl").write_text(json.dumps({"id": "a1", "text": "t", "labels": ["trade"]}) + "\n", encoding="utf-8")
    (tmp_path / "b.jsonl").write_text(json.dumps({"id": "b1", "text": "u", "labels": ["other"]}) + "\n", encoding="utf-8")
    dataset = read_labels_folder(tmp_path)
    assert [e.id for e in dataset.examples] == ["a1", "b1"]


def test_a_folder_of_jsonl_files_is_read_like_labels(tmp_path):
    (tmp_path / "a.jsonl").write_text(json.dumps({"id": "a1", "text": "t", "labels": ["trade"]}) + "\n", encoding="utf-8")
    assert read_dataset(tmp_path).label_sets == [("trade",)]


def _readline_reference(path, max_bytes):
    """jsonl_lines as a plain readline loop (its definition): too-long lines are None, blank lines skipped."""
    with open(path, "rb") as handle:
        number = 0
        while line := handle.readline(max_bytes + 1):
            number += 1
            if len(line) > max_bytes and not line.endswith(b"\n"):
                while (rest := handle.readline(1 << 20)) and not rest.endswith(b"\n"):
                    pass
                yield number, None
                continue
            if number == 1 and line.startswith(b"\xef\xbb\xbf"):
                line = line[3:]
            text = line.decode("utf-8", "replace")
            if text.strip():
                yield number, text


def test_block_reading_of_jsonl_lines_equals_reading_line_by_line(tmp_path, monkeypatch):
    from hypothesis import given, settings
    from hypothesis import strategies as st

    import topictag.corpus as corpus

    pieces = st.sampled_from([b"", b" ", b"\xef\xbb\xbf", b'{"text": "a"}', b"x" * 25, "é".encode(), b"\xff", b"\r", b"\n", b"\n", b"\n"])

    @settings(max_examples=300, deadline=None)
    @given(st.lists(pieces, max_size=12), st.integers(1, 20), st.sampled_from([1, 2, 3, 7, 64]))
    def check(parts, max_bytes, block):
        monkeypatch.setattr(corpus, "JSONL_BLOCK", block)
        path = tmp_path / "t.jsonl"
        path.write_bytes(b"".join(parts))
        assert list(corpus.jsonl_lines(path, max_bytes)) == list(_readline_reference(path, max_bytes))

    check()
