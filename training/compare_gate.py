"""Step-4 experiment: a learned reptile gate + type head on backbone embeddings vs the ImageNet mapping.

Usage: ``python -m training.compare_gate [--manifest ../shared/photos/manifest.csv]``

Classes: amphibian, not_reptile (other, other_animal, person) and the four reptile types; reptile
probability = mass on the four types (gate at 0.5). Two held-out protocols:

* near-duplicate-group split (60/40, 3 seeds): held-out photos come from the same sources as training;
* leave one source folder out (ph-snakes, phelsuma-geckos, frogs): the honest test for new photos.

Prints the figures; it changes nothing (the result decides whether to wire the head in).
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np

from inference.postprocess import DEFAULT_CALIBRATION, postprocess
from training.dataset import near_duplicate_groups, split_groups
from training.embed import FeatureExtractor
from training.head import fit_head

CLASSES = ["amphibian", "not_reptile", "crocodilian", "lizard", "snake", "turtle"]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser()
    default = Path(__file__).resolve().parents[2] / "shared" / "photos" / "manifest.csv"
    p.add_argument("--manifest", type=Path, default=default)
    args = p.parse_args(argv)
    with args.manifest.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    f = FeatureExtractor().features([(args.manifest.parent / r["path"]).resolve() for r in rows],
                                    [[0]] * len(rows), progress=False)
    lab = np.array([r["label_type"] if r["label_type"] in CLASSES else "not_reptile" for r in rows])
    y = np.array([CLASSES.index(x) for x in lab])
    base = [postprocess(f.logits[i], DEFAULT_CALIBRATION) for i in range(len(rows))]
    b_said = np.array([r.is_reptile for r in base])
    b_type = np.array([r.reptile_type or "" for r in base])

    def learned(tr: np.ndarray, te: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        prob = fit_head(f.embedding[tr], y[tr], CLASSES, c=0.01).predict_proba(f.embedding[te])
        return prob[:, 2:].sum(1) >= 0.5, np.array(CLASSES)[2 + prob[:, 2:].argmax(1)]

    def scores(said: np.ndarray, typ: np.ndarray, te: np.ndarray) -> dict[str, float]:
        t = lab[te]
        rep = np.isin(t, CLASSES[2:])
        out = {"n": float(te.sum())}
        if rep.any():
            out["reptile_recall"] = float(said[rep].mean())
            out["type_accuracy"] = float((typ[rep] == t[rep]).mean())
        for k in ("amphibian", "not_reptile"):
            if (t == k).any():
                out[f"{k}_accepted"] = float(said[t == k].mean())
        return out

    heads = ("photos", "reptile recall", "type acc.", "amphibians accepted", "others accepted")
    print("| protocol | model | " + " | ".join(heads) + " |")
    print("|---|---|---|---|---|---|---|")

    def row(name: str, model: str, s: dict[str, float]) -> None:
        cells = [f"{s['n']:.0f}"] + [f"{100 * s[k]:.1f} %" if k in s else "-" for k in
                                      ("reptile_recall", "type_accuracy", "amphibian_accepted",
                                       "not_reptile_accepted")]
        print(f"| {name} | {model} | " + " | ".join(cells) + " |")

    groups = near_duplicate_groups([int(h or 0) for h in f.dhash], 8)
    runs: dict[str, list[dict[str, float]]] = {"learned": [], "imagenet": []}
    for seed in (0, 1, 2):
        split = np.array(split_groups(list(lab), groups, fractions=(0.6, 0.0, 0.4), seed=seed))
        tr, te = split == "train", split == "test"
        runs["learned"].append(scores(*learned(tr, te), te))
        runs["imagenet"].append(scores(b_said[te], b_type[te], te))
    for model, ss in runs.items():
        mean = {k: float(np.mean([s[k] for s in ss])) for k in ss[0]}
        row("dHash-group split, 3 seeds (mean)", model, mean)
    folder = np.array([r["path"].split("/")[0] for r in rows])
    for hold in ("ph-snakes", "phelsuma-geckos", "frogs"):
        te = folder == hold
        row(f"leave out {hold}", "learned", scores(*learned(~te, te), te))
        row(f"leave out {hold}", "imagenet", scores(b_said[te], b_type[te], te))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
