"""Issue-5 experiment: learned / combined reptile gate + type head vs the plain ImageNet mapping.

Usage: ``python -m training.compare_gate [--manifest ../shared/photos/manifest.csv] [--model M.onnx]
[--seeds 5]``

Six classes: amphibian, not_reptile (other, other_animal, person) and the four reptile types.
Candidates (all on the cached ``logits`` + ``embedding`` of :mod:`training.embed`):

* ``mapping``: the shipped rule (:func:`inference.postprocess.postprocess`, json calibration);
* ``learned``: class-balanced logistic regression on the 1280-d embedding (C = 0.01);
* ``learned+masses``: the same on [embedding, the 7 ImageNet log-masses (4 types, amphibian, other
  animal + dinosaur, object)], the log-masses up-weighted so the L2 penalty barely touches them;
* ``combined``: arithmetic mixture ``(1 - a) * p_mapping + a * p_learned`` of the 6-class
  probabilities (mapping: softmax masses at the json temperature), gate ``sum(types) >= t``,
  type = argmax of the mixed types;
* ``combined gate, mapping type``: the same mixed gate, the type from the mapping.

``a`` and ``t`` are chosen on validation *inside the training part only*: leave-one-source-out over
the training sources (every source takes a turn as validation), grid a in {0, .1, .2, .35, .5, .65,
.8, 1}, t in {.2, .3, .4, .5}, maximising the mean of reptile recall, amphibian rejection,
other-photo rejection and type accuracy (each averaged over the validation sources that have such
photos). ``a = 0`` is the mapping itself, so validation may choose "no learning".

Two held-out protocols, groups = source folder AND dHash near-duplicate group (<= 8 bits):

* grouped split 60/40, several seeds: held-out photos come from the same sources as training;
* leave one source out (each of the 5 source folders): the honest test for photos from elsewhere.

Prints Markdown tables; changes nothing.
"""

from __future__ import annotations

import argparse
import csv
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from inference.classifier import DEFAULT_MODEL, load_model_info
from inference.postprocess import (
    _TYPE_OF_POSITION,
    AMPHIBIAN_INDICES,
    DINOSAUR_INDICES,
    OBJECT_INDICES,
    OTHER_ANIMAL_INDICES,
    REPTILE_INDICES,
    postprocess,
)
from training.dataset import near_duplicate_groups, split_groups
from training.embed import FeatureExtractor
from training.head import fit_head

CLASSES = ["amphibian", "not_reptile", "crocodilian", "lizard", "snake", "turtle"]
MIX_GRID = (0.0, 0.1, 0.2, 0.35, 0.5, 0.65, 0.8, 1.0)
GATE_GRID = (0.2, 0.3, 0.4, 0.5)
SOURCES = ("frogs", "imagenet-samples-a", "imagenet-samples-b", "ph-snakes", "phelsuma-geckos")


def _logsumexp(x: np.ndarray) -> np.ndarray:
    m = x.max(axis=1, keepdims=True)
    return (m + np.log(np.exp(x - m).sum(axis=1, keepdims=True)))[:, 0]


def log_masses(logits: np.ndarray, temperature: float) -> np.ndarray:
    """(N, 7) log softmax-masses: 4 reptile types (REPTILE_TYPES order), amphibian, other animal +
    dinosaur, object."""
    s = np.asarray(logits, np.float64) / temperature
    cols = [_logsumexp(s[:, REPTILE_INDICES[np.equal(_TYPE_OF_POSITION, k)]]) for k in range(4)]
    cols += [_logsumexp(s[:, AMPHIBIAN_INDICES]),
             _logsumexp(s[:, np.r_[DINOSAUR_INDICES, OTHER_ANIMAL_INDICES]]),
             _logsumexp(s[:, OBJECT_INDICES])]
    return np.stack(cols, axis=1) - _logsumexp(s)[:, None]


def mapping_probs(logits: np.ndarray, temperature: float) -> np.ndarray:
    """(N, 6) mapping probabilities in :data:`CLASSES` order."""
    m = np.exp(log_masses(logits, temperature))
    return np.c_[m[:, 4], m[:, 5] + m[:, 6], m[:, :4]]


@dataclass
class Decision:
    """Per-photo decisions of one candidate on a held-out set."""

    said: np.ndarray  # (n,) bool, "reptile"
    typ: np.ndarray  # (n,) str, reptile type (also for photos the gate refused)


def scores(d: Decision, truth: np.ndarray) -> dict[str, float]:
    """recall, type accuracy of said reptile / of all reptiles, amphibian and other false-accepts."""
    rep = np.isin(truth, CLASSES[2:])
    ok = rep & d.said
    nan = float("nan")
    return {
        "n": float(len(truth)),
        "recall": float(d.said[rep].mean()) if rep.any() else nan,
        "type_said": float((d.typ[ok] == truth[ok]).mean()) if ok.any() else nan,
        "type_all": float((d.typ[rep] == truth[rep]).mean()) if rep.any() else nan,
        "amphibian_fa": float(d.said[truth == "amphibian"].mean()) if (truth == "amphibian").any() else nan,
        "other_fa": float(d.said[truth == "not_reptile"].mean()) if (truth == "not_reptile").any() else nan,
    }


def _objective(s: dict[str, float]) -> list[float]:
    return [s["recall"], 1 - s["amphibian_fa"], 1 - s["other_fa"], s["type_all"]]


def mix_decision(pm: np.ndarray, pl: np.ndarray, a: float, t: float, mapping_type: bool) -> Decision:
    p = (1 - a) * pm + a * pl
    rep = p[:, 2:].sum(1)
    types = np.array(CLASSES)[2 + (pm if mapping_type else p)[:, 2:].argmax(1)]
    return Decision((rep >= t) & (rep >= p[:, 0]), types)


class Experiment:
    """Features + labels of every manifest photo, and the candidates' fit/predict."""

    def __init__(self, manifest: Path, model: Path) -> None:
        with manifest.open(newline="", encoding="utf-8") as fh:
            self.rows = list(csv.DictReader(fh))
        f = FeatureExtractor(model).features(
            [(manifest.parent / r["path"]).resolve() for r in self.rows], [[0]] * len(self.rows),
            progress=False)
        self.info = load_model_info(model)
        self.logits, self.emb = f.logits, f.embedding
        self.truth = np.array([r["label_type"] if r["label_type"] in CLASSES else "not_reptile"
                               for r in self.rows])
        self.y = np.array([CLASSES.index(x) for x in self.truth])
        self.source = np.array([r["path"].split("/")[0] for r in self.rows])
        dh = near_duplicate_groups([int(h or 0) for h in f.dhash], 8)
        keys: dict[tuple[str, int], int] = {}
        self.groups = [keys.setdefault((s, g), len(keys)) for s, g in zip(self.source, dh, strict=True)]
        cal = self.info.calibration
        self.pm = mapping_probs(self.logits, cal.temperature)
        self.lm = log_masses(self.logits, cal.temperature)
        base = [postprocess(v, cal) for v in self.logits]
        self.map_said = np.array([b.is_reptile for b in base])
        types = np.array(CLASSES)[2 + self.pm[:, 2:].argmax(1)]
        self.map_type = np.array([b.reptile_type or t for b, t in zip(base, types, strict=True)])

    def fit_learned(self, tr: np.ndarray, masses: bool = False):
        x = self._x(masses)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return fit_head(x[tr], self.y[tr], CLASSES, c=0.01)

    def _x(self, masses: bool) -> np.ndarray:
        if not masses:
            return self.emb
        scale = 10.0 * self.emb.std() / (self.lm.std(0) + 1e-9)
        return np.c_[self.emb, self.lm * scale]

    def inner_folds(self, tr: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """(validation mask, learned probabilities there) for each training source held out."""
        out = []
        for src in sorted(set(self.source[tr])):
            va = tr & (self.source == src)
            out.append((va, self.fit_learned(tr & ~va).predict_proba(self.emb[va])))
        return out

    def choose_mix(
        self, folds: list[tuple[np.ndarray, np.ndarray]], mapping_type: bool
    ) -> tuple[float, float]:
        """(a, t) by leave-one-source-out over the training sources (see module docstring)."""
        totals: dict[tuple[float, float], list[list[float]]] = {}
        for va, pl in folds:
            for a in MIX_GRID:
                for t in GATE_GRID:
                    s = scores(mix_decision(self.pm[va], pl, a, t, mapping_type), self.truth[va])
                    totals.setdefault((a, t), []).append(_objective(s))
        best = max(totals, key=lambda k: (np.nanmean(np.array(totals[k]), axis=0).mean(), -k[0], k[1]))
        return best

    def candidates(self, tr: np.ndarray, te: np.ndarray) -> dict[str, tuple[Decision, str]]:
        out: dict[str, tuple[Decision, str]] = {
            "mapping": (Decision(self.map_said[te], self.map_type[te]), "")}
        pl = self.fit_learned(tr).predict_proba(self.emb[te])
        out["learned"] = (mix_decision(self.pm[te], pl, 1.0, 0.5, False), "")
        pl2 = self.fit_learned(tr, masses=True).predict_proba(self._x(True)[te])
        out["learned+masses"] = (mix_decision(self.pm[te], pl2, 1.0, 0.5, False), "")
        folds = self.inner_folds(tr)
        for name, mt in (("combined", False), ("combined gate, mapping type", True)):
            a, t = self.choose_mix(folds, mt)
            out[name] = (mix_decision(self.pm[te], pl, a, t, mt), f"a={a:g}, t={t:g}")
        return out


KEYS = ("recall", "type_said", "type_all", "amphibian_fa", "other_fa")


def table(results: list[tuple[str, str, list[dict[str, float]], list[str]]]) -> list[str]:
    lines = ["| protocol | model | photos | reptile recall | type acc. (of said reptile) "
             "| type acc. (all reptiles) | amphibians accepted | others accepted | chosen on validation |",
             "|---|---|---:|---:|---:|---:|---:|---:|---|"]
    for proto, model, ss, chosen in results:
        cells = [f"{np.mean([s['n'] for s in ss]):.0f}"]
        for k in KEYS:
            v = [s[k] for s in ss if s[k] == s[k]]
            if not v:
                cells.append("-")
            elif len(v) > 1:
                cells.append(f"{100 * np.mean(v):.1f} % ({100 * min(v):.1f}-{100 * max(v):.1f})")
            else:
                cells.append(f"{100 * v[0]:.1f} %")
        ch = ", ".join(c for c in chosen if c) or "-"
        lines.append(f"| {proto} | {model} | " + " | ".join(cells) + f" | {ch} |")
    return lines


def run(exp: Experiment, seeds: int, log: Callable[[str], None] = print) -> list[str]:
    results: dict[tuple[str, str], tuple[list[dict[str, float]], list[str]]] = {}
    for seed in range(seeds):
        split = np.array(split_groups(list(exp.truth), exp.groups, fractions=(0.6, 0.0, 0.4), seed=seed))
        tr, te = split == "train", split == "test"
        for name, (d, ch) in exp.candidates(tr, te).items():
            r = results.setdefault((f"grouped split 60/40, {seeds} seeds: mean (min-max)", name), ([], []))
            r[0].append(scores(d, exp.truth[te]))
            r[1].append(ch)
        log(f"seed {seed} done")
    for hold in SOURCES:
        te = exp.source == hold
        for name, (d, ch) in exp.candidates(~te, te).items():
            results[(f"leave out {hold}", name)] = ([scores(d, exp.truth[te])], [ch])
        log(f"leave out {hold} done")
    return table([(p, m, ss, sorted(set(ch))) for (p, m), (ss, ch) in results.items()])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = Path(__file__).resolve().parents[2] / "shared" / "photos" / "manifest.csv"
    p.add_argument("--manifest", type=Path, default=default)
    p.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    p.add_argument("--seeds", type=int, default=5)
    args = p.parse_args(argv)
    exp = Experiment(args.manifest, args.model)
    import sys

    lines = run(exp, args.seeds, log=lambda s: print(s, file=sys.stderr))
    print(f"Model `{exp.info.name}`, {len(exp.rows)} photos, {len(set(exp.groups))} source x dHash groups.\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
