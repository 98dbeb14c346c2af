"""Label texts one at a time in the browser (``topictag serve --review to_label.jsonl --labels my_labels.jsonl``).

Every answer is appended to the labels file at once, flushed and synced to disk, as one JSON line
``{"id", "text", "labels"}``, which ``topictag train`` reads. A killed server loses nothing answered; a
restarted one resumes at the first text without an answer. Undo removes the last answer (the file's last
line). Skipped texts are not written: they come back after a restart.

The session locks the labels file itself (an exclusive ``flock``) for as long as it is open, so a second
server on the same file, by any path, is refused instead of undoing the first one's answers. When the session
opens, every line is checked first; only then is a torn last line (an answer cut off mid-write) cut off.
"""


import json
import os
import threading
from importlib.resources import files
from pathlib import Path

from .errors import DataError


class ReviewSession:
    def __init__(self, review_path: Path, labels_path: Path, topics: list[str], negative_label: str = "other"):
        self.labels_path = Path(labels_path)
        self.topics = list(topics)
        self.negative_label = negative_label
        self.items = _read_items(Path(review_path))
        self.lock = threading.Lock()
        self.skipped: set[str] = set()
        self.answered: dict[str, list[str]] = {}
        self._lock_handle = _lock(self.labels_path)
        try:
            rows, self.repaired = _read_answers(self.labels_path)  # repaired: a torn last line was cut off
            for row in rows:
                self.answered[row["id"]] = row["labels"]
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Release the labels file's lock."""
        if self._lock_handle is not None:
            self._lock_handle.close()
            self._lock_handle = None

    def next(self) -> dict:
        with self.lock:
            for position, item in enumerate(self.items):
                if item["id"] not in self.answered and item["id"] not in self.skipped:
                    return {"item": item, "position": position + 1, "total": len(self.items), "answered": len(self.answered), "labels": self.topics, "negative_label": self.negative_label}
            return {"done": True, "total": len(self.items), "answered": len(self.answered), "labels": self.topics}

    def answer(self, item_id: str, labels: list[str]) -> dict:
        with self.lock:
            item = self._item(item_id)
            unknown = [label for label in labels if label not in self.topics and label != self.negative_label]
            if unknown:
                raise DataError(f"unknown label(s): {', '.join(unknown)}")
            labels = [label for label in labels if label != self.negative_label] or [self.negative_label]
            line = json.dumps({"id": item_id, "text": item["text"], "labels": labels}, ensure_ascii=False) + "\n"
            with open(self.labels_path, "a", encoding="utf-8") as handle:
                handle.write(line)
                handle.flush()
                os.fsync(handle.fileno())
            self.answered[item_id] = labels
            self.skipped.discard(item_id)
        return self.next()

    def skip(self, item_id: str) -> dict:
        with self.lock:
            self._item(item_id)
            self.skipped.add(item_id)
        return self.next()

    def undo(self) -> dict:
        """Remove the last answer from the labels file; its text is the next one shown."""
        with self.lock:
            if not self.labels_path.exists():
                raise DataError("nothing to undo")
            with open(self.labels_path, "rb+") as handle:
                data = handle.read()
                body = data.rstrip(b"\n")
                if not body:
                    raise DataError("nothing to undo")
                cut = body.rfind(b"\n") + 1
                last = json.loads(body[cut:])
                handle.truncate(cut)
                handle.flush()
                os.fsync(handle.fileno())
            self.answered.pop(str(last.get("id")), None)
            # the undone text comes first again
            self.items.sort(key=lambda item: item["id"] != str(last.get("id")))
        return self.next()

    def _item(self, item_id: str) -> dict:
        for item in self.items:
            if item["id"] == item_id:
                return item
        raise DataError(f"no text with id {item_id!r} to review")


def _lock(labels_path: Path):
    """An exclusive ``flock`` on the labels file itself, created if missing: answers are appended and undone in
    place (same inode), so every path to the file, through symlinks too, meets the same lock."""
    from .outputs import fcntl, flock_open

    if fcntl is None:  # Windows: no advisory locks
        return None
    if labels_path.exists() and not labels_path.is_file():
        raise DataError(f"{labels_path}: not a regular file; answers go to a JSONL file")
    return flock_open(labels_path, "ab", DataError, f"{labels_path}: another topictag serve --review is writing this labels file; stop it or choose another --labels file")


def _read_answers(path: Path) -> tuple[list[dict], bool]:
    """The answers already in the labels file. Every line is checked before anything is changed; then a torn
    last line (an object cut off mid-write: no newline, not JSON) is cut, and a whole last line without its
    newline gets one, so the next answer starts a line of its own. Also says whether a line was cut."""
    from .labeling import json_line_object, labeled_row

    try:
        data = path.read_bytes() if path.is_file() else b""
    except OSError as error:
        raise DataError(f"{path}: cannot read ({error.strerror or error})") from None
    lines = data.split(b"\n")
    tail = lines.pop()  # after the last newline: empty when the file ends with one
    rows = []
    for number, line in enumerate(lines, 1):
        if line.strip():
            rows.append(labeled_row(json_line_object(line, path, number), path, number))
    if not tail.strip():
        return rows, False
    number = len(lines) + 1
    try:
        last = json.loads(tail)
    except ValueError:
        if not tail.lstrip().startswith(b"{"):  # not a cut-off answer: not ours to cut
            raise DataError(f"{path}:{number}: not valid JSON") from None
        _rewrite_end(path, len(data) - len(tail), b"")
        return rows, True
    rows.append(labeled_row(last, path, number))
    _rewrite_end(path, len(data), b"\n")
    return rows, False


def _rewrite_end(path: Path, keep: int, append: bytes) -> None:
    try:
        with open(path, "rb+") as handle:
            handle.truncate(keep)
            handle.seek(keep)
            handle.write(append)
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as error:
        raise DataError(f"{path}: cannot repair its last line ({error.strerror or error})") from None


def _read_items(path: Path) -> list[dict]:
    from .labeling import json_objects

    items = []
    for number, row in json_objects(path):
        if not isinstance(row, dict) or not isinstance(row.get("text"), str):
            raise DataError(f"{path}:{number}: expected an object with a text")
        items.append({"id": str(row.get("id", number)), "text": row["text"], "suggested": list(row.get("suggested") or []), "scores": row.get("scores") or {}})
    return items


def add_review_routes(app, session: ReviewSession, check_token) -> None:
    from fastapi import Request
    from fastapi.responses import HTMLResponse
    from pydantic import BaseModel

    class Answer(BaseModel):
        id: str
        labels: list[str] = []

    class Skip(BaseModel):
        id: str

    @app.get("/review", response_class=HTMLResponse, include_in_schema=False)
    def review_page():
        return HTMLResponse((files("topictag") / "web" / "review.html").read_text(encoding="utf-8"))

    @app.get("/v1/review/next", summary="The next text to label")
    def review_next(request: Request):
        check_token(request)
        return session.next()

    @app.post("/v1/review/answer", summary="Record the labels of a text (appended to the labels file at once)")
    def review_answer(body: Answer, request: Request):
        check_token(request)
        return session.answer(body.id, body.labels)

    @app.post("/v1/review/skip", summary="Skip a text for now")
    def review_skip(body: Skip, request: Request):
        check_token(request)
        return session.skip(body.id)

    @app.post("/v1/review/undo", summary="Remove the last answer")
    def review_undo(request: Request):
        check_token(request)
        return session.undo()
