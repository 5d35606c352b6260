"""Latency benchmark: time to identify one photo (decode + preprocess + ONNX inference), single caller.

Run: ``python -m training.benchmark [--repeat 30]``. Prints mean / p50 / p95 in milliseconds for
(a) a synthetic 12-megapixel phone-size JPEG (4000x3000, quality 90) and (b) a 512-px JPEG, using the
same :class:`inference.classifier.ReptileClassifier` the bot uses (one intra-op thread). Figures depend
on the machine; nothing here is asserted.
"""

from __future__ import annotations

import argparse
import io
import platform
import statistics
import time

import numpy as np
from PIL import Image

from inference.classifier import ReptileClassifier


def _jpeg(width: int, height: int, seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    # Smooth noise compresses like a photo more than white noise does.
    small = rng.integers(0, 255, size=(height // 50 + 1, width // 50 + 1, 3), dtype=np.uint8)
    img = Image.fromarray(small).resize((width, height), Image.Resampling.BILINEAR)
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90)
    return buf.getvalue()


def _time(clf: ReptileClassifier, data: bytes, repeat: int) -> list[float]:
    clf.identify(data)  # warm-up
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        clf.identify(data)
        times.append((time.perf_counter() - t0) * 1000)
    return times


def main(argv: list[str] | None = None) -> int:
    """Print the benchmark table. Returns 0."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeat", type=int, default=30)
    args = ap.parse_args(argv)
    clf = ReptileClassifier(threads=1)
    print(f"{clf.model_id} on {platform.machine()} ({platform.processor() or 'cpu'}), 1 thread")
    print("| input | bytes | mean ms | p50 ms | p95 ms |")
    print("|---|---:|---:|---:|---:|")
    for name, (w, h) in (("12 MP JPEG 4000x3000", (4000, 3000)), ("512x384 JPEG", (512, 384))):
        data = _jpeg(w, h)
        t = sorted(_time(clf, data, args.repeat))
        p95 = t[min(len(t) - 1, round(0.95 * (len(t) - 1)))]
        print(f"| {name} | {len(data)} | {statistics.mean(t):.1f} | {statistics.median(t):.1f} | {p95:.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
