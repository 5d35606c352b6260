"""Run reports of :mod:`training.train`: ``report.json``, ``report.md`` and two PNG plots."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any


def _pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def markdown(report: dict[str, Any]) -> str:
    """The human-readable report."""
    t = report["metrics"]["test"]
    v = report["metrics"]["val"]
    tr = report["training"]
    th = report["thresholds"]
    lines = [
        f"# Species pack `{report['name']}`",
        "",
        f"Created {report['created']}; pack in `{report['pack']}`; data: {tr['source']}.",
        "",
        f"{tr['photos']} photos ({tr['failed_photos']} unreadable skipped) in {tr['groups']} near-duplicate "
        f"groups (dHash distance <= {tr['dhash_distance']}, by source: {tr['group_by_source']}); "
        f"split by group: {tr['split']}; {tr['augmented_views_per_train_photo']} augmented views per "
        f"training photo ({tr['train_rows']} training rows); C = {tr['C']}; "
        f"temperature = {report['temperature']:.3f}.",
        "",
        "## Held-out test split",
        "",
        "| metric | validation | test |",
        "|---|---|---|",
    ]
    for key, label in (("n", "photos"), ("accuracy", "top-1 accuracy"), ("top3_accuracy", "top-3 accuracy"),
                       ("macro_f1", "macro-F1"), ("ece", "expected calibration error"),
                       ("nll", "log-loss"), ("confident_coverage", "answered 'pretty sure'"),
                       ("confident_accuracy", "accuracy when 'pretty sure'")):
        fmt = (lambda x: str(x)) if key == "n" else (
            (lambda x: f"{x:.3f}") if key in ("ece", "nll") else _pct)
        lines.append(f"| {label} | {fmt(v[key])} | {fmt(t[key])} |")
    lines.append(
        f"| venomous photos called harmless, 'pretty sure' | {v['venomous_called_harmless_confident']} / "
        f"{v['venomous_photos']} | {t['venomous_called_harmless_confident']} / {t['venomous_photos']} |")
    lines.append(
        f"| venomous photos called harmless, any answer | {v['venomous_called_harmless_any']} / "
        f"{v['venomous_photos']} | {t['venomous_called_harmless_any']} / {t['venomous_photos']} |")
    lines += [
        "",
        f"Confident threshold {th['confident']:.2f} (lowest whose validation answers reach "
        f"{_pct(th['target_accuracy'])}); venom guard {th['venom_guard']:.3f} (a harmless top answer is "
        "only 'pretty sure' when all venomous taxa together stay at or below it).",
        "",
        "Export parity (ONNX graph vs in-memory head): max |diff| = "
        f"{report['export_parity_max_abs_diff']:.2e}.",
        "",
        "## Per class (test)",
        "",
        "| taxon | venom | precision | recall | F1 | photos |",
        "|---|---|---|---|---|---|",
    ]
    venom = {x["scientific_name"]: x["venom"] for x in report["taxa"]}
    for name, pc in t["per_class"].items():
        lines.append(f"| *{name}* | {venom.get(name, '?')} | {_pct(pc['precision'])} | "
                     f"{_pct(pc['recall'])} | {_pct(pc['f1'])} | {pc['support']} |")
    lines += ["", "## Coverage vs accuracy (test)", "", "| threshold | coverage | accuracy |",
              "|---|---|---|"]
    for row in t["coverage_curve"]:
        lines.append(f"| {row['threshold']:.2f} | {_pct(row['coverage'])} | {_pct(row['accuracy'])} |")
    if report.get("taxon_rows"):
        lines += ["", "## Taxon rows in the pack (taxa.json)", "", "| taxon | facts from | detail |",
                  "|---|---|---|"]
        for row in report["taxon_rows"]:
            detail = str(row.get("detail", "")).replace("|", "/")
            lines.append(f"| *{row.get('scientific_name', '?')}* | {row.get('source', '?')} | {detail} |")
    lines += ["", "![confusion matrix](confusion.png)", "", "![coverage](coverage.png)", ""]
    return "\n".join(lines)


def plots(report: dict[str, Any], run_dir: Path) -> None:
    """confusion.png (test split) and coverage.png (validation and test)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    classes = report["classes"]
    cm = np.array(report["metrics"]["test"]["confusion"])
    n = len(classes)
    fig, ax = plt.subplots(figsize=(max(5, 0.6 * n + 3), max(4, 0.6 * n + 2)))
    ax.imshow(cm, cmap="Blues")
    ax.set_xticks(range(n), classes, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(n), classes, fontsize=8)
    for i in range(n):
        for j in range(n):
            if cm[i, j]:
                ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=7,
                        color="white" if cm[i, j] > cm.max() / 2 else "black")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"{report['name']}: test confusion matrix")
    fig.tight_layout()
    fig.savefig(run_dir / "confusion.png", dpi=110)
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(5, 4))
    for split in ("val", "test"):
        curve = report["metrics"][split]["coverage_curve"]
        ax.plot([r["coverage"] for r in curve], [r["accuracy"] for r in curve], marker="o", label=split)
    ax.set_xlabel("coverage (share answered 'pretty sure')")
    ax.set_ylabel("accuracy of those answers")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(run_dir / "coverage.png", dpi=110)
    plt.close(fig)


def write_run(runs_dir: Path, name: str, report: dict[str, Any]) -> Path:
    """Write ``runs/<timestamp>-<name>/`` with report.json, report.md, confusion.png, coverage.png."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") or "run"
    run_dir = Path(runs_dir) / f"{time.strftime('%Y%m%d-%H%M%S')}-{safe}"
    k = 1
    while run_dir.exists():
        k += 1
        run_dir = Path(runs_dir) / f"{time.strftime('%Y%m%d-%H%M%S')}-{safe}-{k}"
    run_dir.mkdir(parents=True)
    (run_dir / "report.json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    (run_dir / "report.md").write_text(markdown(report))
    plots(report, run_dir)
    return run_dir
