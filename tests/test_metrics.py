from topictag.metrics import evaluate_predictions


def test_per_label_micro_macro_and_confusion():
    gold = [("trade",), ("trade", "health"), (), ("health",)]
    predicted = [("trade",), ("trade",), ("health",), ()]
    report = evaluate_predictions(gold, predicted, ["health", "trade"], "other")
    assert report["labels"]["trade"] == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 2}
    assert report["labels"]["health"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 2}
    assert report["labels"]["other"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert report["micro"] == {"precision": 0.6667, "recall": 0.5, "f1": 0.5714}
    assert report["macro"]["f1"] == 0.5
    assert report["exact_match"] == 0.25
    # rows: true label; columns: predicted top label (health, trade, other)
    assert report["confusion"]["matrix"] == [[0, 1, 1], [0, 2, 0], [1, 0, 0]]


def test_calibration_of_perfect_and_overconfident_probabilities():
    from topictag.metrics import calibration_report

    gold = [[1], [0], [1], [0]]
    perfect = calibration_report([[1.0], [0.0], [1.0], [0.0]], gold, ["trade"])["trade"]
    assert perfect["brier"] == 0.0 and perfect["ece"] == 0.0
    overconfident = calibration_report([[0.95], [0.95], [0.95], [0.95]], gold, ["trade"])["trade"]
    assert overconfident["ece"] == 0.45 and overconfident["brier"] == round((0.05**2 * 2 + 0.95**2 * 2) / 4, 4)
    assert overconfident["reliability"] == [{"bin": "0.9-1.0", "texts": 4, "mean_probability": 0.95, "observed": 0.5}]
