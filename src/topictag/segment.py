"""Split one document into contiguous per-topic spans with exact character offsets.

Data flow: lines -> units (long lines split into sentences; a headline joins the story below it; page
furniture recognised and set aside) -> each unit scored by the model -> the whole sequence decoded at once
(Viterbi over unit label probabilities, with switch penalties that depend on the kind of boundary) ->
runs of one label become segments. Where a segment boundary is decided: :meth:`Segmenter._decode`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

# Lines that are page furniture rather than content, matched against the whole stripped line, ignoring case.
# Extend per call with ``Segmenter(furniture_patterns=DEFAULT_FURNITURE_PATTERNS + [...])``.
DEFAULT_FURNITURE_PATTERNS = [
    r"(share|share this( article| story| page)?|share on \w+|tweet|e-?mail|print|save|copy link|whatsapp|facebook|twitter|linkedin)\W*",
    r"(advertisement|advert|sponsored( content)?|paid content|ad|story continues below( advertisement)?)\W*",
    r"(read|load|show|see|view) (more|all|less|next|full story|comments?)\b.{0,40}",
    r"more (in|from|on|of) [\w .&'-]{1,40}",
    r"(related|recommended|trending|most (read|popular|viewed)|top stories|latest( news)?|editor'?s picks|you may also like|up next|what to read next)( stories| articles| coverage| content)?\W*",
    r"(sign up|subscribe|register|log ?in|sign in|follow us|get the app|download the app|newsletter)\b.{0,80}",
    r"(we use cookies|this (site|website) uses cookies|accept( all)? cookies|cookie (policy|settings)|manage (cookies|preferences)).{0,160}",
    r"(skip to (main )?content|back to top|menu|home|search|close|next|previous|prev|unsubscribe)\W*",
    r"(forwarded this (email|message)\??|view (this email )?in (your )?browser).{0,80}",
    r"(photo|image|picture|video|graphic|illustration|credit|source|caption)( credit)?\s*[:|].{0,120}",
    r"(©|\(c\)|copyright)\s.{0,120}|.{0,120}all rights reserved\.?",
    r"(updated|published|posted|last (updated|modified)|first published)\b.{0,60}",
    r"\d{1,2}[:.]\d{2}\s*([ap]\.?m\.?)?\s*([a-z]{2,5})?",
    r"\d+ (min|mins|minute|minutes|hour|hours|day|days) (read|ago)",
    r"((mon|tues|wednes|thurs|fri|satur|sun)day,?\s+)?\d{1,2}\s+[a-z]{3,9},?\s+\d{4}.{0,20}",
    r"((mon|tues|wednes|thurs|fri|satur|sun)day,?\s+)?[a-z]{3,9}\.?\s+\d{1,2},?\s+\d{4}.{0,20}",
    r"\d{4}-\d{2}-\d{2}([ t]\d{2}:\d{2}(:\d{2})?)?.{0,10}",
    r"(comments?|replies)\s*\(?\d*\)?",
    r"(tags?|topics?|filed under|categories)\s*:.{0,120}",
]
MENU_SEPARATORS = re.compile(r"[|•·»›]")
WIDE_GAP = re.compile(r"\s{2,}|\t")
MENU_ITEM_WORD = re.compile(r"[\w&'-]+")
SENTENCE_END = re.compile(r"[.!?…:;\"'”’)\]]\s*$")
LONG_LINE = 400  # characters: longer lines are split into sentences
SENTENCE_CHUNK = 5000  # characters handed to the sentence splitter at once, so very long lines stay linear
HEADLINE_MAX_WORDS = 16
FURNITURE_MAX_CHARS = 200  # furniture is short; longer lines are always content


@dataclass(frozen=True)
class Segment:
    """A contiguous span of a document with one topic: ``text == document[start:end]``."""

    start: int
    end: int
    label: str
    score: float
    text: str
    units: int = 1

    def to_dict(self) -> dict:
        return {"start": self.start, "end": self.end, "label": self.label, "score": self.score, "text": self.text, "units": self.units}


@dataclass(frozen=True)
class Unit:
    """A line or sentence of a document: the smallest piece that gets a label."""

    start: int
    end: int
    furniture: bool = False
    paragraph_start: bool = False  # first unit after a blank line (or at the start)
    line_start: bool = True  # starts a line (not a later sentence of a long line)
    headline: bool = False  # short unpunctuated line: belongs to the content below it


@dataclass
class Segmenter:
    """Segments documents with a fitted :class:`~topictag.model.TopicClassifier`.

    Switching topic costs ``sentence_penalty`` between sentences of one line, ``line_penalty`` between lines
    of one paragraph, ``paragraph_penalty``
    across a blank line, and ``headline_penalty`` where a headline starts a new item; after page furniture
    a new segment starts for free. Runs shorter than ``min_segment_units`` are merged into a neighbour.
    ``smoothing=False`` labels each unit on its own (the baseline the decoder is measured against).
    """

    model: object
    sentence_penalty: float = 16.0
    line_penalty: float = 2.0
    paragraph_penalty: float = 8.0
    headline_penalty: float = 0.0
    min_segment_units: int = 1
    smoothing: bool = True
    furniture_patterns: list[str] = field(default_factory=lambda: list(DEFAULT_FURNITURE_PATTERNS))
    batch_size: int = 2048

    def segment(self, text: str) -> list[Segment]:
        units = split_units(text, self.furniture_patterns)
        content = [u for u in units if not u.furniture]
        if not content:
            return []
        blocks = _blocks(units)
        log_probs = self._unit_log_probs(text, blocks)
        labels = self._decode(log_probs, blocks) if self.smoothing else log_probs.argmax(axis=1)
        return self._segments(text, blocks, labels)

    # ---- scoring -------------------------------------------------------------------------------

    @property
    def labels(self) -> list[str]:
        return list(self.model.topics_) + [self.model.negative_label]

    def _unit_log_probs(self, text: str, blocks) -> np.ndarray:
        """Per unit and label, log p(label | unit) - log p(label): the evidence the unit's words carry.

        Dividing the posterior by the prior (each label's share of the training data) turns it into a scaled
        likelihood, so evidence adds up along a run of units instead of every short unit being pulled
        towards the prior, as in hybrid HMM decoders.
        """
        rows = []
        for i in range(0, len(blocks), self.batch_size):
            batch = blocks[i : i + self.batch_size]
            rows.append(_normalised_log(self.model.predict_proba([text[b.start : b.end] for b in batch])))
        counts = np.array([[self.model.training_info_["label_counts"].get(label, 0) for label in self.labels]], dtype=float)
        evidence = np.vstack(rows) - _normalised_log(counts + 1.0)[0]
        evidence[:, counts[0] == 0] = -1e9  # a label never seen in training (e.g. no negatives) is not a state
        return evidence

    # ---- decoding ------------------------------------------------------------------------------

    def _switch_costs(self, blocks) -> np.ndarray:
        costs = np.empty(len(blocks))
        for i, block in enumerate(blocks):
            if i == 0 or block.after_furniture:
                costs[i] = 0.0
            elif block.headline:
                costs[i] = self.headline_penalty
            elif block.paragraph_start:
                costs[i] = self.paragraph_penalty
            elif block.line_start:
                costs[i] = self.line_penalty
            else:
                costs[i] = self.sentence_penalty
        return costs

    def _decode(self, log_probs: np.ndarray, blocks) -> np.ndarray:
        """Viterbi: the label sequence maximising the sum of unit log-probabilities minus switch costs."""
        n, k = log_probs.shape
        costs = self._switch_costs(blocks)
        back = np.zeros((n, k), dtype=np.int64)
        score = log_probs[0].copy()
        for i in range(1, n):
            best_previous = int(score.argmax())
            switch = score[best_previous] - costs[i]
            stay_better = score >= switch
            back[i] = np.where(stay_better, np.arange(k), best_previous)
            score = np.maximum(score, switch) + log_probs[i]
        path = np.empty(n, dtype=np.int64)
        path[-1] = int(score.argmax())
        for i in range(n - 1, 0, -1):
            path[i - 1] = back[i, path[i]]
        return _merge_short_runs(path, log_probs, blocks, self.min_segment_units)

    # ---- segments ------------------------------------------------------------------------------

    def _segments(self, text: str, blocks, path) -> list[Segment]:
        spans = [(blocks[a].start, blocks[b].end, b - a + 1) for a, b in _runs(path, blocks)]
        # The decoder places the boundaries; each span's label comes from classifying its whole text, which
        # carries more evidence than any of its units: its best tag, or the negative label if none passed.
        predictions = self.model.tag_many([text[s:e] for s, e, _ in spans])
        segments = []
        for (start, end, n_units), prediction in zip(spans, predictions):
            label = prediction.top
            score = prediction.scores.get(label, float(np.prod([1.0 - p for p in prediction.scores.values()])))
            segments.append(Segment(start, end, label, round(score, 6), text[start:end], n_units))
        return _merge_same_label(segments, text, blocks)


def _normalised_log(probs: np.ndarray) -> np.ndarray:
    probs = np.clip(probs / probs.sum(axis=1, keepdims=True), 1e-9, 1.0)
    return np.log(probs)


@dataclass(frozen=True)
class _Block:
    """One or more units decoded as one: a headline (or byline) together with the content below it."""

    start: int
    end: int
    paragraph_start: bool
    line_start: bool
    headline: bool
    after_furniture: bool
    units: int


def split_units(text: str, furniture_patterns=DEFAULT_FURNITURE_PATTERNS) -> list[Unit]:
    """Lines of ``text`` as units, long lines split into sentences, furniture lines flagged."""
    furniture = _compile(tuple(furniture_patterns))
    units: list[Unit] = []
    paragraph_start = True
    for match in re.finditer(r"[^\n]*\n?", text):
        line_start, line = match.start(), match.group()
        stripped = line.strip()
        if not stripped:
            paragraph_start = True
            continue
        start = line_start + (len(line) - len(line.lstrip()))
        end = start + len(stripped)
        if len(stripped) <= FURNITURE_MAX_CHARS and (furniture.fullmatch(stripped) or is_menu_line(stripped)):
            units.append(Unit(start, end, furniture=True, paragraph_start=paragraph_start))
        elif len(stripped) > LONG_LINE:
            for k, (s, e) in enumerate(_sentences(text, start, end)):
                units.append(Unit(s, e, paragraph_start=paragraph_start and k == 0, line_start=k == 0))
        else:
            headline = len(stripped.split()) <= HEADLINE_MAX_WORDS and not SENTENCE_END.search(stripped)
            units.append(Unit(start, end, paragraph_start=paragraph_start, headline=headline))
        paragraph_start = False
    return units


def is_menu_line(line: str) -> bool:
    """Three or more short items separated by ``| • · » ›``, or by runs of two or more spaces or tabs.

    Written as splits rather than one regular expression, so that any line is checked in linear time.
    """
    items = [item.strip() for item in MENU_SEPARATORS.split(line)]
    if len(items) >= 3 and all(0 < len(item) <= 31 for item in items):
        return True
    items = WIDE_GAP.split(line.strip())
    return len(items) >= 3 and all(0 < len(item.split(" ")) <= 2 and all(MENU_ITEM_WORD.fullmatch(w) for w in item.split(" ")) for item in items)


def _blocks(units: list[Unit]) -> list[_Block]:
    """Join each run of headline-like lines to the next content unit; furniture only marks a boundary."""
    blocks: list[_Block] = []
    pending: list[Unit] = []
    after_furniture = False
    for unit in units:
        if unit.furniture:
            if pending:  # a headline with no content below it before the furniture stands alone
                blocks.append(_block(pending, after_furniture))
                pending = []
            after_furniture = True
            continue
        pending.append(unit)
        if not unit.headline:
            blocks.append(_block(pending, after_furniture))
            pending, after_furniture = [], False
    if pending:
        blocks.append(_block(pending, after_furniture))
    return blocks


def _block(units: list[Unit], after_furniture: bool) -> _Block:
    first = units[0]
    return _Block(first.start, units[-1].end, first.paragraph_start, first.line_start, first.headline and len(units) > 1, after_furniture, len(units))


def _merge_short_runs(path: np.ndarray, log_probs: np.ndarray, blocks, min_units: int) -> np.ndarray:
    """Relabel runs shorter than ``min_units`` blocks with the better-fitting neighbouring label."""
    if min_units <= 1:
        return path
    path = path.copy()
    changed = True
    while changed:
        changed = False
        runs = _runs(path, blocks)
        for r, (a, b) in enumerate(runs):
            if b - a + 1 >= min_units or len(runs) == 1:
                continue
            neighbours = [path[runs[r - 1][1]]] if r > 0 else []
            neighbours += [path[runs[r + 1][0]]] if r + 1 < len(runs) else []
            best = max(neighbours, key=lambda j: log_probs[a : b + 1, j].sum())
            if best != path[a]:
                path[a : b + 1] = best
                changed = True
                break
    return path


def _runs(path, blocks) -> list[tuple[int, int]]:
    """(first, last) block of each run of one label, a run also ending at furniture."""
    runs = []
    for i in range(len(path)):
        if runs and path[i] == path[runs[-1][1]] and not blocks[i].after_furniture:
            runs[-1] = (runs[-1][0], i)
        else:
            runs.append((i, i))
    return runs


def _merge_same_label(segments: list[Segment], text: str, blocks) -> list[Segment]:
    """Join neighbours that ended up with the same label, unless furniture stands between them."""
    furniture_starts = {b.start for b in blocks if b.after_furniture}
    merged: list[Segment] = []
    for segment in segments:
        if merged and merged[-1].label == segment.label and segment.start not in furniture_starts:
            previous = merged[-1]
            units = previous.units + segment.units
            score = (previous.score * previous.units + segment.score * segment.units) / units
            merged[-1] = Segment(previous.start, segment.end, segment.label, round(score, 6), text[previous.start : segment.end], units)
        else:
            merged.append(segment)
    return merged


def _sentences(text: str, start: int, end: int):
    """Sentence spans inside ``text[start:end]``, by pySBD in chunks of bounded size."""
    splitter = _sentence_splitter()
    position = start
    while position < end:
        chunk_end = end if end - position <= SENTENCE_CHUNK else _chunk_end(text, position, end)
        cursor = position
        for span in splitter.segment(text[position:chunk_end]):
            sentence = span.sent.strip()
            if not sentence:
                continue
            # pySBD's offsets are usually exact; find the sentence from the cursor when they are not.
            s = text.find(sentence, cursor, chunk_end)
            if s < 0:
                continue
            yield s, s + len(sentence)
            cursor = s + len(sentence)
        position = chunk_end


def _chunk_end(text: str, position: int, end: int) -> int:
    """Cut a very long line after a sentence end (or a space) near the chunk size."""
    window = text[position : position + SENTENCE_CHUNK]
    cut = max(window.rfind(". "), window.rfind("! "), window.rfind("? "))
    if cut < SENTENCE_CHUNK // 2:
        cut = window.rfind(" ")
    return position + (cut + 1 if cut > 0 else SENTENCE_CHUNK)


@lru_cache(maxsize=1)
def _sentence_splitter():
    import pysbd

    return pysbd.Segmenter(language="en", clean=False, char_span=True)


@lru_cache(maxsize=16)
def _compile(patterns: tuple[str, ...]):
    return re.compile("|".join(f"(?:{p})" for p in patterns), re.IGNORECASE)
