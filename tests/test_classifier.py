"""Postprocessing rules (pure, on crafted logits) and the ONNX classifier end to end."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from inference.classifier import DEFAULT_MODEL, ReptileClassifier, load_model_info
from inference.errors import ImageRejected, RejectReason
from inference.imagenet_taxa import IMAGENET_REPTILES
from inference.postprocess import DEFAULT_CALIBRATION, Calibration, masses, postprocess

PHOTOS = Path(__file__).resolve().parents[1] / ".." / "shared" / "photos"
CAL = Calibration(temperature=1.0, taxon_temperature=1.0, reptile_threshold=0.5, confident_threshold=0.6)
BY_LABEL = {t.label: t for t in IMAGENET_REPTILES}


def logits_with(probs: dict[int, float]) -> np.ndarray:
    """Logits whose softmax puts ``probs[i]`` on class i and spreads the rest evenly."""
    rest = (1.0 - sum(probs.values())) / (1000 - len(probs))
    p = np.full(1000, rest)
    for i, v in probs.items():
        p[i] = v
    return np.log(p).astype(np.float32)


# --- postprocess --------------------------------------------------------------------------------------


def test_clear_snake_is_a_confident_snake() -> None:
    ident = postprocess(logits_with({BY_LABEL["king snake"].index: 0.9}), CAL)
    assert ident.is_reptile and ident.reptile_type == "snake"
    assert ident.top[0].scientific_name == "Lampropeltis" and ident.top[0].rank == "genus"
    assert ident.confident
    assert ident.reptile_probability == pytest.approx(0.9, abs=0.01)
    assert ident.non_reptile_kind is None


def test_top_three_are_sorted_probabilities_given_reptile() -> None:
    ident = postprocess(logits_with({49: 0.3, 50: 0.4, 36: 0.1, 33: 0.05}), CAL)
    assert [t.label for t in ident.top] == ["American alligator", "African crocodile", "terrapin"]
    confs = [t.confidence for t in ident.top]
    assert confs == sorted(confs, reverse=True) and sum(confs) <= 1.0 + 1e-9
    # Renormalised over the reptile classes: 0.4 / (0.85 + tiny rest) is well above 0.4.
    assert confs[0] > 0.4
    assert ident.reptile_type == "crocodilian"


def test_split_opinion_is_not_confident() -> None:
    ident = postprocess(logits_with({56: 0.3, 57: 0.3, 58: 0.3}), CAL)
    assert ident.is_reptile and ident.reptile_type == "snake" and not ident.confident


def test_type_is_the_largest_summed_mass_not_the_top_class() -> None:
    lizards = {BY_LABEL[n].index: 0.2 for n in ("agama", "whiptail", "green lizard")}
    ident = postprocess(logits_with({**lizards, BY_LABEL["green mamba"].index: 0.3}), CAL)
    assert ident.reptile_type == "lizard"
    assert ident.type_confidence == pytest.approx(0.6 / 0.9, abs=0.01)
    # The card names a lizard, never a snake under a "lizard" heading.
    assert [t.reptile_type for t in ident.top] == ["lizard"] * 3


@pytest.mark.parametrize(
    ("index", "label"),
    [(30, "bullfrog"), (31, "tree frog"), (25, "European fire salamander"), (26, "common newt"),
     (29, "axolotl")],
)
def test_frogs_salamanders_and_newts_are_not_reptiles(index: int, label: str) -> None:
    ident = postprocess(logits_with({index: 0.8}), CAL, labels=None)
    assert not ident.is_reptile and ident.reptile_type is None and ident.top == ()
    assert ident.non_reptile_kind == "amphibian" and ident.non_reptile_label == label


def test_amphibian_mass_above_reptile_mass_wins_even_past_the_gate() -> None:
    low_gate = Calibration(1.0, 1.0, reptile_threshold=0.2, confident_threshold=0.6)
    ident = postprocess(logits_with({27: 0.5, BY_LABEL["whiptail"].index: 0.35}), low_gate)
    assert not ident.is_reptile and ident.non_reptile_kind == "amphibian"


def test_dinosaur_is_not_a_living_reptile() -> None:
    ident = postprocess(logits_with({51: 0.9}), CAL)
    assert not ident.is_reptile and ident.non_reptile_kind == "dinosaur"
    assert ident.non_reptile_label == "triceratops"


def test_objects_and_other_animals_with_names() -> None:
    labels = [f"class{i}" for i in range(1000)]
    labels[504] = "coffee mug"
    labels[207] = "golden retriever"
    mug = postprocess(logits_with({504: 0.7}), CAL, labels)
    dog = postprocess(logits_with({207: 0.7}), CAL, labels)
    assert (mug.is_reptile, mug.non_reptile_kind, mug.non_reptile_label) == (False, "object", "coffee mug")
    assert (dog.is_reptile, dog.non_reptile_kind) == (False, "animal")
    assert dog.non_reptile_label == "golden retriever"


def test_reptile_below_the_gate_is_not_a_reptile() -> None:
    ident = postprocess(logits_with({BY_LABEL["Komodo dragon"].index: 0.4, 504: 0.5}), CAL)
    assert not ident.is_reptile
    assert ident.reptile_probability == pytest.approx(0.4, abs=0.01)


def test_temperature_changes_confidence_but_not_order() -> None:
    lg = logits_with({56: 0.5, 57: 0.3})
    sharp = postprocess(lg, Calibration(1.0, 0.5, 0.5, 0.6))
    soft = postprocess(lg, Calibration(1.0, 2.0, 0.5, 0.6))
    assert [t.label for t in sharp.top] == [t.label for t in soft.top]
    assert sharp.top[0].confidence > soft.top[0].confidence


def test_masses_sum_to_one() -> None:
    m = masses(np.random.default_rng(0).normal(size=1000))
    assert m.reptile + m.amphibian + m.dinosaur + m.other_animal + m.obj == pytest.approx(1.0)
    assert sum(m.per_type) == pytest.approx(m.reptile)


@pytest.mark.parametrize("bad", [np.zeros(999), np.zeros((2, 1000)), np.full(1000, np.nan)])
def test_bad_logits_raise_value_error(bad: np.ndarray) -> None:
    with pytest.raises(ValueError):
        postprocess(bad, CAL)


def test_calibration_from_mapping_fills_missing_keys() -> None:
    cal = Calibration.from_mapping({"reptile_threshold": 0.42})
    assert cal.reptile_threshold == 0.42
    assert cal.confident_threshold == DEFAULT_CALIBRATION.confident_threshold


# --- the ONNX model -----------------------------------------------------------------------------------

needs_model = pytest.mark.skipif(not DEFAULT_MODEL.exists(), reason="inference/models/*.onnx not exported")


@pytest.fixture(scope="module")
def classifier() -> ReptileClassifier:
    if not DEFAULT_MODEL.exists():
        pytest.skip("inference/models/efficientnet_lite0.onnx not exported")
    return ReptileClassifier()


@needs_model
def test_metadata_matches_the_model_file() -> None:
    import hashlib

    meta = json.loads(DEFAULT_MODEL.with_suffix(".json").read_text())
    assert meta["sha256"] == hashlib.sha256(DEFAULT_MODEL.read_bytes()).hexdigest()
    info = load_model_info(DEFAULT_MODEL)
    assert info.input_size == 224 and info.labels is not None and len(info.labels) == 1000
    for taxon in IMAGENET_REPTILES:
        assert info.labels[taxon.index] == taxon.label


@needs_model
def test_predict_logits_shapes_and_batch_consistency(classifier: ReptileClassifier) -> None:
    rng = np.random.default_rng(0)
    batch = rng.uniform(-1, 1, size=(3, 3, 224, 224)).astype(np.float32)
    logits, emb = classifier.predict_logits(batch)
    assert logits.shape == (3, 1000) and emb.shape == (3, 1280)
    assert logits.dtype == np.float32 and emb.dtype == np.float32
    single, _ = classifier.predict_logits(batch[1:2])
    assert np.allclose(single[0], logits[1], atol=1e-4)
    with pytest.raises(ValueError):
        classifier.predict_logits(batch[:, :, :200, :200])


@needs_model
def test_identify_a_plain_picture_is_not_a_reptile(classifier: ReptileClassifier) -> None:
    buf = io.BytesIO()
    Image.new("RGB", (320, 240), (128, 128, 128)).save(buf, format="PNG")
    ident = classifier.identify(buf.getvalue())
    assert not ident.is_reptile
    assert ident.model.startswith("efficientnet_lite0@") and ident.elapsed_ms > 0


@needs_model
def test_identify_rejects_text(classifier: ReptileClassifier) -> None:
    with pytest.raises(ImageRejected) as info:
        classifier.identify(b"not a picture at all" * 20)
    assert info.value.reason is RejectReason.NOT_AN_IMAGE


def _manifest() -> list[dict[str, str]]:
    if not (PHOTOS / "manifest.csv").exists():
        pytest.skip("../shared/photos not found (copyrighted photos are not in the repo)")
    with (PHOTOS / "manifest.csv").open(newline="") as fh:
        return list(csv.DictReader(fh))


@needs_model
@pytest.mark.photos
def test_real_reptiles_and_amphibians_from_imagenet_samples(classifier: ReptileClassifier) -> None:
    rows = [r for r in _manifest() if r["path"].startswith("imagenet-samples-") and not r["quality_flag"]]
    reptiles = [r for r in rows if r["label_type"] in ("crocodilian", "lizard", "snake", "turtle")]
    amphibians = [r for r in rows if r["label_type"] == "amphibian"]
    assert reptiles and amphibians
    said_reptile = [classifier.identify((PHOTOS / r["path"]).read_bytes()) for r in reptiles]
    said_amph = [classifier.identify((PHOTOS / r["path"]).read_bytes()) for r in amphibians]
    # Most real reptiles are recognised with the right type; most amphibians are turned away. Fixed
    # photos and a fixed model, so the counts are the same on every run; measured: 43 of 46 reptiles
    # (93.5 %) and 13 of 13 amphibians, so the 80 % bounds leave 6 reptiles and 2 amphibians of room
    # for a CPU whose kernels round differently, and still fail if the gate or the type mapping breaks.
    pairs = zip(said_reptile, reptiles, strict=True)
    right = sum(i.is_reptile and i.reptile_type == r["label_type"] for i, r in pairs)
    assert right >= 0.8 * len(reptiles)
    assert sum(not i.is_reptile for i in said_amph) >= 0.8 * len(amphibians)
