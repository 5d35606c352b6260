"""A tiny species database built from the real schema, for core unit tests.

The rows are real animals with true facts, but the tests only rely on their venom, rank and type.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

SCHEMA = Path(__file__).resolve().parents[1] / "bot" / "species_db" / "schema.sql"

_BASE = {
    "subfamily": None, "habitat": "unknown", "colour": "unknown", "diet": "unknown",
    "diet_class": "unknown", "iucn_year": None, "adult_length_cm": None, "fun_fact": "unknown",
    "well_known": 0, "lists": "imagenet", "iucn_source_url": None,
}

ROWS = [
    dict(_BASE, scientific_name="Naja naja", common_name="Indian cobra", rank="species", genus="Naja",
         family="Elapidae", reptile_type="snake", distribution="India, Sri Lanka, Pakistan, Nepal",
         iucn_category="LC", iucn_year=2021, venom="venomous", adult_length_cm=150.0,
         fun_fact="It spreads a hood when it feels threatened.",
         source_url="https://en.wikipedia.org/wiki/Indian_cobra"),
    dict(_BASE, scientific_name="Thamnophis", common_name="Garter snakes", rank="genus", genus=None,
         family="Colubridae", reptile_type="snake", distribution="North and Central America",
         iucn_category="NE", venom="harmless", source_url="https://en.wikipedia.org/wiki/Thamnophis"),
    dict(_BASE, scientific_name="Thamnophis sirtalis", common_name="Common garter snake",
         rank="species", genus="Thamnophis", family="Colubridae", reptile_type="snake",
         distribution="North America", iucn_category="LC", venom="harmless",
         source_url="https://en.wikipedia.org/wiki/Common_garter_snake"),
    dict(_BASE, scientific_name="Caretta caretta", common_name="Loggerhead sea turtle",
         rank="species", genus="Caretta", family="Cheloniidae", reptile_type="turtle",
         distribution="Atlantic, Pacific and Indian oceans", iucn_category="VU", iucn_year=2017,
         venom="harmless", adult_length_cm=90.0, well_known=1,
         source_url="https://en.wikipedia.org/wiki/Loggerhead_sea_turtle"),
    dict(_BASE, scientific_name="Varanus komodoensis", common_name="Komodo dragon", rank="species",
         genus="Varanus", family="Varanidae", reptile_type="lizard",
         distribution="Indonesia (Komodo, Rinca, Flores)", iucn_category="EN", iucn_year=2021,
         venom="venomous", well_known=1, source_url="https://en.wikipedia.org/wiki/Komodo_dragon"),
    dict(_BASE, scientific_name="Crocodylus niloticus", common_name="Nile crocodile", rank="species",
         genus="Crocodylus", family="Crocodylidae", reptile_type="crocodilian",
         distribution="Sub-Saharan Africa", iucn_category="LC", venom="harmless", well_known=1,
         source_url="https://en.wikipedia.org/wiki/Nile_crocodile"),
]


def build_db(path: Path, rows: list[dict] | None = None) -> Path:
    """Create a species database at ``path`` from the real schema and ``rows`` (default :data:`ROWS`)."""
    rows = ROWS if rows is None else rows
    conn = sqlite3.connect(path)
    conn.executescript(SCHEMA.read_text())
    for row in rows:
        cols = ", ".join(row)
        conn.execute(f"INSERT INTO taxa ({cols}) VALUES ({', '.join('?' * len(row))})", tuple(row.values()))
    conn.commit()
    conn.close()
    return path
