"""Train the learned reptile model and compare it with the ImageNet mapping, leave one collection out.

    python -m training.reptile_model                 # LOCO table, reliability table, ship decision

For every collection of ``../shared/photos`` (``source_repo``, copies merged), a head is trained on
all the *other* collections (weighted so that each class, and each collection within a class, counts
the same: :func:`training.reptile_features.collection_weights`) and scored on the held-out one. Every
photo is therefore scored by a model that never saw its collection; the "pooled" row puts those
held-out predictions together.

Decisions compared, all on the same photos:

* ``mapping``: today's ImageNet-class mapping (:func:`inference.postprocess.postprocess`);
* ``learned (emb)``: a 6-way logistic regression on the 1280-d embedding + the 8 ImageNet group
  log-masses (reptile when P(reptile) >= threshold and >= P(amphibian); type = the most likely
  reptile class);
* ``learned (masses)``: the same on the 8 group log-masses alone (generalises better across
  collections: fewer weights to learn a collection's look);
* ``combined``: ``learned (masses)``'s type and gate, **and** the mapping's veto for photos the
  ImageNet classes put firmly outside reptiles and amphibians (other-animal + object mass >= ``veto``):
  the learned head has few "other" photos to learn from, the 1000 ImageNet classes have many.

The shipping rule (issue 10): the candidate ships only if it beats the mapping on the pooled figures
and loses on no collection by more than 2 points.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from inference.postprocess import DEFAULT_CALIBRATION, masses
from inference.types import REPTILE_TYPES
from training.dataset import read_manifest
from training.reptile_features import CLASSES, class_of, collection_of, collection_weights, features

log = logging.getLogger(__name__)
PHOTOS = Path(__file__).resolve().parents[2] / "shared" / "photos"
REPTILE = [CLASSES.index(t) for t in REPTILE_TYPES]
AMPH = CLASSES.index("amphibian")


@dataclass
class Data:
    """Cached features of every manifest photo that decoded."""

    logits: np.ndarray  # (N, 1000)
    embedding: np.ndarray  # (N, 1280)
    y: np.ndarray  # (N,) index into CLASSES
    collection: list[str]
    rows: list[dict[str, str]]


def load_data(photos: Path = PHOTOS, views: Sequence[int] = (0,)) -> Data:
    """Backbone features (from the cache of :mod:`training.embed`, computed when missing)."""
    from training.embed import FeatureExtractor

    rows = read_manifest(photos)
    fx = FeatureExtractor(threads=2, batch_size=32)
    f = fx.features([photos / r["path"] for r in rows], [list(views)] * len(rows))
    keep = f.item
    sel = [rows[i] for i in keep]
    return Data(f.logits, f.embedding, np.array([class_of(r["label_type"]) for r in sel]),
                [collection_of(r) for r in sel], sel)


def fit(x: np.ndarray, y: np.ndarray, w: np.ndarray, c: float) -> tuple[np.ndarray, np.ndarray]:
    """Weighted multinomial logistic regression on standardised ``x``; returns folded (W (D, 6), b (6,))."""
    from sklearn.linear_model import LogisticRegression

    mu, sd = x.mean(axis=0), x.std(axis=0) + 1e-6
    clf = LogisticRegression(C=c, max_iter=400, tol=1e-3)
    clf.fit((x - mu) / sd, y, sample_weight=w)
    coef = np.zeros((len(CLASSES), x.shape[1]))
    inter = np.full(len(CLASSES), -1e4)
    coef[clf.classes_], inter[clf.classes_] = clf.coef_, clf.intercept_
    return (coef / sd).T, inter - (mu / sd) @ coef.T


def softmax(z: np.ndarray, t: float = 1.0) -> np.ndarray:
    z = z / t - (z / t).max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def fit_temperature(z: np.ndarray, y: np.ndarray, w: np.ndarray) -> float:
    """Weighted-NLL temperature on a grid in [0.3, 5]."""
    grid = np.exp(np.linspace(np.log(0.3), np.log(5.0), 60))
    loss = [-(w * np.log(np.clip(softmax(z, t)[np.arange(len(y)), y], 1e-12, 1))).sum() for t in grid]
    return float(grid[int(np.argmin(loss))])


@dataclass
class Decisions:
    """Per photo: said reptile, the type index into REPTILE_TYPES (or -1), and the type confidence."""

    said: np.ndarray
    rtype: np.ndarray
    conf: np.ndarray


def mapping_decisions(logits: np.ndarray) -> Decisions:
    """Today's rule (:func:`inference.postprocess.postprocess`) on every photo."""
    cal = DEFAULT_CALIBRATION
    said, rtype, conf = [], [], []
    for lg in logits:
        m = masses(lg, cal.temperature)
        ok = m.reptile >= cal.reptile_threshold and m.reptile >= m.amphibian
        said.append(ok)
        k = int(np.argmax(m.per_type))
        rtype.append(k if ok else -1)
        conf.append(m.per_type[k] / m.reptile if m.reptile > 0 else 0.0)
    return Decisions(np.array(said), np.array(rtype), np.array(conf))


def mapping_veto_mass(logits: np.ndarray) -> np.ndarray:
    """(N,) ImageNet other-animal + object mass at the base temperature."""
    return np.array([(lambda m: m.other_animal + m.obj)(masses(lg, DEFAULT_CALIBRATION.temperature))
                     for lg in logits])


def learned_decisions(p: np.ndarray, threshold: float, veto_mass: np.ndarray | None = None,
                      veto: float = 1.1) -> Decisions:
    """Decisions of the learned head from (N, 6) probabilities, with the optional mapping veto."""
    prep = p[:, REPTILE].sum(axis=1)
    said = (prep >= threshold) & (prep >= p[:, AMPH])
    if veto_mass is not None:
        said &= veto_mass < veto
    k = p[:, REPTILE].argmax(axis=1)
    conf = p[:, REPTILE].max(axis=1) / np.clip(prep, 1e-12, None)
    return Decisions(said, np.where(said, k, -1), conf)


def scores(d: Decisions, y: np.ndarray, mask: np.ndarray | None = None) -> dict[str, float]:
    """Recall, type accuracy (overall and per type, of all reptile photos), amphibian / other accepted."""
    mask = np.ones(len(y), bool) if mask is None else mask
    out: dict[str, float] = {}
    rep = mask & np.isin(y, REPTILE)
    out["n_reptile"] = float(rep.sum())
    out["recall"] = float(d.said[rep].mean()) if rep.any() else float("nan")
    truth_type = np.array([REPTILE.index(v) if v in REPTILE else -1 for v in y])
    out["type"] = float((d.rtype[rep] == truth_type[rep]).mean()) if rep.any() else float("nan")
    for k, t in enumerate(REPTILE_TYPES):
        sel = rep & (truth_type == k)
        out[f"n_{t}"] = float(sel.sum())
        out[t] = float((d.rtype[sel] == k).mean()) if sel.any() else float("nan")
    for name, cls in (("amphibian_fa", AMPH), ("other_fa", 0)):
        sel = mask & (y == cls)
        out[f"n_{name}"] = float(sel.sum())
        out[name] = float(d.said[sel].mean()) if sel.any() else float("nan")
    return out


def loco_logits(data: Data, x: np.ndarray, c: float) -> np.ndarray:
    """Held-out (N, 6) logits of features ``x`` (N, D): each collection scored by a head trained
    without it (one temperature for all folds is fitted afterwards on the pooled held-out logits)."""
    z = np.zeros((len(x), len(CLASSES)))
    cols = sorted(set(data.collection))
    coll = np.array(data.collection)
    for name in cols:
        test = coll == name
        train = ~test
        t0 = time.perf_counter()
        w = collection_weights(data.y[train], list(coll[train]))
        wt, b = fit(x[train], data.y[train], w, c)
        z[test] = x[test] @ wt + b
        log.info("fold %-45s %5d photos, %.0f s", name, int(test.sum()), time.perf_counter() - t0)
    return z


def table(rows: list[tuple[str, str, dict[str, float]]]) -> list[str]:
    """Markdown table of per-collection scores."""
    def f(v: float) -> str:
        return "–" if np.isnan(v) else f"{100 * v:.1f}"

    out = ["| held-out collection | decision | reptiles | recall | type | croc | lizard | snake | turtle "
           "| amphibians accepted | others accepted |",
           "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, dec, s in rows:
        amph = f"{f(s['amphibian_fa'])} (n={s['n_amphibian_fa']:.0f})" if s["n_amphibian_fa"] else "–"
        oth = f"{f(s['other_fa'])} (n={s['n_other_fa']:.0f})" if s["n_other_fa"] else "–"
        out.append(f"| {name} | {dec} | {s['n_reptile']:.0f} | {f(s['recall'])} | {f(s['type'])} | "
                   f"{f(s['crocodilian'])} | {f(s['lizard'])} | {f(s['snake'])} | {f(s['turtle'])} | "
                   f"{amph} | {oth} |")
    return out


def reliability(d: Decisions, y: np.ndarray, coll: np.ndarray) -> list[str]:
    """Markdown table: per held-out collection, type accuracy of said-reptile photos per
    type-confidence bin."""
    edges = (0.0, 0.5, 0.7, 0.85, 0.95, 1.01)
    truth = np.array([REPTILE.index(v) if v in REPTILE else -1 for v in y])
    head = " | ".join(f"{lo:.2f}-{min(hi, 1.0):.2f}" for lo, hi in itertools.pairwise(edges))
    out = [f"| held-out collection | {head} |", "|---|" + "---:|" * (len(edges) - 1)]
    for name in [*sorted(set(coll.tolist())), "**pooled**"]:
        m = (coll == name) if name != "**pooled**" else np.ones(len(y), bool)
        m &= d.said & (truth >= 0)
        cells = []
        for lo, hi in itertools.pairwise(edges):
            b = m & (d.conf >= lo) & (d.conf < hi)
            cells.append(f"{100 * (d.rtype[b] == truth[b]).mean():.0f} % (n={b.sum()})" if b.any() else "–")
        if m.any():
            out.append(f"| {name} | " + " | ".join(cells) + " |")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--photos", type=Path, default=PHOTOS)
    ap.add_argument("--c", type=float, default=0.01, help="inverse L2 strength of the logistic regression")
    ap.add_argument("--threshold", type=float, default=0.5, help="P(reptile) gate of the learned head")
    ap.add_argument("--veto", type=float, default=0.7, help="mapping other-animal+object mass that vetoes")
    ap.add_argument("--json", type=Path, help="also write the pooled figures here")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if not (args.photos / "manifest.csv").exists():
        print(f"{args.photos}/manifest.csv not found: the photos live in ../shared/photos")
        return 2
    data = load_data(args.photos)
    w_all = collection_weights(data.y, data.collection)
    probs = {}
    for name, x in (("emb", features(data.logits, data.embedding)), ("masses", features(data.logits))):
        z = loco_logits(data, x, args.c)
        probs[name] = softmax(z, fit_temperature(z, data.y, w_all))
    veto_mass = mapping_veto_mass(data.logits)
    decisions = {
        "mapping": mapping_decisions(data.logits),
        "learned (emb)": learned_decisions(probs["emb"], args.threshold),
        "learned (masses)": learned_decisions(probs["masses"], args.threshold),
        "combined": learned_decisions(probs["masses"], args.threshold, veto_mass, args.veto),
    }
    coll = np.array(data.collection)
    rows: list[tuple[str, str, dict[str, float]]] = []
    for name in sorted(set(data.collection)):
        for dec, d in decisions.items():
            rows.append((name, dec, scores(d, data.y, coll == name)))
    pooled = {dec: scores(d, data.y) for dec, d in decisions.items()}
    for dec, s in pooled.items():
        rows.append(("**pooled**", dec, s))
    print(f"C {args.c}, gate {args.threshold}, veto {args.veto}; every photo scored by a head trained "
          "without its collection")
    print("\n".join(table(rows)))
    print("\nShipping rule: beat the mapping on every pooled figure and lose on no collection by > 2 points.")
    keys = ("recall", "type", "amphibian_fa", "other_fa")
    for dec in decisions:
        if dec == "mapping":
            continue
        better = [k for k in keys if (pooled[dec][k] > pooled["mapping"][k]) == (k in ("recall", "type"))]
        worse_coll = [n for n in sorted(set(data.collection))
                      if scores(decisions[dec], data.y, coll == n)["type"]
                      < scores(decisions["mapping"], data.y, coll == n)["type"] - 0.02]
        verdict = "ships" if len(better) == len(keys) and not worse_coll else "does not ship"
        print(f"- {dec}: better on {better or 'nothing'}; type > 2 points worse on "
              f"{worse_coll or 'no collection'}: {verdict}")
    print("\nReliability of the shipped mapping's type confidence "
          "(type accuracy of photos it called a reptile):")
    print("\n".join(reliability(decisions["mapping"], data.y, coll)))
    if args.json:
        args.json.write_text(json.dumps({"pooled": pooled}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
