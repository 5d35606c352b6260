"""Latency benchmark: time to identify one photo (decode + preprocess + ONNX inference), single caller.

Run: ``python -m training.benchmark [--repeat 30] [--pack packs/ph-snakes ...]``. Prints mean / p50 / p95
in milliseconds for (a) a synthetic 12-megapixel phone-size JPEG (4000x3000, quality 90) and (b) a
512-px JPEG, using the same :class:`inference.classifier.ReptileClassifier` the bot uses (one intra-op
thread), and, with ``--pack`` (default: every head-only pack under ``packs/``), the same photos through
:class:`inference.pack_heads.StackedClassifier` with all those packs, interleaved with the base model
in the same run, and the ratio of the medians. Figures depend on the machine; nothing here is asserted.
"""

from __future__ import annotations

import argparse
import io
import platform
import statistics
import time
from pathlib import Path

import numpy as np
from PIL import Image

from inference.classifier import ReptileClassifier
from inference.pack_heads import StackedClassifier, is_head_only, load_pack_heads

PACKS = Path(__file__).resolve().parents[1] / "packs"


def _jpeg(width: int, height: int, seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    # Smooth noise compresses like a photo more than white noise does.
    small = rng.integers(0, 255, size=(height // 50 + 1, width // 50 + 1, 3), dtype=np.uint8)
    img = Image.fromarray(small).resize((width, height), Image.Resampling.BILINEAR)
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90)
    return buf.getvalue()


def _time(clfs: list, data: bytes, repeat: int) -> list[list[float]]:
    """Per classifier, ``repeat`` timings in ms; the classifiers take turns so load hits all alike."""
    for clf in clfs:
        clf.identify(data)  # warm-up
    times: list[list[float]] = [[] for _ in clfs]
    for _ in range(repeat):
        for k, clf in enumerate(clfs):
            t0 = time.perf_counter()
            clf.identify(data)
            times[k].append((time.perf_counter() - t0) * 1000)
    return times


def main(argv: list[str] | None = None) -> int:
    """Print the benchmark table. Returns 0."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeat", type=int, default=30)
    ap.add_argument("--pack", type=Path, action="append", default=None,
                    help="head-only pack(s) to stack (default: every head-only pack in packs/)")
    args = ap.parse_args(argv)
    clf = ReptileClassifier(threads=1)
    packs = args.pack if args.pack is not None else sorted(p for p in PACKS.iterdir() if is_head_only(p))
    clfs: list = [clf]
    if packs:
        clfs.append(StackedClassifier(clf, load_pack_heads(packs)))
    print(f"{clf.name} on {platform.machine()} ({platform.processor() or 'cpu'}), 1 thread; "
          f"packs: {', '.join(p.name for p in packs) or 'none'}")
    print("| input | model | bytes | mean ms | p50 ms | p95 ms |")
    print("|---|---|---:|---:|---:|---:|")
    for name, (w, h) in (("12 MP JPEG 4000x3000", (4000, 3000)), ("512x384 JPEG", (512, 384))):
        data = _jpeg(w, h)
        medians = []
        for label, t in zip(("base", "base + all packs"), _time(clfs, data, args.repeat), strict=False):
            t = sorted(t)
            p95 = t[min(len(t) - 1, round(0.95 * (len(t) - 1)))]
            medians.append(statistics.median(t))
            print(f"| {name} | {label} | {len(data)} | {statistics.mean(t):.1f} | {medians[-1]:.1f} "
                  f"| {p95:.1f} |")
        if len(medians) == 2:
            print(f"| {name} | median ratio (packs / base) | | | {medians[1] / medians[0]:.3f} | |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
