"""Classification head on backbone embeddings: fit, calibrate, choose thresholds, measure.

The head is a multinomial logistic regression (scikit-learn, class-balanced) on standardised
embeddings; the standardisation is folded into the weights, so at run time the head is one affine map
``z = x @ W + b`` followed by ``softmax(z / T)``: exactly what :mod:`training.export_pack` appends
to the ONNX graph.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np


def softmax(z: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Row-wise softmax of ``z / temperature`` (float64)."""
    z = np.asarray(z, dtype=np.float64) / float(temperature)
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


@dataclass
class LinearHead:
    """``softmax((x @ W + b) / temperature)`` over ``classes``.

    Attributes:
        weight: (D, C) float32.
        bias: (C,) float32.
        temperature: > 0, fitted on the validation split.
        classes: the C class labels, in output order.
        c: the regularisation strength the head was fitted with (scikit-learn ``C``).
    """

    weight: np.ndarray
    bias: np.ndarray
    temperature: float
    classes: list[str]
    c: float = 1.0

    def logits(self, x: np.ndarray) -> np.ndarray:
        """(N, C) pre-temperature logits, float64."""
        return np.asarray(x, np.float64) @ self.weight.astype(np.float64) + self.bias.astype(np.float64)

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """(N, C) calibrated probabilities."""
        return softmax(self.logits(x), self.temperature)


def _require_sklearn():
    try:
        from sklearn.linear_model import LogisticRegression
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise SystemExit(
            "training needs scikit-learn: pip install -e '.[train]' (the 'train' extra)"
        ) from exc
    return LogisticRegression


def fit_head(
    x: np.ndarray, y: np.ndarray, classes: list[str], c: float = 1.0, max_iter: int = 3000
) -> LinearHead:
    """Class-balanced multinomial logistic regression; standardisation folded into W, b.

    Args:
        x: (N, D) features; y: (N,) int class indices into ``classes``.
    """
    logistic_regression = _require_sklearn()
    mu = x.mean(axis=0)
    sd = x.std(axis=0) + 1e-6
    xs = (x - mu) / sd
    clf = logistic_regression(C=c, class_weight="balanced", max_iter=max_iter)
    clf.fit(xs, y)
    coef = np.zeros((len(classes), x.shape[1]))
    inter = np.zeros(len(classes))
    if len(clf.classes_) == 2 and len(classes) == 2:  # sklearn's binary form: one row for class 1
        coef[1], inter[1] = clf.coef_[0], clf.intercept_[0]
    else:
        coef[clf.classes_] = clf.coef_
        inter[clf.classes_] = clf.intercept_
        missing = sorted(set(range(len(classes))) - set(clf.classes_.tolist()))
        inter[missing] = -1e4  # a class with no training photo is never predicted
    w = (coef / sd).T
    b = inter - (mu / sd) @ coef.T
    return LinearHead(w.astype(np.float32), b.astype(np.float32), 1.0, list(classes), c)


def nll(probs: np.ndarray, y: np.ndarray) -> float:
    """Mean negative log-likelihood of the true classes."""
    return float(-np.mean(np.log(np.clip(probs[np.arange(len(y)), y], 1e-12, 1.0))))


def fit_temperature(logits: np.ndarray, y: np.ndarray) -> float:
    """Temperature in [0.05, 20] minimising validation NLL (log-spaced grid, then a local refinement)."""
    grid = np.exp(np.linspace(np.log(0.05), np.log(20.0), 161))
    losses = [nll(softmax(logits, t), y) for t in grid]
    k = int(np.argmin(losses))
    lo, hi = grid[max(0, k - 1)], grid[min(len(grid) - 1, k + 1)]
    fine = np.linspace(lo, hi, 41)
    return float(fine[int(np.argmin([nll(softmax(logits, t), y) for t in fine]))])


def expected_calibration_error(probs: np.ndarray, y: np.ndarray, bins: int = 15) -> float:
    """ECE of the top-1 confidence, equal-width bins."""
    conf = probs.max(axis=1)
    correct = probs.argmax(axis=1) == y
    edges = np.linspace(0.0, 1.0, bins + 1)
    ece = 0.0
    for lo, hi in itertools.pairwise(edges):
        m = (conf > lo) & (conf <= hi)
        if m.any():
            ece += m.mean() * abs(correct[m].mean() - conf[m].mean())
    return float(ece)


def confident_mask(
    probs: np.ndarray, threshold: float, venomous: np.ndarray | None = None, venom_guard: float = 1.0
) -> np.ndarray:
    """Which predictions are "confident": top probability >= ``threshold`` and, when the top class is
    not venomous, the summed probability of venomous classes <= ``venom_guard``.

    Args:
        venomous: (C,) bool, True for venomous classes (``None`` = no guard).
    """
    top = probs.argmax(axis=1)
    ok = probs.max(axis=1) >= threshold
    if venomous is not None and venomous.any():
        vmass = probs[:, venomous].sum(axis=1)
        ok &= venomous[top] | (vmass <= venom_guard)
    return ok


def coverage_curve(probs: np.ndarray, y: np.ndarray, thresholds: np.ndarray) -> list[dict[str, float]]:
    """Coverage and accuracy of the answers kept at each threshold on the top probability."""
    conf = probs.max(axis=1)
    correct = probs.argmax(axis=1) == y
    out = []
    for t in thresholds:
        m = conf >= t
        out.append({
            "threshold": float(t),
            "coverage": float(m.mean()) if len(m) else 0.0,
            "accuracy": float(correct[m].mean()) if m.any() else 1.0,
        })
    return out


def choose_threshold(probs: np.ndarray, y: np.ndarray, target_accuracy: float = 0.95) -> float:
    """Lowest threshold (grid 0.30..0.99) whose kept answers reach ``target_accuracy`` on validation,
    never below 0.5; 0.99 when none does."""
    grid = np.round(np.arange(0.30, 0.991, 0.01), 2)
    for row in coverage_curve(probs, y, grid):
        if row["accuracy"] >= target_accuracy and row["coverage"] > 0:
            return max(0.5, row["threshold"])
    return 0.99


def venom_misses(probs: np.ndarray, y: np.ndarray, venomous: np.ndarray, confident: np.ndarray) -> int:
    """Venomous photos answered, confidently, with a non-venomous class."""
    top = probs.argmax(axis=1)
    return int(np.sum(venomous[y] & ~venomous[top] & confident))


def choose_venom_guard(probs: np.ndarray, y: np.ndarray, venomous: np.ndarray, threshold: float) -> float:
    """Largest venomous mass (grid 0.50 .. 0.01, then 0) still allowed behind a confident harmless
    answer such that no validation venomous photo is confidently called harmless; at most 0.5 of
    margin is kept: the guard is the chosen value halved (a safety margin for unseen photos)."""
    if not venomous.any():
        return 1.0
    for g in np.round(np.arange(0.50, 0.0, -0.01), 2):
        if venom_misses(probs, y, venomous, confident_mask(probs, threshold, venomous, g)) == 0:
            return float(g) / 2
    return 0.0


def classification_metrics(probs: np.ndarray, y: np.ndarray, classes: list[str]) -> dict:
    """Accuracy, top-3, macro-F1, per-class precision / recall / F1 / support, confusion matrix."""
    n = len(classes)
    pred = probs.argmax(axis=1)
    cm = np.zeros((n, n), dtype=np.int64)
    for t, p in zip(y, pred, strict=True):
        cm[t, p] += 1
    top3 = np.argsort(-probs, axis=1)[:, :3]
    per_class = {}
    f1s = []
    for k, name in enumerate(classes):
        tp = cm[k, k]
        prec = tp / cm[:, k].sum() if cm[:, k].sum() else 0.0
        rec = tp / cm[k].sum() if cm[k].sum() else 0.0
        f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
        if cm[k].sum():
            f1s.append(f1)
        per_class[name] = {"precision": float(prec), "recall": float(rec), "f1": float(f1),
                           "support": int(cm[k].sum())}
    return {
        "n": len(y),
        "accuracy": float((pred == y).mean()) if len(y) else 0.0,
        "top3_accuracy": float(np.mean([y[i] in top3[i] for i in range(len(y))])) if len(y) else 0.0,
        "macro_f1": float(np.mean(f1s)) if f1s else 0.0,
        "nll": nll(probs, y) if len(y) else 0.0,
        "ece": expected_calibration_error(probs, y) if len(y) else 0.0,
        "per_class": per_class,
        "confusion": cm.tolist(),
    }
