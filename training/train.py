"""Train a *species pack*: a calibrated head on the shared backbone, exported as one ONNX graph.

Usage::

    python -m training.train --folder DIR --out packs/NAME
    python -m training.train --manifest MANIFEST.csv --filter ph-snakes/ --out packs/ph-snakes

* ``--folder``: one sub-folder per taxon, named by scientific name (underscores read as spaces).
* ``--manifest``: a CSV like ``../shared/photos/manifest.csv``; ``--filter`` keeps paths starting with
  a prefix; ``--label-column`` (default ``label_taxon``) holds the scientific name.
* ``--finetune`` (optional, needs torch): first fine-tune the backbone's last blocks on the training
  split only (:mod:`training.finetune`), then use the fine-tuned embeddings for everything below; the
  ImageNet logits (reptile gate, type) stay exactly the base model's.

Steps: features of every photo from the shared backbone (cached in ``.cache/embeddings/``); photos
grouped by near-duplicate dHash (and by source with ``--group-by-source``); whole groups split
70/15/15 into train / validation / test; augmented views (``--augment`` per photo) of training photos
only; class-balanced logistic regression (C chosen on validation log-loss); temperature scaling on
validation; the "confident" threshold chosen from validation coverage vs accuracy (lowest threshold
whose kept answers reach ``--target-accuracy``), plus a venom guard (a harmless top answer is only
confident when the venomous classes together stay below a level at which no validation venomous
photo was confidently called harmless, halved for margin). Metrics on the held-out test split; the
run's ``report.json``, ``report.md``, ``confusion.png`` and ``coverage.png`` go to
``runs/<timestamp>-<name>/``; the pack (``model.onnx``, ``labels.json``, ``taxa.json``, ``pack.json``)
to ``--out``.

Taxon rows: the pack also carries a full species-database row for each taxon (``taxa.json``, every
column of ``bot/species_db/schema.sql``), so it may name taxa ``species.sqlite`` lacks. Each row comes
from, in order of preference: the species database (``--species-db``, default ``species.sqlite``;
reviewed facts, copied verbatim); ``--taxa FILE.toml`` (the ``data/species/*.toml`` format, validated
by ``bot.species_db.build``, ``lists`` may say ``"pack"``); else a minimal row with every fact
"unknown" (common name = scientific name, rank from the number of words, family "unknown",
``lists = "pack"``, ``source_url`` saying no facts were recorded), whose reptile type is inferred from
the photos (the type with the largest summed reptile probability of the base model over that taxon's
photos) unless ``--type`` gives it. A warning names every taxon that got a minimal row. Unknown venom
counts as not venomous for the venom guard. See :mod:`training.export_pack`.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from training.dataset import Item, items_from_folder, items_from_manifest, near_duplicate_groups, split_groups

log = logging.getLogger("training.train")

REPO = Path(__file__).resolve().parents[1]
C_GRID = (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m training.train", description=__doc__.split("\n")[0])
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--folder", type=Path, help="one sub-folder per taxon (scientific name)")
    src.add_argument("--manifest", type=Path, help="manifest CSV (path relative to its folder)")
    p.add_argument("--filter", default=None, help="manifest: keep paths starting with this prefix")
    p.add_argument("--label-column", default="label_taxon", help="manifest: label column")
    p.add_argument("--out", type=Path, required=True, help="pack folder to write, e.g. packs/NAME")
    p.add_argument("--name", default=None, help="pack / run name (default: the --out folder name)")
    p.add_argument("--species-db", type=Path, default=REPO / "species.sqlite")
    p.add_argument("--taxa", type=Path, default=None, metavar="FILE.toml",
                   help="rows (data/species/*.toml format) for taxa the species database lacks")
    p.add_argument("--type", dest="reptile_type", default=None,
                   choices=("crocodilian", "lizard", "snake", "turtle"),
                   help="reptile type of taxa with no row (default: inferred from the photos)")
    p.add_argument("--model", type=Path, default=None, help="backbone ONNX (default: the committed Lite0)")
    p.add_argument("--augment", type=int, default=4, help="augmented views per training photo")
    p.add_argument("--min-photos", type=int, default=2,
                   help="leave out taxa with fewer labelled photos than this (they cannot be split)")
    p.add_argument("--target-accuracy", type=float, default=0.95,
                   help="accuracy the confident answers must reach on validation")
    p.add_argument("--dhash-distance", type=int, default=8, help="max Hamming distance of near-duplicates")
    p.add_argument("--group-by-source", action="store_true", help="also keep each source on one side")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--runs-dir", type=Path, default=REPO / "runs")
    p.add_argument("--cache-dir", type=Path, default=REPO / ".cache" / "embeddings")
    p.add_argument("--no-cache", action="store_true")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--finetune", action="store_true",
                   help="first fine-tune the backbone's last blocks on the training split (needs torch)")
    p.add_argument("--finetune-blocks", type=int, default=4, help="--finetune: last MBConv blocks trained")
    p.add_argument("--finetune-epochs", type=int, default=6, help="--finetune: training epochs")
    return p


def _merge_by_source(groups: list[int], items: list[Item]) -> list[int]:
    """Join groups sharing a non-empty source (union-find over group ids)."""
    parent = {g: g for g in groups}

    def find(g: int) -> int:
        while parent[g] != g:
            g = parent[g]
        return g

    first: dict[str, int] = {}
    for g, it in zip(groups, items, strict=True):
        if not it.source:
            continue
        if it.source in first:
            a, b = find(first[it.source]), find(g)
            if a != b:
                parent[b] = a
        else:
            first[it.source] = g
    return [find(g) for g in groups]


def train(args: argparse.Namespace) -> dict[str, Any]:
    """Run the pipeline; returns the report dict (also written to the run folder)."""
    from training.embed import FeatureExtractor
    from training.head import (
        choose_threshold,
        choose_venom_guard,
        classification_metrics,
        confident_mask,
        coverage_curve,
        fit_head,
        fit_temperature,
        nll,
        softmax,
        venom_misses,
    )
    from training.report import write_run

    t_start = time.perf_counter()
    name = args.name or args.out.name
    if args.folder:
        items = items_from_folder(args.folder)
        source_desc = str(args.folder)
    else:
        items = items_from_manifest(args.manifest, prefix=args.filter, label_column=args.label_column)
        source_desc = f"{args.manifest} filter={args.filter!r} label={args.label_column}"
    if not items:
        raise SystemExit("no labelled photos found")
    counts = Counter(it.label for it in items)
    few = sorted(k for k, n in counts.items() if n < args.min_photos)
    if few:
        log.warning("left out (fewer than %d photos): %s", args.min_photos,
                    ", ".join(f"{k} ({counts[k]})" for k in few))
        items = [it for it in items if counts[it.label] >= args.min_photos]
    classes = sorted({it.label for it in items})
    if len(classes) < 2:
        raise SystemExit(f"need at least 2 taxa, found {classes}")
    from training.export_pack import complete_taxa, db_source_sha, label_of, resolve_taxa

    known = resolve_taxa(classes, args.species_db, args.taxa, check_names=True)  # fails early when bad
    log.info("%d photos, %d taxa", len(items), len(classes))

    fx = FeatureExtractor(args.model, None if args.no_cache else args.cache_dir, threads=args.threads)
    base = fx.features([it.path for it in items], [[0]] * len(items))
    ok = [i for i in range(len(items)) if i not in set(base.failed)]
    items = [items[i] for i in ok]
    hashes = [base.dhash[i] for i in ok]
    emb0 = base.embedding  # rows only for decoded photos, in order
    groups = near_duplicate_groups([int(h) for h in hashes], args.dhash_distance)
    if args.group_by_source:
        groups = _merge_by_source(groups, items)
    labels = [it.label for it in items]
    taxon_rows, provenance = complete_taxa(
        classes, known, logits=base.logits, labels=labels, temperature=fx.clf.info.calibration.temperature,
        type_override=args.reptile_type, pack_name=name)
    taxa = [label_of(r) for r in taxon_rows]
    split = np.array(split_groups(labels, groups, seed=args.seed))
    y = np.array([classes.index(lab) for lab in labels])
    n_groups = len(set(groups))
    log.info("%d near-duplicate groups; split %s", n_groups,
             {s: int((split == s).sum()) for s in ("train", "val", "test")})

    tr = np.nonzero(split == "train")[0]
    va = np.nonzero(split == "val")[0]
    te = np.nonzero(split == "test")[0]
    gate_meta_path = fx.clf.model_path.with_suffix(".json")  # the base whose ImageNet logits gate photos
    finetune_info = None
    if args.finetune:  # on the training split only, then every feature comes from the fine-tuned graph
        from training.finetune import finetune_for_training

        ft = finetune_for_training(args, fx.clf.model_path, [items[i].path for i in tr], y[tr], classes, name)
        fx = FeatureExtractor(ft.model_path, None if args.no_cache else args.cache_dir, threads=args.threads)
        finetune_info = {**ft.info, "model_file": str(ft.model_path), "reused": ft.reused}
        refit = fx.features([it.path for it in items], [[0]] * len(items))
        if refit.failed:
            raise ValueError(f"{len(refit.failed)} photos failed with the fine-tuned backbone")
        emb0 = refit.embedding
    x_parts, y_parts = [emb0[tr]], [y[tr]]
    if args.augment > 0 and len(tr):
        aug = fx.features([items[i].path for i in tr], [list(range(1, args.augment + 1))] * len(tr),
                          progress=False)
        x_parts.append(aug.embedding)
        y_parts.append(y[tr][aug.item])
    x_train, y_train = np.concatenate(x_parts), np.concatenate(y_parts)

    # C chosen on validation log-loss (with T=1); then temperature, threshold, venom guard on validation.
    fits = []
    for c in C_GRID if len(va) else (0.1,):
        head = fit_head(x_train, y_train, classes, c=c)
        score = nll(head.predict_proba(emb0[va]), y[va]) if len(va) else 0.0
        fits.append((score, c, head))
        log.info("C=%g validation NLL %.4f", c, score)
    _, best_c, head = min(fits, key=lambda f: f[0])
    if len(va):
        head.temperature = fit_temperature(head.logits(emb0[va]), y[va])
    venomous = np.array([t["venom"] == "venomous" for t in taxa])
    p_val = head.predict_proba(emb0[va]) if len(va) else np.zeros((0, len(classes)))
    threshold = choose_threshold(p_val, y[va], args.target_accuracy) if len(va) else 0.5
    guard = choose_venom_guard(p_val, y[va], venomous, threshold) if len(va) else 0.0
    held = np.concatenate([va, te])
    open_set = leave_one_species_out(head, x_train, y_train, emb0, y, held, classes, best_c)
    thresholds = {"confident": threshold, "venom_guard": guard, "target_accuracy": args.target_accuracy,
                  "unknown": open_set["unknown"]}

    def evaluate(idx: np.ndarray) -> dict[str, Any]:
        probs = head.predict_proba(emb0[idx]) if len(idx) else np.zeros((0, len(classes)))
        m = classification_metrics(probs, y[idx], classes)
        conf = confident_mask(probs, threshold, venomous, guard)
        correct = probs.argmax(axis=1) == y[idx]
        m["confident_coverage"] = float(conf.mean()) if len(idx) else 0.0
        m["confident_accuracy"] = float(correct[conf].mean()) if conf.any() else 1.0
        m["venomous_called_harmless_confident"] = venom_misses(probs, y[idx], venomous, conf)
        m["venomous_called_harmless_any"] = venom_misses(probs, y[idx], venomous, np.ones(len(idx), bool))
        m["venomous_photos"] = int(venomous[y[idx]].sum())
        m["coverage_curve"] = coverage_curve(probs, y[idx], np.round(np.arange(0.3, 1.0, 0.05), 2))
        return m

    metrics = {"val": evaluate(va), "test": evaluate(te), "open_set": open_set}
    if len(va):
        metrics["val"]["nll_uncalibrated"] = nll(softmax(head.logits(emb0[va])), y[va])

    training_info = {
        "source": source_desc,
        "photos": len(items),
        "failed_photos": len(base.failed),
        "groups": n_groups,
        "split": {s: int((split == s).sum()) for s in ("train", "val", "test")},
        "augmented_views_per_train_photo": args.augment,
        "train_rows": len(y_train),
        "C": best_c,
        "c_grid_val_nll": {str(c): s for s, c, _ in fits},
        "dhash_distance": args.dhash_distance,
        "group_by_source": args.group_by_source,
        "seed": args.seed,
        "backbone_sha256": fx.model_sha,
        **({"finetune": finetune_info} if finetune_info else {}),
    }

    from training.export_pack import write_pack

    base_meta = json.loads(gate_meta_path.read_text())  # pack.json base_model: the gate's (original) base
    summary = {k: metrics["test"][k] for k in ("n", "accuracy", "top3_accuracy", "macro_f1", "ece",
                                                 "confident_coverage", "confident_accuracy",
                                                 "venomous_called_harmless_confident")}
    head_only = not args.finetune  # a fine-tuned backbone must ship as its own graph
    write_pack(args.out, base_model=fx.clf.model_path, base_meta=base_meta, head=head, taxa=taxa,
               thresholds=thresholds, metrics={"test": summary, "open_set": open_set}, name=name,
               training=training_info, taxon_rows=taxon_rows, provenance=provenance,
               species_db_sha=db_source_sha(args.species_db), head_only=head_only)

    # Parity: the exported graph vs the in-memory head on the graph's own embeddings.
    parity = 0.0 if head_only else export_parity(args.out, head,
                                                 [items[i].path for i in (te if len(te) else tr)[:8]])
    report = {
        "name": name,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "pack": str(args.out),
        "classes": classes,
        "taxa": taxa,
        "taxon_rows": provenance,
        "temperature": head.temperature,
        "thresholds": thresholds,
        "metrics": metrics,
        "training": training_info,
        "export_parity_max_abs_diff": parity,
        "elapsed_s": round(time.perf_counter() - t_start, 1),
    }
    run_dir = write_run(args.runs_dir, name, report)
    report["run_dir"] = str(run_dir)
    return report


def leave_one_species_out(
    head: Any, x_train: np.ndarray, y_train: np.ndarray, emb: np.ndarray, y: np.ndarray,
    held: np.ndarray, classes: list[str], c: float,
) -> dict[str, Any]:
    """Calibrate the open-set ("a species this pack does not know") threshold.

    For each species, a head is fitted without its training photos and scores that species' held-out
    (validation + test) photos: their top probabilities are what an unknown species looks like. The
    ``unknown`` threshold is the 95th percentile of those, so at most about 5 % of photos of an unseen
    species are asserted as a pack species; the known-species held-out photos above it are reported.

    Returns:
        ``{"unknown", "unseen_photos", "unseen_above", "known_above", "known_accuracy_above"}``.
    """
    from training.head import fit_head

    unseen: list[float] = []
    for k in range(len(classes)):
        keep = y_train != k
        idx = held[y[held] == k]
        if not len(idx) or keep.all() or len(set(y_train[keep].tolist())) < 2:
            continue  # a 2-taxon pack leaves one class: no head to fit, no open-set figure
        h = fit_head(x_train[keep], y_train[keep], classes, c=c)
        h.temperature = head.temperature
        unseen += h.predict_proba(emb[idx]).max(axis=1).tolist()
    if not unseen:
        return {"unknown": 0.0, "unseen_photos": 0}
    t = float(np.quantile(unseen, 0.95))
    known = head.predict_proba(emb[held])
    above = known.max(axis=1) >= t
    correct = known.argmax(axis=1) == y[held]
    return {
        "unknown": t, "unseen_photos": len(unseen),
        "unseen_above": float(np.mean(np.array(unseen) >= t)),
        "known_above": float(above.mean()) if len(held) else 0.0,
        "known_accuracy_above": float(correct[above].mean()) if above.any() else 1.0,
    }


def export_parity(pack_dir: Path, head: Any, paths: list[Path]) -> float:
    """Max |probs(graph) - head(embedding(graph))| over ``paths`` (0.0 when none)."""
    if not paths:
        return 0.0
    import onnxruntime as ort

    from inference.preprocess import decode_image, to_model_input

    meta = json.loads((Path(pack_dir) / "pack.json").read_text())
    sess = ort.InferenceSession(str(Path(pack_dir) / meta["model_file"]), providers=["CPUExecutionProvider"])
    xs = []
    for p in paths:
        img = decode_image(Path(p).read_bytes(), max_bytes=60_000_000, max_pixels=80_000_000,
                           draft_size=meta["resize_size"])
        xs.append(to_model_input(img, meta["input_size"], meta["resize_size"]))
    probs, emb = sess.run(["probs", "embedding"], {meta["input_name"]: np.concatenate(xs)})
    return float(np.abs(probs - head.predict_proba(emb)).max())


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = _parser().parse_args(argv)
    if args.finetune:  # fail before any feature extraction, with one line and no traceback
        from training.finetune import FinetuneUnavailable, require_torch

        try:
            require_torch()
        except FinetuneUnavailable as exc:
            print(f"training.train: {exc}", file=sys.stderr)
            return 2
    try:
        report = train(args)
    except (FileNotFoundError, ValueError) as exc:
        print(f"training.train: {exc}", file=sys.stderr)
        return 2
    t = report["metrics"]["test"]
    print(f"pack written to {report['pack']}; report in {report['run_dir']}")
    minimal = [p["scientific_name"] for p in report["taxon_rows"] if p["source"] == "minimal"]
    if minimal:
        print(f"no facts for {len(minimal)} taxa (minimal rows, every fact 'unknown'): {', '.join(minimal)}; "
              "add their rows to a TOML file (data/species/FORMAT.md) and retrain with --taxa FILE.toml")

    print(f"test: n={t['n']} top-1 {t['accuracy']:.3f} top-3 {t['top3_accuracy']:.3f} "
          f"macro-F1 {t['macro_f1']:.3f} ECE {t['ece']:.3f}; confident {t['confident_coverage']:.1%} "
          f"at {t['confident_accuracy']:.1%} accuracy; venomous called harmless (confident) "
          f"{t['venomous_called_harmless_confident']} / {t['venomous_photos']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
