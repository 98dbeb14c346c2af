"""Evaluate `topictag segment` on the held-out annotated pages, against baselines; optionally tune the decoder.

    python training/evaluate_segments.py                  # held-out pages of labels/segments/
    python training/evaluate_segments.py --bbc ../shared/data/bbc.jsonl   # plus the synthetic BBC check
    python training/evaluate_segments.py --tune           # grid-search the decoder on the training pages first

Held-out pages: every page whose number is divisible by 5 (training/annotated.py); the furniture and
boundary models never saw them. Figures, over all held-out stories and characters:

- furniture lines: precision and recall of the lines called furniture (gold: lines of furniture parts), and
  how many of the furniture lines outside every story are recognised;
- story boundaries: precision / recall / F1 of the lines where a story starts;
- stories right and own segment: the predicted segment that covers most of a story has its label, holds at
  least half of the story's characters, and at least half of its own characters are that story's;
- stories mostly right: more than half of a story's characters are in segments with its label;
- content characters right: characters of stories inside segments with the story's label;
- furniture characters in a story segment / given a topic: furniture outside every gold story covered by a
  predicted story segment (of any label / of a topic other than ``other``);
- Pk and WindowDiff over content lines (k = half the mean story length in lines).

Systems: topictag; topictag with the old pattern list in place of the learned furniture model; topictag with
jusText's paragraph classifier (each line wrapped as a paragraph, default English settings) in its place;
topictag with ``merge=True``; no smoothing (each unit labeled alone); TextTiling (nltk) labeled by majority.
"""

from __future__ import annotations

import argparse
import html
import itertools
import json
import random
import subprocess
import sys
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from annotated import GoldPage, Story, read_pages, split  # noqa: E402

from topictag import default_model, load  # noqa: E402
from topictag.furniture import compile_patterns, document_lines, is_menu_line  # noqa: E402
from topictag.metrics import pk, windowdiff  # noqa: E402
from topictag.segment import DEFAULT_FURNITURE_PATTERNS, Segment, Segmenter  # noqa: E402


# ---- furniture baselines, usable in place of the learned model ------------------------------------


@dataclass(frozen=True)
class PatternFurniture:
    """topictag 0.1's rule: a line is furniture if a pattern of the list matches it whole, or it is a menu."""

    threshold: float = 0.5

    def probabilities(self, text, lines, patterns=DEFAULT_FURNITURE_PATTERNS, features=None):
        compiled = compile_patterns(tuple(DEFAULT_FURNITURE_PATTERNS))
        strings = [text[line.start : line.end] for line in lines]
        return np.array([float(len(s) <= 200 and (bool(compiled.fullmatch(s)) or is_menu_line(s))) for s in strings])


@dataclass(frozen=True)
class JusTextFurniture:
    """jusText's paragraph classifier with its default English settings, each line wrapped as a paragraph."""

    threshold: float = 0.5

    def probabilities(self, text, lines, patterns=None, features=None):
        import justext

        strings = [text[line.start : line.end] for line in lines]
        page = "<html><body>" + "".join(f"<p>{html.escape(s)}</p>" for s in strings) + "</body></html>"
        paragraphs = justext.justext(page.encode("utf-8"), justext.get_stoplist("English"))
        if len(paragraphs) != len(strings):  # jusText dropped or merged a paragraph: match by text
            good = {p.text.strip() for p in paragraphs if p.class_type == "good"}
            return np.array([float(" ".join(s.split()) not in good) for s in strings])
        return np.array([float(p.class_type != "good") for p in paragraphs])


# ---- scoring ---------------------------------------------------------------------------------------


def _chars(text, start, end) -> np.ndarray:
    return np.array([not c.isspace() for c in text[start:end]], dtype=bool)


def score_page(page: GoldPage, segments: list[Segment], furniture_decisions=None) -> dict:
    text = page.text
    n = len(text)
    stories = [s for s in segments if s.kind == "story"]
    visible = np.array([not c.isspace() for c in text], dtype=bool)
    # gold: each character's story (or -1), content characters
    gold_story = np.full(n, -1)
    for k, story in enumerate(page.stories):
        for start, end in story.ranges:
            gold_story[start:end] = k
    gold_story[~visible] = -1
    inside_gold_span = np.zeros(n, dtype=bool)
    for story in page.stories:
        inside_gold_span[story.start : story.end] = True
    # predicted: each character's segment (or -1) and label
    seg_of = np.full(n, -1)
    for j, s in enumerate(stories):
        seg_of[s.start : s.end] = j
    labels = [s.label for s in stories]
    result = {"stories": len(page.stories), "own": 0, "mostly": 0, "content_chars": 0, "content_right": 0}
    for k, story in enumerate(page.stories):
        mine = gold_story == k
        total = int(mine.sum())
        result["content_chars"] += total
        right = sum(int((mine & (seg_of == j)).sum()) for j in range(len(stories)) if labels[j] == story.label)
        result["content_right"] += right
        result["mostly"] += right * 2 > total
        covering = seg_of[mine]
        covering = covering[covering >= 0]
        if len(covering):
            j = int(np.bincount(covering).argmax())
            overlap = int((mine & (seg_of == j)).sum())
            own_chars = int((visible & (seg_of == j)).sum())
            result["own"] += labels[j] == story.label and overlap * 2 >= total and overlap * 2 >= own_chars
    furniture_chars = visible & ~inside_gold_span
    result["furniture_chars"] = int(furniture_chars.sum())
    in_segment = furniture_chars & (seg_of >= 0)
    result["furniture_in_story"] = int(in_segment.sum())
    topical = np.array([lab is not None and lab != "other" for lab in labels] + [False])
    result["furniture_topic"] = int((in_segment & topical[seg_of]).sum())
    # lines: furniture recognition and story starts
    predicted_furniture = furniture_decisions if furniture_decisions is not None else [seg_of[line.start] < 0 for line in page.lines]
    gold_f = np.array(page.line_furniture)
    pred_f = np.array(predicted_furniture, dtype=bool)
    outside = np.array([not inside_gold_span[line.start] for line in page.lines])
    result.update(
        f_tp=int((gold_f & pred_f).sum()), f_fp=int((~gold_f & pred_f).sum()), f_fn=int((gold_f & ~pred_f).sum()),
        outside_furniture_lines=int((gold_f & outside).sum()), outside_recognised=int((gold_f & outside & pred_f).sum()),
    )
    line_index = {line.start: i for i, line in enumerate(page.lines)}
    gold_starts = {_line_of(page.lines, s.start) for s in page.stories}
    pred_starts = {_line_of(page.lines, s.start) for s in stories}
    result.update(b_tp=len(gold_starts & pred_starts), b_pred=len(pred_starts), b_gold=len(gold_starts))
    # Pk / WindowDiff over gold content lines
    content_lines = [i for i, f in enumerate(page.line_furniture) if not f]
    ref_ids = [page.line_story[i] for i in content_lines]
    hyp_ids, last = [], -1
    for i in content_lines:
        j = seg_of[page.lines[i].start]
        last = last if j < 0 else j
        hyp_ids.append(last)
    reference, hypothesis = _boundaries(ref_ids), _boundaries(hyp_ids)
    k = max(1, round(len(reference) / (sum(reference[:-1]) + 1) / 2)) if reference else 1
    result["pk"] = pk(reference, hypothesis, k) if len(reference) > k else 0.0
    result["windowdiff"] = windowdiff(reference, hypothesis, k) if len(reference) > k else 0.0
    del line_index
    return result


def _line_of(lines, position) -> int:
    for i, line in enumerate(lines):
        if line.start <= position < line.end or position < line.start:
            return i
    return len(lines) - 1


def _boundaries(ids):
    return [int(a != b) for a, b in zip(ids, ids[1:])] + [0]


def summarise(rows: list[dict]) -> dict:
    total = {key: sum(row[key] for row in rows) for key in rows[0] if key not in ("pk", "windowdiff")}
    precision = total["f_tp"] / max(total["f_tp"] + total["f_fp"], 1)
    recall = total["f_tp"] / max(total["f_tp"] + total["f_fn"], 1)
    b_precision = total["b_tp"] / max(total["b_pred"], 1)
    b_recall = total["b_tp"] / max(total["b_gold"], 1)
    return {
        "furniture_precision": precision,
        "furniture_recall": recall,
        "furniture_lines_recognised": f"{total['outside_recognised']} of {total['outside_furniture_lines']}",
        "boundary_precision": b_precision,
        "boundary_recall": b_recall,
        "boundary_f1": 2 * b_precision * b_recall / (b_precision + b_recall) if b_precision + b_recall else 0.0,
        "stories_own_segment": total["own"] / total["stories"],
        "stories_mostly_right": total["mostly"] / total["stories"],
        "content_chars_right": total["content_right"] / total["content_chars"],
        "furniture_chars_in_story": total["furniture_in_story"] / max(total["furniture_chars"], 1),
        "furniture_chars_topic": total["furniture_topic"] / max(total["furniture_chars"], 1),
        "pk": float(np.mean([row["pk"] for row in rows])),
        "windowdiff": float(np.mean([row["windowdiff"] for row in rows])),
    }


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
        chunk = text[position : position + len(tile)]
        start = position + len(chunk) - len(chunk.lstrip())
        end = position + len(chunk.rstrip())
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


def systems(segmenter: Segmenter, baselines: bool = True) -> dict:
    found = {"topictag": segmenter}
    if baselines:
        found["topictag, furniture by the old pattern list"] = replace(segmenter, furniture_model=PatternFurniture())
        found["topictag, furniture by jusText"] = replace(segmenter, furniture_model=JusTextFurniture())
        found["topictag --merge"] = replace(segmenter, merge=True)
        found["no smoothing (each unit alone)"] = replace(segmenter, smoothing=False)
        found["TextTiling + majority label"] = "texttiling"
    return found


def evaluate(pages: list[GoldPage], segmenter: Segmenter, baselines: bool = True) -> dict:
    results = {}
    for name, system in systems(segmenter, baselines).items():
        rows = []
        for page in pages:
            if system == "texttiling":
                segments = texttiling(segmenter, page.text)
                rows.append(score_page(page, segments, furniture_decisions=[False] * len(page.lines)))
                continue
            segments = system.segment(page.text)
            decisions = _furniture_decisions(system, page)
            rows.append(score_page(page, segments, decisions))
        results[name] = summarise(rows)
    return results


def _furniture_decisions(segmenter: Segmenter, page: GoldPage):
    from topictag.furniture import default_furniture_model

    model = segmenter.furniture_model or default_furniture_model()
    return list(model.probabilities(page.text, page.lines) >= model.threshold)


# ---- tuning the decoder on the training pages --------------------------------------------------------


def tune(pages, model) -> Segmenter:
    best = None
    for line, paragraph, min_units in itertools.product([4, 6, 8, 12], [6, 8, 12, 16], [4, 6, 10]):
        segmenter = Segmenter(model, line_penalty=line, paragraph_penalty=paragraph, min_shift_units=min_units)
        figures = summarise([score_page(p, segmenter.segment(p.text)) for p in pages])
        key = (-round(figures["stories_own_segment"], 4), round(figures["pk"], 4))
        if best is None or key < best[0]:
            best = (key, segmenter)
            print(f"  line={line} paragraph={paragraph} min_shift_units={min_units}: own={figures['stories_own_segment']:.4f} Pk={figures['pk']:.4f}", file=sys.stderr)
    return best[1]


# ---- BBC synthetic documents ------------------------------------------------------------------------


def bbc_pages(path: Path, n_documents: int = 200, seed: int = 0):
    """Half of BBC for training, the other half concatenated into documents of 3-6 articles (neighbours differ)."""
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    rng = random.Random(seed)
    rng.shuffle(rows)
    train, test = rows[::2], rows[1::2]
    pages = []
    for d in range(n_documents):
        articles = []
        for _ in range(rng.randint(3, 6)):
            choices = [r for r in test if not articles or r["labels"][0] != articles[-1]["labels"][0]]
            articles.append(rng.choice(choices))
        text, stories = "", []
        for article in articles:
            body = article["text"].strip()
            start = len(text)
            text += body + "\n\n"
            stories.append(Story(start, start + len(body), article["labels"][0], ((start, start + len(body)),)))
        lines = document_lines(text)
        line_story = [next(k for k, s in enumerate(stories) if s.start <= line.start < s.end) for line in lines]
        pages.append(GoldPage(f"bbc-synthetic-{d:03d}", "bbc", (), text, lines, [False] * len(lines), line_story, stories))
    return train, pages


def train_bbc_model(train_rows, folder: Path) -> Path:
    data, model = folder / "bbc_train.jsonl", folder / "bbc.topictag"
    data.write_text("".join(json.dumps({"text": r["text"], "labels": r["labels"]}) + "\n" for r in train_rows), encoding="utf-8")
    command = [sys.executable, "-m", "topictag", "train", str(data), "--out", str(model), "--negative-label", "none", "--format", "json"]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return model


# ---- report ----------------------------------------------------------------------------------------

COLUMNS = [
    ("furniture_precision", "furniture P"), ("furniture_recall", "furniture R"), ("furniture_lines_recognised", "furniture lines outside stories recognised"),
    ("boundary_precision", "boundary P"), ("boundary_recall", "boundary R"), ("boundary_f1", "boundary F1"),
    ("stories_own_segment", "stories right and own segment"), ("stories_mostly_right", "stories mostly right"),
    ("content_chars_right", "content chars right"), ("furniture_chars_in_story", "furniture chars in a story"),
    ("furniture_chars_topic", "furniture chars given a topic"), ("pk", "Pk"), ("windowdiff", "WindowDiff"),
]


def markdown(results: dict, title: str) -> str:
    lines = [f"**{title}**", "", "| figure | " + " | ".join(results) + " |", "|---|" + "---:|" * len(results)]
    for key, name in COLUMNS:
        cells = [f"{r[key]:.3f}" if isinstance(r[key], float) else str(r[key]) for r in results.values()]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, help="model for the annotated pages (default: the default model)")
    parser.add_argument("--bbc", type=Path, help="bbc.jsonl: also run the synthetic BBC check")
    parser.add_argument("--tune", action="store_true", help="grid-search the decoder on the training pages first")
    parser.add_argument("--training-pages", action="store_true", help="also report on the training pages")
    parser.add_argument("--no-baselines", action="store_true")
    args = parser.parse_args()

    model = load(args.model) if args.model else default_model()
    training, heldout = split(read_pages())
    segmenter = tune(training, model) if args.tune else Segmenter(model)
    print(f"Decoder: line_penalty={segmenter.line_penalty} paragraph_penalty={segmenter.paragraph_penalty} "
          f"sentence_penalty={segmenter.sentence_penalty} min_shift_units={segmenter.min_shift_units}\n")
    stories = sum(len(p.stories) for p in heldout)
    print(markdown(evaluate(heldout, segmenter, not args.no_baselines), f"Held-out annotated pages: {len(heldout)} pages, {stories} stories"))
    if args.training_pages:
        print()
        print(markdown(evaluate(training, segmenter, False), f"Training pages: {len(training)}"))
    if args.bbc:
        train_rows, bbc = bbc_pages(args.bbc)
        with tempfile.TemporaryDirectory() as folder:
            bbc_model = load(train_bbc_model(train_rows, Path(folder)))
        print()
        bbc_segmenter = replace(segmenter, model=bbc_model)
        results = evaluate(bbc, bbc_segmenter, baselines=False)
        results["TextTiling + majority label"] = summarise([score_page(p, texttiling(bbc_segmenter, p.text), [False] * len(p.lines)) for p in bbc])
        print(markdown(results, f"BBC synthetic: {len(bbc)} documents of 3-6 articles, model trained on the other half"))


if __name__ == "__main__":
    main()
