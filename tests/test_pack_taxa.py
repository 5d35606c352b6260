"""Species packs that name taxa the species database lacks: taxon rows in the pack (``taxa.json``).

A user trains a pack on a folder such as ``Phelsuma_klemmeri/`` + ``Phelsuma_ornata/``; the museum's
``species.sqlite`` knows neither. Training must still work (rows from ``--taxa FILE.toml``, else minimal
rows with every fact "unknown"), and the bot must answer with a fact card for them, while taxa the
database knows keep its reviewed facts.

The main tests train on synthetic photos (4 taxa x 8 Pillow images, a few seconds); the real-photo
variant (Phelsuma photos of ../shared/photos, with the two day geckos removed from a copy of the
database) skips cleanly when the photos are absent.
"""

from __future__ import annotations

import io
import json
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from bot.adapters.text_render import render_text
from bot.core import messages as m
from bot.core.card import CardKind, Severity
from bot.core.lookup import lookup_species
from bot.core.species import TAXON_COLUMNS, SpeciesRepository
from bot.services import open_services
from bot.settings import Settings
from inference.imagenet_taxa import IMAGENET_REPTILES
from inference.pack import TAXA_FILE, PackClassifier, PackError
from inference.postprocess import REPTILE_INDICES
from tests.paths import REPO, require_photos
from tests.synthetic_photos import make_species_folder, photo
from training.train import main as train_main

SPECIES_DB = REPO / "species.sqlite"
COMMITTED_PACK = REPO / "packs" / "ph-snakes"
#: In the species database (one venomous), not in it (no row anywhere), not in it (row in --taxa).
IN_DB = ("Naja samarensis", "Xenopeltis unicolor")
NEW = "Phelsuma klemmeri"
WITH_TOML = "Phelsuma ornata"
CLASSES = sorted((*IN_DB, NEW, WITH_TOML))

TAXA_TOML = """\
[[taxon]]
scientific_name = "Phelsuma ornata"
common_name = "Ornate day gecko"
rank = "species"
genus = "Phelsuma"
family = "Gekkonidae"
reptile_type = "lizard"
distribution = "Mauritius"
habitat = "unknown"
colour = "unknown"
diet = "Insects, nectar, pollen and soft fruit"
diet_class = "omnivore"
iucn_category = "unknown"
venom = "harmless"
fun_fact = "Unlike most geckos, day geckos are awake in the daytime."
lists = ["pack"]
source_url = "https://en.wikipedia.org/wiki/Gold_dust_day_gecko"
continents = ["Africa"]

# The database has reviewed facts for this one: this row must be ignored.
[[taxon]]
scientific_name = "Naja samarensis"
common_name = "Not the database's cobra"
rank = "species"
genus = "Naja"
family = "Elapidae"
reptile_type = "snake"
distribution = "unknown"
habitat = "unknown"
colour = "unknown"
diet = "unknown"
diet_class = "unknown"
iucn_category = "unknown"
venom = "venomous"
fun_fact = "unknown"
lists = ["pack"]
source_url = "https://example.org/not-used"
continents = ["Asia"]
venom_source_url = "https://example.org/not-used-either"
"""


def _make_folder(root: Path, per_class: int = 8) -> Path:
    return make_species_folder(root, CLASSES, per_class)


def _logits_of_type(reptile_type: str) -> np.ndarray:
    """ImageNet logits the base gate reads as a clear reptile of ``reptile_type``."""
    k = next(i for i, t in enumerate(IMAGENET_REPTILES) if t.reptile_type == reptile_type)
    logits = np.zeros(1000)
    logits[REPTILE_INDICES[k]] = 20.0
    return logits


def _probs(top: str, p: float = 0.9) -> np.ndarray:
    probs = np.full(len(CLASSES), (1 - p) / (len(CLASSES) - 1))
    probs[CLASSES.index(top)] = p
    return probs


def _edit_json(path: Path, edit) -> None:
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data, indent=2))


def _row(data: dict, name: str) -> dict:
    return next(r for r in data["taxa"] if r["scientific_name"] == name)


def _copy_pack(src: Path, dst: Path) -> Path:
    """A copy of a pack whose json files can be edited (model.onnx is a symlink: never copied)."""
    dst.mkdir()
    for f in src.iterdir():
        if f.name == "model.onnx":
            (dst / f.name).symlink_to(f.resolve())
        else:
            shutil.copy(f, dst / f.name)
    return dst


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """(pack dir, run dir, taxa toml) of one synthetic run with two taxa the database lacks."""
    tmp = tmp_path_factory.mktemp("pack_taxa")
    folder = _make_folder(tmp / "photos")
    toml = tmp / "geckos.toml"
    toml.write_text(TAXA_TOML)
    pack, runs = tmp / "geckos", tmp / "runs"
    code = train_main(["--folder", str(folder), "--out", str(pack), "--runs-dir", str(runs),
                       "--cache-dir", str(tmp / "cache"), "--augment", "1", "--taxa", str(toml),
                       "--type", "lizard"])
    assert code == 0
    (run_dir,) = list(runs.iterdir())
    return pack, run_dir, toml


# ------------------------------------------------------------------------------------------ training


def test_the_pack_carries_a_full_row_for_every_taxon(trained):
    pack, run_dir, _ = trained
    data = json.loads((pack / TAXA_FILE).read_text())
    labels = json.loads((pack / "labels.json").read_text())
    assert [r["scientific_name"] for r in data["taxa"]] == CLASSES
    assert [t["scientific_name"] for t in labels["taxa"]] == CLASSES  # labels.json keeps its old shape
    assert set(labels["taxa"][0]) == {"scientific_name", "common_name", "rank", "reptile_type", "venom"}
    assert all(tuple(r) == TAXON_COLUMNS for r in data["taxa"])
    assert json.loads((pack / "pack.json").read_text())["taxa_file"] == TAXA_FILE
    source = {p["scientific_name"]: p["source"] for p in data["provenance"]}
    assert source == {"Naja samarensis": "species.sqlite", "Xenopeltis unicolor": "species.sqlite",
                      NEW: "minimal", WITH_TOML: "taxa-toml"}
    report = json.loads((run_dir / "report.json").read_text())
    assert report["taxon_rows"] == data["provenance"]


def test_a_taxon_in_the_database_keeps_its_reviewed_row_over_the_toml(trained):
    import sqlite3

    pack, _, _ = trained
    naja = _row(json.loads((pack / TAXA_FILE).read_text()), "Naja samarensis")
    conn = sqlite3.connect(f"file:{SPECIES_DB}?mode=ro", uri=True)
    db_row = conn.execute(f"SELECT {', '.join(TAXON_COLUMNS)} FROM taxa WHERE scientific_name = ?",
                          ("Naja samarensis",)).fetchone()
    conn.close()
    assert naja == dict(zip(TAXON_COLUMNS, db_row, strict=True))  # verbatim
    assert naja["common_name"] == "Samar cobra"


def test_a_taxon_without_any_row_gets_an_honest_minimal_row(trained):
    pack, _, _ = trained
    data = json.loads((pack / TAXA_FILE).read_text())
    row = _row(data, NEW)
    assert row["common_name"] == NEW and row["rank"] == "species" and row["genus"] == "Phelsuma"
    assert row["reptile_type"] == "lizard"  # --type
    assert row["family"] == "unknown" and row["venom"] == "unknown" and row["iucn_category"] == "unknown"
    for fact in ("distribution", "habitat", "colour", "diet", "diet_class", "fun_fact"):
        assert row[fact] == "unknown"
    assert row["iucn_year"] is None and row["adult_length_cm"] is None and row["well_known"] == 0
    assert row["lists"] == "pack"
    assert "no facts recorded" in row["source_url"] and "--type" in row["source_url"]
    assert "given with --type" in next(p for p in data["provenance"] if p["scientific_name"] == NEW)["detail"]


def test_training_warns_about_minimal_rows_and_says_how_to_add_facts(tmp_path, caplog, capsys):
    folder = _make_folder(tmp_path / "photos", per_class=3)
    with caplog.at_level("WARNING", logger="training.export_pack"):
        code = train_main(["--folder", str(folder), "--out", str(tmp_path / "p"), "--runs-dir",
                           str(tmp_path / "r"), "--no-cache", "--augment", "0"])
    assert code == 0
    warning = next(r.getMessage() for r in caplog.records if "minimal rows" in r.getMessage())
    assert NEW in warning and WITH_TOML in warning and "--taxa FILE.toml" in warning
    assert "inferred from 3 training photos" in warning  # no --type: the type comes from the photos
    out = capsys.readouterr().out
    assert "no facts for 2 taxa" in out and "--taxa FILE.toml" in out


def test_a_bad_taxa_file_is_refused_before_any_work(tmp_path, capsys):
    folder = _make_folder(tmp_path / "photos", per_class=2)
    bad = tmp_path / "bad.toml"
    bad.write_text(TAXA_TOML.replace('diet_class = "omnivore"', 'diet_class = "nectarivore"'))
    code = train_main(["--folder", str(folder), "--out", str(tmp_path / "p"), "--runs-dir",
                       str(tmp_path / "r"), "--no-cache", "--taxa", str(bad)])
    assert code == 2
    assert "nectarivore" in capsys.readouterr().err
    assert not (tmp_path / "p").exists()


def test_reptile_type_is_the_largest_reptile_mass_over_a_taxons_photos():
    from training.export_pack import infer_types

    lizard, snake = _logits_of_type("lizard"), _logits_of_type("snake")
    logits = np.stack([lizard, lizard, snake, snake, snake * 0.9 + lizard * 0.2])
    guesses = infer_types(logits, ["A", "A", "B", "B", "A"])
    assert guesses["A"].reptile_type == "lizard" and guesses["A"].photos == 3
    assert guesses["B"].reptile_type == "snake" and guesses["B"].share > 0.99
    assert 0.9 < guesses["B"].reptile_probability <= 1.0
    with pytest.raises(ValueError):
        infer_types(logits[:2], ["A"])


def test_a_snake_with_unknown_venom_still_gets_the_caution():
    from bot.core.cards import taxon_warning
    from bot.core.species import taxa_from_rows
    from training.export_pack import minimal_row

    (snake,) = taxa_from_rows([minimal_row("Boiga imaginaria", "snake", note="test")])
    (lizard,) = taxa_from_rows([minimal_row("Phelsuma", "lizard", note="test")])
    assert snake.venom == "unknown" and taxon_warning(snake).text == m.WARN_UNKNOWN_SNAKE
    assert lizard.rank == "genus" and lizard.genus is None and taxon_warning(lizard) is None


def test_the_one_taxon_row_definition_is_the_species_table_of_the_schema():
    from bot.species_db.build import SCHEMA_PATH

    conn = sqlite3.connect(":memory:")
    conn.executescript(SCHEMA_PATH.read_text())
    table = tuple(r[1] for r in conn.execute("PRAGMA table_info(taxa)"))
    conn.close()
    assert table == TAXON_COLUMNS  # the repository, the builder and the packs' rows use this list


def test_inference_never_opens_the_species_database():
    import ast

    for module in ("pack.py", "pack_heads.py"):
        tree = ast.parse((REPO / "inference" / module).read_text())
        imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import | ast.ImportFrom)
                    for a in n.names} | {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
        assert not imported & {"sqlite3", "aiosqlite"}, module
        assert not {c for c in names if c.endswith("COLUMNS")}, module  # no column list of its own


async def pack_taxa_served(clf: PackClassifier) -> list[str]:
    """What the bot's species repository serves from a pack's rows, after checking its labels."""
    repo = await SpeciesRepository.open(SPECIES_DB, clf.taxon_rows, clf.taxa)
    try:
        return [t.scientific_name for t in repo.pack_taxa]
    finally:
        await repo.close()


# ------------------------------------------------------------------------------------------- runtime


async def test_the_bot_answers_with_a_card_for_a_taxon_the_museum_does_not_know(trained):
    pack, _, _ = trained
    services = await open_services(Settings(reptile_pack=pack))
    try:
        assert services.species.from_pack(NEW) and services.species.from_pack(WITH_TOML)
        assert not services.species.from_pack("Naja samarensis")
        # a real photo through the whole pipeline: no crash, the pack's model answers
        buf = io.BytesIO()
        photo(np.random.default_rng(9), (220, 200, 40), "dots").save(buf, "JPEG")
        outcome = await services.identify.identify(buf.getvalue())
        assert outcome.identification is not None and outcome.identification.model.startswith("pack:geckos@")
        # the pack's top answer is the unknown gecko, with the base gate saying "lizard"
        ident = services.runner._classifier.decide(_probs(NEW, 0.97), _logits_of_type("lizard"))
        assert ident.top[0].scientific_name == NEW
        card = await services.identify.card_for(ident)
        assert card.title == NEW and card.scientific_name == NEW
        facts = {f.label: f.value for f in card.facts}
        assert facts["Type"] == "Lizard"
        assert facts["Conservation status"] == "unknown" and facts["Venom"] == "unknown"
        assert "Where it lives" not in facts and not card.fun_fact  # unknown facts are left out
        # a lizard of unknown venom: no danger, no unknown-snake caution (only the look-alike caution
        # for the venomous cobra among the top 3)
        assert card.warning is not None and card.warning.severity is Severity.CAUTION
        assert card.warning.text == m.warn_lookalike("Samar cobra")
        assert not card.quizzable  # never a quiz about facts nobody reviewed
        text = render_text(card)
        # the provenance note is not a web page: no "Source:" line (and no local folder path) in the chat
        assert NEW in text and "no facts recorded" not in text and "Source:" not in text
    finally:
        await services.close()


async def test_toml_facts_appear_on_the_card_and_in_species_lookups(trained):
    pack, _, _ = trained
    services = await open_services(Settings(reptile_pack=pack))
    try:
        ident = services.runner._classifier.decide(_probs(WITH_TOML), _logits_of_type("lizard"))
        card = await services.identify.card_for(ident)
        assert card.title == "Ornate day gecko"
        facts = {f.label: f.value for f in card.facts}
        assert "Mauritius" in facts["Where it lives"] and facts["Venom"] == "Not venomous"
        assert card.fun_fact.startswith("Unlike most geckos")
        assert card.source_url == "https://en.wikipedia.org/wiki/Gold_dust_day_gecko"
        # /species finds pack taxa too (exact and fuzzy)
        assert (await lookup_species(services.species, "ornate day gecko")).scientific_name == WITH_TOML
        assert (await lookup_species(services.species, "phelsuma klemmeri")).scientific_name == NEW
        assert (await lookup_species(services.species, "phelsuma klemmer")).scientific_name == NEW
        # quizzes are made of the database's reviewed rows only
        assert NEW not in services.quiz.generator.by_name
        assert WITH_TOML not in services.quiz.generator.by_name
        assert services.quiz.generator.photo_question(WITH_TOML, "file-id") is None
    finally:
        await services.close()


async def test_a_database_taxon_keeps_database_facts_even_if_the_pack_row_differs(trained, tmp_path):
    pack = _copy_pack(trained[0], tmp_path / "edited")
    _edit_json(pack / TAXA_FILE, lambda d: _row(d, "Naja samarensis").update(
        common_name="Edited cobra", fun_fact="Edited fact.", distribution="Nowhere"))
    services = await open_services(Settings(reptile_pack=pack))
    try:
        ident = services.runner._classifier.decide(_probs("Naja samarensis"), _logits_of_type("snake"))
        card = await services.identify.card_for(ident)
        assert card.title == "Samar cobra" and card.fun_fact != "Edited fact."
        assert card.warning is not None  # venomous, from the database
        assert (await services.species.get("Naja samarensis")).common_name == "Samar cobra"
    finally:
        await services.close()


async def test_a_pack_disagreeing_with_the_database_on_venom_still_fails_loudly(trained, tmp_path):
    pack = _copy_pack(trained[0], tmp_path / "harmless-cobra")
    for name in ("labels.json", TAXA_FILE):
        _edit_json(pack / name, lambda d: _row(d, "Naja samarensis").update(venom="harmless"))
    with pytest.raises(PackError, match=r"Naja samarensis.*retrain"):
        await open_services(Settings(reptile_pack=pack))


def test_labels_and_taxon_rows_must_agree(trained, tmp_path):
    pack = _copy_pack(trained[0], tmp_path / "disagree")
    _edit_json(pack / TAXA_FILE, lambda d: _row(d, NEW).update(venom="venomous"))
    with pytest.raises(PackError, match=NEW):
        PackClassifier(pack)


async def test_a_pack_row_that_breaks_the_schema_is_refused(trained, tmp_path):
    pack = _copy_pack(trained[0], tmp_path / "bad-row")
    _edit_json(pack / TAXA_FILE, lambda d: _row(d, NEW).update(iucn_category="very rare"))
    with pytest.raises(PackError, match=NEW):
        await open_services(Settings(reptile_pack=pack))


async def test_a_pack_without_rows_for_unknown_taxa_fails_loudly(trained, tmp_path):
    pack = _copy_pack(trained[0], tmp_path / "no-rows")
    (pack / TAXA_FILE).unlink()
    _edit_json(pack / "pack.json", lambda d: d.pop("taxa_file"))
    with pytest.raises(PackError, match=f"{NEW}: not in the species database"):
        await open_services(Settings(reptile_pack=pack))
    assert PackClassifier(pack).taxon_rows == ()  # the pack's files alone are consistent


async def test_an_old_style_pack_without_taxon_rows_still_loads(tmp_path):
    if not (COMMITTED_PACK / "pack.json").exists():
        pytest.skip("packs/ph-snakes not present")
    pack = _copy_pack(COMMITTED_PACK, tmp_path / "old")
    (pack / TAXA_FILE).unlink()
    _edit_json(pack / "pack.json", lambda d: d.pop("taxa_file"))
    clf = PackClassifier(pack)
    assert clf.taxon_rows == () and len(clf.taxa) == 14
    assert await pack_taxa_served(clf) == []
    services = await open_services(Settings(reptile_pack=pack))
    try:
        assert services.species.pack_taxa == []
        ident = services.runner._classifier.decide(np.eye(14)[5] * 0.95 + 0.05 / 14, _logits_of_type("snake"))
        card = await services.identify.card_for(ident)
        assert card.scientific_name == clf.taxa[5].scientific_name and card.warning is not None
    finally:
        await services.close()


async def test_refresh_taxa_rewrites_rows_without_touching_the_model(trained, tmp_path, capsys):
    from inference.hashing import file_sha256
    from training.export_pack import main as export_main

    src, _, toml = trained
    pack = _copy_pack(src, tmp_path / "refresh")
    before = json.loads((pack / TAXA_FILE).read_text())
    (pack / TAXA_FILE).unlink()
    meta = json.loads((pack / "pack.json").read_text())
    _edit_json(pack / "pack.json", lambda d: d.pop("taxa_file"))
    sha = file_sha256(pack / "head.npz")
    assert export_main(["--refresh-taxa", str(pack), "--taxa", str(toml)]) == 0
    after = json.loads((pack / TAXA_FILE).read_text())
    assert file_sha256(pack / "head.npz") == sha  # the head is untouched
    assert json.loads((pack / "pack.json").read_text()) == meta  # only taxa_file was added back
    assert _row(after, "Naja samarensis") == _row(before, "Naja samarensis")
    assert _row(after, WITH_TOML) == _row(before, WITH_TOML)
    minimal = _row(after, NEW)  # rebuilt from its label
    assert minimal["reptile_type"] == "lizard" and minimal["venom"] == "unknown"
    assert minimal["fun_fact"] == "unknown"
    assert await pack_taxa_served(PackClassifier(pack)) == sorted((NEW, WITH_TOML))
    # a row that would change a venom status the venom guard was calibrated on is refused
    bad = tmp_path / "venom.toml"
    bad.write_text(TAXA_TOML.replace('venom = "harmless"',
                                         'venom = "venomous"\nvenom_source_url = "https://example.org/v"'))
    assert export_main(["--refresh-taxa", str(pack), "--taxa", str(bad)]) == 2
    assert "retrain" in capsys.readouterr().err


async def test_committed_pack_carries_the_database_rows():
    if not (COMMITTED_PACK / "pack.json").exists():
        pytest.skip("packs/ph-snakes not present")
    clf = PackClassifier(COMMITTED_PACK)
    assert len(clf.taxon_rows) == 14 and await pack_taxa_served(clf) == []
    data = json.loads((COMMITTED_PACK / TAXA_FILE).read_text())
    assert {p["source"] for p in data["provenance"]} == {"species.sqlite"}


def test_cli_species_finds_pack_taxa(trained, capsys):
    from bot.cli import main as cli_main

    pack, _, _ = trained
    assert cli_main(["species", "--pack", str(pack), "ornate", "day", "gecko"]) == 0
    assert WITH_TOML in capsys.readouterr().out
    assert cli_main(["species", "--pack", str(pack), "--list"]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert any(line.startswith(f"{NEW}\t") and line.endswith("\tpack") for line in listed)


# ---------------------------------------------------------------------------------------- real photos


@pytest.mark.photos
async def test_real_gecko_photos_train_a_pack_the_museum_does_not_know(tmp_path):
    photos = require_photos()
    grandis, laticauda = "Phelsuma grandis", "Phelsuma laticauda"
    # A museum that does not know the two day geckos: the real database minus their rows.
    db = tmp_path / "species.sqlite"
    shutil.copy(SPECIES_DB, db)
    with sqlite3.connect(db) as conn:
        conn.execute("DELETE FROM taxa WHERE scientific_name IN (?, ?)", (grandis, laticauda))
    conn.close()
    folder = tmp_path / "photos"
    sources = {grandis: photos / "phelsuma-geckos" / "Phelsuma_grandis",
               laticauda: photos / "phelsuma-geckos" / "Phelsuma_laticauda",
               "Naja samarensis": photos / "ph-snakes" / "Naja_samarensis"}
    for taxon, src in sources.items():  # symlinks in tmp only: the copyrighted photos are never copied
        if not src.is_dir():
            pytest.skip(f"{src} not found")
        dst = folder / taxon.replace(" ", "_")
        dst.mkdir(parents=True)
        for f in sorted(src.iterdir())[:12]:
            (dst / f.name).symlink_to(f)
    pack = tmp_path / "pack"
    # --cache-dir in tmp: the default (.cache/ in the checkout) would be shared with earlier runs and with
    # a parallel worker training on the same photos at the same time.
    code = train_main(["--folder", str(folder), "--out", str(pack), "--runs-dir", str(tmp_path / "runs"),
                       "--cache-dir", str(tmp_path / "cache"), "--augment", "1", "--species-db", str(db)])
    assert code == 0
    data = json.loads((pack / TAXA_FILE).read_text())
    for name in (grandis, laticauda):  # the base model sees lizards in the gecko photos
        assert _row(data, name)["reptile_type"] == "lizard"
        assert "inferred from 12 training photos" in _row(data, name)["source_url"]
    services = await open_services(Settings(reptile_pack=pack, species_db_path=db))
    try:
        photo = next((folder / "Phelsuma_grandis").iterdir())
        outcome = await services.identify.identify(photo.read_bytes())
        assert outcome.identification is not None
        assert outcome.card.kind is not CardKind.PROBLEM  # a card, never "something went wrong"
        if outcome.identification.top and outcome.identification.top[0].scientific_name == grandis:
            assert outcome.card.title == grandis
    finally:
        await services.close()


@pytest.mark.photos
async def test_real_gecko_pack_gets_the_museums_reviewed_facts(tmp_path):
    """With the real database (which has both day geckos), the pack copies the reviewed rows."""
    photos = require_photos()
    folder = tmp_path / "photos"
    for name in ("Phelsuma_grandis", "Phelsuma_laticauda"):
        src = photos / "phelsuma-geckos" / name
        if not src.is_dir():
            pytest.skip(f"{src} not found")
        (folder / name).mkdir(parents=True)
        for f in sorted(src.iterdir())[:8]:
            (folder / name / f.name).symlink_to(f)
    pack = tmp_path / "pack"
    code = train_main(["--folder", str(folder), "--out", str(pack), "--runs-dir", str(tmp_path / "runs"),
                       "--cache-dir", str(tmp_path / "cache"), "--augment", "0"])
    assert code == 0
    data = json.loads((pack / TAXA_FILE).read_text())
    with sqlite3.connect(f"file:{SPECIES_DB}?mode=ro", uri=True) as conn:
        conn.row_factory = sqlite3.Row
        for name in ("Phelsuma grandis", "Phelsuma laticauda"):
            db_row = dict(conn.execute("SELECT * FROM taxa WHERE scientific_name = ?", (name,)).fetchone())
            assert {k: _row(data, name)[k] for k in db_row} == db_row
    conn.close()


def test_run_report_says_where_each_taxon_row_came_from(trained):
    _, run_dir, _ = trained
    md = (run_dir / "report.md").read_text()
    section = md.split("## Taxon rows in the pack (taxa.json)", 1)[1].split("\n\n", 2)[1]
    rows = {line.split("|")[1].strip(" *"): line.split("|")[2].strip() for line in section.splitlines()[2:]}
    assert rows == {"Naja samarensis": "species.sqlite", "Xenopeltis unicolor": "species.sqlite",
                    NEW: "minimal", WITH_TOML: "taxa-toml"}
