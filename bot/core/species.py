"""Read-only access to the species database (``species.sqlite``) with aiosqlite.

The database is opened with SQLite's ``mode=ro`` URI, and every query is parameterised.

A species pack may bring taxon rows of its own (``taxa.json``, see :mod:`inference.pack`):
:meth:`SpeciesRepository.open` merges them in with ``extra_rows``. A taxon the database has keeps the
database's reviewed row; the others are served from the pack's rows (look-ups, fact cards, search),
but never used for quizzes (:attr:`SpeciesRepository.database_taxa`).
"""

from __future__ import annotations

import re
import sqlite3
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import aiosqlite
from rapidfuzz import fuzz, process

from bot.core.taxonomy import GROUP_RANKS

#: Points (of 100) a fuzzy match on a synonym loses against one on a current common or scientific
#: name ("loggerhead" is the loggerhead sea turtle, not the alligator snapping turtle's other name).
SYNONYM_PENALTY = 1.0


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
    continents: str = ""
    synonyms: str = ""
    venom_source_url: str | None = None
    who_category: int | None = None
    who_regions: str = ""

    @property
    def synonym_list(self) -> tuple[str, ...]:
        """Older scientific names and other common names (``synonyms`` is ``|``-separated)."""
        return tuple(s for s in self.synonyms.split("|") if s.strip()) if self.synonyms else ()

    @property
    def continent_list(self) -> tuple[str, ...]:
        """Continents it lives on (Africa, Asia, Europe, North America, South America, Oceania, Oceans)."""
        return tuple(c for c in self.continents.split(",") if c) if self.continents else ()

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
_PLACEHOLDERS = ", ".join("?" for _ in fields(Taxon))


def _normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).casefold()
    text = re.sub(r"[_\-]+", " ", text)
    return re.sub(r"\s+", " ", text).strip()


def _row_to_taxon(row: aiosqlite.Row | tuple) -> Taxon:
    values = list(row)
    names = [f.name for f in fields(Taxon)]
    values[names.index("well_known")] = bool(values[names.index("well_known")])
    return Taxon(*values)


_SCHEMA_PATH = Path(__file__).resolve().parents[1] / "species_db" / "schema.sql"


def taxa_from_rows(rows: Iterable[Mapping[str, Any]]) -> list[Taxon]:
    """Check rows (dicts keyed by the ``taxa`` columns, e.g. a pack's ``taxa.json``) against the real
    schema and return them as :class:`Taxon` objects, in input order.

    The rows are inserted into an in-memory database made from ``bot/species_db/schema.sql``, so
    they obey exactly its NOT NULL and CHECK constraints and get its column types.

    Raises:
        ValueError: a row lacks a column, has an unknown one, breaks a constraint, or repeats a name.
    """
    names = [f.name for f in fields(Taxon)]
    conn = sqlite3.connect(":memory:")
    try:
        conn.executescript(_SCHEMA_PATH.read_text(encoding="utf-8"))
        for row in rows:
            label = row.get("scientific_name", "?")
            if set(row) != set(names):
                raise ValueError(f"taxon row {label}: columns {sorted(set(row) ^ set(names))} differ from "
                                 "the taxa table")
            try:
                conn.execute(f"INSERT INTO taxa ({_COLUMNS}) VALUES ({_PLACEHOLDERS})",
                             tuple(row[n] for n in names))
            except sqlite3.Error as exc:
                raise ValueError(f"taxon row {label}: {exc}") from exc
        return [_row_to_taxon(r) for r in conn.execute(f"SELECT {_COLUMNS} FROM taxa ORDER BY rowid")]
    finally:
        conn.close()


class SpeciesRepository:
    """Species facts, loaded once and shared by every adapter.

    The table is small (a few hundred rows), so :meth:`open` loads every row into memory for fuzzy
    search; lookups by key still go to SQLite (then to the pack's rows, see ``extra``). Use
    :meth:`open` to create one and :meth:`close` at exit.

    Args:
        conn: the read-only database connection.
        taxa: every database row.
        extra: rows from a species pack for taxa the database lacks (rows the database has are
            dropped: the database wins).
    """

    def __init__(self, conn: aiosqlite.Connection, taxa: list[Taxon], extra: Iterable[Taxon] = ()) -> None:
        self._conn = conn
        self._db_taxa = list(taxa)
        db_names = {t.scientific_name for t in taxa}
        self._extra = {t.scientific_name: t for t in extra if t.scientific_name not in db_names}
        self._taxa = sorted([*taxa, *self._extra.values()], key=lambda t: t.scientific_name)
        self._by_name = {t.scientific_name: t for t in self._taxa}
        self._choices: list[str] = []
        self._choice_taxa: list[Taxon] = []
        self._choice_is_synonym: list[bool] = []
        for t in self._taxa:
            for i, name in enumerate((t.common_name, t.scientific_name, *t.synonym_list)):
                self._choices.append(_normalise(name))
                self._choice_taxa.append(t)
                self._choice_is_synonym.append(i >= 2)

    @classmethod
    async def open(cls, path: Path, extra_rows: Iterable[Mapping[str, Any]] = ()) -> SpeciesRepository:
        """Open ``path`` read-only, merging in a species pack's taxon rows.

        Args:
            path: the species database.
            extra_rows: taxon rows (dicts keyed by the ``taxa`` columns, e.g.
                :attr:`inference.pack.PackClassifier.taxon_rows`). Rows of taxa the database has are
                ignored (its reviewed facts win); the others are served as if they were in it.

        Raises:
            FileNotFoundError: when the file does not exist.
            sqlite3.DatabaseError: when it is not a species database.
            ValueError: when an extra row breaks the schema (see :func:`taxa_from_rows`).
        """
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"species database not found: {path}")
        extra = taxa_from_rows(extra_rows)
        conn = await aiosqlite.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            async with conn.execute(f"SELECT {_COLUMNS} FROM taxa ORDER BY scientific_name") as cur:
                taxa = [_row_to_taxon(r) for r in await cur.fetchall()]
        except BaseException:
            await conn.close()
            raise
        return cls(conn, taxa, extra)

    async def close(self) -> None:
        """Close the database connection."""
        await self._conn.close()

    @property
    def taxa(self) -> list[Taxon]:
        """Every taxon (database rows and a pack's extra rows), sorted by scientific name."""
        return list(self._taxa)

    @property
    def database_taxa(self) -> list[Taxon]:
        """The database's reviewed rows only, sorted by scientific name (what quizzes are made of)."""
        return list(self._db_taxa)

    @property
    def pack_taxa(self) -> list[Taxon]:
        """The rows served from a species pack (taxa the database lacks), sorted by scientific name."""
        return sorted(self._extra.values(), key=lambda t: t.scientific_name)

    def from_pack(self, scientific_name: str) -> bool:
        """True when this taxon's row comes from a species pack, not from the reviewed database."""
        return scientific_name in self._extra

    async def get(self, scientific_name: str) -> Taxon | None:
        """The taxon with exactly this scientific name (database first, then pack rows), or ``None``."""
        async with self._conn.execute(
            f"SELECT {_COLUMNS} FROM taxa WHERE scientific_name = ?", (scientific_name,)
        ) as cur:
            row = await cur.fetchone()
        return _row_to_taxon(row) if row else self._extra.get(scientific_name)

    async def members(self, group: Taxon, limit: int = 25) -> list[Taxon]:
        """Species and subspecies of the museum (and of a loaded pack) that belong to ``group`` (a
        genus, subfamily or family).

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
            found = [_row_to_taxon(r) for r in await cur.fetchall()]
        extra = [t for t in self._extra.values()
                 if getattr(t, column) == group.scientific_name and t.rank in ("species", "subspecies")]
        if not extra:
            return found
        return sorted(found + extra, key=lambda t: t.common_name.casefold())[:limit]

    def search(self, query: str, limit: int = 5, min_score: float = 60.0) -> list[SearchHit]:
        """Fuzzy search on common and scientific names and synonyms (rapidfuzz WRatio, case- and
        accent-insensitive).

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
            if self._choice_is_synonym[index]:  # a current name beats an old or other name of equal score
                score -= SYNONYM_PENALTY
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
