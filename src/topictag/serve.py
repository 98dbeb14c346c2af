"""``topictag serve``: a JSON API for pipelines and a web page for people, a thin layer over the library.

One ASGI application (FastAPI, run by uvicorn): every route calls the same library functions the CLI calls,
and returns the same JSON shapes (``tag`` records, ``segment --format json``, ``explain --format json``). The
page at ``/`` is one self-contained HTML file from the package (no CDN, no external fonts or scripts).

Safety: request bodies are capped (``max_body``) while they are read, the number of texts per request is
capped (``max_texts``), malformed or non-UTF-8 JSON is a 400 with a one-line message, schema errors are 422,
and no request can name a file on the server. With a ``token``, every API call must carry
``Authorization: Bearer <token>`` (compared in constant time). Install with ``pip install "topictag[serve]"``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from importlib.resources import files
from pathlib import Path
from typing import Optional

from fastapi import FastAPI, HTTPException, Request
from starlette.exceptions import HTTPException as StarletteHTTPException
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, Field, field_validator

DEFAULT_MAX_BODY = 10 * 1024 * 1024
DEFAULT_MAX_TEXTS = 1000
API_VERSION = "v1"


# ---- request bodies (the generated OpenAPI schema at /docs documents them) -------------------------


class TagDocument(BaseModel):
    id: str = Field(description="Returned as the record's source.")
    text: str


class TagRequest(BaseModel):
    texts: Optional[list[str]] = Field(None, description="Texts to tag; each record's source is its position.")
    documents: Optional[list[TagDocument]] = Field(None, description="Or documents with ids.")
    threshold: Optional[float] = Field(None, ge=0.0, le=1.0, description="One cut-off for every label instead of its own.")
    top_k: Optional[int] = Field(None, ge=1, description="Keep at most this many tags per text.")
    html: bool = Field(False, description="The texts are HTML pages: reduce them to their main text first.")

    @field_validator("documents")
    @classmethod
    def _one_kind(cls, documents, info):
        if documents is not None and info.data.get("texts") is not None:
            raise ValueError("give texts or documents, not both")
        return documents


class SegmentRequest(BaseModel):
    text: str
    merge: bool = Field(False, description="Join neighbouring stories with the same label.")
    furniture: bool = Field(False, description="Also return the furniture spans (label null, kind furniture).")
    html: bool = Field(False, description="The text is an HTML page: segment its main text (returned as text).")


class ExplainRequest(BaseModel):
    text: str
    labels: Optional[list[str]] = None
    terms: int = Field(10, ge=1, le=1000)


# ---- the application -------------------------------------------------------------------------------


def create_app(model, *, model_path: Optional[Path] = None, token: Optional[str] = None, max_body: int = DEFAULT_MAX_BODY,
               max_texts: int = DEFAULT_MAX_TEXTS, review=None) -> FastAPI:
    """The ASGI application around a loaded model. ``review``, if given, adds the labeling routes."""
    app = FastAPI(title="topictag", version=_version(), description="Tag news with topics, segment pages into stories, explain tags.")
    app.state.model = model
    bundle_hash = _bundle_hash(model_path)

    def check_token(request: Request) -> None:
        if token is None:
            return
        given = request.headers.get("authorization", "")
        expected = f"Bearer {token}"
        if not hmac.compare_digest(given.encode("utf-8", "replace"), expected.encode("utf-8")):
            raise HTTPException(status_code=401, detail="missing or wrong bearer token")

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, error: RequestValidationError):
        problems = error.errors()
        if any(p.get("type") in ("json_invalid", "json_type") for p in problems):
            return _error(400, "malformed JSON: " + _one_line(problems[0].get("msg", "cannot parse the body")))
        where = ".".join(str(part) for part in problems[0].get("loc", ()) if part != "body")
        return JSONResponse(status_code=422, content={"error": f"{where or 'body'}: {_one_line(problems[0].get('msg', 'invalid'))}", "detail": _plain(problems)})

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException):
        return _error(error.status_code, str(error.detail))

    from .errors import TopictagError

    @app.exception_handler(TopictagError)
    async def user_error(request: Request, error: TopictagError):
        return _error(400, _one_line(error))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception):  # a bug: still no traceback to the client
        return _error(500, f"internal error ({type(error).__name__})")

    app.add_middleware(_BodyLimit, max_body=max_body)

    @app.get("/healthz", summary="Liveness check")
    def healthz():
        return {"status": "ok"}

    @app.get(f"/{API_VERSION}/model", summary="The model: labels, thresholds, metrics, training, bundle hash")
    def model_info(request: Request):
        check_token(request)
        return {
            "labels": model.topics_,
            "negative_label": model.negative_label,
            "thresholds": {t: round(v, 4) for t, v in model.thresholds_.items()},
            "cv_metrics": model.cv_metrics_,
            "training": model.training_info_,
            "bundle_sha256": bundle_hash,
        }

    @app.post(f"/{API_VERSION}/tag", summary="Tag texts: one record per input, the fields of `topictag tag` JSONL")
    def tag(body: TagRequest, request: Request):
        check_token(request)
        if body.documents is not None:
            sources, texts = [d.id for d in body.documents], [d.text for d in body.documents]
        elif body.texts is not None:
            sources, texts = [str(i) for i in range(len(body.texts))], list(body.texts)
        else:
            raise HTTPException(status_code=422, detail="give texts or documents")
        if len(texts) > max_texts:
            raise HTTPException(status_code=413, detail=f"{len(texts)} texts; at most {max_texts} per request")
        if body.html:
            from .inputs import extract_html

            texts = [extract_html(t)[0] for t in texts]
        return {"records": _tag_records(model, sources, texts, body.threshold, body.top_k)}

    @app.post(f"/{API_VERSION}/segment", summary="Segment a document: the JSON of `topictag segment --format json`")
    def segment(body: SegmentRequest, request: Request):
        check_token(request)
        text = body.text
        if body.html:
            from .inputs import extract_html

            text = extract_html(text)[0]
        segments = model.segment(text, merge=body.merge, furniture=body.furniture) if text.strip() else []
        result = {"source": "request", "segments": [s.to_dict() for s in segments]}
        if body.html:
            result["text"] = text
        return result

    @app.post(f"/{API_VERSION}/explain", summary="Explain a text's scores: the JSON of `topictag explain --format json`")
    def explain(body: ExplainRequest, request: Request):
        check_token(request)
        return [e.to_dict() for e in model.explain(body.text, labels=body.labels, n_terms=body.terms)]

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def page():
        return HTMLResponse(_page())

    if review is not None:
        from .review import add_review_routes

        add_review_routes(app, review, check_token)
    return app


def _tag_records(model, sources, texts, threshold, top_k) -> list[dict]:
    readable = [i for i, t in enumerate(texts) if t.strip()]
    predictions = iter(model.tag_many([texts[i] for i in readable], sources=[sources[i] for i in readable], threshold=threshold, top_k=top_k))
    records = []
    for i, text in enumerate(texts):
        records.append(next(predictions).to_dict() if text.strip() else {"source": sources[i], "error": "empty text"})
    return records


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse(status_code=status, content={"error": message})


def _one_line(message) -> str:
    return " ".join(str(message).split())


def _plain(value):
    return json.loads(json.dumps(value, default=str))


def _version() -> str:
    from . import __version__

    return __version__


def _bundle_hash(path: Optional[Path]) -> str:
    if path is None:
        from .default import DEFAULT_BUNDLE_NAME, PACKAGE_DATA

        data = (PACKAGE_DATA / DEFAULT_BUNDLE_NAME).read_bytes()
    else:
        data = Path(path).read_bytes()
    return hashlib.sha256(data).hexdigest()


def _page() -> str:
    from .render import NEGATIVE_COLOUR, PALETTE

    page = (files("topictag") / "web" / "index.html").read_text(encoding="utf-8")
    return page.replace("/*PALETTE*/", json.dumps(PALETTE)).replace("/*NEGATIVE*/", json.dumps(NEGATIVE_COLOUR))


class _BodyLimit:
    """Refuse bodies over ``max_body`` bytes with 413: by Content-Length at once, else while they stream in
    (the body is read here, at most ``max_body`` bytes of it, then handed to the application)."""

    def __init__(self, app, max_body: int):
        self.app, self.max_body = app, max_body

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body):
            return await _send_error(send, 413, f"request body over {self.max_body} bytes")
        chunks, received = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunks.append(message.get("body", b""))
            received += len(chunks[-1])
            if received > self.max_body:
                return await _send_error(send, 413, f"request body over {self.max_body} bytes")
            if not message.get("more_body"):
                break
        body, delivered = b"".join(chunks), False
        if body and b"json" in headers.get(b"content-type", b""):
            try:
                body.decode("utf-8")
            except UnicodeDecodeError as error:
                return await _send_error(send, 400, f"request body is not UTF-8 (byte {error.start})")

        async def replay():
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


async def _send_error(send, status: int, message: str) -> None:
    body = json.dumps({"error": message}).encode()
    await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


# ---- running it --------------------------------------------------------------------------------------

ENVIRONMENT_PREFIX = "TOPICTAG_SERVE_"


def app_from_environment() -> FastAPI:
    """The application each uvicorn worker builds (``--workers N``): the model loads once per worker."""
    from .default import load_model

    settings = json.loads(os.environ[ENVIRONMENT_PREFIX + "SETTINGS"])
    model_path = Path(settings["model"]) if settings.get("model") else None
    return create_app(load_model(model_path), model_path=model_path, token=os.environ.get(ENVIRONMENT_PREFIX + "TOKEN"),
                      max_body=settings["max_body"], max_texts=settings["max_texts"])


def run(model_path: Optional[Path], host: str, port: int, workers: int, token: Optional[str], max_body: int, max_texts: int,
        review: Optional[Path] = None, labels: Optional[Path] = None, ready=None, notice=None, model=None) -> None:
    """Serve with uvicorn; the settings reach every worker through the environment (the token too, never argv).

    With ``review`` (one worker) the labeling session is opened here, before ``ready`` announces the address,
    so a locked, unreadable or invalid labels file is an error at start, not a server that fails later;
    ``model``, if given, is the model already loaded from ``model_path`` (it is served as it is).
    """
    import uvicorn

    os.environ[ENVIRONMENT_PREFIX + "SETTINGS"] = json.dumps({"model": str(model_path) if model_path else None, "max_body": max_body, "max_texts": max_texts})
    if token is not None:
        os.environ[ENVIRONMENT_PREFIX + "TOKEN"] = token
    options = {"host": host, "port": port, "log_level": "warning", "timeout_keep_alive": 5, "limit_concurrency": 1000}
    if review is None:
        if ready is not None:
            ready(_url(host, port))
        uvicorn.run("topictag.serve:app_from_environment", factory=True, workers=workers, **options)
        return
    from .default import load_model
    from .review import ReviewSession

    loaded = model if model is not None else load_model(model_path)
    session = ReviewSession(Path(review), Path(labels), loaded.topics_, loaded.negative_label)
    try:
        if session.repaired and notice is not None:
            notice(f"{labels}: cut off a torn last line (an interrupted write)")
        application = create_app(loaded, model_path=model_path, token=token, max_body=max_body, max_texts=max_texts, review=session)
        if ready is not None:
            ready(_url(host, port))
        uvicorn.run(application, **options)
    finally:
        session.close()


def _url(host: str, port: int) -> str:
    return f"http://{'[' + host + ']' if ':' in host else host}:{port}/"
