"""Species-pack training (training.train) and its runtime (inference.pack.PackClassifier).

The main tests train on synthetic photos (3 taxa x 8 Pillow images in a tmp folder), so they run
without ../shared/photos; the real-photo variant skips cleanly when the photos are absent.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bot.core.species import SpeciesRepository
from bot.services import open_services
from bot.settings import Settings
from inference.imagenet_taxa import IMAGENET_REPTILES
from inference.pack import PackClassifier, PackError
from inference.postprocess import REPTILE_INDICES
from tests.paths import REPO, require_photos
from tests.synthetic_photos import make_species_folder, photo
from training.train import main as train_main

#: Real species-database rows (one venomous), so the pack passes the database check.
TAXA = ("Naja samarensis", "Calamaria lumbricoidea", "Xenopeltis unicolor")
SPECIES_DB = REPO / "species.sqlite"


def make_folder(root: Path, per_class: int = 8) -> Path:
    """One synthetic folder per taxon of :data:`TAXA` (see :mod:`tests.synthetic_photos`)."""
    return make_species_folder(root, TAXA, per_class)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """(pack dir, run dir) of one synthetic training run, shared by the tests of this module."""
    tmp = tmp_path_factory.mktemp("train")
    folder = make_folder(tmp / "photos")
    pack, runs = tmp / "pack", tmp / "runs"
    code = train_main(["--folder", str(folder), "--out", str(pack), "--runs-dir", str(runs),
                       "--cache-dir", str(tmp / "cache"), "--augment", "1", "--name", "synthetic"])
    assert code == 0
    (run_dir,) = list(runs.iterdir())
    return pack, run_dir


def test_training_writes_pack_and_reports(trained):
    pack, run_dir = trained
    for name in ("head.npz", "labels.json", "taxa.json", "pack.json"):
        assert (pack / name).is_file()
    assert not (pack / "model.onnx").exists()  # head-only: the backbone is not copied
    assert (pack / "head.npz").stat().st_size < 100_000
    for name in ("report.json", "report.md", "confusion.png", "coverage.png"):
        assert (run_dir / name).stat().st_size > 0
    assert run_dir.name.endswith("-synthetic")
    labels = json.loads((pack / "labels.json").read_text())
    assert [t["scientific_name"] for t in labels["taxa"]] == sorted(TAXA)
    assert {t["scientific_name"]: t["venom"] for t in labels["taxa"]}["Naja samarensis"] == "venomous"
    meta = json.loads((pack / "pack.json").read_text())
    assert meta["temperature"] > 0 and 0 < meta["thresholds"]["confident"] <= 1
    report = json.loads((run_dir / "report.json").read_text())
    assert set(report["training"]["split"]) == {"train", "val", "test"}
    assert report["export_parity_max_abs_diff"] < 1e-4
    for key in ("accuracy", "top3_accuracy", "macro_f1", "ece", "per_class", "confusion"):
        assert key in report["metrics"]["test"]


def test_pack_head_applies_to_the_base_models_embedding(trained):
    from inference.classifier import ReptileClassifier

    pack, _ = trained
    with np.load(pack / "head.npz") as d:
        w, b, t = d["weight"].astype(np.float64), d["bias"].astype(np.float64), float(d["temperature"])
    assert w.shape == (1280, len(TAXA)) and b.shape == (len(TAXA),) and t > 0
    x = np.random.default_rng(1).uniform(-1, 1, (4, 3, 224, 224)).astype(np.float32)
    probs, logits = PackClassifier(pack).predict(x)
    base_logits, emb = ReptileClassifier().predict_logits(x)
    z = (emb.astype(np.float64) @ w + b) / t
    ref = np.exp(z - z.max(axis=1, keepdims=True))
    ref /= ref.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(probs, ref, atol=1e-6)
    np.testing.assert_array_equal(logits, base_logits)  # the gate sees exactly the base model


def test_splits_never_share_a_near_duplicate_group():
    from training.dataset import near_duplicate_groups, split_groups

    hashes = [0b1111, 0b1110, 0xFFFF << 40, (0xFFFF << 40) | 1, 0xFFFF << 20, 0xFF00FF << 8]
    groups = near_duplicate_groups(hashes, max_distance=2)
    assert groups[0] == groups[1] and groups[2] == groups[3] and len(set(groups)) == 4
    labels = ["a", "a", "b", "b", "a", "b"]
    split = split_groups(labels, groups)
    assert split[0] == split[1] and split[2] == split[3]


async def pack_taxa_served(clf: PackClassifier) -> list[str]:
    """The species repository's check of a pack against species.sqlite (as the bot opens it): the
    names served from the pack's rows; raises ValueError when the pack disagrees with the database."""
    repo = await SpeciesRepository.open(SPECIES_DB, clf.taxon_rows, clf.taxa)
    try:
        return [t.scientific_name for t in repo.pack_taxa]
    finally:
        await repo.close()


async def test_pack_classifier_uses_pack_taxa_for_reptiles_of_its_type(trained):
    pack, _ = trained
    clf = PackClassifier(pack)
    assert await pack_taxa_served(clf) == []  # every taxon is in the database and agrees with it
    assert clf.name.startswith("pack:synthetic@")
    snake = next(i for i, t in enumerate(IMAGENET_REPTILES) if t.reptile_type == "snake")
    logits = np.zeros(1000)
    logits[REPTILE_INDICES[snake]] = 20.0
    probs = np.array([0.9, 0.06, 0.04])  # labels are sorted: Calamaria, Naja, Xenopeltis
    ident = clf.decide(probs, logits)
    assert ident.is_reptile and ident.reptile_type == "snake"
    assert [s.scientific_name for s in ident.top] == sorted(TAXA)
    # harmless top answer, but the venomous cobra holds more than the guard -> not confident
    assert ident.confident is (clf.venom_guard >= 0.06 and clf.confident_threshold <= 0.9
                               and clf.unknown_threshold <= 0.9)
    # not a reptile: the base gate decides, no pack taxa
    frog = np.zeros(1000)
    frog[30] = 20.0
    assert not clf.decide(probs, frog).is_reptile
    # a turtle keeps the ImageNet taxa
    turtle = next(i for i, t in enumerate(IMAGENET_REPTILES) if t.reptile_type == "turtle")
    logits_t = np.zeros(1000)
    logits_t[REPTILE_INDICES[turtle]] = 20.0
    ident_t = clf.decide(probs, logits_t)
    assert ident_t.reptile_type == "turtle" and ident_t.top[0].reptile_type == "turtle"
    # end to end on a photo
    buf = io.BytesIO()
    photo(np.random.default_rng(5), (200, 40, 40), "dots").save(buf, "PNG")
    assert clf.identify(buf.getvalue()).model == clf.name


def test_venom_guard_blocks_confident_harmless_answers(trained):
    pack, _ = trained
    clf = PackClassifier(pack)
    clf.confident_threshold, clf.venom_guard = 0.5, 0.1
    assert clf.confident(np.array([0.85, 0.05, 0.10]))
    assert not clf.confident(np.array([0.8, 0.15, 0.05]))  # cobra mass 0.15 > guard
    assert clf.confident(np.array([0.05, 0.9, 0.05]))  # a venomous top answer is never blocked


async def test_pack_with_unknown_taxon_fails_loudly(trained, tmp_path):
    pack, _ = trained
    bad = tmp_path / "bad"
    shutil.copytree(pack, bad)
    labels = json.loads((bad / "labels.json").read_text())
    labels["taxa"][0]["scientific_name"] = "Imaginarius fictus"
    (bad / "labels.json").write_text(json.dumps(labels))
    with pytest.raises(PackError, match="Imaginarius fictus"):
        await open_services(Settings(reptile_pack=bad))
    (bad / "head.npz").write_bytes(b"not a head")
    with pytest.raises(PackError, match="sha256"):
        PackClassifier(bad)


def test_training_refuses_taxa_it_cannot_make_a_row_for(tmp_path, capsys):
    # A taxon missing from the species database now gets a minimal row (tests/test_pack_taxa.py), but
    # a folder name that is no scientific name (rank not inferable) is still refused before any work.
    folder = make_folder(tmp_path / "photos", per_class=2)
    (folder / "Naja_samarensis").rename(folder / "Imaginarius_fictus_var_nova")
    code = train_main(["--folder", str(folder), "--out", str(tmp_path / "p"),
                       "--runs-dir", str(tmp_path / "r"), "--no-cache", "--augment", "0"])
    assert code == 2
    assert "Imaginarius fictus var nova" in capsys.readouterr().err
    assert not (tmp_path / "p").exists()


async def test_identify_service_uses_the_pack(trained, monkeypatch):
    from bot.services import open_services
    from bot.settings import Settings

    pack, _ = trained
    monkeypatch.setenv("REPTILE_PACK", "")
    assert Settings().reptile_pack is None
    monkeypatch.setenv("REPTILE_PACK", str(pack))
    services = await open_services(Settings())
    try:
        buf = io.BytesIO()
        photo(np.random.default_rng(7), (40, 160, 60), "boxes").save(buf, "JPEG")
        outcome = await services.identify.identify(buf.getvalue())
        assert outcome.identification is not None
        assert outcome.identification.model.startswith("pack:synthetic@")
        snake = next(i for i, t in enumerate(IMAGENET_REPTILES) if t.reptile_type == "snake")
        logits = np.zeros(1000)
        logits[REPTILE_INDICES[snake]] = 20.0
        ident = services.runner._classifier.decide(np.array([0.1, 0.85, 0.05]), logits)
        card = await services.identify.card_for(ident)
        assert card.scientific_name == "Naja samarensis"
        assert card.warning is not None  # venomous: the danger warning comes from the species database
    finally:
        await services.close()


def test_cli_identify_with_pack(trained, tmp_path):
    pack, _ = trained
    img = tmp_path / "p.png"
    photo(np.random.default_rng(3), (40, 60, 200), "lines").save(img)
    proc = subprocess.run(
        [sys.executable, "-m", "bot.cli", "identify", "--pack", str(pack), "--json", str(img)],
        capture_output=True, text=True, cwd=REPO, timeout=120,
        env={"PATH": "/usr/bin:/bin", "LOG_LEVEL": "WARNING", "STATE_DB_PATH": os.environ["STATE_DB_PATH"]},
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["model"].startswith("pack:synthetic@")


@pytest.mark.photos
async def test_real_photos_small_pack(tmp_path):
    photos = require_photos()
    folder = tmp_path / "photos"
    for taxon in TAXA:  # symlinks in tmp only: the copyrighted photos are never copied
        src = photos / "ph-snakes" / taxon.replace(" ", "_")
        dst = folder / src.name
        dst.mkdir(parents=True)
        for f in sorted(src.iterdir())[:12]:
            (dst / f.name).symlink_to(f)
    # --cache-dir in tmp: the default (.cache/ in the checkout) would be shared with earlier runs and with
    # a parallel worker embedding the same photos at the same time.
    code = train_main(["--folder", str(folder), "--out", str(tmp_path / "pack"), "--runs-dir",
                       str(tmp_path / "runs"), "--cache-dir", str(tmp_path / "cache"), "--augment", "1"])
    assert code == 0
    clf = PackClassifier(tmp_path / "pack")
    assert await pack_taxa_served(clf) == []
    f = next((folder / "Naja_samarensis").iterdir())
    ident = clf.identify(f.read_bytes())
    assert ident.model == clf.name


async def test_committed_ph_snakes_pack_loads_and_never_confidently_misses_venom():
    pack = REPO / "packs" / "ph-snakes"
    if not (pack / "pack.json").exists():
        pytest.skip("packs/ph-snakes not present")
    clf = PackClassifier(pack)
    assert len(clf.taxa) == 14
    assert [r["scientific_name"] for r in clf.taxon_rows] == [t.scientific_name for t in clf.taxa]
    assert await pack_taxa_served(clf) == []

    assert clf.meta["metrics"]["test"]["venomous_called_harmless_confident"] == 0
