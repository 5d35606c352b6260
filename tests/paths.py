"""Where the shared photos live, and how tests skip cleanly without them."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_PHOTOS = REPO.parent / "shared" / "photos"


def require_photos() -> Path:
    """The shared photo folder, or skip the test with a clear reason when it is absent."""
    if not (SHARED_PHOTOS / "manifest.csv").is_file():
        pytest.skip(f"../shared/photos not found at {SHARED_PHOTOS}: photo-based test skipped")
    return SHARED_PHOTOS


def manifest_rows(label_type: str | None = None) -> list[dict[str, str]]:
    """Rows of ``manifest.csv`` (skips when absent), optionally only one ``label_type``."""
    root = require_photos()
    with (root / "manifest.csv").open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    return [r for r in rows if label_type is None or r["label_type"] == label_type]
