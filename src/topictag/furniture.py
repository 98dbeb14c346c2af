"""Page furniture (menus, share rows, dates, sign-up blocks...) recognised line by line, by a learned model.

The shape is jusText's: features per line that transfer across sites (length, stop-word share, sentence
punctuation, capitals, digits and dates, menu and social vocabulary, bullets and separators, repetition in
the page, position) -> a first logistic decision per line -> a context pass in which the neighbours' first
decisions help decide each line. Both passes are linear models trained on the annotated pages in
``labels/segments/`` by ``training/train_segmenter.py`` and shipped as plain numbers in
``data/segmenter.json``; applying them needs numpy only.

The pattern list (:data:`DEFAULT_FURNITURE_PATTERNS`, extensible with ``--furniture-pattern``) is one of the
features, and a line that a user's own pattern matches is always furniture.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from importlib.resources import files

import numpy as np

# Lines that are page furniture rather than content, matched against the whole stripped line, ignoring case.
DEFAULT_FURNITURE_PATTERNS = [
    r"(share|share this( article| story| page| post)?|share on \w+|tweet|e-?mail|print|save|copy link|whatsapp|facebook|twitter|linkedin)\W*",
    r"(advertisement|advert|sponsored( content)?|paid content|ad|story continues below( advertisement)?)\W*",
    r"(read|load|show|see|view) (more|all|less|next|full story|comments?)\b.{0,40}",
    r"more (in|from|on|of) [\w .&'-]{1,40}",
    r"(related|recommended|trending|most (read|popular|viewed)|top stories|latest( news)?|editor'?s picks|you may also like|up next|what to read next)( stories| articles| coverage| content| now)?\W*",
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
    r"click here\b.{0,80}",
    r"the post .{1,200} appeared first on .{1,80}",
]
FURNITURE_MAX_CHARS = 300  # longer lines are always content

STOP_WORDS = frozenset(
    """a about above after again against all also am an and any are as at be because been before being below
    between both but by can could did do does doing down during each few for from further had has have having he
    her here hers herself him himself his how i if in into is it its itself just me more most my myself no nor not
    now of off on once only or other our ours out over own same she should so some such than that the their theirs
    them themselves then there these they this those through to too under until up very was we were what when
    where which while who whom why will with would you your yours yourself said says after before since while
    amid among across against over per via""".split()
)
FUNCTION_WORDS = frozenset("a an the of to and or but as for with that which who whom whose by from at was were is are be been being had has have its their his her this these those than if because while when where into onto".split())
NAV_WORDS = frozenset(
    """home news world business sport sports politics opinion culture tech technology science health lifestyle
    travel entertainment video videos podcasts podcast weather markets economy local national asia europe africa
    americas uk us india australia menu search login log in sign subscribe subscription account register newsletter
    newsletters contact about careers advertise privacy policy terms cookies cookie settings accessibility help
    faq sitemap rss archive archives more all latest trending popular top stories live watch listen follow
    share facebook twitter x instagram linkedin youtube whatsapp email tiktok pinterest tumblr reddit telegram
    print copy link comments comment reply replies advertisement sponsored shop edition epaper e-paper app apps
    download notifications alerts feedback corrections standards ethics media partners jobs classifieds obituaries
    photos gallery galleries read load next previous prev back close skip main content section sections topics
    tags editions features analysis explainers events specials magazine premium free trial offers gift""".split()
)
SOCIAL_WORDS = frozenset("facebook twitter x instagram linkedin youtube whatsapp email e-mail tiktok pinterest tumblr reddit telegram threads bluesky snapchat share".split())
MONTHS = re.compile(r"\b(jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?\b", re.IGNORECASE)
TIME = re.compile(r"\b\d{1,2}[:.]\d{2}\b|\b\d{1,2}\s?(am|pm)\b", re.IGNORECASE)
AGO = re.compile(r"\b(ago|yesterday|today|updated|published|posted)\b", re.IGNORECASE)
YEAR = re.compile(r"\b(19|20)\d{2}\b")
ADDRESS_WORDS = frozenset({"you", "your", "we", "our", "us"})
LETTER = re.compile(r"[^\W\d_]")
DIGIT = re.compile(r"\d")
WORD = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*|\d+")
GLUED = re.compile(r"[a-z][A-Z]|[a-zA-Z]\d|\d[a-zA-Z]{3,}")
SEPARATORS = re.compile(r"[|•·»›∙/]")
WIDE_GAP = re.compile(r"\S(\s{2,}|\t)\S")
BULLET = re.compile(r"^([•◦▪▸►‣∙·]\s?|[*–—-]\s|\d{1,2}[.)]\s)")
URL = re.compile(r"https?://|www\.|\.com\b|@\w")
BYLINE = re.compile(r"^(by|von|par|por)\s+[A-Z]", re.IGNORECASE)
SENTENCE_END = re.compile(r"[.!?…:;][\"'”’)\]]*\s*$")  # a closing quote or bracket counts only after punctuation
LEAD_IN = re.compile(r"^[\"“'‘]?([A-Z][\w'’&-]*|[A-Z0-9]{2,})( [\w'’&-]+){0,4}:\s+[A-Z0-9\"“'‘]")
SAYS = re.compile(r"\b(said|says|told|added|asked|wrote|explained|warned|replied|argued|noted|insisted)\s*:", re.IGNORECASE)
CREDIT = re.compile(r"\b(photo|photograph|picture|image|credit|illustration|graphic|video|source|file)s?( credit)?\s*(:|\.\.\.|by\b)", re.IGNORECASE)
READ_PREFIX = re.compile(r"^(read|read more|read also|also read|related|see also|watch|listen|more|recommended|most read|explainer|opinion|analysis|live)\s*[:|]", re.IGNORECASE)
GREETING = re.compile(r"\b(good (morning|afternoon|evening)|hello and welcome|welcome to|here'?s what|here is what|thanks for reading|that'?s all|you'?re reading|click here|appeared first on|follow (our|the) live)\b", re.IGNORECASE)
META_WORDS = frozenset(
    """published publisher prepared views expressed constitute disclaimer distributed edited editing editor produced
    transcript transcripts accessibility reproduced reproduction permission licence license affiliates affiliate
    commission reporting contributed contributor contributors staff desk correction corrections clarification
    opinions author authors information advice investment notice feedback""".split()
)
PROMO_WORDS = frozenset(
    """inbox newsletter newsletters subscribe subscribed subscription subscribers sign signup register email emails
    delivered daily weekly weekday weekdays free offer offers trial app download notifications alerts cookie cookies
    consent privacy terms rights reserved copyright advertising advertise partners sponsored sponsor unsubscribe
    preferences account premium login password browser javascript enable enabled disable settings manage accept
    reject policy policies registered trademark ltd inc plc pty llc gmbh""".split()
)
TIME_WORDS = frozenset(
    """jan feb mar apr may jun jul aug sep sept oct nov dec january february march april june july august september
    october november december mon tue wed thu fri sat sun monday tuesday wednesday thursday friday saturday sunday
    am pm a.m p.m gmt bst utc est edt pst ist cet cest aest ago min mins minute minutes hour hours hr hrs day days
    week weeks month months year years yesterday today updated published posted first last modified at on by read
    and ist wat eat sgt hkt jst kst""".split()
)
MENU_SEPARATORS = re.compile(r"[|•·»›∙]")
MENU_ITEM_WORD = re.compile(r"[\w&'-]+")

FEATURE_NAMES = [
    "chars", "words", "stop_share", "ends_sentence", "has_comma", "capital_share", "all_caps", "digit_share",
    "has_time", "has_month", "has_ago", "has_year", "nav_share", "social_count", "bullet", "separators",
    "wide_gaps", "glued", "repeated", "position", "indented", "url", "pattern",
    "menu", "byline", "headline_shape", "one_or_two_words", "question", "long_line", "blank_before", "blank_after",
    "time_only", "promo_share", "lead_in", "relative_length", "you_we",
    "credit", "read_prefix", "greeting", "meta_share", "live_title", "ends_function_word",
]


def is_menu_line(line: str) -> bool:
    """Three or more short items separated by ``| • · » ›``, or by runs of two or more spaces or tabs.

    Written as splits rather than one regular expression, so that any line is checked in linear time.
    """
    items = [item.strip() for item in MENU_SEPARATORS.split(line)]
    if len(items) >= 3 and all(0 < len(item) <= 31 for item in items):
        return True
    items = re.split(r"\s{2,}|\t", line.strip())
    return len(items) >= 3 and all(0 < len(item.split(" ")) <= 2 and all(MENU_ITEM_WORD.fullmatch(w) for w in item.split(" ")) for item in items)


@lru_cache(maxsize=16)
def compile_patterns(patterns: tuple[str, ...]):
    return re.compile("|".join(f"(?:{p})" for p in patterns), re.IGNORECASE) if patterns else None


@dataclass(frozen=True)
class Line:
    """One non-blank line of a document: ``text[start:end]`` is the line without its surrounding whitespace."""

    start: int
    end: int
    blank_before: bool
    indent: int


def document_lines(text: str) -> list[Line]:
    lines, blank = [], True
    for match in re.finditer(r"[^\n]*\n?", text):
        raw = match.group()
        stripped = raw.strip()
        if not stripped:
            blank = True
            continue
        start = match.start() + (len(raw) - len(raw.lstrip()))
        lines.append(Line(start, start + len(stripped), blank, len(raw) - len(raw.lstrip(" \t"))))
        blank = False
    return lines


def line_features(text: str, lines: list[Line], patterns=DEFAULT_FURNITURE_PATTERNS) -> np.ndarray:
    """One row of :data:`FEATURE_NAMES` per line."""
    compiled = compile_patterns(tuple(patterns))
    strings = [text[line.start : line.end] for line in lines]
    normalised = [" ".join(s.lower().split()) for s in strings]
    repeats = Counter(normalised)
    n = len(lines)
    median_length = float(np.median([len(s) for s in strings])) if strings else 1.0
    rows = np.zeros((n, len(FEATURE_NAMES)))
    for i, (line, s) in enumerate(zip(lines, strings)):
        short = s[:FURNITURE_MAX_CHARS]
        words = WORD.findall(short)
        lowered = [w.lower() for w in words]
        alphabetic = [w for w in words if w[0].isalpha()]
        n_words = max(len(words), 1)
        blank_after = i + 1 == n or lines[i + 1].blank_before
        ends_function_word = bool(lowered) and lowered[-1] in FUNCTION_WORDS  # a sentence cut off mid-way
        headline = 3 <= len(words) <= 16 and not SENTENCE_END.search(s) and bool(alphabetic) and alphabetic[0][0].isupper() and not ends_function_word
        rows[i] = (
            math.log1p(len(s)),
            math.log1p(len(words)),
            sum(map(STOP_WORDS.__contains__, lowered)) / n_words,
            bool(SENTENCE_END.search(s)) and s[-1] not in ":;",
            "," in short or ";" in short,
            sum(w[:1].isupper() for w in alphabetic) / max(len(alphabetic), 1),
            short.isupper() and len(LETTER.findall(short, 0, 40)) >= 2,
            len(DIGIT.findall(short)) / max(len(short), 1),
            bool(TIME.search(short)),
            bool(MONTHS.search(short)),
            bool(AGO.search(short)),
            bool(YEAR.search(short)),
            sum(map(NAV_WORDS.__contains__, lowered)) / n_words,
            min(sum(map(SOCIAL_WORDS.__contains__, lowered)), 5) / 5,
            bool(BULLET.match(s)),
            min(len(SEPARATORS.findall(short)), 10) / 10,
            min(len(WIDE_GAP.findall(short)), 10) / 10,
            min(len(GLUED.findall(short)), 10) / 10,
            repeats[normalised[i]] > 1,
            i / max(n - 1, 1),
            line.indent > 0,
            bool(URL.search(short)),
            len(s) <= FURNITURE_MAX_CHARS and bool(compiled and compiled.fullmatch(s)),
            len(s) <= FURNITURE_MAX_CHARS and is_menu_line(s),
            bool(BYLINE.match(s)) and len(words) <= 12,
            headline,
            len(words) <= 2,
            s.endswith("?"),
            len(s) > FURNITURE_MAX_CHARS,
            line.blank_before,
            blank_after,
            len(words) <= 8 and bool(words) and all(w.isdigit() or w in TIME_WORDS for w in lowered),
            sum(map(PROMO_WORDS.__contains__, lowered)) / n_words,
            bool(LEAD_IN.match(s)) and not SAYS.search(s[:60]),
            math.log((len(s) + 1) / (median_length + 1)),
            sum(map(ADDRESS_WORDS.__contains__, lowered)) / n_words,
            bool(CREDIT.search(short)),
            bool(READ_PREFIX.match(s)),
            bool(GREETING.search(short)),
            sum(map(META_WORDS.__contains__, lowered)) / n_words,
            " live:" in short.lower() or "live updates" in short.lower() or short.lower().startswith("live:"),
            ends_function_word,
        )
    return rows


def context_features(first_pass: np.ndarray, lines: list[Line]) -> np.ndarray:
    """The neighbours' first-pass furniture probabilities (two lines each way) and the local average."""
    n = len(first_pass)
    padded = np.concatenate([[1.0, 1.0], first_pass, [1.0, 1.0]])  # the page edges look like furniture
    prev2, prev1, next1, next2 = padded[0:n], padded[1 : n + 1], padded[3 : n + 3], padded[4 : n + 4]
    window = np.convolve(padded, np.ones(5) / 5, mode="valid")
    return np.column_stack([prev1, prev2, next1, next2, window, np.minimum(prev1, next1), np.maximum(prev1, next1)])


CONTEXT_NAMES = ["prev1", "prev2", "next1", "next2", "window", "min_neighbour", "max_neighbour"]


@dataclass(frozen=True)
class LinearLayer:
    """A logistic decision over standardised features: ``sigmoid(((x - mean) / scale) . weights + bias)``."""

    mean: np.ndarray
    scale: np.ndarray
    weights: np.ndarray
    bias: float

    def __call__(self, features: np.ndarray) -> np.ndarray:
        z = ((features - self.mean) / self.scale) @ self.weights + self.bias
        return 1.0 / (1.0 + np.exp(-np.clip(z, -50, 50)))

    def predict_one(self, row) -> float:
        return float(self(np.asarray(row, dtype=float)[None, :])[0])

    def to_dict(self) -> dict:
        return {"type": "linear", "mean": self.mean.tolist(), "scale": self.scale.tolist(), "weights": self.weights.tolist(), "bias": self.bias}

    @classmethod
    def from_dict(cls, data: dict) -> "LinearLayer":
        return cls(np.array(data["mean"], float), np.array(data["scale"], float), np.array(data["weights"], float), float(data["bias"]))


@dataclass(frozen=True)
class TreeEnsemble:
    """Gradient-boosted decision trees as plain arrays: ``sigmoid(init + rate * sum of the trees' leaf values)``.

    Each tree is (feature, threshold, left, right, value) per node; a node whose ``left`` is -1 is a leaf. A
    row goes left when its feature is at most the threshold, as in scikit-learn, whose trees these are.
    """

    init: float
    rate: float
    trees: tuple  # of (feature, threshold, left, right, value) arrays
    _plain: list | None = field(default=None, repr=False, compare=False)

    def __call__(self, features: np.ndarray) -> np.ndarray:
        raw = np.full(len(features), self.init)
        rows = np.arange(len(features))
        for feature, threshold, left, right, value in self.trees:
            node = np.zeros(len(features), dtype=np.int64)
            while True:
                inner = left[node] >= 0
                if not inner.any():
                    break
                go_left = features[rows, np.where(inner, feature[node], 0)] <= threshold[node]
                node = np.where(inner, np.where(go_left, left[node], right[node]), node)
            raw += self.rate * value[node]
        return 1.0 / (1.0 + np.exp(-np.clip(raw, -50, 50)))

    def predict_one(self, row) -> float:
        """The probability for one row, walking the trees in plain Python: far faster than numpy for one row
        (the story-boundary decision is made one step at a time)."""
        if self._plain is None:
            object.__setattr__(self, "_plain", [tuple(a.tolist() for a in tree) for tree in self.trees])
        values = [float(v) for v in row]
        raw = self.init
        for feature, threshold, left, right, value in self._plain:
            node = 0
            while left[node] >= 0:
                node = left[node] if values[feature[node]] <= threshold[node] else right[node]
            raw += self.rate * value[node]
        return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, raw))))

    def to_dict(self) -> dict:
        trees = [{"feature": f.tolist(), "threshold": t.tolist(), "left": l.tolist(), "right": r.tolist(), "value": v.tolist()} for f, t, l, r, v in self.trees]
        return {"type": "trees", "init": self.init, "rate": self.rate, "trees": trees}

    @classmethod
    def from_dict(cls, data: dict) -> "TreeEnsemble":
        trees = tuple(
            (np.array(t["feature"], np.int64), np.array(t["threshold"], float), np.array(t["left"], np.int64), np.array(t["right"], np.int64), np.array(t["value"], float))
            for t in data["trees"]
        )
        return cls(float(data["init"]), float(data["rate"]), trees)


def model_from_dict(data: dict):
    return TreeEnsemble.from_dict(data) if data.get("type") == "trees" else LinearLayer.from_dict(data)


@dataclass(frozen=True)
class FurnitureModel:
    """The two passes: own features, then own features plus the neighbours' first-pass probabilities."""

    first: object  # LinearLayer or TreeEnsemble
    second: object
    threshold: float = 0.5
    sure: float = 0.1  # a first decision this close to 0 or 1 stands; the context pass decides the rest

    def probabilities(self, text: str, lines: list[Line], patterns=DEFAULT_FURNITURE_PATTERNS, features=None) -> np.ndarray:
        """Each line's probability of being furniture (``features``: :func:`line_features`, if already computed)."""
        if not lines:
            return np.zeros(0)
        features = line_features(text, lines, patterns) if features is None else features
        first = self.first(features)
        return combine(first, self.second(np.hstack([features, context_features(first, lines)])), self.sure)

    def to_dict(self) -> dict:
        return {"first": self.first.to_dict(), "second": self.second.to_dict(), "threshold": self.threshold, "sure": self.sure}

    @classmethod
    def from_dict(cls, data: dict) -> "FurnitureModel":
        return cls(model_from_dict(data["first"]), model_from_dict(data["second"]), float(data.get("threshold", 0.5)), float(data.get("sure", 0.1)))


def combine(first: np.ndarray, second: np.ndarray, sure: float) -> np.ndarray:
    """As in jusText's context pass, neighbours decide only the lines the line's own features leave unclear."""
    return np.where((first <= sure) | (first >= 1 - sure), first, second)


SEGMENTER_DATA = "segmenter.json"


@lru_cache(maxsize=1)
def shipped_models() -> dict:
    """The furniture and story-boundary models trained by ``training/train_segmenter.py``."""
    return json.loads((files("topictag") / "data" / SEGMENTER_DATA).read_text(encoding="utf-8"))


def default_furniture_model() -> FurnitureModel:
    return FurnitureModel.from_dict(shipped_models()["furniture"])
