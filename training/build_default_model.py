"""Build the default model from labels/ into src/topictag/data/ (deterministic: same labels, same bundle behaviour).

    python training/build_default_model.py [--labels labels] [--out src/topictag/data]

Writes default.topictag (the model bundle) and labels.jsonl.gz (the training set it was built from,
which the package uses to rebuild the model under another scikit-learn version).
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
from pathlib import Path

from topictag.corpus import read_labels_folder
from topictag.default import DEFAULT_BUNDLE_NAME, DEFAULT_LABELS_NAME, train_default_model

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--labels", type=Path, default=ROOT / "labels")
    parser.add_argument("--out", type=Path, default=ROOT / "src" / "topictag" / "data")
    args = parser.parse_args()

    dataset = read_labels_folder(args.labels)
    model = train_default_model(dataset.examples)
    model.training_info_["data"] = {"path": "labels/", "sha256": dataset.sha256}
    args.out.mkdir(parents=True, exist_ok=True)
    model.save(args.out / DEFAULT_BUNDLE_NAME)
    (args.out / DEFAULT_LABELS_NAME).write_bytes(_gzip_jsonl(e.to_dict() for e in dataset.examples))

    print(f"{len(dataset)} examples: " + ", ".join(f"{k}={v}" for k, v in dataset.label_counts().items()))
    metrics = model.cv_metrics_
    for label, row in metrics["labels"].items():
        print(f"  {label:12s} P={row['precision']:.3f} R={row['recall']:.3f} F1={row['f1']:.3f} n={row['support']}")
    print(f"  micro F1={metrics['micro']['f1']:.3f}  macro F1={metrics['macro']['f1']:.3f}")
    print("thresholds: " + ", ".join(f"{t}={v:.3f}" for t, v in model.thresholds_.items()))
    print(f"wrote {args.out / DEFAULT_BUNDLE_NAME} ({(args.out / DEFAULT_BUNDLE_NAME).stat().st_size / 1e6:.2f} MB)")


def _gzip_jsonl(rows) -> bytes:
    buffer = io.BytesIO()
    # mtime=0 keeps the file byte-identical across builds of the same labels.
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as archive:
        for row in rows:
            archive.write((json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n").encode("utf-8"))
    return buffer.getvalue()


if __name__ == "__main__":
    main()
