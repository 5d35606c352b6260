"""Build ``species.sqlite`` from the reviewed source files ``data/species/*.toml``.

Usage::

    python -m bot.species_db.build [--source data/species] [--out species.sqlite] [--check]

Every ``*.toml`` file in the source directory holds ``[[taxon]]`` tables in the format described in
``data/species/FORMAT.md``. The entries are validated strictly (see :func:`validate`), then written to
a *fresh* SQLite file created from ``bot/species_db/schema.sql``:

* rows are inserted sorted by ``scientific_name`` with parameterised queries;
* ``metadata`` gets ``source_sha256`` (see :func:`source_sha256`) and ``built_by``;
* nothing time- or machine-dependent is written, so the same sources give the same database
  (byte-identical with the same SQLite library version).

The allowed values of the enumerated columns (``rank``, ``reptile_type``, ``diet_class``,
``iucn_category``, ``venom``) are read from the ``CHECK (... IN (...))`` constraints of
``schema.sql`` so the validator and the schema cannot drift apart.

Sources: Python ``tomllib`` (https://docs.python.org/3/library/tomllib.html) and ``sqlite3``
(https://docs.python.org/3/library/sqlite3.html) documentation; IUCN Red List Categories and
Criteria v3.1 (https://www.iucnredlist.org/resources/categories-and-criteria) for the category codes,
which are the ones listed in ``schema.sql``.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import os
import re
import sqlite3
import sys
import tempfile
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bot.core.species import TAXON_COLUMNS, read_rows
from bot.core.taxonomy import GROUP_RANKS

REPO_ROOT = Path(__file__).resolve().parents[2]
SCHEMA_PATH = Path(__file__).with_name("schema.sql")
DEFAULT_SOURCE = REPO_ROOT / "data" / "species"
DEFAULT_OUT = REPO_ROOT / "species.sqlite"
BUILT_BY = "bot.species_db.build"

#: Text fields every entry must have (non-empty strings).
REQUIRED_TEXT: tuple[str, ...] = (
    "scientific_name",
    "common_name",
    "rank",
    "family",
    "reptile_type",
    "distribution",
    "habitat",
    "colour",
    "diet",
    "diet_class",
    "iucn_category",
    "venom",
    "fun_fact",
    "source_url",
)
#: Optional text fields; an omitted field or ``""`` is stored as NULL.
OPTIONAL_TEXT: tuple[str, ...] = ("genus", "subfamily", "iucn_source_url", "venom_source_url")
#: Every key an entry may have (``lists``, ``continents``, ``who_regions`` and ``synonyms`` are TOML
#: arrays of strings, ``well_known`` a boolean, ``iucn_year`` and ``who_category`` integers,
#: ``adult_length_cm`` a number).
ALLOWED_KEYS: frozenset[str] = frozenset(TAXON_COLUMNS)

#: Origins an entry may be listed in, in the canonical order used in the ``lists`` column.
LIST_NAMES: tuple[str, ...] = (
    "seed", "imagenet", "philippine", "photos", "who", "dangerous", "pet", "famous", "crocodilian",
)
#: Continents, in the canonical order of the ``continents`` column. Oceania = Australia, New Guinea,
#: New Zealand and the Pacific islands; Oceans = the open sea (sea snakes, sea turtles).
CONTINENTS: tuple[str, ...] = (
    "Africa", "Asia", "Europe", "North America", "South America", "Oceania", "Oceans",
)
#: Regions of the annex of the WHO snake-antivenom guidelines (WHO Technical Report Series 1004,
#: Annex 5, 2017: https://www.who.int/publications/m/item/snake-antivenom-immunoglobulins-annex-5-trs-no-1004).
WHO_REGIONS: tuple[str, ...] = ("Africa and the Middle East", "Asia and Australasia", "Americas", "Europe")
#: WHO categories: 1 = highest medical importance, 2 = secondary medical importance.
WHO_CATEGORIES: tuple[int, ...] = (1, 2)
#: Separator of the ``synonyms`` column (names never contain it).
SYNONYM_SEPARATOR = "|"
#: The tuatara type belongs to this family alone (order Rhynchocephalia, genus Sphenodon).
TUATARA_FAMILY = "Sphenodontidae"
#: Origins a species pack's own rows may also have (``python -m training.train --taxa FILE.toml``):
#: ``pack`` = the taxon came with a species pack, not with ``data/species``.
PACK_LIST_NAMES: tuple[str, ...] = (*LIST_NAMES, "pack")

#: IUCN categories that mean "an assessment exists" (so an assessment year may be given).
ASSESSED_CATEGORIES: frozenset[str] = frozenset({"LC", "NT", "VU", "EN", "CR", "EW", "EX", "DD"})

#: Oldest plausible Red List assessment year (the first Red Data Book appeared in 1964).
MIN_IUCN_YEAR = 1964

_CHECK_RE = re.compile(r"CHECK\s*\(\s*(\w+)\s+IN\s*\(([^)]*)\)\s*\)", re.IGNORECASE)
_QUOTED_RE = re.compile(r"'([^']*)'")


def schema_allowed_values(schema_sql: str | None = None) -> dict[str, tuple[str, ...]]:
    """Return the allowed string values of each column with a ``CHECK (col IN ('a', ...))``.

    Args:
        schema_sql: the schema text; ``schema.sql`` next to this module when omitted.

    Returns:
        ``{column: (value, ...)}`` for every CHECK whose values are quoted strings
        (numeric checks such as ``well_known IN (0, 1)`` are left out).
    """
    text = SCHEMA_PATH.read_text(encoding="utf-8") if schema_sql is None else schema_sql
    allowed: dict[str, tuple[str, ...]] = {}
    for column, values in _CHECK_RE.findall(text):
        quoted = tuple(_QUOTED_RE.findall(values))
        if quoted:
            allowed[column] = quoted
    return allowed


#: Allowed values of the enumerated columns, exactly as in schema.sql.
ALLOWED_VALUES: dict[str, tuple[str, ...]] = schema_allowed_values()


def _source_files(source_dir: Path) -> list[Path]:
    """The ``*.toml`` files of ``source_dir``, sorted by file name."""
    return sorted((p for p in Path(source_dir).glob("*.toml") if p.is_file()), key=lambda p: p.name)


def load_file(path: Path | str) -> tuple[list[dict[str, Any]], list[str]]:
    """Read the ``[[taxon]]`` entries of one TOML file, unvalidated.

    Returns:
        ``(entries, origins)``: the entries as parsed by :mod:`tomllib` and their ``"file.toml#n"``
        labels (for :func:`validate`'s messages).

    Raises:
        OSError: the file cannot be read.
        ValueError: the file is not valid TOML or holds anything other than ``[[taxon]]`` tables.
    """
    path = Path(path)
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path.name}: invalid TOML: {exc}") from exc
    extra = sorted(set(data) - {"taxon"})
    if extra:
        raise ValueError(f"{path.name}: unexpected top-level keys {extra}; only [[taxon]] tables")
    taxa = data.get("taxon", [])
    if not isinstance(taxa, list):
        raise ValueError(f"{path.name}: 'taxon' must be an array of tables ([[taxon]])")
    return list(taxa), [f"{path.name}#{n}" for n in range(1, len(taxa) + 1)]


def _load_with_origins(source_dir: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """Load every entry of every source file, with ``file.toml#n`` labels for error messages."""
    files = _source_files(source_dir)
    if not files:
        raise ValueError(f"no *.toml species files in {source_dir}")
    entries: list[dict[str, Any]] = []
    origins: list[str] = []
    for path in files:
        file_entries, file_origins = load_file(path)
        entries.extend(file_entries)
        origins.extend(file_origins)
    return entries, origins


def load_source(source_dir: Path | str = DEFAULT_SOURCE) -> list[dict[str, Any]]:
    """Read every ``[[taxon]]`` entry of ``source_dir/*.toml`` (files in name order).

    Args:
        source_dir: directory holding the species TOML files.

    Returns:
        The entries as parsed by :mod:`tomllib`, unvalidated.

    Raises:
        ValueError: when there is no TOML file, a file is not valid TOML, or a file holds anything
            other than ``[[taxon]]`` tables.
    """
    return _load_with_origins(Path(source_dir))[0]


def source_sha256(source_dir: Path | str = DEFAULT_SOURCE) -> str:
    """SHA-256 over the source files in name order.

    For each file the digest is fed ``name``, a NUL byte, the byte length in decimal, a NUL byte and
    the file's bytes, so that renaming or moving content between files also changes the hash.
    """
    digest = hashlib.sha256()
    for path in _source_files(Path(source_dir)):
        content = path.read_bytes()
        digest.update(path.name.encode("utf-8") + b"\0" + str(len(content)).encode("ascii") + b"\0")
        digest.update(content)
    return digest.hexdigest()


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _text(entry: dict[str, Any], key: str) -> str | None:
    """An optional text field as stored: ``None`` when omitted or empty."""
    value = entry.get(key)
    if value is None or value == "":
        return None
    return value if isinstance(value, str) else None


def _check_entry(entry: dict[str, Any], label: str, list_names: Sequence[str] = LIST_NAMES) -> list[str]:
    """Problems of one entry taken on its own (field presence, types, values, rank rules)."""
    problems: list[str] = []

    def bad(msg: str) -> None:
        problems.append(f"{label}: {msg}")

    unknown = sorted(set(entry) - ALLOWED_KEYS)
    if unknown:
        bad(f"unknown field(s) {unknown}")

    for key in REQUIRED_TEXT:
        value = entry.get(key)
        if value is None:
            bad(f"missing required field '{key}'")
        elif not isinstance(value, str):
            bad(f"'{key}' must be a string, got {type(value).__name__}")
        elif not value.strip():
            bad(f"'{key}' is empty")
    for key in OPTIONAL_TEXT:
        value = entry.get(key)
        if value is not None and not isinstance(value, str):
            bad(f"'{key}' must be a string, got {type(value).__name__}")
    for key in REQUIRED_TEXT + OPTIONAL_TEXT:
        value = entry.get(key)
        if isinstance(value, str) and value != value.strip():
            bad(f"'{key}' has leading or trailing whitespace")

    for key, allowed in ALLOWED_VALUES.items():
        value = entry.get(key)
        if isinstance(value, str) and value not in allowed:
            bad(f"{key} {value!r} is not one of {', '.join(allowed)}")

    problems.extend(_check_string_list(entry, "lists", list_names, label, required=True))
    problems.extend(_check_string_list(entry, "continents", CONTINENTS, label, required=True))
    problems.extend(_check_extended(entry, label))

    for key in ("source_url", "iucn_source_url", "venom_source_url"):  # old pages are often http only
        url = _text(entry, key)
        if url is not None and not url.startswith(("https://", "http://")):
            bad(f"{key} must be an http(s) URL, got {url!r}")
    for key in ("source_url", "iucn_source_url", "venom_source_url"):
        value = entry.get(key)
        if isinstance(value, str) and any(c.isspace() for c in value):
            bad(f"{key} contains whitespace")

    year = entry.get("iucn_year")
    category = entry.get("iucn_category")
    if year is not None:
        this_year = datetime.date.today().year
        if not _is_int(year):
            bad(f"iucn_year must be an integer, got {year!r}")
        elif not MIN_IUCN_YEAR <= year <= this_year:
            bad(f"iucn_year {year} outside {MIN_IUCN_YEAR}-{this_year}")
        if category in ALLOWED_VALUES["iucn_category"] and category not in ASSESSED_CATEGORIES:
            bad(f"iucn_year given but iucn_category is {category!r} (no assessment)")
    if category in ASSESSED_CATEGORIES:
        if year is None:
            bad(f"iucn_category {category!r} needs iucn_year (the assessment year), or write \"unknown\"")
        if _text(entry, "iucn_source_url") is None:
            bad(f"iucn_category {category!r} needs iucn_source_url (the page it was read on)")

    length = entry.get("adult_length_cm")
    if length is not None and (not _is_number(length) or not 0 < length < 2000):
        bad(f"adult_length_cm must be a number of centimetres in (0, 2000), got {length!r}")

    well_known = entry.get("well_known")
    if well_known is not None and not isinstance(well_known, bool):
        bad(f"well_known must be true or false, got {well_known!r}")

    problems.extend(_check_rank(entry, label))
    return problems


def _check_string_list(
    entry: dict[str, Any], key: str, allowed: Sequence[str] | None, label: str, *, required: bool
) -> list[str]:
    """Problems of an array-of-strings field: presence, type, emptiness, duplicates and (when
    ``allowed`` is given) values."""
    value = entry.get(key)
    if value is None:
        return [f"{label}: missing required field '{key}'"] if required else []
    if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
        return [f"{label}: '{key}' must be an array of strings"]
    problems: list[str] = []
    if not value and required:
        problems.append(f"{label}: '{key}' is empty")
    if allowed is not None:
        wrong = [x for x in value if x not in allowed]
        if wrong:
            problems.append(f"{label}: {key} {wrong} not in {{{', '.join(allowed)}}}")
    if any(not x.strip() or x != x.strip() for x in value):
        problems.append(f"{label}: '{key}' has an empty value or one with leading/trailing whitespace")
    if len({x.casefold() for x in value}) != len(value):
        problems.append(f"{label}: '{key}' has duplicates")
    return problems


def _check_extended(entry: dict[str, Any], label: str) -> list[str]:
    """Rules of the extended format (issue 11): synonyms, venom source, WHO listing, tuatara."""
    problems: list[str] = []

    def bad(msg: str) -> None:
        problems.append(f"{label}: {msg}")

    problems.extend(_check_string_list(entry, "synonyms", None, label, required=False))
    synonyms = entry.get("synonyms")
    if isinstance(synonyms, list) and any(isinstance(x, str) and SYNONYM_SEPARATOR in x for x in synonyms):
        bad(f"a synonym may not contain {SYNONYM_SEPARATOR!r}")

    kind, venom = entry.get("reptile_type"), entry.get("venom")
    needs_source = kind == "snake" or (kind == "lizard" and venom == "venomous")
    if needs_source and _text(entry, "venom_source_url") is None:
        bad("venom_source_url (a clinical or toxinology source) is required for every snake and "
            "venomous lizard")

    category = entry.get("who_category")
    if category is not None:
        if not _is_int(category) or category not in WHO_CATEGORIES:
            bad(f"who_category must be 1 or 2, got {category!r}")
        if kind != "snake":
            bad("who_category is for snakes (the WHO snake-antivenom guidelines)")
        if venom != "venomous":
            bad(f"a WHO-listed snake must be 'venomous', got {venom!r}")
        problems.extend(_check_string_list(entry, "who_regions", WHO_REGIONS, label, required=True))
    elif entry.get("who_regions"):
        bad("who_regions given without who_category")

    family = entry.get("family")
    if (kind == "tuatara") != (family == TUATARA_FAMILY) and isinstance(family, str):
        bad(f"reptile_type 'tuatara' goes with family {TUATARA_FAMILY} (order Rhynchocephalia) "
            "and only with it")
    return problems


def _check_rank(entry: dict[str, Any], label: str) -> list[str]:
    """Rank-dependent rules: name shape and which of genus/subfamily/family are set."""
    problems: list[str] = []
    name, rank = entry.get("scientific_name"), entry.get("rank")
    if not isinstance(name, str) or not isinstance(rank, str):
        return problems
    genus, subfamily, family = _text(entry, "genus"), _text(entry, "subfamily"), entry.get("family")
    words = name.split()

    def bad(msg: str) -> None:
        problems.append(f"{label}: {msg}")

    if rank in ("species", "subspecies"):
        want = 2 if rank == "species" else 3
        if len(words) != want or not words[0][:1].isupper() or any(w != w.lower() for w in words[1:]):
            bad(f"a {rank} name must be {want} words like 'Genus epithet', got {name!r}")
        if genus is None:
            bad(f"genus is required for {rank} rows")
        elif words and genus != words[0]:
            bad(f"genus {genus!r} does not match the name {name!r}")
    elif rank in GROUP_RANKS:
        if len(words) != 1 or not name[:1].isupper():
            bad(f"a {rank} name must be one capitalised word, got {name!r}")
        if genus is not None:
            bad(f"genus must be omitted for {rank} rows")
        if rank == "subfamily" and subfamily != name:
            bad(f"subfamily must equal the name {name!r} for subfamily rows")
        if rank == "family":
            if subfamily is not None:
                bad("subfamily must be omitted for family rows")
            if family != name:
                bad(f"family must equal the name {name!r} for family rows")
        category = entry.get("iucn_category")
        if isinstance(category, str) and category != "NE":
            bad(f"{rank} rows must have iucn_category 'NE' (IUCN assesses species), got {category!r}")
    if subfamily is not None and not subfamily.endswith("inae"):
        bad(f"subfamily {subfamily!r} does not end in -inae")
    if isinstance(family, str) and family and not family.endswith("idae"):
        bad(f"family {family!r} does not end in -idae")
    return problems


def validate(
    entries: Sequence[dict[str, Any]],
    origins: Sequence[str] | None = None,
    *,
    list_names: Sequence[str] = LIST_NAMES,
) -> None:
    """Check the source entries strictly; raise one ``ValueError`` that lists every problem.

    Rules: required fields present and non-empty; no unknown fields; enumerated values exactly as
    in the CHECK constraints of ``schema.sql``; ``lists`` a non-empty subset of :data:`LIST_NAMES`;
    ``source_url`` (and the other URLs) http(s); ``continents`` a non-empty subset of
    :data:`CONTINENTS`; ``venom_source_url`` for every snake and
    venomous lizard; ``iucn_year`` and ``iucn_source_url`` with every assessed category;
    ``who_category`` (1/2) only for venomous snakes and always with ``who_regions``; ``tuatara`` exactly
    for family Sphenodontidae; ``genus`` present and
    equal to the first word of the name for species/subspecies rows and omitted for higher ranks;
    genus/subfamily/family rows have ``iucn_category = "NE"``; ``iucn_year`` only with a real
    assessment; no duplicate ``scientific_name`` (nor a synonym that is another row's name); species
    rows agree with their genus row (family, subfamily, reptile type) when one exists; a group row's
    venom holds for every member.

    Args:
        entries: the entries as returned by :func:`load_source`.
        origins: optional labels (``"file.toml#n"``) of the entries, used in messages.
        list_names: the allowed ``lists`` values (:data:`PACK_LIST_NAMES` for a species pack's rows).

    Raises:
        ValueError: listing every problem found, one per line.
    """
    if origins is not None and len(origins) != len(entries):
        raise ValueError("origins and entries differ in length")
    problems: list[str] = []
    if not entries:
        problems.append("no taxa at all")
    seen: dict[str, str] = {}
    valid: list[dict[str, Any]] = []
    for i, entry in enumerate(entries):
        where = origins[i] if origins is not None else f"entry #{i + 1}"
        if not isinstance(entry, dict):
            problems.append(f"{where}: not a table")
            continue
        name = entry.get("scientific_name")
        label = f"{where} ({name})" if isinstance(name, str) else where
        entry_problems = _check_entry(entry, label, list_names)
        problems.extend(entry_problems)
        if isinstance(name, str):
            key = name.casefold()
            if key in seen:
                problems.append(f"{label}: duplicate scientific_name, first defined at {seen[key]}")
            else:
                seen[key] = where
        if not entry_problems:
            valid.append(entry)
    for entry in valid:
        own = seen.get(entry["scientific_name"].casefold())
        for synonym in entry.get("synonyms", ()):
            owner = seen.get(synonym.casefold())
            if owner is not None and owner != own:
                problems.append(
                    f"{entry['scientific_name']}: synonym {synonym!r} is the name of the row at {owner}"
                )
    problems.extend(_check_consistency(valid))
    if problems:
        raise ValueError(
            f"{len(problems)} problem(s) in the species source:\n" + "\n".join(f"  - {p}" for p in problems)
        )


#: Venom statuses from most to least dangerous; a group row may not claim less than any member has.
_VENOM_ORDER = ("venomous", "mildly venomous", "harmless")


def _check_consistency(entries: Sequence[dict[str, Any]]) -> list[str]:
    """Species/subspecies rows must agree with the genus row of their genus, when there is one; a
    group row's venom must be true of every member (no "harmless" group with a venomous member, no
    "venomous" group with a harmless member)."""
    problems: list[str] = []
    for group in entries:
        if group["rank"] not in GROUP_RANKS or group["venom"] not in _VENOM_ORDER:
            continue
        column = {"genus": "genus", "subfamily": "subfamily", "family": "family"}[group["rank"]]
        for member in entries:
            if member is group or _text(member, column) != group["scientific_name"]:
                continue
            if member["venom"] in _VENOM_ORDER and member["venom"] != group["venom"]:
                worse = _VENOM_ORDER.index(member["venom"]) < _VENOM_ORDER.index(group["venom"])
                if worse or group["venom"] == "venomous":
                    problems.append(
                        f"{member['scientific_name']}: venom {member['venom']!r} is not true of its group "
                        f"row {group['scientific_name']} ({group['venom']!r}); a group's venom must hold "
                        "for every member"
                    )
    genera = {e["scientific_name"]: e for e in entries if e["rank"] == "genus"}
    for entry in entries:
        if entry["rank"] not in ("species", "subspecies"):
            continue
        group = genera.get(entry["genus"])
        if group is None:
            continue
        for key in ("family", "subfamily", "reptile_type"):
            if key == "subfamily" and _text(group, key) is None:
                continue  # a genus row that names no subfamily does not contradict its species
            if _text(entry, key) != _text(group, key):
                problems.append(
                    f"{entry['scientific_name']}: {key} {_text(entry, key)!r} differs from its genus row "
                    f"{group['scientific_name']} ({_text(group, key)!r})"
                )
    return problems


def to_row(entry: dict[str, Any], list_names: Sequence[str] = LIST_NAMES) -> dict[str, Any]:
    """Convert one validated entry to its ``taxa`` row (a dict keyed by
    :data:`~bot.core.species.TAXON_COLUMNS`).

    Omitted/empty optional text becomes ``None``; ``lists`` becomes a comma-separated string in
    ``list_names`` order (default :data:`LIST_NAMES`), ``continents`` and ``who_regions`` likewise in
    :data:`CONTINENTS` / :data:`WHO_REGIONS` order, ``synonyms`` a ``|``-separated string in source
    order; ``well_known`` becomes 0/1; ``adult_length_cm`` a float.
    """
    length = entry.get("adult_length_cm")
    row: dict[str, Any] = {key: entry[key] for key in REQUIRED_TEXT}
    row.update({key: _text(entry, key) for key in OPTIONAL_TEXT})
    row["iucn_year"] = entry.get("iucn_year")
    row["adult_length_cm"] = None if length is None else float(length)
    row["well_known"] = 1 if entry.get("well_known", False) else 0
    row["lists"] = ",".join(name for name in list_names if name in entry["lists"])
    row["continents"] = ",".join(c for c in CONTINENTS if c in entry.get("continents", ()))
    own = {entry["scientific_name"].casefold(), entry["common_name"].casefold()}
    row["synonyms"] = SYNONYM_SEPARATOR.join(s for s in entry.get("synonyms", ()) if s.casefold() not in own)
    row["who_category"] = entry.get("who_category")
    row["who_regions"] = ",".join(r for r in WHO_REGIONS if r in entry.get("who_regions", ()))
    return {key: row[key] for key in TAXON_COLUMNS}


def expected_rows(entries: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Validate ``entries`` and return their rows sorted by ``scientific_name`` (the build's order)."""
    validate(entries)
    return sorted((to_row(e) for e in entries), key=lambda r: r["scientific_name"])


def dump_rows(db_path: Path | str) -> list[dict[str, Any]]:
    """Return the ``taxa`` rows of an existing database as dicts shaped like :func:`to_row`'s output,
    sorted by ``scientific_name`` (read by the species repository, :func:`bot.core.species.read_rows`)."""
    return list(read_rows(db_path).values())


def dump_metadata(db_path: Path | str) -> dict[str, str]:
    """Return the ``metadata`` table of an existing database as a dict."""
    uri = Path(db_path).resolve().as_uri() + "?mode=ro"
    with sqlite3.connect(uri, uri=True) as conn:
        meta = dict(conn.execute("SELECT key, value FROM metadata ORDER BY key").fetchall())
    conn.close()
    return meta


def build(source_dir: Path | str = DEFAULT_SOURCE, out_path: Path | str = DEFAULT_OUT) -> int:
    """Validate the sources and write a fresh database to ``out_path`` (atomically replaced).

    Returns:
        The number of taxa written.

    Raises:
        ValueError: when the sources are invalid (nothing is written then).
    """
    source_dir, out_path = Path(source_dir), Path(out_path)
    entries, origins = _load_with_origins(source_dir)
    validate(entries, origins)
    rows = sorted((to_row(e) for e in entries), key=lambda r: r["scientific_name"])
    digest = source_sha256(source_dir)

    out_path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=".species-", suffix=".sqlite", dir=out_path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        tmp.unlink()  # sqlite3 must create the file itself
        conn = sqlite3.connect(tmp)
        try:
            conn.executescript(SCHEMA_PATH.read_text(encoding="utf-8"))
            placeholders = ", ".join("?" for _ in TAXON_COLUMNS)
            with conn:
                conn.executemany(
                    f"INSERT INTO taxa ({', '.join(TAXON_COLUMNS)}) VALUES ({placeholders})",
                    [tuple(row[c] for c in TAXON_COLUMNS) for row in rows],
                )
                conn.executemany(
                    "INSERT INTO metadata (key, value) VALUES (?, ?)",
                    [("built_by", BUILT_BY), ("source_sha256", digest)],
                )
        finally:
            conn.close()
        os.replace(tmp, out_path)
    finally:
        tmp.unlink(missing_ok=True)
    return len(rows)


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the process exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m bot.species_db.build", description="Build species.sqlite from data/species/*.toml."
    )
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE, help="directory of *.toml files")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="database file to write")
    parser.add_argument(
        "--check", action="store_true", help="do not write; exit 1 if --out differs from the sources"
    )
    args = parser.parse_args(argv)
    try:
        if args.check:
            entries = load_source(args.source)
            expected = expected_rows(entries)
            if not args.out.exists() or dump_rows(args.out) != expected:
                print(f"{args.out} is out of date: run python -m bot.species_db.build", file=sys.stderr)
                return 1
            print(f"{args.out} is up to date ({len(expected)} taxa)")
            return 0
        count = build(args.source, args.out)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    files = len(_source_files(args.source))
    print(f"wrote {args.out}: {count} taxa from {files} file(s), source_sha256 {source_sha256(args.source)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
