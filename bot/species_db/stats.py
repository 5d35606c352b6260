"""Print what ``species.sqlite`` holds, as Markdown tables (for the README).

Usage::

    python -m bot.species_db.stats [--db species.sqlite]

Tables:

1. taxa per type and continent: every row (species, subspecies and group rows) counted once per
   continent it lives on (``continents`` column), plus its total;
2. venomous species per WHO region: species and subspecies with ``venom = 'venomous'`` listed in the WHO
   snake-antivenom guidelines (``who_category`` 1 or 2), counted once per region of ``who_regions``.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from bot.species_db.build import CONTINENTS, DEFAULT_OUT, WHO_REGIONS

TYPES: tuple[str, ...] = ("crocodilian", "lizard", "snake", "turtle", "tuatara")


def _rows(db: Path) -> list[sqlite3.Row]:
    conn = sqlite3.connect(f"{Path(db).resolve().as_uri()}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        return conn.execute(
            "SELECT scientific_name, rank, reptile_type, venom, iucn_category, continents, who_category, "
            "who_regions FROM taxa ORDER BY scientific_name"
        ).fetchall()
    finally:
        conn.close()


def type_continent_table(rows: Sequence[sqlite3.Row]) -> str:
    """Markdown table: one line per type (and a total line), columns = continents, taxa, species."""
    cells: Counter[tuple[str, str]] = Counter()
    taxa: Counter[str] = Counter()
    species: Counter[str] = Counter()
    for r in rows:
        kind = r["reptile_type"]
        taxa[kind] += 1
        species[kind] += r["rank"] in ("species", "subspecies")
        for c in filter(None, (r["continents"] or "").split(",")):
            cells[(kind, c)] += 1
    head = ["type", *CONTINENTS, "taxa", "of which species"]
    lines = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]
    for kind in TYPES:
        values = [cells[(kind, c)] for c in CONTINENTS] + [taxa[kind], species[kind]]
        lines.append(f"| {kind} | " + " | ".join(str(v) for v in values) + " |")
    totals = [sum(cells[(k, c)] for k in TYPES) for c in CONTINENTS] + [len(rows), sum(species.values())]
    lines.append("| **all** | " + " | ".join(f"**{v}**" for v in totals) + " |")
    return "\n".join(lines)


def who_region_table(rows: Sequence[sqlite3.Row]) -> str:
    """Markdown table: venomous WHO-listed species per WHO region and category."""
    cells: Counter[tuple[str, int]] = Counter()
    for r in rows:
        if r["rank"] not in ("species", "subspecies") or r["venom"] != "venomous" or not r["who_category"]:
            continue
        for region in filter(None, (r["who_regions"] or "").split(",")):
            cells[(region, int(r["who_category"]))] += 1
    lines = ["| WHO region | Category 1 | Category 2 | venomous species listed |", "|---|---:|---:|---:|"]
    for region in WHO_REGIONS:
        one, two = cells[(region, 1)], cells[(region, 2)]
        lines.append(f"| {region} | {one} | {two} | {one + two} |")
    venomous = sum(1 for r in rows if r["rank"] in ("species", "subspecies") and r["venom"] == "venomous")
    listed = sum(1 for r in rows if r["rank"] in ("species", "subspecies") and r["venom"] == "venomous"
                 and r["who_category"])
    lines.append(f"\nVenomous species in the database: {venomous}, of which {listed} are WHO-listed "
                 "(a species listed in two regions counts in both).")
    return "\n".join(lines)


def summary(rows: Sequence[sqlite3.Row]) -> str:
    """One line: taxa, species, groups, and the share of rows whose IUCN category is 'unknown'."""
    unknown = sum(1 for r in rows if r["iucn_category"] == "unknown")
    groups = sum(1 for r in rows if r["rank"] not in ("species", "subspecies"))
    share = 100 * unknown / len(rows) if rows else 0.0
    return (f"{len(rows)} taxa ({len(rows) - groups} species and subspecies, {groups} groups); "
            f"IUCN category unknown for {unknown} ({share:.1f} %).")


def main(argv: Sequence[str] | None = None) -> int:
    """Print the tables; exit 2 when the database cannot be read."""
    parser = argparse.ArgumentParser(prog="python -m bot.species_db.stats",
                                     description="Print what species.sqlite holds, as Markdown tables.")
    parser.add_argument("--db", type=Path, default=DEFAULT_OUT,
                        help="species database (default species.sqlite)")
    args = parser.parse_args(argv)
    try:
        rows = _rows(args.db)
    except sqlite3.Error as exc:
        print(f"error: cannot read {args.db}: {exc}", file=sys.stderr)
        return 2
    print(summary(rows))
    print("\nTaxa per type and continent (a taxon counts on every continent it lives on):\n")
    print(type_continent_table(rows))
    print("\nVenomous species per WHO region (WHO snake-antivenom guidelines, TRS 1004 Annex 5):\n")
    print(who_region_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
