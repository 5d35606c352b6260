"""Head-only packs stacked on one backbone run: which pack answers, the open-set rule, no silent
type change, and one backbone run per photo whatever the number of packs."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from inference.classifier import ReptileClassifier
from inference.imagenet_taxa import IMAGENET_REPTILES
from inference.pack import PackTaxon
from inference.pack_heads import PackHead, StackedClassifier, apply_packs
from inference.postprocess import REPTILE_INDICES, postprocess

SNAKES = (PackTaxon("Naja samarensis", "Samar cobra", "species", "snake", "venomous"),
          PackTaxon("Naja sumatrana", "Equatorial spitting cobra", "species", "snake", "venomous"),
          PackTaxon("Xenopeltis unicolor", "Sunbeam snake", "species", "snake", "harmless"))
GECKOS = (PackTaxon("Phelsuma grandis", "Madagascar giant day gecko", "species", "lizard", "harmless"),
          PackTaxon("Phelsuma laticauda", "Gold dust day gecko", "species", "lizard", "harmless"))


def head(taxa, bias, unknown=0.0, type_correction=None, name="p") -> PackHead:
    """A head whose output depends only on its bias (zero weights): probabilities = softmax(bias)."""
    return PackHead(name, tuple(taxa), (), np.zeros((1280, len(taxa)), np.float32),
                    np.asarray(bias, np.float32), 1.0, confident=0.8, venom_guard=0.25, unknown=unknown,
                    type_correction=type_correction)


def base_ident(reptile_type: str):
    k = next(i for i, t in enumerate(IMAGENET_REPTILES) if t.reptile_type == reptile_type)
    logits = np.zeros(1000)
    logits[REPTILE_INDICES[k]] = 20.0
    return postprocess(logits)


EMB = np.zeros(1280)


def test_the_pack_covering_the_type_answers() -> None:
    snakes, geckos = head(SNAKES, [5, 0, 0], name="snakes"), head(GECKOS, [0, 5], name="geckos")
    snake = apply_packs(base_ident("snake"), EMB, [geckos, snakes])
    assert snake.top[0].scientific_name == "Naja samarensis" and snake.confident
    assert [c.scientific_name for c in snake.candidates][:1] == ["Naja samarensis"]
    assert snake.model.endswith("+snakes")
    lizard = apply_packs(base_ident("lizard"), EMB, [geckos, snakes])
    assert lizard.top[0].scientific_name == "Phelsuma laticauda" and lizard.reptile_type == "lizard"
    turtle = apply_packs(base_ident("turtle"), EMB, [geckos, snakes])
    assert turtle.top == base_ident("turtle").top  # no pack covers turtles: the base answer stays


def test_open_set_below_unknown_threshold_is_never_confident() -> None:
    p = np.exp([2.0, 1.9, 0.0])
    p /= p.sum()  # cobras split ~0.50 / 0.45: no species above the 0.8 / 0.9 thresholds
    got = apply_packs(base_ident("snake"), EMB, [head(SNAKES, np.log(p), unknown=0.9)])
    assert not got.confident and got.confident_threshold == pytest.approx(0.9)
    assert sum(c.confidence for c in got.candidates if c.scientific_name.startswith("Naja")) > 0.9


def test_a_pack_does_not_change_the_type_unless_its_correction_threshold_is_set() -> None:
    sure = [9, 0, 0]
    assert apply_packs(base_ident("lizard"), EMB, [head(SNAKES, sure)]).reptile_type == "lizard"
    fixed = apply_packs(base_ident("lizard"), EMB, [head(SNAKES, sure, type_correction=0.99)])
    assert fixed.reptile_type == "snake" and fixed.top[0].scientific_name == "Naja samarensis"


def test_harmless_top_answer_is_not_confident_while_venomous_mass_exceeds_the_guard() -> None:
    import dataclasses

    # probabilities ~ Samar 0.03, Equatorial 0.29, Sunbeam 0.68: top above 0.6, venomous 0.32
    h = dataclasses.replace(head(SNAKES, [0, np.log(0.3 / 0.7) + 2.2, 2.2]), confident=0.6)
    got = apply_packs(base_ident("snake"), EMB, [h])
    assert got.top[0].scientific_name == "Xenopeltis unicolor" and not got.confident
    assert apply_packs(base_ident("snake"), EMB, [dataclasses.replace(h, venom_guard=0.5)]).confident


class CountingBase(ReptileClassifier):
    calls = 0

    def predict_logits(self, batch):
        CountingBase.calls += 1
        return super().predict_logits(batch)


def test_one_backbone_run_per_photo_with_several_packs() -> None:
    base = CountingBase()
    clf = StackedClassifier(base, [head(SNAKES, [1, 0, 0], name="a"), head(GECKOS, [0, 1], name="b"),
                                   head(SNAKES, [0, 1, 0], name="c")])
    buf = io.BytesIO()
    Image.new("RGB", (300, 200), (90, 140, 60)).save(buf, "JPEG")
    CountingBase.calls = 0
    ident = clf.identify(buf.getvalue())
    assert CountingBase.calls == 1
    assert ident.elapsed_ms > 0 and clf.name.count("+") == 3
