"""The species repository: the one reader of the species database (``species.sqlite``), and the one
definition of a taxon row (:class:`Taxon`, :data:`TAXON_COLUMNS`).

The database is opened with SQLite's ``mode=ro`` URI (aiosqlite at run time, :func:`read_rows` for
tools), and every query is parameterised. The builder (:mod:`bot.species_db.build`) writes the same
columns; ``tests/test_pack_taxa.py`` checks they are the ``taxa`` table of ``schema.sql``.

A species pack hands over its labels and taxon rows (``labels.json``, ``taxa.json``, read by
:mod:`inference.pack` without knowing their columns): :meth:`SpeciesRepository.open` checks the labels
against the database (:func:`check_pack_labels`) and merges the rows in with ``extra_rows``. A taxon
the database has keeps the database's reviewed row; the others are served from the pack's rows
(look-ups, fact cards, search), but never used for quizzes (:attr:`SpeciesRepository.database_taxa`).
"""

from __future__ import annotations

import re
import sqlite3
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Protocol

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


#: Columns of the ``taxa`` table, in schema order (``bot/species_db/schema.sql``): the one list, used
#: by this repository, the builder and the species packs' ``taxa.json`` rows.
TAXON_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(Taxon))
#: Columns added to the ``taxa`` table after packs first carried rows (issue 11), with the value an
#: older ``taxa.json`` row gets for each, so a pack trained before them still loads.
LATER_COLUMNS: dict[str, Any] = {
    "continents": "", "synonyms": "", "venom_source_url": None, "who_category": None, "who_regions": "",
}
_COLUMNS = ", ".join(TAXON_COLUMNS)
_PLACEHOLDERS = ", ".join("?" for _ in TAXON_COLUMNS)


class PackLabel(Protocol):
    """One output class of a species pack as the repository checks it (``labels.json``;
    :class:`inference.pack.PackTaxon` has these)."""

    scientific_name: str
    rank: str
    reptile_type: str
    venom: str


def _normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).casefold()
    text = re.sub(r"[_\-]+", " ", text)
    return re.sub(r"\s+", " ", text).strip()


def _row_to_taxon(row: aiosqlite.Row | tuple) -> Taxon:
    values = list(row)
    values[_WELL_KNOWN] = bool(values[_WELL_KNOWN])
    return Taxon(*values)


_WELL_KNOWN = TAXON_COLUMNS.index("well_known")


_SCHEMA_PATH = Path(__file__).resolve().parents[1] / "species_db" / "schema.sql"


def complete_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """A pack's taxon row with the :data:`LATER_COLUMNS` it lacks filled in (a pack trained before
    they existed), in :data:`TAXON_COLUMNS` order; keys that are no column are kept (at the end), so
    :func:`taxa_from_rows` can refuse them."""
    full = {**LATER_COLUMNS, **dict(row)}
    return {**{k: full[k] for k in TAXON_COLUMNS if k in full},
            **{k: v for k, v in full.items() if k not in TAXON_COLUMNS}}


def taxa_from_rows(rows: Iterable[Mapping[str, Any]]) -> list[Taxon]:
    """Check rows (dicts keyed by the ``taxa`` columns, e.g. a pack's ``taxa.json``) against the real
    schema and return them as :class:`Taxon` objects, in input order.

    The rows are completed (:func:`complete_row`), then inserted into an in-memory database made
    from ``bot/species_db/schema.sql``, so they obey exactly its NOT NULL and CHECK constraints and
    get its column types.

    Raises:
        ValueError: a row lacks a column, has an unknown one, breaks a constraint, or repeats a name.
    """
    names = list(TAXON_COLUMNS)
    conn = sqlite3.connect(":memory:")
    try:
        conn.executescript(_SCHEMA_PATH.read_text(encoding="utf-8"))
        for row in map(complete_row, rows):
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


def check_pack_labels(labels: Iterable[PackLabel], taxa: Iterable[Taxon], rows: Iterable[Taxon] = ()) -> None:
    """Check a species pack's labels against the database's rows ``taxa``.

    A label the database has must have the same rank, type and venom status there (the pack's venom
    guard was calibrated on those). A label the database lacks is allowed only when the pack carries a
    taxon row for it (``rows``); the repository then serves that row.

    Raises:
        ValueError: listing every mismatch and every label with neither a database row nor a pack row.
    """
    db = {t.scientific_name: t for t in taxa}
    carried = {t.scientific_name for t in rows}
    problems = []
    for label in labels:
        name, says = label.scientific_name, (label.rank, label.reptile_type, label.venom)
        row = db.get(name)
        if row is None:
            if name not in carried:
                problems.append(f"{name}: not in the species database and the pack carries no taxon row "
                                "for it (retrain, or add taxa.json)")
        elif (row.rank, row.reptile_type, row.venom) != says:
            problems.append(f"{name}: pack says {says}, database says "
                            f"{(row.rank, row.reptile_type, row.venom)} (retrain the pack)")
    if problems:
        raise ValueError("species pack does not match the species database: " + "; ".join(problems))


def read_rows(path: Path | str, names: Iterable[str] | None = None) -> dict[str, dict[str, Any]]:
    """The database's rows (dicts keyed by :data:`TAXON_COLUMNS`, values as stored) by scientific
    name, read synchronously for tools (pack export, the builder's ``--check``): those of ``names`` it
    has (names it lacks are left out), or with ``names=None`` every row, sorted by scientific name.

    Raises:
        FileNotFoundError: ``path`` does not exist.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(path)
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        out = {}
        if names is None:
            for row in conn.execute(f"SELECT {_COLUMNS} FROM taxa ORDER BY scientific_name"):
                out[row[0]] = dict(zip(TAXON_COLUMNS, row, strict=True))
            return out
        for name in names:
            row = conn.execute(f"SELECT {_COLUMNS} FROM taxa WHERE scientific_name = ?", (name,)).fetchone()
            if row is not None:
                out[name] = dict(zip(TAXON_COLUMNS, row, strict=True))
        return out
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
    async def open(
        cls, path: Path, extra_rows: Iterable[Mapping[str, Any]] = (), labels: Iterable[PackLabel] = ()
    ) -> SpeciesRepository:
        """Open ``path`` read-only, checking a species pack's labels and merging in its taxon rows.

        Args:
            path: the species database.
            extra_rows: taxon rows (dicts keyed by :data:`TAXON_COLUMNS`, e.g.
                :attr:`inference.pack.PackClassifier.taxon_rows`). Rows of taxa the database has are
                ignored (its reviewed facts win); the others are served as if they were in it.
            labels: the pack's output classes (e.g. :attr:`inference.pack.PackClassifier.taxa`),
                checked with :func:`check_pack_labels`.

        Raises:
            FileNotFoundError: when the file does not exist.
            sqlite3.DatabaseError: when it is not a species database.
            ValueError: when an extra row breaks the schema (see :func:`taxa_from_rows`) or a label
                disagrees with the database (see :func:`check_pack_labels`).
        """
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"species database not found: {path}")
        extra = taxa_from_rows(extra_rows)
        conn = await aiosqlite.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            async with conn.execute(f"SELECT {_COLUMNS} FROM taxa ORDER BY scientific_name") as cur:
                taxa = [_row_to_taxon(r) for r in await cur.fetchall()]
            check_pack_labels(labels, taxa, extra)
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
