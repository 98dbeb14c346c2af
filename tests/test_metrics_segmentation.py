import random

import pytest

from topictag.metrics import boundary_prf, half_mean_segment_length, pk, windowdiff

nltk_segmentation = pytest.importorskip("nltk.metrics.segmentation")


def test_pk_and_windowdiff_match_nltk_on_random_segmentations():
    rng = random.Random(0)
    for _ in range(300):
        n = rng.randint(2, 60)
        ref = [int(rng.random() < 0.2) for _ in range(n)]
        hyp = [int(rng.random() < 0.25) for _ in range(n)]
        k = rng.randint(1, n)
        ref_s, hyp_s = "".join(map(str, ref)), "".join(map(str, hyp))
        assert pk(ref, hyp, k) == pytest.approx(nltk_segmentation.pk(ref_s, hyp_s, k))
        assert windowdiff(ref, hyp, k) == pytest.approx(nltk_segmentation.windowdiff(ref_s, hyp_s, k))


def test_perfect_and_trivial_segmentations():
    ref = [0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0]
    k = half_mean_segment_length(ref)
    assert k == 2
    assert pk(ref, ref, k) == 0.0 and windowdiff(ref, ref, k) == 0.0
    assert pk(ref, [0] * 12, k) > 0.2
    assert boundary_prf(ref, [0, 0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0]) == {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2}
