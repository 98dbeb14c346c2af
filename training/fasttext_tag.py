"""The end-to-end peer of `topictag tag` for the batch benchmark: fastText tagging a JSONL table.

    python training/fasttext_tag.py MODEL.bin INPUT.jsonl OUTPUT.jsonl      # (pip install fasttext)
    python training/fasttext_tag.py --train TRAIN.jsonl MODEL.bin           # tutorial settings, as benchmark_peers.py

Reads each line's "text", predicts the best label with its probability, and writes one JSON record per line
(source, label, score), as a user of fastText's Python binding would.
"""

from __future__ import annotations

import json
import re
import sys

PUNCTUATION = re.compile(r"([.!?,'/()])")


def normalise(text: str) -> str:
    return " ".join(PUNCTUATION.sub(r" \1 ", text.lower()).split())


def main() -> None:
    import fasttext

    if sys.argv[1] == "--train":
        data, model_path = sys.argv[2], sys.argv[3]
        with open(data, encoding="utf-8") as handle, open(model_path + ".txt", "w", encoding="utf-8") as out:
            for line in handle:
                row = json.loads(line)
                out.write(f"__label__{row['labels'][0].replace(' ', '_')} {normalise(row['text'])}\n")
        fasttext.train_supervised(model_path + ".txt", wordNgrams=2, epoch=25, lr=1.0, thread=12, verbose=0).save_model(model_path)
        return
    model = fasttext.load_model(sys.argv[1])
    # model.predict fails under NumPy 2 (np.array(copy=False)): the C++ binding returns (probability, label) pairs.
    predict = model.f.predict
    with open(sys.argv[2], encoding="utf-8") as handle, open(sys.argv[3], "w", encoding="utf-8") as out:
        for number, line in enumerate(handle, 1):
            row = json.loads(line)
            [(score, label)] = predict(normalise(row["text"]) + "\n", 1, 0.0, "strict")
            out.write(json.dumps({"source": row.get("id", number), "label": label[9:], "score": score}) + "\n")


if __name__ == "__main__":
    main()
