"""topictag serve: the API in process (every route and error), one real server over HTTP, the page in a browser."""

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

fastapi = pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

import topictag  # noqa: E402
from topictag.cli import app as cli  # noqa: E402
from topictag.serve import create_app  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PAGE = (ROOT / "examples" / "page.txt").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def model():
    return topictag.default_model()


@pytest.fixture(scope="module")
def client(model):
    return TestClient(create_app(model, max_body=200_000, max_texts=5))


def test_health_and_model(client, model):
    assert client.get("/healthz").json() == {"status": "ok"}
    info = client.get("/v1/model").json()
    assert info["labels"] == model.topics_ and set(info["thresholds"]) == set(model.topics_)
    assert len(info["bundle_sha256"]) == 64 and "micro" in info["cv_metrics"]


def test_tag_gives_the_records_of_topictag_tag(client, tmp_path):
    response = client.post("/v1/tag", json={"documents": [{"id": "a", "text": "Tariffs on imported steel rise to 25 percent"}, {"id": "b", "text": " "}]})
    assert response.status_code == 200
    records = response.json()["records"]
    (tmp_path / "a.txt").write_text("Tariffs on imported steel rise to 25 percent")
    [expected] = [json.loads(line) for line in CliRunner().invoke(cli, ["tag", str(tmp_path / "a.txt"), "--format", "jsonl"]).stdout.splitlines()]
    assert {k: v for k, v in records[0].items() if k != "source"} == {k: v for k, v in expected.items() if k != "source"}
    assert records[0]["source"] == "a" and records[1] == {"source": "b", "error": "empty text"}
    texts = client.post("/v1/tag", json={"texts": ["Missile test alarms neighbours"], "threshold": 0.0, "top_k": 2}).json()["records"]
    assert texts[0]["source"] == "0" and len(texts[0]["tags"]) == 2


def test_segment_gives_the_json_of_topictag_segment(client, tmp_path):
    (tmp_path / "page.txt").write_text(PAGE, encoding="utf-8")
    expected = json.loads(CliRunner().invoke(cli, ["segment", str(tmp_path / "page.txt"), "--format", "json", "--furniture"]).stdout)
    got = client.post("/v1/segment", json={"text": PAGE, "furniture": True}).json()
    assert got["segments"] == expected["segments"]
    merged = client.post("/v1/segment", json={"text": PAGE, "merge": True}).json()["segments"]
    assert all(s["kind"] == "story" for s in merged)


def test_explain_gives_the_json_of_topictag_explain(client):
    text = "Brussels slaps duties on Chinese electric cars"
    expected = json.loads(CliRunner().invoke(cli, ["explain", text, "--format", "json", "--terms", "5"]).stdout)
    assert client.post("/v1/explain", json={"text": text, "terms": 5}).json() == expected
    assert client.post("/v1/explain", json={"text": text, "labels": ["sport"]}).status_code == 400


def test_html_is_reduced_to_its_main_text(client):
    page = "<html><body><nav>Home | World</nav><article><h1>Steel tariffs rise</h1><p>The government raised tariffs on imported steel to 25 percent on Monday, citing a surge of cheap imports.</p></article></body></html>"
    result = client.post("/v1/segment", json={"text": page, "html": True}).json()
    assert "<" not in result["text"] and result["segments"][0]["label"] == "trade"
    assert client.post("/v1/tag", json={"texts": [page], "html": True}).json()["records"][0]["top"] == "trade"


@pytest.mark.parametrize(
    "body, headers, status, message",
    [
        (b'{"texts": [1', {"content-type": "application/json"}, 400, "malformed JSON"),
        (b'{"texts": ["caf\xe9"]}', {"content-type": "application/json"}, 400, "not UTF-8"),
        (b'{"texts": [1, 2]}', {"content-type": "application/json"}, 422, "texts.0"),
        (b'{"texts": ["a"], "documents": []}', {"content-type": "application/json"}, 422, "texts or documents"),
        (b'{}', {"content-type": "application/json"}, 422, "texts or documents"),
        (b'{"texts": ["a", "b", "c", "d", "e", "f"]}', {"content-type": "application/json"}, 413, "at most 5"),
        (b'{"texts": ["' + b"x" * 300_000 + b'"]}', {"content-type": "application/json"}, 413, "over 200000 bytes"),
    ],
)
def test_bad_requests_get_a_clear_status_never_500(client, body, headers, status, message):
    response = client.post("/v1/tag", content=body, headers=headers)
    assert response.status_code == status, response.text
    assert message in response.json()["error"] and "\n" not in response.json()["error"]


def test_a_streamed_body_over_the_limit_is_refused(client):
    def chunks():
        for _ in range(50):
            yield b" " * 10_000

    response = client.post("/v1/tag", content=chunks(), headers={"content-type": "application/json"})
    assert response.status_code == 413


def test_a_token_is_checked_on_every_api_call(model):
    guarded = TestClient(create_app(model, token="s3cret"))
    assert guarded.get("/v1/model").status_code == 401
    assert guarded.post("/v1/tag", json={"texts": ["x"]}, headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert guarded.post("/v1/tag", json={"texts": ["x"]}, headers={"Authorization": "Bearer s3cret"}).status_code == 200
    assert guarded.get("/healthz").status_code == 200 and guarded.get("/").status_code == 200


def test_no_request_can_name_a_file(client):
    result = client.post("/v1/segment", json={"text": "/etc/passwd"}).json()
    assert all(s["text"] == "/etc/passwd" for s in result["segments"])
    assert "path" not in json.dumps(client.get("/openapi.json").json()["components"]["schemas"]).lower()


def test_the_page_is_self_contained(client):
    page = client.get("/").text
    assert "<script>" in page and "/*PALETTE*/" not in page
    for outside in ("http://", "https://", "//cdn", "<link"):
        assert outside not in page, outside


def test_binding_beyond_loopback_needs_a_token():
    result = CliRunner().invoke(cli, ["serve", "--host", "0.0.0.0"])
    assert result.exit_code == 2 and "--token" in result.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server():
    port = _free_port()
    process = subprocess.Popen([sys.executable, "-m", "topictag", "serve", "--port", str(port)], stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url + "/healthz", timeout=1)
            break
        except OSError:
            time.sleep(0.2)
    yield url
    process.terminate()
    process.wait(timeout=30)


def test_a_real_server_answers_over_http(server):
    request = urllib.request.Request(server + "/v1/tag", data=json.dumps({"texts": ["Navy ships shadow carrier group in the strait"]}).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        assert json.load(response)["records"][0]["top"] == "security"


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium installed (apt install chromium)")
def test_the_page_in_a_real_browser(server, tmp_path):
    playwright = pytest.importorskip("playwright.sync_api")
    args = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"]
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=args)
        page = browser.new_page()
        page.goto(server + "/")
        page.fill("#text", PAGE)
        page.click("#go")
        page.wait_for_selector(".seg", timeout=30_000)
        chips = page.locator(".chip").all_inner_texts()
        labels = page.locator(".seg").evaluate_all("nodes => nodes.map(n => n.dataset.label)")
        assert any(chip.startswith("security") for chip in chips)
        assert {"security", "health", "trade"} <= set(labels)
        page.locator(".seg").first.click()
        page.wait_for_selector("#explain table", timeout=30_000)
        assert "pushed up" in page.inner_text("#explain")
        artifacts = Path(os.environ.get("TOPICTAG_ARTIFACTS", tmp_path))
        artifacts.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(artifacts / "serve-page.png"), full_page=True)
        browser.close()


def test_a_slow_client_does_not_block_others(server):
    """A client that sends half its body and stalls holds only its own connection."""
    host, port = server.removeprefix("http://").split(":")
    slow = socket.create_connection((host, int(port)), timeout=30)
    try:
        body = json.dumps({"texts": ["Tariffs on steel rise"]}).encode()
        slow.sendall(b"POST /v1/tag HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body[:10])
        started = time.perf_counter()
        request = urllib.request.Request(server + "/v1/tag", data=json.dumps({"texts": ["Navy ships shadow carrier group"]}).encode(), headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            assert json.load(response)["records"][0]["top"] == "security"
        assert time.perf_counter() - started < 5
        slow.sendall(body[10:])  # the slow one is answered too, once its body is complete
        assert b"200 OK" in slow.recv(65536)
    finally:
        slow.close()
