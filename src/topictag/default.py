"""The default model: shipped prebuilt in the package, rebuilt from the shipped labels when it cannot be used.

The prebuilt bundle answers right after install with no training. If this scikit-learn cannot load it, or
its probe predictions differ (see :mod:`topictag.bundle`), the same deterministic training is re-run once
from ``data/labels.jsonl.gz`` into ``$TOPICTAG_HOME`` (default: the user's cache folder), so a scikit-learn
upgrade costs one rebuild, never wrong answers.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import json
import os
import warnings
from importlib.resources import files
from pathlib import Path

from .errors import ModelError

PACKAGE_DATA = files("topictag") / "data"
DEFAULT_BUNDLE_NAME = "default.topictag"
DEFAULT_LABELS_NAME = "labels.jsonl.gz"
# class_weight "balanced": the default model was tuned with it (docs/EVALUATION.md); TopicClassifier's default is None
DEFAULT_MODEL_PARAMS = {"classifier": "svm", "C": 100.0, "class_weight": "balanced", "negative_weight": 4.0, "min_df": 1, "random_state": 0}


def topictag_home() -> Path:
    """Where topictag keeps rebuilt models: ``$TOPICTAG_HOME``, else ``$XDG_CACHE_HOME/topictag`` or ``~/.cache/topictag``."""
    if os.environ.get("TOPICTAG_HOME"):
        return Path(os.environ["TOPICTAG_HOME"])
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "topictag"


@functools.lru_cache(maxsize=1)
def default_model():
    """The default topictag model (security, trade, tech_policy, health; negative label ``other``)."""
    from .model import load

    try:
        return load(PACKAGE_DATA / DEFAULT_BUNDLE_NAME)
    except ModelError as shipped_error:
        return _rebuilt_default_model(reason=str(shipped_error))


def load_model(path=None):
    """The model bundle at ``path``, or the default model when ``path`` is None."""
    if path is None:
        return default_model()
    from .model import load

    return load(path)


def _rebuilt_default_model(reason: str):
    import sklearn

    from .errors import OutputError
    from .model import load

    labels = (PACKAGE_DATA / DEFAULT_LABELS_NAME).read_bytes()
    key = hashlib.sha256(labels + sklearn.__version__.encode()).hexdigest()[:16]
    cached = topictag_home() / f"default-{key}.topictag"
    if cached.is_file():
        try:
            return load(cached)
        except ModelError:
            pass  # damaged cache: rebuild below
    warnings.warn(f"rebuilding the default model for scikit-learn {sklearn.__version__} (once): {reason}", stacklevel=3)
    model = train_default_model(default_examples(labels))
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        model.save(cached)
    except (OSError, OutputError) as error:
        # The rebuilt model still answers; it just cannot be kept for next time.
        detail = getattr(error, "strerror", None) or str(error)
        warnings.warn(f"cannot keep the rebuilt default model in {cached.parent} ({detail}); set TOPICTAG_HOME to a writable folder", stacklevel=3)
    return model


def default_examples(gzipped_jsonl: bytes):
    from .corpus import Example

    rows = (json.loads(line) for line in gzip.decompress(gzipped_jsonl).decode("utf-8").splitlines() if line.strip())
    return [Example(row["id"], row["text"], tuple(row["labels"])) for row in rows]


def train_default_model(examples):
    """The one training recipe of the default model, used by ``training/build_default_model.py`` too."""
    from .model import TopicClassifier

    # Tuned on real news (training/evaluate_topic4.py): a feed holds far more stories of no topic than
    # labels/ does, so each label's threshold is chosen as if negatives were four times as common.
    model = TopicClassifier(**DEFAULT_MODEL_PARAMS)
    model.fit([e.text for e in examples], [e.labels for e in examples])
    return model


def tag(text: str, **options):
    """Tag one text with the default model; see :meth:`TopicClassifier.tag` for the options."""
    return default_model().tag(text, **options)


def tag_many(texts, **options):
    """Tag many texts with the default model; see :meth:`TopicClassifier.tag_many` for the options."""
    return default_model().tag_many(texts, **options)



def with_base(base: str, texts, label_sets, unknown, negative_label: str = "other"):
    """Your labeled texts plus a base training set (``"default"``: the default model's snippets; else a path
    to labeled data), for ``TopicClassifier(base=...)`` and ``topictag train --base``.

    Rules, and why:
    - the same text (ignoring case and spacing) in both: yours wins, the base copy is dropped;
    - a text of yours labeled only with topics the base does not have (say ``climate``) says nothing about
      the base topics: it is neither a positive nor a negative for them (the base's own negatives already
      teach what is not trade; calling your climate stories "not trade" could be wrong). Label it with the
      negative label too (``["climate", "other"]``), or with base topics, to make it count for them;
    - a base text is a negative for your new topics: a new topic needs many negatives, and our snippets were
      written for four topics only. Where one of them is in fact about your topic, label that text yourself
      (yours wins).
    """
    base_texts, base_labels = _base_examples(base, negative_label)
    base_topics = {label for labels in base_labels for label in labels} - {negative_label}
    new_topics = {label for labels in label_sets for label in labels} - {negative_label} - base_topics
    yours = {_key(t) for t in texts}
    combined_texts, combined_labels, combined_unknown = [], [], []
    for text, labels in zip(base_texts, base_labels):
        if _key(text) in yours:
            continue
        combined_texts.append(text)
        combined_labels.append(tuple(labels))
        combined_unknown.append(set())
    for i, (text, labels) in enumerate(zip(texts, label_sets)):
        given = set(labels)
        mine = set(unknown[i]) if unknown is not None else set()
        if given and given <= new_topics:  # only new topics: the base topics are unknown for this text
            mine |= base_topics
        combined_texts.append(text)
        combined_labels.append(tuple(labels))
        combined_unknown.append(mine)
    return combined_texts, combined_labels, combined_unknown


def _base_examples(base: str, negative_label: str):
    if base == "default":
        examples = default_examples((PACKAGE_DATA / DEFAULT_LABELS_NAME).read_bytes())
    else:
        from .corpus import read_dataset

        examples = read_dataset(base).examples
    return [e.text for e in examples], [tuple(e.labels) for e in examples]


def _key(text: str) -> str:
    return " ".join(text.lower().split())
