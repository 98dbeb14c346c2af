"""Split one document into its stories, each with a topic and exact character offsets; page furniture set aside.

Data flow: lines -> furniture (a learned line classifier, :mod:`topictag.furniture`) -> stories (a learned
decision at each step from one content line to the next: a headline after a finished story, a timestamp, a
new bullet, a shift of topic... :meth:`Segmenter._stories`) -> topic shifts inside long stories (Viterbi over
sentence and line units with switch penalties, :meth:`Segmenter._decode`) -> each segment labeled by
classifying its own text.

Where a story boundary is decided: :meth:`Segmenter._stories` (model in ``data/segmenter.json``, trained by
``training/train_segmenter.py``). Where a topic shift splits a story: :meth:`Segmenter._decode`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from .furniture import (
    DEFAULT_FURNITURE_PATTERNS,
    FEATURE_NAMES,
    FurnitureModel,
    Line,
    compile_patterns,
    default_furniture_model,
    document_lines,
    is_menu_line,
    line_features,
    model_from_dict,
    shipped_models,
)

__all__ = ["DEFAULT_FURNITURE_PATTERNS", "Segment", "Segmenter", "is_menu_line", "split_units"]

SENTENCE_END = re.compile(r"[.!?…:;][\"'”’)\]]*\s*$")  # a closing quote or bracket counts only after punctuation
LONG_LINE = 400  # characters: longer lines are split into sentences for the topic decoder
SENTENCE_CHUNK = 5000  # characters handed to the sentence splitter at once, so very long lines stay linear
HEADLINE_MAX_WORDS = 16
SHORT_DOCUMENT_LINES = 3
F = {name: i for i, name in enumerate(FEATURE_NAMES)}


@dataclass(frozen=True)
class Segment:
    """A contiguous span of a document: ``text == document[start:end]``.

    ``kind`` is ``story`` (a story, or a topical section of one, with its ``label``) or ``furniture`` (page
    furniture, ``label`` None; returned only when asked for). A story's span runs from its first content
    character to its last, so furniture inside a story (a share row under the headline) is inside its span.
    """

    start: int
    end: int
    label: str | None
    score: float
    text: str
    units: int = 1
    kind: str = "story"

    def to_dict(self) -> dict:
        return {"start": self.start, "end": self.end, "label": self.label, "score": self.score, "text": self.text, "units": self.units, "kind": self.kind}


# ---- story boundaries ----------------------------------------------------------------------------

BOUNDARY_FEATURES = [
    "b_headline", "a_headline", "a_ends_sentence", "b_ends_sentence", "b_bullet", "a_bullet", "both_bullets",
    "b_byline", "a_words", "b_words", "b_long", "b_capitals", "b_stops", "furniture_between", "any_furniture",
    "blank_between", "time_between", "date_between", "social_between", "story_lines", "story_has_body",
    "topic_shift", "topic_change", "headline_after_body", "headline_after_sentence", "headline_after_headline",
    "furniture_then_headline", "time_after_body", "blank_then_headline", "bullet_after_body", "shift_after_body",
    "b_lead_in", "a_lead_in", "time_only_between", "b_all_caps", "lead_in_after_body", "b_relative_length", "a_relative_length",
]


def boundary_features(features: np.ndarray, lines: list[Line], a: int, b: int, story_lines: int, story_has_body: bool, shift: float, change: bool) -> list[float]:
    """Why a new story might start at line ``b``, after content line ``a`` (line indices; lines between are furniture)."""
    fa, fb = features[a], features[b]
    between = features[a + 1 : b]
    blank = any(lines[k].blank_before for k in range(a + 1, b + 1))
    b_headline, a_headline = fb[F["headline_shape"]] > 0, fa[F["headline_shape"]] > 0
    a_ends = fa[F["ends_sentence"]] > 0
    b_bullet, a_bullet = fb[F["bullet"]] > 0, fa[F["bullet"]] > 0
    timed = bool(len(between)) and bool(np.any(between[:, F["has_time"]] + between[:, F["has_ago"]] > 0))
    dated = bool(len(between)) and bool(np.any(between[:, F["has_month"]] + between[:, F["has_year"]] > 0))
    social = bool(len(between)) and bool(np.any(between[:, F["social_count"]] + between[:, F["pattern"]] > 0))
    return [
        b_headline, a_headline, a_ends, fb[F["ends_sentence"]], b_bullet, a_bullet, a_bullet and b_bullet,
        fb[F["byline"]], fa[F["words"]], fb[F["words"]], fb[F["long_line"]], fb[F["capital_share"]], fb[F["stop_share"]],
        np.log1p(b - a - 1), b - a > 1, blank, timed, dated, social, np.log1p(story_lines), story_has_body,
        shift, change, b_headline and story_has_body, b_headline and a_ends, b_headline and a_headline,
        b_headline and b - a > 1, timed and story_has_body, blank and b_headline, b_bullet and story_has_body,
        shift * story_has_body,
        fb[F["lead_in"]], fa[F["lead_in"]], bool(len(between)) and bool(np.any(between[:, F["time_only"]] > 0)), fb[F["all_caps"]],
        fb[F["lead_in"]] > 0 and story_has_body, fb[F["relative_length"]], fa[F["relative_length"]],
    ]


# ---- the segmenter -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Unit:
    """A line or sentence of a story: the smallest piece the topic decoder labels."""

    start: int
    end: int
    paragraph_start: bool = False  # first unit after a blank line
    line_start: bool = True  # starts a line (not a later sentence of a long line)
    headline: bool = False  # short unpunctuated line: belongs to the content below it


@dataclass
class Segmenter:
    """Segments documents with a fitted :class:`~topictag.model.TopicClassifier`.

    ``merge`` joins neighbouring stories that got the same label (topic runs instead of stories);
    ``furniture`` adds the furniture spans (``kind="furniture"``, ``label=None``) to the result. Patterns in
    ``furniture_patterns`` beyond :data:`DEFAULT_FURNITURE_PATTERNS` mark every line they match as furniture.
    Inside a story of at least ``min_shift_units`` units, switching topic costs ``sentence_penalty`` between
    sentences of one line, ``line_penalty`` between lines and ``paragraph_penalty`` across a blank line.
    ``smoothing=False`` labels each unit on its own (the baseline the decoder is measured against). Each
    segment is labeled with its best tag, each label's threshold scaled by ``label_threshold_scale`` (default:
    the value tuned on the annotated pages, since a story's text, often a headline alone, is shorter than the
    texts the thresholds were chosen on), or the negative label when no tag passes.
    """

    model: object
    merge: bool = False
    furniture: bool = False
    furniture_patterns: list[str] = field(default_factory=lambda: list(DEFAULT_FURNITURE_PATTERNS))
    sentence_penalty: float = 16.0
    line_penalty: float = 8.0
    paragraph_penalty: float = 16.0
    min_shift_units: int = 6
    boundary_threshold: float | None = None
    label_threshold_scale: float | None = None  # each label's threshold times this, for labeling segments
    smoothing: bool = True
    furniture_model: FurnitureModel | None = None
    boundary_model: object | None = None  # LinearLayer or TreeEnsemble
    batch_size: int = 2048

    def segment(self, text: str) -> list[Segment]:
        lines = document_lines(text)
        if not lines:
            return []
        features = line_features(text, lines, self._feature_patterns())
        is_furniture = self._furniture(text, lines, features)
        content = [i for i in range(len(lines)) if not is_furniture[i]]
        if not content:
            return self._with_furniture(text, lines, is_furniture, [])
        probs = self._probabilities([text[lines[i].start : lines[i].end] for i in content])
        if not self.smoothing:
            segments = self._unsmoothed(text, lines, content, is_furniture)
        else:
            spans = []
            for story in self._stories(lines, features, content, probs):
                spans.extend(self._story_spans(text, [lines[i] for i in story]))
            segments = self._label(spans, text)
        if self.merge:
            segments = _merge_same_label(segments, text)
        return self._with_furniture(text, lines, is_furniture, segments)

    # ---- furniture -----------------------------------------------------------------------------

    def _feature_patterns(self) -> list[str]:
        return [p for p in self.furniture_patterns if p in DEFAULT_FURNITURE_PATTERNS] or DEFAULT_FURNITURE_PATTERNS

    def _furniture(self, text: str, lines: list[Line], features: np.ndarray) -> np.ndarray:
        model = self.furniture_model or default_furniture_model()
        furniture = model.probabilities(text, lines, self._feature_patterns(), features=features) >= model.threshold
        if furniture.all() and len(lines) <= SHORT_DOCUMENT_LINES:
            # A text of a line or two is meant as content unless it is plainly furniture ("Share", a menu).
            furniture = (features[:, F["pattern"]] > 0) | (features[:, F["menu"]] > 0)
        extra = tuple(p for p in self.furniture_patterns if p not in DEFAULT_FURNITURE_PATTERNS)
        if extra:
            forced = compile_patterns(extra)
            furniture |= np.array([bool(forced.fullmatch(text[line.start : line.end])) for line in lines])
        return furniture

    def _with_furniture(self, text: str, lines: list[Line], is_furniture, segments: list[Segment]) -> list[Segment]:
        """Add the furniture spans outside every story, when asked for; everything in document order."""
        if not self.furniture:
            return segments
        spans, run = [], []
        covered = [(s.start, s.end) for s in segments]
        k = 0
        for i, line in enumerate(lines):
            while k < len(covered) and covered[k][1] <= line.start:
                k += 1
            inside = k < len(covered) and covered[k][0] <= line.start < covered[k][1]
            if is_furniture[i] and not inside:
                run.append(line)
                continue
            if run:
                spans.append(run)
                run = []
        if run:
            spans.append(run)
        furniture = [Segment(r[0].start, r[-1].end, None, 1.0, text[r[0].start : r[-1].end], len(r), "furniture") for r in spans]
        return sorted(segments + furniture, key=lambda s: s.start)

    # ---- stories -------------------------------------------------------------------------------

    def _stories(self, lines: list[Line], features: np.ndarray, content: list[int], probs: np.ndarray) -> list[list[int]]:
        """Group content lines into stories, left to right: at each step from one content line to the next,
        the boundary model weighs the shape of both lines, the furniture between them and the shift of topic
        against the story so far."""
        model = self.boundary_model or default_boundary_model()
        threshold = self.boundary_threshold if self.boundary_threshold is not None else shipped_models()["boundary_threshold"]
        stories = [[content[0]]]
        total = probs[0].copy()
        has_body = features[content[0], F["headline_shape"]] == 0
        for k in range(1, len(content)):
            a, b = content[k - 1], content[k]
            story = stories[-1]
            mean = total / len(story)
            following = probs[k] if k + 1 == len(content) or features[b, F["headline_shape"]] == 0 else (probs[k] + probs[k + 1]) / 2
            shift = 0.5 * float(np.abs(mean - following).sum())
            change = int(np.argmax(mean)) != int(np.argmax(following))
            row = boundary_features(features, lines, a, b, len(story), has_body, shift, change)
            if model.predict_one(row) >= threshold:
                stories.append([b])
                total = probs[k].copy()
                has_body = features[b, F["headline_shape"]] == 0
            else:
                story.append(b)
                total += probs[k]
                has_body = has_body or features[b, F["headline_shape"]] == 0
        return stories

    def _story_spans(self, text: str, lines: list[Line]) -> list[tuple]:
        """(start, end, lines, units) of one story, or of each part where a long story shifts topic."""
        units = _units(text, lines)
        if len(units) < self.min_shift_units:
            return [(lines[0].start, lines[-1].end, lines, len(units))]
        path = self._decode(self._unit_log_probs(text, units), units)
        spans, first = [], 0
        for i in range(1, len(units) + 1):
            if i == len(units) or path[i] != path[first]:
                start, end = units[first].start, units[i - 1].end
                spans.append((start, end, [line for line in lines if line.start < end and line.end > start], i - first))
                first = i
        return spans

    def _label(self, spans, text: str) -> list[Segment]:
        """Each span labeled by classifying its content lines (furniture inside the span is left out)."""
        texts = ["\n".join(text[max(line.start, start) : min(line.end, end)] for line in span_lines) for start, end, span_lines, _ in spans]
        scale = self.label_threshold_scale if self.label_threshold_scale is not None else shipped_models().get("label_threshold_scale", 1.0)
        predictions = []
        for i in range(0, len(texts), self.batch_size):
            predictions += self.model.tag_many(texts[i : i + self.batch_size], threshold_scale=scale)
        segments = []
        for (start, end, _, n_units), prediction in zip(spans, predictions):
            label = prediction.top
            score = prediction.scores.get(label, float(np.prod([1.0 - p for p in prediction.scores.values()])))
            segments.append(Segment(start, end, label, round(score, 6), text[start:end], n_units))
        return segments

    # ---- topic shifts inside a story -----------------------------------------------------------

    @property
    def labels(self) -> list[str]:
        return list(self.model.topics_) + [self.model.negative_label]

    def _probabilities(self, texts: list[str]) -> np.ndarray:
        rows = [self.model.predict_proba(texts[i : i + self.batch_size]) for i in range(0, len(texts), self.batch_size)]
        return np.vstack(rows)

    def _unit_log_probs(self, text: str, units: list[Unit]) -> np.ndarray:
        """Per unit and label, log p(label | unit) - log p(label): the evidence the unit's words carry.

        Dividing the posterior by the prior (each label's share of the training data) turns it into a scaled
        likelihood, so evidence adds up along a run of units instead of every short unit being pulled
        towards the prior, as in hybrid HMM decoders.
        """
        evidence = _normalised_log(self._probabilities([text[u.start : u.end] for u in units]))
        counts = np.array([[self.model.training_info_["label_counts"].get(label, 0) for label in self.labels]], dtype=float)
        evidence -= _normalised_log(counts + 1.0)[0]
        evidence[:, counts[0] == 0] = -1e9  # a label never seen in training (e.g. no negatives) is not a state
        return evidence

    def _switch_costs(self, units: list[Unit]) -> np.ndarray:
        costs = np.empty(len(units))
        for i, unit in enumerate(units):
            if i == 0:
                costs[i] = 0.0
            elif unit.paragraph_start:
                costs[i] = self.paragraph_penalty
            elif unit.line_start:
                costs[i] = self.line_penalty
            else:
                costs[i] = self.sentence_penalty
        return costs

    def _decode(self, log_probs: np.ndarray, units: list[Unit]) -> np.ndarray:
        """Viterbi: the label sequence maximising the sum of unit log-probabilities minus switch costs.

        A headline is never a run of its own: it takes the label of the unit below it.
        """
        n, k = log_probs.shape
        costs = self._switch_costs(units)
        for i in range(1, n):
            if units[i - 1].headline:
                costs[i] = 1e9
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
        return path

    def _unsmoothed(self, text: str, lines: list[Line], content: list[int], is_furniture) -> list[Segment]:
        """The baseline: every unit labeled on its own, runs of one label joined (furniture ends a run)."""
        segments = []
        run: list[Line] = []
        for i, line in enumerate(lines):
            if is_furniture[i]:
                if run:
                    segments.extend(self._runs_of_units(text, run))
                    run = []
                continue
            run.append(line)
        if run:
            segments.extend(self._runs_of_units(text, run))
        return segments

    def _runs_of_units(self, text: str, lines: list[Line]) -> list[Segment]:
        units = _units(text, lines)
        labels = self._unit_log_probs(text, units).argmax(axis=1)
        spans, first = [], 0
        for i in range(1, len(units) + 1):
            if i == len(units) or labels[i] != labels[first]:
                start, end = units[first].start, units[i - 1].end
                spans.append((start, end, [line for line in lines if line.start < end and line.end > start], i - first))
                first = i
        return self._label(spans, text)


def default_boundary_model():
    return model_from_dict(shipped_models()["boundary"])


def _normalised_log(probs: np.ndarray) -> np.ndarray:
    probs = np.clip(probs / probs.sum(axis=1, keepdims=True), 1e-9, 1.0)
    return np.log(probs)


def _units(text: str, lines: list[Line]) -> list[Unit]:
    """A story's lines as units, long lines split into sentences."""
    units = []
    for line in lines:
        stripped = text[line.start : line.end]
        if len(stripped) > LONG_LINE:
            for k, (s, e) in enumerate(_sentences(text, line.start, line.end)):
                units.append(Unit(s, e, paragraph_start=line.blank_before and k == 0, line_start=k == 0))
        else:
            headline = len(stripped.split()) <= HEADLINE_MAX_WORDS and not SENTENCE_END.search(stripped)
            units.append(Unit(line.start, line.end, paragraph_start=line.blank_before, headline=headline))
    return units


def split_units(text: str, furniture_patterns=DEFAULT_FURNITURE_PATTERNS) -> list[Unit]:
    """Every non-blank line of ``text`` as a unit, long lines split into sentences (used by the evaluation)."""
    return _units(text, document_lines(text))


def _merge_same_label(segments: list[Segment], text: str) -> list[Segment]:
    """Join neighbouring stories with the same label into one topic run."""
    merged: list[Segment] = []
    for segment in segments:
        if merged and merged[-1].label == segment.label:
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
