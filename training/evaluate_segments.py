"""Evaluate `topictag segment` against its baselines; optionally tune the decoder.

    python training/evaluate_segments.py                     # annotated documents in labels/segments/
    python training/evaluate_segments.py --bbc ../shared/data/bbc.jsonl   # plus the synthetic BBC check
    python training/evaluate_segments.py --tune              # grid-search the switch penalties first

Figures (averaged over documents; computed over content units, k = half the mean reference segment length):
Pk, WindowDiff, boundary precision/recall/F1, and the share of content characters given the right label.
Systems: topictag (Viterbi decoding), no smoothing (each unit labeled alone), TextTiling (nltk) boundaries
labeled by majority vote of the units' own labels, and for BBC the trivial baselines (no boundary; a boundary
after every paragraph).
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import subprocess
import sys
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from topictag import default_model, load
from topictag.metrics import boundary_prf, half_mean_segment_length, pk, windowdiff
from topictag.segment import Segment, Segmenter, split_units

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class GoldDocument:
    id: str
    text: str
    spans: list  # (start, end, label) of gold content segments, in order


def read_annotated(folder: Path) -> list[GoldDocument]:
    """Documents of labels/segments/: consecutive content parts with one label form one gold segment."""
    documents = []
    for path in sorted(folder.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        text, spans, position, previous = "", [], 0, None
        for part in data["parts"]:
            start, end = position, position + len(part["text"])
            text += part["text"]
            position = end
            if part["label"] == "furniture":
                previous = None
                continue
            s, e = _strip(text, start, end)
            if previous is not None and spans and spans[-1][2] == part["label"]:
                spans[-1] = (spans[-1][0], e, part["label"])
            elif e > s:
                spans.append((s, e, part["label"]))
            previous = part["label"]
        documents.append(GoldDocument(data["id"], text, spans))
    return documents


def _strip(text, start, end):
    chunk = text[start:end]
    return start + len(chunk) - len(chunk.lstrip()), start + len(chunk.rstrip())


# ---- scoring one segmentation against gold ---------------------------------------------------------


def score(document: GoldDocument, predicted: list[Segment]) -> dict:
    units = [u for u in split_units(document.text) if _span_index(document.spans, u.start) is not None]
    gold_ids = [_span_index(document.spans, u.start) for u in units]
    predicted_spans = [(s.start, s.end, s.label) for s in predicted]
    hyp_ids, last = [], -1
    for u in units:
        found = _span_index(predicted_spans, u.start)
        last = last if found is None else found
        hyp_ids.append(last)
    reference, hypothesis = _boundaries(gold_ids), _boundaries(hyp_ids)
    k = half_mean_segment_length(reference)
    return {
        "pk": pk(reference, hypothesis, k),
        "windowdiff": windowdiff(reference, hypothesis, k),
        **{f"boundary_{key}": value for key, value in boundary_prf(reference, hypothesis).items() if key != "support"},
        "label_chars": _label_char_share(document, predicted_spans),
    }


def _span_index(spans, position):
    for i, (start, end, _) in enumerate(spans):
        if start <= position < end:
            return i
    return None


def _boundaries(ids):
    return [int(a != b) for a, b in zip(ids, ids[1:])] + [0]


def _label_char_share(document, predicted_spans) -> float:
    labels = np.full(len(document.text), "", dtype=object)
    for start, end, label in predicted_spans:
        labels[start:end] = label
    right = total = 0
    for start, end, label in document.spans:
        content = np.array([not c.isspace() for c in document.text[start:end]])
        total += content.sum()
        right += (content & (labels[start:end] == label)).sum()
    return right / total if total else 1.0


def mean_scores(rows: list[dict]) -> dict:
    return {key: float(np.mean([row[key] for row in rows])) for key in rows[0]}


# ---- systems ---------------------------------------------------------------------------------------


def texttiling(segmenter: Segmenter, text: str) -> list[Segment]:
    """TextTiling boundaries (nltk), each tile labeled by the character-weighted majority of its units' labels."""
    from nltk.tokenize import TextTilingTokenizer
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    try:
        tiles = TextTilingTokenizer(stopwords=sorted(ENGLISH_STOP_WORDS)).tokenize(text)
    except ValueError:  # too short or no paragraph breaks: one tile
        tiles = [text]
    unit_labels = replace(segmenter, smoothing=False).segment(text)
    segments, position = [], 0
    for tile in tiles:
        start, end = _strip(text, position, position + len(tile))
        position += len(tile)
        if end <= start:
            continue
        votes = {}
        for s in unit_labels:
            overlap = min(end, s.end) - max(start, s.start)
            if overlap > 0:
                votes[s.label] = votes.get(s.label, 0) + overlap
        label = max(votes, key=votes.get) if votes else segmenter.model.negative_label
        segments.append(Segment(start, end, label, 0.0, text[start:end]))
    return segments


def trivial(text: str, every_paragraph: bool, label: str) -> list[Segment]:
    """No boundary at all, or a boundary at every blank line; labels from the majority is not attempted."""
    if not every_paragraph:
        start, end = _strip(text, 0, len(text))
        return [Segment(start, end, label, 0.0, text[start:end])]
    segments, position = [], 0
    for paragraph in text.split("\n\n"):
        start, end = _strip(text, position, position + len(paragraph))
        position += len(paragraph) + 2
        if end > start:
            segments.append(Segment(start, end, label, 0.0, text[start:end]))
    return segments


def evaluate(documents, segmenter: Segmenter, baselines: bool = True, trivial_label: str | None = None) -> dict:
    systems = {"topictag": segmenter.segment, "no smoothing": replace(segmenter, smoothing=False).segment}
    if baselines:
        systems["TextTiling + majority label"] = lambda text: texttiling(segmenter, text)
    if trivial_label:
        systems["no boundary"] = lambda text: trivial(text, False, trivial_label)
        systems["boundary at every paragraph"] = lambda text: trivial(text, True, trivial_label)
    return {name: mean_scores([score(d, run(d.text)) for d in documents]) for name, run in systems.items()}


def tune(documents, model) -> Segmenter:
    """Grid-search the switch penalties and minimum run length for the lowest mean Pk (ties: label share)."""
    best = None
    for line, paragraph, headline, min_units in itertools.product([1, 2, 3, 4], [4, 6, 8, 12], [0.0, 1, 2], [1, 2]):
        segmenter = Segmenter(model, line_penalty=line, paragraph_penalty=paragraph, headline_penalty=headline, min_segment_units=min_units)  # sentence_penalty stays at its default
        figures = mean_scores([score(d, segmenter.segment(d.text)) for d in documents])
        key = (round(figures["pk"], 4), -figures["label_chars"])
        if best is None or key < best[0]:
            best = (key, segmenter)
            print(f"  line={line} paragraph={paragraph} headline={headline} min_units={min_units}: Pk={figures['pk']:.4f} labels={figures['label_chars']:.4f}", file=sys.stderr)
    return best[1]


# ---- BBC synthetic documents ------------------------------------------------------------------------


def bbc_documents(path: Path, n_documents: int = 200, seed: int = 0):
    """Half of BBC for training, the other half concatenated into documents of 3-6 articles (neighbours differ)."""
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    rng = random.Random(seed)
    rng.shuffle(rows)
    train, test = rows[::2], rows[1::2]
    documents = []
    for d in range(n_documents):
        articles = []
        for _ in range(rng.randint(3, 6)):
            choices = [r for r in test if not articles or r["labels"][0] != articles[-1]["labels"][0]]
            articles.append(rng.choice(choices))
        text, spans = "", []
        for article in articles:
            body = article["text"].strip()
            start = len(text)
            text += body + "\n\n"
            spans.append((start, start + len(body), article["labels"][0]))
        documents.append(GoldDocument(f"bbc-synthetic-{d:03d}", text, spans))
    return train, documents


def train_bbc_model(train_rows, folder: Path) -> Path:
    data, model = folder / "bbc_train.jsonl", folder / "bbc.topictag"
    data.write_text("".join(json.dumps({"text": r["text"], "labels": r["labels"]}) + "\n" for r in train_rows), encoding="utf-8")
    command = [sys.executable, "-m", "topictag", "train", str(data), "--out", str(model), "--negative-label", "none", "--format", "json"]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return model


# ---- report ----------------------------------------------------------------------------------------


def markdown(results: dict, title: str) -> str:
    lines = [f"**{title}**", "", "| system | Pk | WindowDiff | boundary P | boundary R | boundary F1 | right-label chars |", "|---|---:|---:|---:|---:|---:|---:|"]
    for name, f in results.items():
        lines.append(
            f"| {name} | {f['pk']:.3f} | {f['windowdiff']:.3f} | {f['boundary_precision']:.3f} | {f['boundary_recall']:.3f} | {f['boundary_f1']:.3f} | {f['label_chars']:.3f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--annotated", type=Path, default=ROOT / "labels" / "segments")
    parser.add_argument("--model", type=Path, help="model for the annotated documents (default: the default model)")
    parser.add_argument("--bbc", type=Path, help="bbc.jsonl: also run the synthetic BBC check")
    parser.add_argument("--tune", action="store_true", help="grid-search the decoder on the annotated documents first")
    args = parser.parse_args()

    model = load(args.model) if args.model else default_model()
    documents = read_annotated(args.annotated)
    segmenter = tune(documents, model) if args.tune else Segmenter(model)
    print(f"Decoder: sentence_penalty={segmenter.sentence_penalty} line_penalty={segmenter.line_penalty} paragraph_penalty={segmenter.paragraph_penalty} "
          f"headline_penalty={segmenter.headline_penalty} min_segment_units={segmenter.min_segment_units}\n")
    print(markdown(evaluate(documents, segmenter), f"Annotated documents: {len(documents)} from {args.annotated.name}/"))
    if args.bbc:
        train_rows, bbc = bbc_documents(args.bbc)
        with tempfile.TemporaryDirectory() as folder:
            bbc_model = load(train_bbc_model(train_rows, Path(folder)))
        bbc_segmenter = replace(segmenter, model=bbc_model)
        print()
        print(markdown(evaluate(bbc, bbc_segmenter, trivial_label="none"), f"BBC synthetic: {len(bbc)} documents of 3-6 articles, model trained on the other half"))


if __name__ == "__main__":
    main()
