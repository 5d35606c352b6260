"""The gate/type comparison of training.compare_gate (pure numpy parts, offline).

The experiment itself (48 s on the shared photos) is not run here; these tests pin the pieces its
table rests on: the 6-class mapping probabilities equal the runtime's masses, the combined rule with
a = 0 is exactly the shipped mapping decision, and the scores count what their names say.
"""

from __future__ import annotations

import numpy as np

from inference.postprocess import DEFAULT_CALIBRATION, masses, postprocess
from training.compare_gate import CLASSES, Decision, log_masses, mapping_probs, mix_decision, scores


def _logits(n: int = 40, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 2, size=(n, 1000))
    x[: n // 2, 33:69] += rng.normal(4, 2, size=(n // 2, 36))  # half of them reptile-ish
    return x


def test_mapping_probs_equal_runtime_masses() -> None:
    x = _logits()
    p = mapping_probs(x, 0.75)
    assert p.shape == (len(x), len(CLASSES))
    np.testing.assert_allclose(p.sum(1), 1.0, atol=1e-9)
    for row, v in zip(p, x, strict=True):
        m = masses(v, 0.75)
        np.testing.assert_allclose(row, [m.amphibian, m.dinosaur + m.other_animal + m.obj, *m.per_type],
                                   atol=1e-9)
    assert np.all(log_masses(x, 0.75) <= 1e-12)


def test_combined_rule_with_no_learning_is_the_mapping() -> None:
    x = _logits(seed=1)
    pm = mapping_probs(x, DEFAULT_CALIBRATION.temperature)
    junk = np.full_like(pm, 1 / 6)  # learned probabilities must not matter at a = 0
    d = mix_decision(pm, junk, 0.0, DEFAULT_CALIBRATION.reptile_threshold, mapping_type=False)
    ref = [postprocess(v, DEFAULT_CALIBRATION) for v in x]
    assert d.said.tolist() == [r.is_reptile for r in ref]
    assert d.said.any() and not d.said.all()
    for said, typ, r in zip(d.said, d.typ, ref, strict=True):
        if said:
            assert typ == r.reptile_type


def test_scores_count_each_group() -> None:
    truth = np.array(["snake", "snake", "lizard", "amphibian", "amphibian", "not_reptile"])
    d = Decision(said=np.array([True, False, True, True, False, False]),
                 typ=np.array(["snake", "snake", "snake", "lizard", "snake", "turtle"]))
    s = scores(d, truth)
    assert s["recall"] == 2 / 3
    assert s["type_said"] == 1 / 2  # of the two said-reptile reptiles, one typed right
    assert s["type_all"] == 2 / 3  # the refused snake is still typed right
    assert s["amphibian_fa"] == 1 / 2 and s["other_fa"] == 0.0
