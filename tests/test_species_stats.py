"""``python -m bot.species_db.stats``: the README's tables add up to the database."""

from __future__ import annotations

import re
import sqlite3

from bot.species_db.build import DEFAULT_OUT
from bot.species_db.stats import _rows, main, type_continent_table, who_region_table


def test_type_table_totals_match_the_database():
    rows = _rows(DEFAULT_OUT)
    table = type_continent_table(rows)
    total_line = table.splitlines()[-1]
    numbers = [int(n) for n in re.findall(r"\*\*(\d+)\*\*", total_line)]
    assert numbers[-2] == len(rows)
    conn = sqlite3.connect(DEFAULT_OUT.resolve().as_uri() + "?mode=ro", uri=True)
    try:
        query = "SELECT count(*) FROM taxa WHERE ',' || continents || ',' LIKE '%,Asia,%'"
        asia = conn.execute(query).fetchone()[0]
    finally:
        conn.close()
    head = table.splitlines()[0].split(" | ")
    assert numbers[head.index("Asia") - 1] == asia


def test_who_table_counts_only_venomous_listed_species(capsys):
    rows = _rows(DEFAULT_OUT)
    text = who_region_table(rows)
    listed = sum(1 for r in rows if r["who_category"] and r["venom"] == "venomous"
                 and r["rank"] in ("species", "subspecies"))
    assert f"of which {listed} are WHO-listed" in text
    assert main([]) == 0
    assert "Taxa per type and continent" in capsys.readouterr().out


def test_unreadable_database_is_a_clear_error(tmp_path, capsys):
    bad = tmp_path / "bad.sqlite"
    bad.write_text("not a database")
    assert main(["--db", str(bad)]) == 2
    assert "cannot read" in capsys.readouterr().err
