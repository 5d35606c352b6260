"""Tests of the species database: the committed ``species.sqlite`` against its sources.

Sources of truth: ``data/species/*.toml`` (reviewed facts, see ``data/species/FORMAT.md``),
``../shared/data/seed_species.csv`` (the 108 seed species of the original Reptile Museum; only its
names are trusted) and ``inference/imagenet_taxa.py`` (ImageNet-1k reptile classes mapped to taxa).
"""

from __future__ import annotations

import copy
import csv
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from bot.core.species import TAXON_COLUMNS
from bot.core.taxonomy import GROUP_RANKS
from bot.species_db.build import (
    ALLOWED_VALUES,
    DEFAULT_OUT,
    DEFAULT_SOURCE,
    build,
    dump_metadata,
    dump_rows,
    expected_rows,
    load_source,
    schema_allowed_values,
    source_sha256,
    to_row,
    validate,
)
from inference.imagenet_taxa import IMAGENET_REPTILES

SHARED = Path(__file__).parents[1].parent / "shared"
SEED_CSV = SHARED / "data" / "seed_species.csv"
#: Seed names that are deliberately not in the database, with the reason.
SEED_NAMES_NOT_KEPT: dict[str, str] = {
    "Lygosoma striata": ("not a valid name (issue 11 review); the seed's 'Striped skink' cannot be matched "
                         "to one taxon"),
}
#: Genera with a venomous species whose other species are documented as not (fully) venomous.
VENOM_GENUS_EXCEPTIONS: dict[str, str] = {}
REBUILD_HINT = "species.sqlite is out of date: run `.venv/bin/python -m bot.species_db.build` and commit it"


@pytest.fixture(scope="module")
def source_rows() -> list[dict[str, Any]]:
    """Rows the build produces from data/species/*.toml."""
    return expected_rows(load_source(DEFAULT_SOURCE))


@pytest.fixture(scope="module")
def db_rows() -> list[dict[str, Any]]:
    """Rows of the committed species.sqlite."""
    if not DEFAULT_OUT.exists():
        pytest.fail(f"{DEFAULT_OUT} is missing. {REBUILD_HINT}")
    return dump_rows(DEFAULT_OUT)


@pytest.fixture(scope="module")
def db_by_name(db_rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {row["scientific_name"]: row for row in db_rows}


# --- (a) committed database == build output ---------------------------------------------------


def test_committed_db_matches_source(
    source_rows: list[dict[str, Any]], db_rows: list[dict[str, Any]]
) -> None:
    if db_rows == source_rows:
        return
    want = {r["scientific_name"]: r for r in source_rows}
    have = {r["scientific_name"]: r for r in db_rows}
    missing = sorted(set(want) - set(have))
    extra = sorted(set(have) - set(want))
    changed = sorted(n for n in set(want) & set(have) if want[n] != have[n])
    details = [f"missing from the database: {missing[:10]}"] if missing else []
    if extra:
        details.append(f"not in the sources: {extra[:10]}")
    for name in changed[:5]:
        cols = [c for c in TAXON_COLUMNS if want[name][c] != have[name][c]]
        details.append(f"{name}: columns differ: {cols}")
    pytest.fail(f"{REBUILD_HINT}\n" + "\n".join(details))


def test_committed_db_schema_and_metadata() -> None:
    schema = sqlite3.connect(DEFAULT_OUT.resolve().as_uri() + "?mode=ro", uri=True)
    try:
        committed = schema.execute("SELECT type, name, sql FROM sqlite_master ORDER BY name").fetchall()
    finally:
        schema.close()
    reference = sqlite3.connect(":memory:")
    try:
        reference.executescript((Path(__file__).parents[1] / "bot/species_db/schema.sql").read_text())
        expected = reference.execute("SELECT type, name, sql FROM sqlite_master ORDER BY name").fetchall()
    finally:
        reference.close()
    assert committed == expected, f"schema of species.sqlite differs from schema.sql. {REBUILD_HINT}"
    meta = dump_metadata(DEFAULT_OUT)
    assert set(meta) == {"built_by", "source_sha256"}
    assert len(meta["source_sha256"]) == 64


def test_build_is_deterministic(tmp_path: Path, source_rows: list[dict[str, Any]]) -> None:
    first, second = tmp_path / "a.sqlite", tmp_path / "b.sqlite"
    assert build(DEFAULT_SOURCE, first) == len(source_rows)
    build(DEFAULT_SOURCE, second)
    assert first.read_bytes() == second.read_bytes()
    assert dump_rows(first) == source_rows
    assert dump_metadata(first)["source_sha256"] == source_sha256(DEFAULT_SOURCE)


# --- (b) every seed species is present ---------------------------------------------------------


def test_all_seed_species_present(db_by_name: dict[str, dict[str, Any]]) -> None:
    if not SEED_CSV.exists():
        pytest.skip(f"{SEED_CSV} not found (../shared is not checked out beside the project)")
    with SEED_CSV.open(newline="", encoding="utf-8") as fh:
        seed = [row["scientific_name"].strip() for row in csv.DictReader(fh)]
    assert len(seed) == 108
    # A renamed seed species keeps its old name as a synonym of its row (issue 11: current names).
    by_synonym = {syn: row["scientific_name"] for row in db_by_name.values()
                  for syn in row["synonyms"].split("|") if syn}
    current = {name: name if name in db_by_name else by_synonym.get(name) for name in seed}
    missing = [name for name, now in current.items() if now is None and name not in SEED_NAMES_NOT_KEPT]
    assert not missing, f"{len(missing)} seed species missing from species.sqlite: {missing}"
    kept_anyway = [name for name in SEED_NAMES_NOT_KEPT if current.get(name)]
    assert not kept_anyway, f"documented as removed but still in the database: {kept_anyway}"
    not_marked = [name for name, now in current.items()
                  if now is not None and "seed" not in db_by_name[now]["lists"].split(",")]
    assert not not_marked, f"seed species without 'seed' in lists: {not_marked}"


# --- (c) every ImageNet reptile taxon is present with the same rank and type -------------------


def test_imagenet_taxa_present(db_by_name: dict[str, dict[str, Any]]) -> None:
    problems = []
    for taxon in IMAGENET_REPTILES:
        row = db_by_name.get(taxon.scientific_name)
        if row is None:
            problems.append(f"{taxon.index} {taxon.label}: {taxon.scientific_name} missing")
            continue
        if (row["rank"], row["reptile_type"]) != (taxon.rank, taxon.reptile_type):
            problems.append(
                f"{taxon.scientific_name}: database has {row['rank']}/{row['reptile_type']}, "
                f"ImageNet mapping says {taxon.rank}/{taxon.reptile_type}"
            )
        if "imagenet" not in row["lists"].split(","):
            problems.append(f"{taxon.scientific_name}: 'imagenet' not in lists")
    assert not problems, "\n".join(problems)


# --- (d) the validator rejects bad entries -----------------------------------------------------


def _good_entry(**changes: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "scientific_name": "Testudo testa",
        "common_name": "Test tortoise",
        "rank": "species",
        "genus": "Testudo",
        "family": "Testudinidae",
        "reptile_type": "turtle",
        "distribution": "unknown",
        "habitat": "unknown",
        "colour": "unknown",
        "diet": "unknown",
        "diet_class": "unknown",
        "iucn_category": "LC",
        "iucn_year": 2020,
        "venom": "harmless",
        "fun_fact": "It exists only in this test.",
        "well_known": False,
        "lists": ["seed"],
        "source_url": "https://example.org/testudo-testa",
        "iucn_source_url": "https://example.org/testudo-testa/iucn",
        "continents": ["Europe"],
    }
    entry.update(changes)
    return entry


def _snake_entry(**changes: Any) -> dict[str, Any]:
    return _good_entry(**{
        "scientific_name": "Naja testa", "common_name": "Test cobra", "genus": "Naja", "family": "Elapidae",
        "reptile_type": "snake", "venom": "venomous", "venom_source_url": "https://example.org/naja-testa/venom",
        **changes,
    })


def test_validator_accepts_good_entry() -> None:
    validate([_good_entry()])
    row = to_row(_good_entry(lists=["imagenet", "seed"], adult_length_cm=12))
    assert row["lists"] == "seed,imagenet"
    assert row["adult_length_cm"] == 12.0
    assert row["subfamily"] is None
    assert list(row) == list(TAXON_COLUMNS)


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"iucn_category": "Low Risk"}, "iucn_category 'Low Risk'"),
        ({"venom": "maybe"}, "venom 'maybe'"),
        ({"rank": "order"}, "rank 'order'"),
        ({"reptile_type": "amphibian"}, "reptile_type 'amphibian'"),
        ({"diet_class": "piscivore"}, "diet_class 'piscivore'"),
        ({"lists": ["seed", "wikipedia"]}, "lists ['wikipedia']"),
        ({"lists": []}, "'lists' is empty"),
        ({"source_url": "ftp://example.org/x"}, "source_url must be an http(s) URL"),
        ({"genus": None}, "genus is required"),
        ({"genus": "Chelonoidis"}, "does not match"),
        ({"common_name": ""}, "'common_name' is empty"),
        ({"iucn_year": "2020"}, "iucn_year must be an integer"),
        ({"iucn_category": "unknown"}, "iucn_year given"),
        ({"adult_length_cm": -3}, "adult_length_cm"),
        ({"well_known": "yes"}, "well_known"),
        ({"colour_": "green"}, "unknown field"),
        ({"scientific_name": "Testudo"}, "must be 2 words"),
        ({"continents": None}, "missing required field 'continents'"),
        ({"continents": ["Atlantis"]}, "continents ['Atlantis']"),
        ({"continents": []}, "'continents' is empty"),
        ({"iucn_year": None}, "needs iucn_year"),
        ({"iucn_source_url": None}, "needs iucn_source_url"),
        ({"synonyms": ["Testudo old", "testudo old"]}, "'synonyms' has duplicates"),
        ({"synonyms": "Testudo old"}, "'synonyms' must be an array"),
        ({"reptile_type": "tuatara"}, "reptile_type 'tuatara' goes with family Sphenodontidae"),
        ({"who_category": 1, "who_regions": ["Europe"]}, "who_category is for snakes"),
        ({"who_regions": ["Europe"]}, "who_regions given without who_category"),
    ],
)
def test_validator_rejects(changes: dict[str, Any], expected: str) -> None:
    entry = _good_entry(**changes)
    entry = {k: v for k, v in entry.items() if v is not None}
    with pytest.raises(ValueError, match="problem") as info:
        validate([entry])
    assert expected in str(info.value)


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"venom_source_url": None}, "venom_source_url (a clinical or toxinology source) is required"),
        ({"venom_source_url": "ftp://x"}, "venom_source_url must be an http(s) URL"),
        ({"who_category": 3, "who_regions": ["Europe"]}, "who_category must be 1 or 2"),
        ({"who_category": 1}, "missing required field 'who_regions'"),
        ({"who_category": 1, "who_regions": ["Mars"]}, "who_regions ['Mars']"),
        ({"who_category": 2, "who_regions": ["Europe"], "venom": "harmless"}, "must be 'venomous'"),
    ],
)
def test_validator_rejects_bad_snake_rows(changes: dict[str, Any], expected: str) -> None:
    entry = {k: v for k, v in _snake_entry(**changes).items() if v is not None}
    with pytest.raises(ValueError, match="problem") as info:
        validate([entry])
    assert expected in str(info.value)


def test_extended_fields_are_stored() -> None:
    entry = _snake_entry(continents=["Oceania", "Asia"], who_category=1,
                         who_regions=["Europe", "Asia and Australasia"], synonyms=["Naja vetus", "Old cobra"])
    validate([entry])
    row = to_row(entry)
    assert row["continents"] == "Asia,Oceania"
    assert row["who_category"] == 1 and row["who_regions"] == "Asia and Australasia,Europe"
    assert row["synonyms"] == "Naja vetus|Old cobra"
    assert to_row({**entry, "synonyms": ["Naja testa", "Old cobra"]})["synonyms"] == "Old cobra"  # own name
    assert row["venom_source_url"] == "https://example.org/naja-testa/venom"
    tuatara = _good_entry(scientific_name="Sphenodon punctatus", common_name="Tuatara", genus="Sphenodon",
                          family="Sphenodontidae", reptile_type="tuatara", continents=["Oceania"])
    validate([tuatara])
    # a venomous lizard needs its venom source too; a harmless one does not
    lizard = _good_entry(scientific_name="Heloderma testa", genus="Heloderma", family="Helodermatidae",
                         reptile_type="lizard", venom="venomous")
    with pytest.raises(ValueError, match="venom_source_url"):
        validate([lizard])
    validate([{**lizard, "venom": "harmless"}])


def test_validator_rejects_groups_whose_venom_is_not_true_of_a_member() -> None:
    genus = _snake_entry(scientific_name="Naja", rank="genus", common_name="Test cobras", iucn_category="NE")
    for key in ("genus", "iucn_year", "iucn_source_url"):
        del genus[key]
    member = _snake_entry()
    validate([genus, member])
    with pytest.raises(ValueError, match="not true of its group row Naja"):
        validate([{**genus, "venom": "harmless"}, member])
    with pytest.raises(ValueError, match="not true of its group row Naja"):
        validate([genus, {**member, "venom": "harmless"}])


def test_validator_rejects_a_synonym_that_is_another_rows_name() -> None:
    with pytest.raises(ValueError, match="synonym 'Testudo testa' is the name of the row"):
        validate([_good_entry(), _snake_entry(synonyms=["Testudo testa"])])


def _toml(entry: dict[str, Any]) -> str:
    """One ``[[taxon]]`` table (strings, booleans, integers and arrays of strings only)."""
    def value(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        return f'"{v}"' if isinstance(v, str) else str(v)
    return "[[taxon]]\n" + "".join(f"{k} = {value(v)}\n" for k, v in entry.items()) + "\n"


def test_build_accepts_absent_and_empty_files(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.toml").write_text(_toml(_good_entry()) + _toml(_snake_entry()), encoding="utf-8")
    (src / "b_being_written.toml").write_text("", encoding="utf-8")  # a helper's file, still empty
    out = tmp_path / "db.sqlite"
    assert build(src, out) == 2
    assert [r["scientific_name"] for r in dump_rows(out)] == ["Naja testa", "Testudo testa"]
    (src / "b_being_written.toml").unlink()  # ... or not there at all
    assert build(src, out) == 2


def test_validator_rejects_missing_field_and_lists_every_problem() -> None:
    entry = _good_entry(iucn_category="Low Risk", venom="maybe")
    del entry["habitat"]
    with pytest.raises(ValueError) as info:
        validate([entry])
    message = str(info.value)
    assert message.startswith("3 problem(s)")
    for part in ("missing required field 'habitat'", "Low Risk", "maybe"):
        assert part in message


def test_validator_rejects_duplicates_and_bad_group_rows() -> None:
    with pytest.raises(ValueError, match="duplicate scientific_name"):
        validate([_good_entry(), _good_entry()])
    genus_row = _good_entry(scientific_name="Testudo", rank="genus", iucn_category="NE")
    del genus_row["iucn_year"]
    del genus_row["iucn_source_url"]
    with pytest.raises(ValueError, match="genus must be omitted"):
        validate([genus_row])
    del genus_row["genus"]
    validate([genus_row])
    with pytest.raises(ValueError, match="must have iucn_category 'NE'"):
        validate([{**genus_row, "iucn_category": "LC"}])
    with pytest.raises(ValueError, match="differs from its genus row"):
        validate([genus_row, _good_entry(family="Emydidae")])


def test_validator_does_not_modify_entries() -> None:
    entries = [_good_entry()]
    before = copy.deepcopy(entries)
    validate(entries)
    assert entries == before


def test_allowed_values_come_from_schema() -> None:
    assert set(ALLOWED_VALUES) == {"rank", "reptile_type", "diet_class", "iucn_category", "venom"}
    assert ALLOWED_VALUES["iucn_category"] == (
        "LC",
        "NT",
        "VU",
        "EN",
        "CR",
        "EW",
        "EX",
        "DD",
        "NE",
        "unknown",
    )
    assert schema_allowed_values("x TEXT CHECK (x IN ('a', 'b')), y INTEGER CHECK (y IN (0, 1))") == {
        "x": ("a", "b")
    }


# --- (e) group rows (genus / subfamily / family) can find their member species ----------------


def test_group_rows_find_their_members(db_rows: list[dict[str, Any]]) -> None:
    conn = sqlite3.connect(DEFAULT_OUT.resolve().as_uri() + "?mode=ro", uri=True)
    problems = []
    try:
        for group in (r for r in db_rows if r["rank"] in GROUP_RANKS):
            rank, name = group["rank"], group["scientific_name"]
            members = conn.execute(
                f"SELECT scientific_name, reptile_type, family FROM taxa "  # rank is a fixed column name
                f"WHERE {rank} = ? AND rank IN ('species', 'subspecies')",
                (name,),
            ).fetchall()
            expected = {
                r["scientific_name"]
                for r in db_rows
                if r["rank"] in ("species", "subspecies") and r[rank] == name
            }
            if {m[0] for m in members} != expected:
                problems.append(f"{name}: index lookup disagrees with the rows")
            for member, reptile_type, family in members:
                if reptile_type != group["reptile_type"]:
                    problems.append(
                        f"{member} is a {reptile_type} but its {rank} {name} is {group['reptile_type']}"
                    )
                if family != group["family"]:
                    problems.append(
                        f"{member}: family {family} but its {rank} {name} is in {group['family']}"
                    )
    finally:
        conn.close()
    assert not problems, "\n".join(problems)


# --- (f) venom is consistent within a genus ------------------------------------------------------


def test_every_species_of_a_venomous_genus_is_venomous(db_rows: list[dict[str, Any]]) -> None:
    """A genus with one venomous species has all its species venomous, unless documented in
    :data:`VENOM_GENUS_EXCEPTIONS` (issue 11: safety first, no "harmless" cousin of a venomous snake)."""
    species = [r for r in db_rows if r["rank"] in ("species", "subspecies")]
    venomous_genera = {r["genus"] for r in species if r["venom"] == "venomous"}
    problems = [
        f"{r['scientific_name']} is {r['venom']!r} but genus {r['genus']} has venomous species"
        for r in species
        if r["genus"] in venomous_genera and r["venom"] != "venomous"
        and r["genus"] not in VENOM_GENUS_EXCEPTIONS
    ]
    assert not problems, "\n".join(problems)


def test_venom_genus_exceptions_are_still_needed(db_rows: list[dict[str, Any]]) -> None:
    species = [r for r in db_rows if r["rank"] in ("species", "subspecies")]
    for genus in VENOM_GENUS_EXCEPTIONS:
        kinds = {r["venom"] for r in species if r["genus"] == genus}
        assert "venomous" in kinds and len(kinds) > 1, f"{genus}: exception no longer needed, remove it"


def test_every_snake_and_venomous_lizard_has_a_venom_source(db_rows: list[dict[str, Any]]) -> None:
    missing = [r["scientific_name"] for r in db_rows
               if (r["reptile_type"] == "snake"
                   or (r["reptile_type"] == "lizard" and r["venom"] == "venomous"))
               and not (r["venom_source_url"] or "").startswith(("https://", "http://"))]
    assert not missing, f"no venom_source_url: {missing}"


def test_every_row_names_its_continents(db_rows: list[dict[str, Any]]) -> None:
    without = [r["scientific_name"] for r in db_rows if not r["continents"]]
    assert not without, f"rows without continents: {without}"


def test_renamed_taxa_are_found_by_their_old_names(db_by_name: dict[str, dict[str, Any]]) -> None:
    renamed = {"Callagur borneoensis": "Batagur borneoensis",
               "Emys marmorata": "Actinemys marmorata",
               "Trimeresurus trigonocephalus": "Craspedocephalus trigonocephalus"}
    for old, new in renamed.items():
        assert old not in db_by_name
        assert old in db_by_name[new]["synonyms"].split("|")
    assert "Actinemys pallida" in db_by_name and "Crocodylus halli" in db_by_name
