"""The annotated pages of labels/segments/ as gold lines and stories, shared by train_segmenter.py and evaluate_segments.py.

Held-out split: every page whose number is divisible by 5 (seg-005, seg-010, ...). The furniture and
boundary models never train on them and the decoder is never tuned on them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from topictag.furniture import document_lines

ROOT = Path(__file__).resolve().parents[1]
SEGMENTS = ROOT / "labels" / "segments"


@dataclass(frozen=True)
class Story:
    start: int  # first content character
    end: int  # last content character + 1 (a continued story spans the furniture inside it)
    label: str
    ranges: tuple  # (start, end) of its content parts, whitespace stripped


@dataclass(frozen=True)
class GoldPage:
    id: str
    kind: str
    structures: tuple
    text: str
    lines: list  # every non-blank line (topictag.furniture.Line)
    line_furniture: list  # gold: is each line furniture?
    line_story: list  # gold: story index of each content line, None for furniture
    stories: list

    @property
    def heldout(self) -> bool:
        return is_heldout(self.id)


def is_heldout(page_id: str) -> bool:
    return int(page_id.split("-")[1]) % 5 == 0


def read_pages(folder: Path = SEGMENTS) -> list[GoldPage]:
    pages = []
    for path in sorted(folder.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        text, position, parts = "", 0, []
        for part in data["parts"]:
            parts.append((position, position + len(part["text"]), part))
            text += part["text"]
            position += len(part["text"])
        stories: list[dict] = []
        part_story = []
        for start, end, part in parts:
            if part["label"] == "furniture":
                part_story.append(None)
                continue
            s, e = _strip(text, start, end)
            if part.get("continues") and stories:
                stories[-1]["ranges"].append((s, e))
            else:
                stories.append({"label": part["label"], "ranges": [(s, e)]})
            part_story.append(len(stories) - 1)
        lines = document_lines(text)
        line_furniture, line_story = [], []
        for line in lines:
            index = next(i for i, (start, end, _) in enumerate(parts) if start <= line.start < end)
            story = part_story[index]
            line_furniture.append(story is None)
            line_story.append(story)
        gold = [Story(s["ranges"][0][0], s["ranges"][-1][1], s["label"], tuple(s["ranges"])) for s in stories]
        pages.append(GoldPage(data["id"], data["kind"], tuple(data.get("structures", [])), text, lines, line_furniture, line_story, gold))
    return pages


def _strip(text, start, end):
    chunk = text[start:end]
    return start + len(chunk) - len(chunk.lstrip()), start + len(chunk.rstrip())


def split(pages):
    return [p for p in pages if not p.heldout], [p for p in pages if p.heldout]
