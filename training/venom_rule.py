"""Measure the venom rule (``bot/core/venom.py``) on the labelled photos, through the real core.

    python -m training.venom_rule [--pack packs/ph-snakes ...]

Every photo of ``../shared/photos`` goes through the same code as a chat photo after inference: the
identification (from cached backbone outputs, :mod:`training.embed`), the roll-up and the venom rule of
:class:`bot.core.identify.IdentifyService`. Printed per collection: labelled photos of dangerously
venomous snakes (the genera in :data:`VENOMOUS_GENERA`) and how many got no ``venom_warning``; all
snake photos without one; non-snake photos that got a caution; and, for the calibration of
:data:`bot.core.venom.VENOMOUS_BOUND`, the smallest "venomous snake" probability among venomous
photos whose answer was confident and harmless.

The base model (the ImageNet mapping) was never trained on these photos, so every collection is held
out for it (the ImageNet sample collections are probably ImageNet training images).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from collections import defaultdict
from pathlib import Path

import numpy as np

from bot.core.identify import IdentifyService
from bot.core.species import SpeciesRepository
from inference.classifier import DEFAULT_MODEL, load_model_info
from inference.postprocess import postprocess
from training.reptile_model import PHOTOS, load_data

#: Genera of dangerously venomous snakes among the labelled photos (WHO Category 1/2 genera:
#: cobras, mambas, kraits, vipers and pit vipers, coral snakes).
VENOMOUS_GENERA = frozenset({
    "Naja", "Dendroaspis", "Bungarus", "Micrurus", "Trimeresurus", "Tropidolaemus", "Bothrops",
    "Crotalus", "Lachesis", "Cerastes", "Daboia", "Echis", "Bitis", "Agkistrodon", "Calloselasma",
})
SPECIES_DB = Path(__file__).resolve().parents[1] / "species.sqlite"


class _NoIdentifier:
    async def identify(self, data: bytes):  # pragma: no cover - never called
        raise RuntimeError("features come from the cache")


def is_venomous_photo(row: dict[str, str]) -> bool:
    """True for a photo labelled as a snake of a dangerously venomous genus."""
    return row["label_type"] == "snake" and row["label_taxon"].split(" ")[0] in VENOMOUS_GENERA


async def measure(photos: Path, packs: list[Path]) -> list[str]:
    """Run every photo through the core; return the report lines."""
    data = load_data(photos)
    info = load_model_info(DEFAULT_MODEL)
    extra: list[dict] = []
    heads = []
    if packs:
        from inference.pack_heads import load_pack_heads

        heads = load_pack_heads(packs)
        extra = [r for h in heads for r in h.taxon_rows]
    labels = [t for h in heads for t in h.taxa]
    repo = await SpeciesRepository.open(SPECIES_DB, extra_rows=extra, labels=labels)
    service = IdentifyService(_NoIdentifier(), repo, max_bytes=1)
    per: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    cleared_min = np.inf
    try:
        for lg, emb, row, coll in zip(data.logits, data.embedding, data.rows, data.collection, strict=True):
            ident = postprocess(lg, info.calibration, info.labels)
            if heads:
                from inference.pack_heads import apply_packs

                ident = apply_packs(ident, emb, heads)
            ans = await service.answer_for(ident)
            snake, ven = row["label_type"] == "snake", is_venomous_photo(row)
            s = per[coll]
            s["snake"] += snake
            s["venomous"] += ven
            s["venomous_no_warning"] += ven and ans.venom_warning is None
            s["snake_no_warning"] += snake and ans.venom_warning is None
            s["not_venomous_shown"] += snake and ans.taxon is not None and ans.venom_warning is None \
                and ans.taxon.venom == "harmless"
            s["non_snake"] += not snake
            s["non_snake_warned"] += (not snake) and ans.venom_warning is not None
            if ven and ans.confident and ans.taxon is not None and ans.taxon.venom == "harmless":
                share = 0.0
                for c in ident.candidates or ident.top:
                    t = await repo.get(c.scientific_name)
                    share += c.confidence if t is not None and t.venom == "venomous" else 0.0
                cleared_min = min(cleared_min, ident.snake_probability * share)
    finally:
        await repo.close()
    lines = ["| collection | snake photos | venomous-snake photos | venomous without warning "
             "| snakes without warning | snakes shown 'Not venomous' | other photos with a caution |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    tot: dict[str, float] = defaultdict(float)
    for coll in sorted(per):
        s = per[coll]
        for k, v in s.items():
            tot[k] += v
        lines.append(_row(coll, s))
    lines.append(_row("**all**", tot))
    lines.append("smallest P(venomous snake) of a venomous photo answered confidently harmless: "
                 f"{cleared_min:.3g}")
    return lines


def _row(name: str, s: dict[str, float]) -> str:
    warned = f"{s['non_snake_warned']:.0f} of {s['non_snake']:.0f}" if s["non_snake"] else "–"
    return (f"| {name} | {s['snake']:.0f} | {s['venomous']:.0f} | {s['venomous_no_warning']:.0f} | "
            f"{s['snake_no_warning']:.0f} | {s['not_venomous_shown']:.0f} | {warned} |")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--photos", type=Path, default=PHOTOS)
    ap.add_argument("--pack", type=Path, action="append", default=[], help="species pack(s) to load")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    if not (args.photos / "manifest.csv").exists():
        print(f"{args.photos}/manifest.csv not found: the photos live in ../shared/photos")
        return 2
    print("\n".join(asyncio.run(measure(args.photos, args.pack))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
