"""Tokens of many texts at once, in numpy, identical to scikit-learn's ``(?u)\\b\\w\\w+\\b`` token pattern.

scikit-learn (and topictag 0.1) find tokens with ``re.findall``, which builds a Python string for every
token, and then look each one up in a dict. Here the (already lowercased) texts are joined and turned into an
array of code points; word characters are found with a table lookup, tokens are the runs of two or more of
them, and each run is identified by two independent 64-bit polynomial hashes computed from prefix sums, then
found in an open-addressing table of the vocabulary's hashes. No string is made per token.

The tokens are exactly the regular expression's: a word character is what ``\\w`` matches (``str.isalnum()``
or ``_``, from the running Python's own Unicode database), and a maximal run of two or more word characters is
what ``\\b\\w\\w+\\b`` finds. A token counts as a vocabulary token only if both 64-bit hashes and its length
match: a wrong match would need a 128-bit collision. ``tests/test_vectorize.py`` checks the tokens against
the regular expression on arbitrary text.
"""

from __future__ import annotations

import numpy as np

MASK = (1 << 64) - 1
P1, P2 = 0x100000001B3, 0x9E3779B97F4A7C15 | 1  # odd multipliers: invertible modulo 2**64
LENGTH_MIX = np.uint64(0xC2B2AE3D27D4EB4F)
CHUNK_CHARS = 1 << 20  # code points hashed at once: bounds the temporary arrays (~60 bytes per character)
_word_table: np.ndarray | None = None


def _inverse(p: int) -> int:
    inverse = p
    for _ in range(6):  # Newton's iteration doubles the correct low bits each time
        inverse = (inverse * (2 - p * inverse)) & MASK
    return inverse


def word_characters(highest: int) -> np.ndarray:
    """``table[c]`` is True where ``re`` counts code point ``c`` as ``\\w``; grown to cover ``highest``."""
    global _word_table
    size = 0x10000 if highest < 0x10000 else 0x110000
    if _word_table is None or len(_word_table) < size:
        table = np.zeros(size, dtype=bool)
        chars = "".join(map(chr, range(size)))
        table[:] = [c.isalnum() for c in chars]  # isalnum() is exactly what \w tests, plus "_"
        table[ord("_")] = True
        _word_table = table
    return _word_table


class _Powers:
    """P**i and P**-i modulo 2**64 for i < n, grown on demand."""

    def __init__(self, p: int):
        self.p, self.inverse = np.uint64(p), np.uint64(_inverse(p))
        self.up = self.down = np.ones(1, dtype=np.uint64)

    def get(self, n: int):
        if len(self.up) < n:
            size = max(n, 2 * len(self.up))
            with np.errstate(over="ignore"):
                self.up = np.cumprod(np.concatenate([[np.uint64(1)], np.full(size - 1, self.p, dtype=np.uint64)]), dtype=np.uint64)
                self.down = np.cumprod(np.concatenate([[np.uint64(1)], np.full(size - 1, self.inverse, dtype=np.uint64)]), dtype=np.uint64)
        return self.up[:n], self.down[:n]


_POWERS = (_Powers(P1), _Powers(P2))


def runs(text: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Code points of ``text`` and the (start, end) of every run of two or more word characters."""
    points = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    if not len(points):
        empty = np.zeros(0, dtype=np.int64)
        return points, empty, empty
    table = word_characters(int(points.max()))
    word = table[points].view(np.int8)
    edges = np.diff(word, prepend=np.int8(0), append=np.int8(0))
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1)
    long = ends - starts >= 2
    return points, starts[long], ends[long]


def run_hashes(points: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two 64-bit hashes of each run ``points[start:end]``, from prefix sums of ``point * P**i``."""
    values = points.astype(np.uint64) + np.uint64(1)
    lengths = (ends - starts).astype(np.uint64)
    hashes = []
    with np.errstate(over="ignore"):
        for powers in _POWERS:
            up, down = powers.get(len(values) + 1)
            prefix = np.zeros(len(values) + 1, dtype=np.uint64)
            np.cumsum(values * up[: len(values)], dtype=np.uint64, out=prefix[1:])
            hashes.append(((prefix[ends] - prefix[starts]) * down[starts]) ^ (lengths * LENGTH_MIX))
    return hashes[0], hashes[1]


class HashTable:
    """An open-addressing (linear probing) table from uint64 keys to int64 values, built and probed in numpy.

    Each slot is one row (key, check, value + 1; 0 means empty), so a probe costs one memory access.
    """

    def __init__(self, keys: np.ndarray, values: np.ndarray, checks: np.ndarray | None = None):
        keys = np.asarray(keys, dtype=np.uint64)
        checks = np.zeros(len(keys), dtype=np.uint64) if checks is None else np.asarray(checks, dtype=np.uint64)
        self.bits = max(4, int(np.ceil(np.log2(max(len(keys), 1) * 4))))  # load factor at most 1/4: short probes
        size = 1 << self.bits
        self.mask = np.uint64(size - 1)
        self.rows = np.zeros((size, 3), dtype=np.uint64)
        slots = self._home(keys)
        pending = np.arange(len(keys))
        while len(pending):
            wanted = slots[pending]
            free = self.rows[wanted, 2] == 0
            candidates, places = pending[free], wanted[free]
            places, first = np.unique(places, return_index=True)
            winners = candidates[first]
            self.rows[places, 0] = keys[winners]
            self.rows[places, 1] = checks[winners]
            self.rows[places, 2] = np.asarray(values, dtype=np.int64)[winners].astype(np.uint64) + np.uint64(1)
            placed = np.zeros(len(keys), dtype=bool)
            placed[winners] = True
            pending = pending[~placed[pending]]
            slots[pending] = (slots[pending] + np.uint64(1)) & self.mask

    def _home(self, keys: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore"):
            return (keys * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(64 - self.bits)

    def lookup(self, keys: np.ndarray, checks: np.ndarray | None = None) -> np.ndarray:
        """The value of each key (and check), or -1 where it is absent."""
        keys = np.asarray(keys, dtype=np.uint64)
        checks = np.zeros(len(keys), dtype=np.uint64) if checks is None else checks
        found = np.full(len(keys), -1, dtype=np.int64)
        slots = self._home(keys)
        active = np.arange(len(keys))
        while len(active):
            rows = self.rows[slots[active]]
            used = rows[:, 2] != 0
            match = used & (rows[:, 0] == keys[active]) & (rows[:, 1] == checks[active])
            found[active[match]] = rows[match, 2].astype(np.int64) - 1
            active = active[used & ~match]  # keep probing past other keys; an empty slot ends the search
            slots[active] = (slots[active] + np.uint64(1)) & self.mask
        return found


class Vocabulary:
    """Token -> token id for many texts at once (see the module's docstring)."""

    def __init__(self, tokens: list[str]):
        self.size = len(tokens)
        joined = "\x00".join(tokens)
        points, starts, ends = runs(joined)
        if len(starts) != len(tokens):
            raise ValueError("vocabulary tokens are not single runs of word characters")
        first, second = run_hashes(points, starts, ends)
        self.table = HashTable(first, np.arange(len(tokens), dtype=np.int64), second)
        if len(np.unique(np.stack([first, second], axis=1), axis=0)) != len(tokens):
            raise ValueError("two vocabulary tokens share both hashes")

    def token_ids(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """(token ids, text index of each token) of every token of ``texts``, in order; -1 for unknown tokens."""
        ids, docs = [], []
        for first, last in text_blocks(texts):
            block = texts[first:last]
            joined = "\x00".join(block)  # NUL is not a word character: no token spans two texts
            points, starts, ends = runs(joined)
            if not len(starts):
                continue
            h1, h2 = run_hashes(points, starts, ends)
            ids.append(self.table.lookup(h1, h2))
            ends_of_texts = np.cumsum(np.fromiter(map(len, block), dtype=np.int64, count=len(block)) + 1)
            docs.append(first + np.searchsorted(ends_of_texts, starts, side="right"))
        if not ids:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty
        return np.concatenate(ids), np.concatenate(docs).astype(np.int64)


def text_blocks(texts: list[str]):
    """Consecutive ranges of texts of about CHUNK_CHARS characters (a longer text is a chunk alone)."""
    first, size = 0, 0
    for i, text in enumerate(texts):
        if size and size + len(text) > CHUNK_CHARS:
            yield first, i
            first, size = i, 0
        size += len(text) + 1
    if first < len(texts):
        yield first, len(texts)
