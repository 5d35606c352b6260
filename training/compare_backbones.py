"""EfficientNet-Lite0 vs Lite2 vs their ensemble: accuracy against time per photo.

Usage::

    python -m training.export_onnx --variant lite2 --out runs/models/     # git-ignored
    python -m training.compare_backbones [--photos ../shared/photos]
        [--lite0 inference/models/efficientnet_lite0.onnx] [--lite2 runs/models/efficientnet_lite2.onnx]

Every model runs on ONE thread on every photo of ``manifest.csv`` (decode + preprocess + inference
timed per photo, as :mod:`training.evaluate`); the 12-megapixel figure is the synthetic phone JPEG of
:mod:`training.benchmark`. Each candidate gets its own thresholds by the rules of
:func:`training.evaluate.choose_calibration` (chosen on the same photos, like the shipped Lite0).

Ensemble: the photo is decoded once (draft size of the larger input), preprocessed for both inputs,
both networks run, and the "logits" handed to the mapping are the mean of the two models'
log-softmax at their own chosen temperatures (a geometric mean of calibrated probabilities).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from inference.classifier import DEFAULT_MODEL, ReptileClassifier
from inference.errors import ImageRejected
from inference.preprocess import decode_image
from training.benchmark import _jpeg
from training.dataset import read_manifest
from training.evaluate import DEFAULT_PHOTOS, REPO, Sample, choose_calibration, report, run_model


def _log_softmax(x: np.ndarray, t: float) -> np.ndarray:
    z = np.asarray(x, np.float64) / t
    z = z - z.max()
    return z - np.log(np.exp(z).sum())


def ensemble_logits(logits: list[np.ndarray], temperatures: list[float]) -> np.ndarray:
    """Mean of the models' log-softmax at their temperatures (shape (1000,))."""
    return np.mean([_log_softmax(v, t) for v, t in zip(logits, temperatures, strict=True)], axis=0)


def identify_ensemble(clfs: list[ReptileClassifier], data: bytes) -> list[np.ndarray]:
    """Decode once, run every model; the per-model logits."""
    c0 = clfs[0]
    im = decode_image(data, max_bytes=c0.limits.max_bytes, max_pixels=c0.limits.max_pixels,
                      min_side=c0.limits.min_side, draft_size=max(c.info.resize_size for c in clfs))
    return [c.predict_logits(c.preprocess(im))[0][0] for c in clfs]


def run_ensemble(clfs: list[ReptileClassifier], temps: list[float], photos: Path,
                 rows: list[dict[str, str]], singles: list[Sample]) -> list[Sample]:
    out = []
    for row, s in zip(rows, singles, strict=True):
        data = (photos / row["path"]).read_bytes()
        t0 = time.perf_counter()
        try:
            vec: np.ndarray | None = ensemble_logits(identify_ensemble(clfs, data), temps)
        except ImageRejected:
            vec = None
        ms = (time.perf_counter() - t0) * 1000.0
        out.append(Sample(s.path, s.label_type, s.source, s.true_index, s.flagged, vec, ms))
    return out


def phone_jpeg_ms(fn, repeat: int = 20) -> float:
    """Mean ms of ``fn(bytes)`` on the 12 MP synthetic JPEG of training.benchmark (after warm-up)."""
    data = _jpeg(4000, 3000)
    fn(data)
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn(data)
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.mean(times)


HEAD = ("| model | reptile recall | type acc. (of said reptile) | right type (of all reptiles) "
        "| amphibians accepted | others accepted | taxon top-1 / top-3 (31 in-class) "
        "| out-of-class 'pretty sure' | ms/photo mean / p95 | ms 12 MP JPEG "
        "| thresholds (T, gate, confident) |")


def row(name: str, res: dict, cal, ms12: float) -> str:
    r, tx = res["all reptiles"], res["taxon_unflagged"]
    t = res["time_ms"]
    return (f"| {name} | {100 * r['recall']:.1f} % | {100 * r['type_accuracy']:.1f} % "
            f"| {100 * r['right_type_of_all']:.1f} % | {100 * res['amphibians']['false_accept']:.1f} % "
            f"| {100 * res['all other (other_animal+person+other)']['false_accept']:.1f} % "
            f"| {100 * tx['top1']:.1f} % / {100 * tx['top3']:.1f} % "
            f"| {100 * res['outset_confident_share']:.1f} % | {t['mean']:.1f} / {t['p95']:.1f} "
            f"| {ms12:.1f} | {cal.temperature:g}, {cal.reptile_threshold:.2f}, "
            f"{cal.confident_threshold:.2f} |")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photos", type=Path, default=DEFAULT_PHOTOS)
    ap.add_argument("--lite0", type=Path, default=DEFAULT_MODEL)
    ap.add_argument("--lite2", type=Path, default=REPO / "runs" / "models" / "efficientnet_lite2.onnx")
    args = ap.parse_args(argv)
    try:
        rows = read_manifest(args.photos)
    except FileNotFoundError:
        rows = []
    if not rows or not args.lite2.exists():
        print(f"need {args.photos / 'manifest.csv'} and {args.lite2}", file=sys.stderr)
        return 2
    clfs = [ReptileClassifier(p, threads=1) for p in (args.lite0, args.lite2)]
    lines = [HEAD, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    singles, cals = [], []
    for clf in clfs:
        samples = run_model(clf, args.photos, rows)
        cal = choose_calibration(samples)
        _, res = report(samples, cal, clf)
        lines.append(row(clf.name, res, cal, phone_jpeg_ms(clf.identify)))
        singles.append(samples)
        cals.append(cal)
        print(f"{clf.name} done", file=sys.stderr)
    temps = [c.temperature for c in cals]
    ens = run_ensemble(clfs, temps, args.photos, rows, singles[0])
    cal = choose_calibration(ens)
    _, res = report(ens, cal, clfs[0])
    lines.append(row("ensemble lite0 + lite2", res, cal,
                     phone_jpeg_ms(lambda d: ensemble_logits(identify_ensemble(clfs, d), temps))))
    print(f"{len(rows)} photos, 1 thread each.\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
