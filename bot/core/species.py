"""Read-only access to the species database (``species.sqlite``) with aiosqlite.

The database is opened with SQLite's ``mode=ro`` URI, and every query is parameterised.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, fields
from pathlib import Path

import aiosqlite
from rapidfuzz import fuzz, process

#: Ranks above species, whose rows stand for a group of species.
GROUP_RANKS = ("genus", "subfamily", "family")


@dataclass(frozen=True, slots=True)
class Taxon:
    """One row of the ``taxa`` table (see ``bot/species_db/schema.sql`` for each column's meaning).

    ``iucn_year`` and ``adult_length_cm`` are ``None`` when unknown; text facts say ``"unknown"``.
    """

    scientific_name: str
    common_name: str
    rank: str
    genus: str | None
    subfamily: str | None
    family: str
    reptile_type: str
    distribution: str
    habitat: str
    colour: str
    diet: str
    diet_class: str
    iucn_category: str
    iucn_year: int | None
    venom: str
    adult_length_cm: float | None
    fun_fact: str
    well_known: bool
    lists: str
    source_url: str
    iucn_source_url: str | None

    @property
    def is_group(self) -> bool:
        """True for a genus, subfamily or family row (a group of species)."""
        return self.rank in GROUP_RANKS


@dataclass(frozen=True, slots=True)
class SearchHit:
    """A fuzzy-search result: the taxon and a similarity score in [0, 100]."""

    taxon: Taxon
    score: float


_COLUMNS = ", ".join(f.name for f in fields(Taxon))


def _normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).casefold()
    text = re.sub(r"[_\-]+", " ", text)
    return re.sub(r"\s+", " ", text).strip()


def _row_to_taxon(row: aiosqlite.Row | tuple) -> Taxon:
    values = list(row)
    names = [f.name for f in fields(Taxon)]
    values[names.index("well_known")] = bool(values[names.index("well_known")])
    return Taxon(*values)


class SpeciesRepository:
    """Species facts, loaded once and shared by every adapter.

    The table is small (a few hundred rows), so :meth:`open` loads every row into memory for fuzzy
    search; lookups by key still go to SQLite. Use :meth:`open` to create one and :meth:`close` at exit.
    """

    def __init__(self, conn: aiosqlite.Connection, taxa: list[Taxon]) -> None:
        self._conn = conn
        self._taxa = taxa
        self._by_name = {t.scientific_name: t for t in taxa}
        self._choices: list[str] = []
        self._choice_taxa: list[Taxon] = []
        for t in taxa:
            for name in (t.common_name, t.scientific_name):
                self._choices.append(_normalise(name))
                self._choice_taxa.append(t)

    @classmethod
    async def open(cls, path: Path) -> SpeciesRepository:
        """Open ``path`` read-only.

        Raises:
            FileNotFoundError: when the file does not exist.
            sqlite3.DatabaseError: when it is not a species database.
        """
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"species database not found: {path}")
        conn = await aiosqlite.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        async with conn.execute(f"SELECT {_COLUMNS} FROM taxa ORDER BY scientific_name") as cur:
            taxa = [_row_to_taxon(r) for r in await cur.fetchall()]
        return cls(conn, taxa)

    async def close(self) -> None:
        """Close the database connection."""
        await self._conn.close()

    @property
    def taxa(self) -> list[Taxon]:
        """Every taxon, sorted by scientific name."""
        return list(self._taxa)

    async def get(self, scientific_name: str) -> Taxon | None:
        """The taxon with exactly this scientific name, or ``None``."""
        async with self._conn.execute(
            f"SELECT {_COLUMNS} FROM taxa WHERE scientific_name = ?", (scientific_name,)
        ) as cur:
            row = await cur.fetchone()
        return _row_to_taxon(row) if row else None

    async def members(self, group: Taxon, limit: int = 25) -> list[Taxon]:
        """Species and subspecies of the museum that belong to ``group`` (a genus, subfamily or family).

        Returns an empty list for a species row. Sorted by common name.
        """
        if not group.is_group:
            return []
        column = {"genus": "genus", "subfamily": "subfamily", "family": "family"}[group.rank]
        async with self._conn.execute(
            f"SELECT {_COLUMNS} FROM taxa WHERE {column} = ? AND rank IN ('species', 'subspecies') "
            "ORDER BY common_name COLLATE NOCASE LIMIT ?",
            (group.scientific_name, limit),
        ) as cur:
            return [_row_to_taxon(r) for r in await cur.fetchall()]

    def search(self, query: str, limit: int = 5, min_score: float = 60.0) -> list[SearchHit]:
        """Fuzzy search on common and scientific names (rapidfuzz WRatio, case- and accent-insensitive).

        An exact name match (ignoring case) always comes first with score 100. Returns at most ``limit``
        distinct taxa with score >= ``min_score``, best first; an empty or blank query returns ``[]``.
        """
        q = _normalise(query)[:200]
        if not q:
            return []
        best: dict[str, SearchHit] = {}
        for i, choice in enumerate(self._choices):
            if choice == q:
                t = self._choice_taxa[i]
                best[t.scientific_name] = SearchHit(t, 100.0)
        results = process.extract(
            q, self._choices, scorer=fuzz.WRatio, limit=limit * 4, score_cutoff=min_score
        )
        for _choice, score, index in results:
            t = self._choice_taxa[index]
            prev = best.get(t.scientific_name)
            if prev is None or prev.score < score:
                best[t.scientific_name] = SearchHit(t, float(score))
        hits = sorted(best.values(), key=lambda h: (-h.score, h.taxon.common_name))
        return hits[:limit]

    def autocomplete(self, prefix: str, limit: int = 25) -> list[Taxon]:
        """Taxa for an as-you-type box: names starting with ``prefix`` first, then fuzzy matches.

        An empty prefix returns the first ``limit`` well-known taxa.
        """
        p = _normalise(prefix)
        if not p:
            famous = [t for t in self._taxa if t.well_known] or self._taxa
            return sorted(famous, key=lambda t: t.common_name)[:limit]
        starts = [
            t for t in self._taxa
            if _normalise(t.common_name).startswith(p) or _normalise(t.scientific_name).startswith(p)
        ]
        starts.sort(key=lambda t: t.common_name)
        seen = {t.scientific_name for t in starts}
        for hit in self.search(prefix, limit=limit, min_score=50.0):
            if hit.taxon.scientific_name not in seen:
                starts.append(hit.taxon)
                seen.add(hit.taxon.scientific_name)
        return starts[:limit]
