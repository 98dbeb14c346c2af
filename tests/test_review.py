"""serve --review: every answer lands in the labels file at once; undo, skip, resume after a kill; the page by keyboard."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from topictag.cli import app as cli  # noqa: E402
from topictag.errors import DataError  # noqa: E402
from topictag.review import ReviewSession  # noqa: E402
from topictag.serve import create_app  # noqa: E402

TEXTS = ["Tariffs on imported steel rise to 25 percent", "Missile test over the sea alarms neighbours", "Local team wins championship in overtime", "Vaccine approved for children"]


@pytest.fixture
def to_label(tmp_path):
    path = tmp_path / "to_label.jsonl"
    path.write_text("".join(json.dumps({"id": f"t{i}", "text": t, "suggested": ["trade"] if i == 0 else []}) + "\n" for i, t in enumerate(TEXTS)))
    return path


def session(to_label, labels, model):
    return ReviewSession(to_label, labels, model.topics_, model.negative_label)


def lines(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_answers_are_appended_at_once_and_other_stands_alone(tmp_path, to_label, tiny_model):
    labels = tmp_path / "my_labels.jsonl"
    client = TestClient(create_app(tiny_model, review=session(to_label, labels, tiny_model)))
    state = client.get("/v1/review/next").json()
    assert state["item"]["id"] == "t0" and state["item"]["suggested"] == ["trade"] and state["labels"] == tiny_model.topics_
    state = client.post("/v1/review/answer", json={"id": "t0", "labels": ["trade"]}).json()
    assert lines(labels) == [{"id": "t0", "text": TEXTS[0], "labels": ["trade"]}]  # on disk before the next text is shown
    assert state["item"]["id"] == "t1" and state["answered"] == 1
    client.post("/v1/review/answer", json={"id": "t1", "labels": []})  # no topic: the negative label
    client.post("/v1/review/answer", json={"id": "t2", "labels": ["other", "trade"]})  # a topic wins over 'other'
    assert [row["labels"] for row in lines(labels)] == [["trade"], ["other"], ["trade"]]


def test_skip_undo_and_errors(tmp_path, to_label, tiny_model):
    labels = tmp_path / "my_labels.jsonl"
    client = TestClient(create_app(tiny_model, review=session(to_label, labels, tiny_model)))
    assert client.post("/v1/review/undo").status_code == 400  # nothing to undo yet
    assert client.post("/v1/review/skip", json={"id": "t0"}).json()["item"]["id"] == "t1"
    client.post("/v1/review/answer", json={"id": "t1", "labels": ["security"]})
    client.post("/v1/review/answer", json={"id": "t2", "labels": ["other"]})
    state = client.post("/v1/review/undo").json()
    assert state["item"]["id"] == "t2" and [row["id"] for row in lines(labels)] == ["t1"]
    bad = client.post("/v1/review/answer", json={"id": "t2", "labels": ["sport"]})
    assert bad.status_code == 400 and "unknown label" in bad.json()["error"]
    assert client.post("/v1/review/answer", json={"id": "nope", "labels": []}).status_code == 400
    assert [row["id"] for row in lines(labels)] == ["t1"]
    for item in ("t2", "t3", "t0"):
        state = client.post("/v1/review/answer", json={"id": item, "labels": []}).json()
    assert state["done"] and state["answered"] == 4


def test_review_needs_its_labels_file_and_one_worker(to_label):
    result = CliRunner().invoke(cli, ["serve", "--review", str(to_label)])
    assert result.exit_code == 2 and "--labels" in result.stderr
    result = CliRunner().invoke(cli, ["serve", "--review", str(to_label), "--labels", "x.jsonl", "--workers", "2"])
    assert result.exit_code == 2 and "--workers 1" in result.stderr


def test_a_second_session_on_the_same_labels_file_is_refused(tmp_path, to_label, tiny_model):
    labels = tmp_path / "my_labels.jsonl"
    first = session(to_label, labels, tiny_model)
    with pytest.raises(DataError, match="another topictag serve --review"):
        session(to_label, labels, tiny_model)
    first.close()
    session(to_label, labels, tiny_model).close()  # free again once the first is closed


def test_a_torn_last_line_is_cut_and_a_whole_one_kept(tmp_path, to_label, tiny_model):
    labels = tmp_path / "my_labels.jsonl"
    whole = json.dumps({"id": "t0", "text": TEXTS[0], "labels": ["trade"]})
    labels.write_text(whole + "\n" + '{"id": "t1", "text": "Missile te')
    opened = session(to_label, labels, tiny_model)
    assert opened.repaired and labels.read_text() == whole + "\n" and opened.next()["item"]["id"] == "t1"
    opened.answer("t1", ["security"])
    assert [row["id"] for row in lines(labels)] == ["t0", "t1"]
    opened.close()
    labels.write_text(whole)  # whole but without its newline: kept, and the next answer starts a new line
    opened = session(to_label, labels, tiny_model)
    assert not opened.repaired
    opened.answer("t1", ["security"])
    assert [row["id"] for row in lines(labels)] == ["t0", "t1"]
    opened.close()


def test_a_file_that_is_not_a_labels_file_is_refused_untouched(tmp_path, to_label, tiny_model):
    for content in ("id,text,labels\nr9,Old,trade\nr10,Another,health", '[{"id": "a", "text": "x", "labels": ["trade"]}\n]', "7"):
        labels = tmp_path / "mine.csv"
        labels.write_text(content)
        with pytest.raises(DataError):
            session(to_label, labels, tiny_model)
        assert labels.read_text() == content


def test_every_path_to_the_labels_file_meets_the_same_lock(tmp_path, to_label, tiny_model):
    labels = tmp_path / "real.jsonl"
    (tmp_path / "link.jsonl").symlink_to(labels)
    first = session(to_label, labels, tiny_model)
    with pytest.raises(DataError, match="another topictag serve --review"):
        session(to_label, tmp_path / "link.jsonl", tiny_model)
    first.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.jsonl", "real.jsonl", "to_label.jsonl"]  # no lock files left


def test_a_bad_labels_file_is_an_error_before_serving(tmp_path, to_label, model_file):
    labels = tmp_path / "my_labels.jsonl"
    labels.write_text("not json\n" + json.dumps({"id": "t0", "text": "x", "labels": ["trade"]}) + "\n")
    result = CliRunner().invoke(cli, ["serve", "--port", str(_free_port()), "--model", str(model_file), "--review", str(to_label), "--labels", str(labels)])
    assert result.exit_code == 1 and "serving on" not in result.stderr
    assert result.stderr.count("\n") == 1 and f"{labels}:1: not valid JSON" in result.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(to_label, labels, model_file):
    port = _free_port()
    process = subprocess.Popen([sys.executable, "-m", "topictag", "serve", "--port", str(port), "--model", str(model_file), "--review", str(to_label), "--labels", str(labels)],
                               stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url + "/healthz", timeout=1)
            return process, url
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise AssertionError("the review server did not start")


def _post(url, path, body):
    request = urllib.request.Request(url + path, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def test_a_killed_server_loses_nothing_and_resumes(tmp_path, to_label, model_file):
    labels = tmp_path / "my_labels.jsonl"
    process, url = _start(to_label, labels, model_file)
    try:
        _post(url, "/v1/review/answer", {"id": "t0", "labels": ["trade"]})
        _post(url, "/v1/review/answer", {"id": "t1", "labels": ["security"]})
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    assert [row["id"] for row in lines(labels)] == ["t0", "t1"]
    process, url = _start(to_label, labels, model_file)
    try:
        with urllib.request.urlopen(url + "/v1/review/next", timeout=30) as response:
            state = json.load(response)
        assert state["item"]["id"] == "t2" and state["answered"] == 2
    finally:
        process.terminate()
        process.wait(timeout=30)


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium installed (apt install chromium)")
def test_labeling_by_keyboard_in_a_real_browser(tmp_path, to_label, model_file):
    playwright = pytest.importorskip("playwright.sync_api")
    labels = tmp_path / "my_labels.jsonl"
    process, url = _start(to_label, labels, model_file)
    args = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"]
    try:
        with playwright.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=args)
            page = browser.new_page()
            page.goto(url + "/review")
            page.wait_for_selector(".label")
            assert TEXTS[0] in page.inner_text("#text")
            assert page.locator(".label.on").all_inner_texts() == [f"{1 + ['health', 'security', 'tech_policy', 'trade'].index('trade')} trade"]
            page.keyboard.press("Enter")  # accept the suggestion
            page.wait_for_function("document.getElementById('text').textContent.includes('Missile')")
            page.keyboard.press(str(1 + ["health", "security", "tech_policy", "trade"].index("security")))
            page.keyboard.press("Enter")
            page.wait_for_function("document.getElementById('text').textContent.includes('Local team')")
            page.keyboard.press("o")
            page.wait_for_function("document.getElementById('text').textContent.includes('Vaccine')")
            page.keyboard.press("u")  # undo 'other': the local team text comes back
            page.wait_for_function("document.getElementById('text').textContent.includes('Local team')")
            page.keyboard.press("s")
            page.wait_for_function("document.getElementById('text').textContent.includes('Vaccine')")
            assert "Text 4 of 4 (2 answered)" in page.inner_text("#progress")
            artifacts = Path(os.environ.get("TOPICTAG_ARTIFACTS", tmp_path))
            artifacts.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(artifacts / "review-page.png"), full_page=True)
            browser.close()
    finally:
        process.terminate()
        process.wait(timeout=30)
    assert [(row["id"], row["labels"]) for row in lines(labels)] == [("t0", ["trade"]), ("t1", ["security"])]
