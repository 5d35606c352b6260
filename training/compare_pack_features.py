"""Would richer features from the same backbone run lift a species pack? (issue 10, exploratory)

``python -m training.compare_pack_features [--manifest M] [--filter ph-snakes/]`` adds global-pooled
outputs of EfficientNet-Lite0's blocks 10 (112 channels, 14x14), 14 (192, 7x7) and 15 (320, 7x7), and a
max-pooled head activation (1280), as extra outputs of the shipped ONNX graph (onnx, in memory; the
backbone still runs once per photo), then fits the pack's head (:func:`training.head.fit_head`, C chosen
on validation log-loss) on each combination and prints its top-1 / top-3 on the test split. The split is
the one ``python -m training.train`` uses (near-duplicate groups, seed 0, dHash distance 8). No
augmentation, so the ``emb`` row is a little below the shipped pack's figure. Nothing is written.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from inference.preprocess import decode_image, to_model_input
from training.dataset import dhash, items_from_manifest, near_duplicate_groups, split_groups
from training.head import fit_head, nll
from training.train import C_GRID

MODEL = Path(__file__).resolve().parents[1] / "inference" / "models" / "efficientnet_lite0.onnx"
#: Tensors of the Lite0 graph tapped for pooled features: (name, tensor, pooling).
TAPS = (
    ("b10", "/_blocks.10/Add_output_0", "GlobalAveragePool"),
    ("b14", "/_blocks.14/Add_output_0", "GlobalAveragePool"),
    ("b15", "/_blocks.15/_project_conv/Conv_output_0", "GlobalAveragePool"),
    ("hmax", "/_swish_1/Clip_output_0", "GlobalMaxPool"),
)
COMBOS = {
    "emb (shipped features)": ("embedding",),
    "emb + max-pooled head": ("embedding", "hmax"),
    "emb + b14 + b15": ("embedding", "b14", "b15"),
    "emb + b10 + b14 + b15": ("embedding", "b10", "b14", "b15"),
    "all taps": ("embedding", "b10", "b14", "b15", "hmax"),
    "all taps + ImageNet log-probabilities": ("embedding", "b10", "b14", "b15", "hmax", "logp"),
}


def tapped_session(model: Path):
    """An onnxruntime session of ``model`` with the :data:`TAPS` as extra (N, C) float32 outputs."""
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper

    m = onnx.load(str(model))
    for name, tensor, pool in TAPS:
        m.graph.node.append(helper.make_node(pool, [tensor], [f"{name}_pooled"]))
        m.graph.node.append(helper.make_node("Flatten", [f"{name}_pooled"], [name], axis=1))
        m.graph.output.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, None))
    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    return ort.InferenceSession(m.SerializeToString(), options, providers=["CPUExecutionProvider"])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.compare_pack_features", description=__doc__)
    p.add_argument("--manifest", type=Path, default=Path("../shared/photos/manifest.csv"))
    p.add_argument("--filter", default="ph-snakes/")
    args = p.parse_args(argv)
    from training.embed import FeatureExtractor

    info = FeatureExtractor(MODEL, None).clf.info
    sess = tapped_session(MODEL)
    names = [o.name for o in sess.get_outputs()]
    items = items_from_manifest(args.manifest, prefix=args.filter)
    feats: dict[str, list[np.ndarray]] = {k: [] for k in names}
    labels, hashes = [], []
    for it in items:
        try:
            img = decode_image(Path(it.path).read_bytes(), max_bytes=50_000_000, max_pixels=100_000_000,
                               min_side=16, draft_size=info.resize_size)
        except Exception:
            continue
        labels.append(it.label)
        hashes.append(dhash(img))
        x = to_model_input(img, info.input_size, info.resize_size)
        out = sess.run(None, {sess.get_inputs()[0].name: x})
        for k, r in zip(names, out, strict=True):
            feats[k].append(r[0])
    mats = {k: np.stack(v).astype(np.float64) for k, v in feats.items()}
    lg = mats["logits"] - mats["logits"].max(axis=1, keepdims=True)
    mats["logp"] = lg - np.log(np.exp(lg).sum(axis=1, keepdims=True))
    classes = sorted(set(labels))
    y = np.array([classes.index(label) for label in labels])
    split = np.array(split_groups(labels, near_duplicate_groups(hashes, 8), seed=0))
    tr, va, te = (np.nonzero(split == s)[0] for s in ("train", "val", "test"))
    print(f"{len(labels)} photos, {len(classes)} taxa; train {len(tr)}, val {len(va)}, test {len(te)}\n")
    print("| features | dimensions | C | test top-1 | test top-3 |\n|---|---:|---:|---:|---:|")
    for title, parts in COMBOS.items():
        x = np.concatenate([mats[k] for k in parts], axis=1)
        fits = [(nll(h.predict_proba(x[va]), y[va]), c, h)
                for c in C_GRID for h in [fit_head(x[tr], y[tr], classes, c=c)]]
        _, c, head = min(fits, key=lambda f: f[0])
        probs = head.predict_proba(x[te])
        top1 = float((probs.argmax(axis=1) == y[te]).mean())
        top3 = float(np.mean([y[te][i] in np.argsort(-probs[i])[:3] for i in range(len(te))]))
        print(f"| {title} | {x.shape[1]} | {c:g} | {100 * top1:.1f} % | {100 * top3:.1f} % |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
