"""training.quantize: calibration photo choice (pure) and a real int8 quantisation of the committed
Lite0 on a tiny synthetic calibration set (offline, ~10 s)."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
from PIL import Image

from inference.classifier import DEFAULT_MODEL, ReptileClassifier
from training.quantize import PhotoReader, choose_calibration_photos


def test_calibration_photos_are_spread_over_sources() -> None:
    rows = [{"path": f"a/{i}.jpg"} for i in range(10)] + [{"path": f"b/{i}.jpg"} for i in range(3)]
    got = choose_calibration_photos(rows, 8, seed=0)
    assert len(got) == len(set(got)) == 8
    assert sum(p.startswith("b/") for p in got) == 3  # the small source is not crowded out
    assert got == choose_calibration_photos(rows, 8, seed=0)
    assert len(choose_calibration_photos(rows, 99)) == 13


def _synthetic(tmp_path, n: int) -> list:
    rng = np.random.default_rng(0)
    paths = []
    for i in range(n):
        small = rng.integers(0, 255, size=(6, 8, 3), dtype=np.uint8)
        p = tmp_path / f"s{i}.jpg"
        Image.fromarray(small).resize((320, 240), Image.Resampling.BILINEAR).save(p, quality=90)
        paths.append(p)
    return paths


def test_reader_preprocesses_like_runtime(tmp_path) -> None:
    paths = _synthetic(tmp_path, 2)
    (tmp_path / "bad.jpg").write_bytes(b"not an image")
    r = PhotoReader([*paths, tmp_path / "bad.jpg"], "input", 224, 256)
    a, b = r.get_next(), r.get_next()
    assert r.get_next() is None  # the unreadable file is skipped
    assert a is not None and b is not None and a["input"].shape == (1, 3, 224, 224)
    r.rewind()
    first = r.get_next()
    assert first is not None
    np.testing.assert_array_equal(first["input"], a["input"])


def test_quantized_model_is_a_valid_int8_graph(tmp_path) -> None:
    pytest.importorskip("onnx", reason="quantisation needs the onnx package (train extra)")
    if not DEFAULT_MODEL.exists():
        pytest.skip("inference/models/efficientnet_lite0.onnx not exported")
    from training.quantize import quantize

    calib = _synthetic(tmp_path, 6)
    out = quantize(DEFAULT_MODEL, tmp_path / "int8", calib)
    meta = json.loads(out.with_suffix(".json").read_text())
    assert meta["sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()
    assert meta["quantization"]["format"] == "QDQ" and meta["quantization"]["calibration_photos"] == 6
    assert out.stat().st_size < 0.5 * DEFAULT_MODEL.stat().st_size
    q, f = ReptileClassifier(out), ReptileClassifier(DEFAULT_MODEL)
    batch = np.concatenate([f.preprocess(Image.open(p)) for p in calib[:3]])
    (ql, qe), (fl, fe) = q.predict_logits(batch), f.predict_logits(batch)
    assert ql.shape == fl.shape == (3, 1000) and qe.shape == fe.shape == (3, 1280)
    assert np.all(np.isfinite(ql)) and np.all(np.isfinite(qe))
    # No closeness bound here: how near int8 logits come to fp32 on a few noise images depends on the
    # images, the CPU and onnxruntime's kernels (a 0.9 correlation bound passed on one machine and gave
    # 0.83 on another). Agreement with fp32 on real photos is measured by `python -m training.quantize`
    # and recorded in training/REPORT.md. What quantisation must guarantee is checked instead: a valid
    # graph with QDQ nodes, the same outputs and shapes, finite values, and a deterministic result.
    import onnx

    graph = onnx.load(str(out))
    onnx.checker.check_model(graph)
    ops = {n.op_type for n in graph.graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    fp32_outputs = [o.name for o in onnx.load(str(DEFAULT_MODEL)).graph.output]
    assert [o.name for o in graph.graph.output] == fp32_outputs
    ql2, qe2 = q.predict_logits(batch)
    np.testing.assert_array_equal(ql, ql2)
    np.testing.assert_array_equal(qe, qe2)
    assert q.identify((tmp_path / "s0.jpg").read_bytes()).model.startswith("efficientnet_lite0_int8@")
