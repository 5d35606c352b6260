"""Static int8 quantisation (onnxruntime, QDQ, per-channel) of the base model, and its evaluation.

Usage::

    python -m training.quantize --out runs/int8/ [--calib 300] [--photos ../shared/photos]
                                [--model inference/models/efficientnet_lite0.onnx] [--no-eval]

1. ``quant_pre_process`` (shape inference + graph optimisation) of the fp32 model;
2. ``quantize_static(..., quant_format=QuantFormat.QDQ, per_channel=True)``, int8 weights and
   activations, MinMax calibration with a :class:`PhotoReader` over ``--calib`` shared photos
   (seeded, spread over the source folders), each decoded and preprocessed exactly as at run time
   (:func:`inference.preprocess.decode_image` + :func:`inference.preprocess.to_model_input`);
   ``--keep-fp32 Gemm`` leaves the final ImageNet classifier in float;
3. ``<out>/<stem>_int8.onnx`` + ``.json`` (the fp32 json with the new file, sha and a
   ``quantization`` block; same thresholds, so the comparison measures only the quantisation);
4. unless ``--no-eval``: fp32 and int8 on every manifest photo, 1 thread, same thresholds:
   the headline metrics side by side, the difference, size and time per photo, and the verdict of
   the shipping rule (int8 ships only if no headline metric is more than 0.5 points worse).

Needs the ``onnx`` package (train extra) for the pre-processing; the int8 model runs on plain
onnxruntime.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from inference.classifier import DEFAULT_MODEL, ReptileClassifier, load_model_info
from inference.hashing import file_sha256
from inference.preprocess import decode_image, to_model_input
from training.dataset import read_manifest

#: Largest allowed loss, in percentage points, on any headline metric for int8 to ship.
MAX_LOSS_POINTS = 0.5


def choose_calibration_photos(rows: Sequence[dict[str, str]], n: int, seed: int = 0) -> list[str]:
    """``n`` manifest paths, seeded, taken round-robin over the top-level source folders."""
    rng = np.random.default_rng(seed)
    by_src: dict[str, list[str]] = {}
    for r in rows:
        by_src.setdefault(r["path"].split("/")[0], []).append(r["path"])
    pools = {k: list(rng.permutation(v)) for k, v in sorted(by_src.items())}
    out: list[str] = []
    while len(out) < n and any(pools.values()):
        for k in sorted(pools):
            if pools[k] and len(out) < n:
                out.append(str(pools[k].pop()))
    return out


class PhotoReader:
    """onnxruntime ``CalibrationDataReader`` over image files (batch 1), run-time preprocessing."""

    def __init__(self, paths: Sequence[Path], input_name: str, input_size: int, resize_size: int) -> None:
        self.paths = list(paths)
        self.input_name = input_name
        self.size = (input_size, resize_size)
        self._it = iter(self.paths)

    def get_next(self) -> dict[str, np.ndarray] | None:
        for p in self._it:
            try:
                img = decode_image(Path(p).read_bytes(), max_bytes=60_000_000, max_pixels=80_000_000,
                                   min_side=16, draft_size=self.size[1])
            except Exception:  # an unreadable photo is skipped, as in training
                continue
            return {self.input_name: to_model_input(img, *self.size)}
        return None

    def rewind(self) -> None:
        self._it = iter(self.paths)


def quantize(
    model: Path, out_dir: Path, calib_paths: Sequence[Path], keep_fp32_ops: Sequence[str] = ()
) -> Path:
    """Write ``<out_dir>/<stem>_int8.onnx`` and its json; returns the onnx path.

    ``keep_fp32_ops``: op types left in float (e.g. ``("Gemm",)``: the 1280x1000 ImageNet classifier).
    """
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    info = load_model_info(model)
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / f"{model.stem}_int8.onnx"

    class _Reader(PhotoReader, CalibrationDataReader):
        pass

    reader = _Reader(calib_paths, info.input_name, info.input_size, info.resize_size)
    with tempfile.TemporaryDirectory(prefix="rm-quant-") as tmp:
        prep = Path(tmp) / "prep.onnx"
        quant_pre_process(str(model), str(prep), skip_symbolic_shape=True)
        import onnx

        exclude = [n.name for n in onnx.load(str(prep)).graph.node if n.op_type in set(keep_fp32_ops)]
        quantize_static(
            str(prep), str(out), reader,
            quant_format=QuantFormat.QDQ, per_channel=True,
            activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
            nodes_to_exclude=exclude,
        )
    meta: dict[str, Any] = json.loads(model.with_suffix(".json").read_text())
    meta.update({"name": out.stem, "file": out.name, "sha256": file_sha256(out)})
    meta["quantization"] = {
        "tool": "onnxruntime.quantization.quantize_static",
        "format": "QDQ", "per_channel": True, "weights": "int8", "activations": "int8",
        "calibrate_method": "MinMax", "calibration_photos": len(calib_paths),
        "kept_fp32_op_types": list(keep_fp32_ops),
        "from": {"file": model.name, "sha256": file_sha256(model)},
        "made_by": "python -m training.quantize",
    }
    out.with_suffix(".json").write_text(json.dumps(meta, indent=2) + "\n")
    labels = meta.get("labels_file")
    if labels and (model.parent / labels).exists() and not (out_dir / labels).exists():
        shutil.copy(model.parent / labels, out_dir / labels)
    return out


HEADLINE = (
    ("reptile recall", lambda r: r["all reptiles"]["recall"], +1),
    ("type accuracy (of said reptile)", lambda r: r["all reptiles"]["type_accuracy"], +1),
    ("right type (of all reptiles)", lambda r: r["all reptiles"]["right_type_of_all"], +1),
    ("amphibians accepted", lambda r: r["amphibians"]["false_accept"], -1),
    ("other photos accepted", lambda r: r["all other (other_animal+person+other)"]["false_accept"], -1),
    ("taxon top-1 (31 in-class)", lambda r: r["taxon_unflagged"]["top1"], +1),
    ("taxon top-3 (31 in-class)", lambda r: r["taxon_unflagged"]["top3"], +1),
)


def compare(fp32: Path, int8: Path, photos: Path, rows: list[dict[str, str]]) -> tuple[list[str], bool]:
    """Markdown lines comparing the two models, and whether int8 passes the shipping rule."""
    from training.compare_backbones import phone_jpeg_ms
    from training.evaluate import report, run_model

    results, samples = [], []
    for path in (fp32, int8):
        clf = ReptileClassifier(path, threads=1)
        s = run_model(clf, photos, rows)
        cal = load_model_info(fp32).calibration  # same thresholds for both
        _, res = report(s, cal, clf)
        results.append((clf, res, phone_jpeg_ms(clf.identify)))
        samples.append(s)
        print(f"{clf.name} done", file=sys.stderr)
    lines = [f"| metric | fp32 `{results[0][0].name}` | int8 `{results[1][0].name}` | int8 - fp32 (points) |",
             "|---|---:|---:|---:|"]
    ok = True
    for name, get, sign in HEADLINE:
        a, b = get(results[0][1]), get(results[1][1])
        d = 100 * (b - a)
        ok &= sign * d >= -MAX_LOSS_POINTS - 1e-9
        lines.append(f"| {name} | {100 * a:.1f} % | {100 * b:.1f} % | {d:+.1f} |")
    agree = np.mean([int(np.argmax(x.logits)) == int(np.argmax(y.logits))
                     for x, y in zip(*samples, strict=True) if x.logits is not None and y.logits is not None])
    lines.append(f"| ImageNet top-1 class equal to fp32 (all photos) | - | {100 * agree:.1f} % | - |")
    timing = (("ms/photo mean (decode+preprocess+inference, 1 thread)", "mean"), ("ms/photo p95", "p95"))
    for label, k in timing:
        a, b = results[0][1]["time_ms"][k], results[1][1]["time_ms"][k]
        lines.append(f"| {label} | {a:.1f} | {b:.1f} | {b - a:+.1f} ms |")
    lines.append(f"| ms 12 MP phone JPEG (mean) | {results[0][2]:.1f} | {results[1][2]:.1f} "
                 f"| {results[1][2] - results[0][2]:+.1f} ms |")
    mb = [p.stat().st_size / 1e6 for p in (fp32, int8)]
    lines.append(f"| file size | {mb[0]:.1f} MB | {mb[1]:.1f} MB | - |")
    lines.append("")
    lines.append(f"Shipping rule (no headline metric more than {MAX_LOSS_POINTS} points worse): "
                 f"**{'int8 passes' if ok else 'int8 fails, fp32 stays the default'}**.")
    return lines, ok


def main(argv: list[str] | None = None) -> int:
    from training.evaluate import DEFAULT_PHOTOS

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    ap.add_argument("--photos", type=Path, default=DEFAULT_PHOTOS)
    ap.add_argument("--calib", type=int, default=300, help="number of calibration photos")
    ap.add_argument("--keep-fp32", nargs="*", default=[], metavar="OP",
                    help="op types left in float, e.g. Gemm (the ImageNet classifier)")
    ap.add_argument("--no-eval", action="store_true")
    args = ap.parse_args(argv)
    try:
        rows = read_manifest(args.photos)
    except FileNotFoundError:
        print(f"{args.photos / 'manifest.csv'} not found", file=sys.stderr)
        return 2
    calib = [args.photos / p for p in choose_calibration_photos(rows, args.calib)]
    out = quantize(args.model, args.out, calib, args.keep_fp32)
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB), calibrated on {len(calib)} photos\n")
    if not args.no_eval:
        lines, _ok = compare(args.model, out, args.photos, rows)
        print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
