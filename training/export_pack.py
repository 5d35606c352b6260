"""Write a *species pack*: one ONNX graph (backbone + head + softmax), ``labels.json``, ``pack.json``.

The graph is the shared backbone (``inference/models/efficientnet_lite0.onnx``) with four nodes
appended after its ``embedding`` output::

    embedding --MatMul(W)--> --Add(b)--> --Div(T)--> --Softmax--> probs

Its outputs are ``probs`` (N, C) (the pack's taxa), ``logits`` (N, 1000) (the base model's ImageNet
logits, used by the runtime for the reptile gate and the type) and ``embedding`` (N, 1280). One
onnxruntime session serves both the pack and the gate, with no Python between backbone and head.
Needs the ``onnx`` package (export / train extras), never at run time.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from inference.hashing import file_sha256
from training.head import LinearHead

PACK_FORMAT = 1
MODEL_FILE = "model.onnx"


def compose(base_model: Path, head: LinearHead, out_path: Path) -> None:
    """Append the head to ``base_model`` and save the single graph to ``out_path``."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load(str(base_model))
    g = model.graph
    names = [o.name for o in g.output]
    if "embedding" not in names or "logits" not in names:
        raise ValueError(f"{base_model}: expected outputs logits and embedding, got {names}")
    c = len(head.classes)
    g.initializer.extend([
        numpy_helper.from_array(head.weight.astype(np.float32), "pack_head_W"),
        numpy_helper.from_array(head.bias.astype(np.float32), "pack_head_b"),
        numpy_helper.from_array(np.array(head.temperature, dtype=np.float32), "pack_head_T"),
    ])
    g.node.extend([
        helper.make_node("MatMul", ["embedding", "pack_head_W"], ["pack_head_mm"], name="pack_head_matmul"),
        helper.make_node("Add", ["pack_head_mm", "pack_head_b"], ["pack_head_logits"], name="pack_head_add"),
        helper.make_node("Div", ["pack_head_logits", "pack_head_T"], ["pack_head_scaled"],
                         name="pack_head_temperature"),
        helper.make_node("Softmax", ["pack_head_scaled"], ["probs"], axis=-1, name="pack_head_softmax"),
    ])
    outputs = {o.name: o for o in g.output}
    del g.output[:]
    g.output.extend([
        helper.make_tensor_value_info("probs", TensorProto.FLOAT, [None, c]),
        outputs["logits"],
        outputs["embedding"],
    ])
    onnx.checker.check_model(model)
    onnx.save(model, str(out_path))


def write_pack(
    out_dir: Path,
    *,
    base_model: Path,
    base_meta: dict[str, Any],
    head: LinearHead,
    taxa: list[dict[str, Any]],
    thresholds: dict[str, float],
    metrics: dict[str, Any],
    name: str,
    training: dict[str, Any],
) -> Path:
    """Write the pack folder; returns it. ``taxa`` rows (one per class, in head order) carry
    scientific_name, common_name, rank, reptile_type and venom from the species database."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model_path = out_dir / MODEL_FILE
    compose(base_model, head, model_path)
    labels = {"format": PACK_FORMAT, "taxa": taxa}
    (out_dir / "labels.json").write_text(json.dumps(labels, indent=2, ensure_ascii=False) + "\n")
    pack = {
        "format": PACK_FORMAT,
        "name": name,
        "model_file": MODEL_FILE,
        "model_sha256": file_sha256(model_path),
        "base_model": {
            "name": base_meta.get("name", base_model.stem),
            "sha256": base_meta.get("sha256", file_sha256(base_model)),
        },
        "input_name": base_meta.get("input_name", "input"),
        "input_size": base_meta["input_size"],
        "resize_size": base_meta.get("resize_size", base_meta["input_size"] + 32),
        "mean": base_meta.get("mean", [127.0] * 3),
        "std": base_meta.get("std", [128.0] * 3),
        "outputs": {"probs": len(head.classes), "logits": 1000, "embedding": head.weight.shape[0]},
        "temperature": head.temperature,
        "thresholds": thresholds,
        "metrics": metrics,
        "training": training,
    }
    (out_dir / "pack.json").write_text(json.dumps(pack, indent=2, ensure_ascii=False) + "\n")
    return out_dir
