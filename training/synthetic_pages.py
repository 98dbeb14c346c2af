"""Documents built from labels/ snippets, to widen what the segmenter's models learn from the annotated pages.

The annotated pages are all whole web pages, where the first and last lines are nearly always menus and
footers. Users also segment plain documents (one sentence, a few headlines, articles one after another with
no furniture at all) and lists of many more shapes than 143 pages hold. These documents are deterministic
and made only of the project's own snippets:

- ``plain_documents``: one to six snippets, or whole articles (headline, blank line, paragraphs of one topic),
  with at most one furniture line: they teach the furniture model that lone text is content;
- ``multi_story_documents``: articles one after another, teaser lists without blank lines, headline lists,
  bulleted and numbered digests, live blogs with timestamps: more story boundaries for the boundary model.

The boundary model also uses topic probabilities; for these documents they come from a topic model trained
on the other half of the snippets (:func:`cross_fitted_model`), so that they are no better than on unseen text.
"""

from __future__ import annotations

import json
import random
from collections import defaultdict
from functools import lru_cache

from annotated import ROOT, GoldPage, Story

from topictag.furniture import document_lines

FURNITURE_LINES = ["Share", "Advertisement", "Updated 2 hours ago", "Read more", "12 March 2025", "10:42 GMT", "Sign up for our newsletter", "© 2025 The Daily Ledger"]
TIMES = ["10:42 GMT", "9:15", "14:03 BST", "2 hours ago", "18m ago", "11.30am", "Updated 3m ago", "08:05 IST", "1h ago", "7:48 p.m."]
BODY_FORMS = {"lead", "paragraph", "wire"}


@lru_cache(maxsize=1)
def _snippets():
    rows = []
    for path in sorted((ROOT / "labels").glob("*.jsonl")):
        rows += [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return rows


def _halves():
    """The snippets split in two by id: half A trains the cross-fitted model, half B builds the documents."""
    rows = _snippets()
    return [r for i, r in enumerate(rows) if i % 2 == 0], [r for i, r in enumerate(rows) if i % 2 == 1]


@lru_cache(maxsize=1)
def cross_fitted_model():
    from topictag.default import DEFAULT_MODEL_PARAMS
    from topictag.model import TopicClassifier

    half_a, _ = _halves()
    return TopicClassifier(**DEFAULT_MODEL_PARAMS).fit([r["text"] for r in half_a], [r["labels"] for r in half_a])


def _page(page_id: str, pieces: list[tuple[str, str | None, bool]]) -> GoldPage:
    """``pieces``: (text, label, continues) in order; label None is furniture. Texts are joined as given."""
    text, ranges, stories = "", [], []
    for chunk, label, continues in pieces:
        start = len(text)
        text += chunk
        if label is None:
            ranges.append((start, len(text), None))
            continue
        stripped = chunk.strip()
        s = start + len(chunk) - len(chunk.lstrip())
        if continues and stories:
            previous = stories[-1]
            stories[-1] = Story(previous.start, s + len(stripped), previous.label, previous.ranges + ((s, s + len(stripped)),))
        else:
            stories.append(Story(s, s + len(stripped), label, ((s, s + len(stripped)),)))
        ranges.append((start, len(text), len(stories) - 1))
    lines = document_lines(text)
    line_story = [next(story for a, b, story in ranges if a <= line.start < b) for line in lines]
    return GoldPage(page_id, "synthetic", (), text, lines, [s is None for s in line_story], line_story, stories)


def _by_label_and_form(rows):
    index = defaultdict(list)
    for row in rows:
        index[(row["labels"][0], row["form"])].append(row)
    return index


def _article(rng, index, labels) -> tuple[str, str]:
    label = rng.choice(labels)
    headline = rng.choice(index[(label, "headline")])["text"]
    bodies = [r for form in BODY_FORMS for r in index[(label, form)]]
    paragraphs = [r["text"].strip() for r in rng.sample(bodies, rng.randint(1, 4))]
    return headline.strip() + "\n\n" + "\n\n".join(paragraphs), label


def plain_documents(n: int = 300, seed: int = 0) -> list[GoldPage]:
    rng = random.Random(seed)
    rows = _snippets()
    index = _by_label_and_form(rows)
    labels = sorted({label for label, _ in index})
    pages = []
    for d in range(n):
        pieces = []
        if d % 3 == 0:  # whole articles, one after another
            for _ in range(rng.randint(1, 3)):
                text, label = _article(rng, index, labels)
                pieces.append((text + "\n\n", label, False))
        else:
            separator = rng.choice(["\n", "\n\n"])
            chosen = rng.sample(rows, rng.choice([1, 1, 2, 3, 4, 6]))
            furniture_at = rng.randrange(len(chosen) + 1) if rng.random() < 0.3 else None
            for i, row in enumerate(chosen):
                if furniture_at == i:
                    pieces.append((rng.choice(FURNITURE_LINES) + separator, None, False))
                text = row["text"].strip()
                if row["form"] == "headline" and rng.random() < 0.5:
                    text += "."  # a headline typed as a sentence, as API users often do
                pieces.append((text + separator, row["labels"][0], False))
        pages.append(_page(f"plain-{d:03d}", pieces))
    return pages


def multi_story_documents(n: int = 200, seed: int = 1) -> list[GoldPage]:
    """Documents of several stories in the shapes real pages use, from half B of the snippets."""
    rng = random.Random(seed)
    _, half_b = _halves()
    index = _by_label_and_form(half_b)
    labels = sorted({label for label, _ in index})
    shapes = ["articles", "teasers", "headlines", "bullets", "numbered", "live", "dated"]
    pages = []
    for d in range(n):
        shape = shapes[d % len(shapes)]
        pieces = []
        k = rng.randint(3, 8)
        for i in range(k):
            label = rng.choice(labels)
            if shape == "articles":
                text, label = _article(rng, index, labels)
                pieces.append((text + "\n\n", label, False))
            elif shape == "teasers":
                pieces.append((rng.choice(index[(label, "headline_summary")])["text"].strip() + "\n", label, False))
            elif shape in ("headlines", "dated"):
                pieces.append((rng.choice(index[(label, "headline")])["text"].strip() + ("\n\n" if shape == "dated" else "\n"), label, False))
                if shape == "dated":
                    pieces.append((rng.choice(["12 March 2025", "3 hours ago", "Tuesday, 14 January 2025", "Nov. 4"]) + "\n\n", None, False))
            elif shape in ("bullets", "numbered"):
                body = rng.choice([r for form in BODY_FORMS for r in index[(label, form)]])["text"].strip().split("\n")[0]
                prefix = "• " if shape == "bullets" else f"{i + 1}. "
                pieces.append((prefix + body + "\n", label, False))
                if rng.random() < 0.25:
                    pieces.append(("Read more\n", None, False))
            else:  # live blog
                pieces.append((rng.choice(TIMES) + "\n\n", None, False))
                body = rng.choice([r for form in BODY_FORMS for r in index[(label, form)]])["text"].strip()
                pieces.append((body + "\n\n", label, False))
                if rng.random() < 0.5:
                    pieces.append(("Share\n\n", None, False))
        pages.append(_page(f"synthetic-{shape}-{d:03d}", pieces))
    return pages
