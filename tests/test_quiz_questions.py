"""Quiz questions: every generated question has exactly one right option, checked two ways.

1. :func:`bot.core.quiz.questions.verify` (the generator's own check);
2. :func:`independent_right_options` below, a separate re-implementation written from the issue's
   rules: it maps option *texts* back to database rows by common name (not via ``option_keys``), uses
   its own label tables, and for "where does it live?" uses hand-written areas (``AREAS``) on the test
   database and a shared-place-word test on the real one.
"""

from __future__ import annotations

import random
import re
import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.core.quiz.questions import (
    GENERATED_KINDS,
    MAX_EXPLANATION_CHARS,
    MAX_OPTION_CHARS,
    MAX_PROMPT_CHARS,
    Difficulty,
    Question,
    QuestionGenerator,
    QuestionKind,
    related,
    tree_for,
    verify,
)
from bot.core.quiz.regions import definitely_disjoint, regions_of
from bot.core.species import SpeciesRepository, Taxon
from tests.test_quiz_fixtures import AREAS, areas_overlap, taxa

REAL_DB = Path(__file__).resolve().parents[1] / "species.sqlite"

# -- the independent oracle ----------------------------------------------------------------------------

_TYPE_BY_LABEL = {
    "crocodile or alligator": "crocodilian", "crocodilian": "crocodilian", "lizard": "lizard",
    "snake": "snake", "turtle or tortoise": "turtle", "tuatara": "tuatara",
}
_DIET_BY_LABEL = {
    "meat-eater": "carnivore", "carnivore (meat-eater)": "carnivore",
    "insect-eater": "insectivore", "insectivore (insect-eater)": "insectivore",
    "plant-eater": "herbivore", "herbivore (plant-eater)": "herbivore",
    "eats both plants and animals": "omnivore", "omnivore (plants and animals)": "omnivore",
}
_KNOWN_IUCN = {"LC", "NT", "VU", "EN", "CR"}


def _place_words(text: str) -> set[str]:
    """Place names: runs of capitalised words ("South America", "Sri Lanka"), minus direction words."""
    ignore = {"Native", "Southern", "Northern", "Eastern", "Western", "Central", "Islands", "Island", "Only",
              "Most", "Much", "Mainly", "All", "Coastal", "Tropical", "Warm"}
    return {w for w in re.findall(r"[A-Z][\w'-]+(?:\s+[A-Z][\w'-]+)*", text) if w not in ignore}


def independent_right_options(q: Question, db: dict[str, Taxon], by_common: dict[str, Taxon],
                              hand_areas: bool) -> list[bool]:
    """For each option: could it be a right answer according to the database? (Not using verify.)"""
    subject = db[q.scientific_name]
    assert subject.rank in ("species", "subspecies") or q.kind == QuestionKind.PHOTO
    kind = q.kind
    if kind == QuestionKind.TYPE:
        return [_TYPE_BY_LABEL[o.casefold()] == subject.reptile_type for o in q.options]
    if kind == QuestionKind.DIET:
        assert subject.diet_class != "unknown"
        classes = [_DIET_BY_LABEL[o.casefold()] for o in q.options]
        assert not {"carnivore", "insectivore"} <= set(classes), "insects are meat too: ambiguous"
        return [c == subject.diet_class for c in classes]
    if kind == QuestionKind.DISTRIBUTION:
        assert subject.distribution != "unknown"
        right = []
        for o in q.options:
            if o == subject.distribution:
                right.append(True)
            elif hand_areas:
                right.append(areas_overlap(subject.distribution, o))
            else:  # real database: a shared place name would make the option (partly) right
                right.append(bool(_place_words(o) & _place_words(subject.distribution)))
        return right
    # Name options: look each text up by common name.
    animals = [by_common[o] for o in q.options]
    if q.difficulty == Difficulty.KIDS and kind != QuestionKind.PHOTO:
        assert all(a.well_known for a in animals), "kids questions use well-known animals only"
    if kind == QuestionKind.VENOM:
        assert all(a.venom in ("venomous", "harmless") for a in animals)
        wanted = "venomous" if "no venom" not in q.prompt and "not venomous" not in q.prompt else "harmless"
        return [a.venom == wanted for a in animals]
    if kind == QuestionKind.IUCN:
        assert all(a.iucn_category in _KNOWN_IUCN for a in animals)
        wanted = "CR" if "Critically Endangered" in q.prompt else "LC"
        return [a.iucn_category == wanted for a in animals]
    if kind == QuestionKind.FUN_FACT:
        return [a.fun_fact != "unknown" and a.fun_fact in q.prompt for a in animals]
    if kind == QuestionKind.SCIENTIFIC_NAME:
        return [bool(re.search(re.escape(a.scientific_name) + r"[.?]", q.prompt)) for a in animals]
    if kind == QuestionKind.PHOTO:
        return [a.scientific_name == q.scientific_name for a in animals]
    raise AssertionError(f"unexpected kind {kind}")


# -- independent give-away oracle (issues 11 and 15) ---------------------------------------------------

_TYPE_WORDS_RE = re.compile(
    r"crocodil|crocodyl|alligator|caiman|gharial|gavial|lizard|snake|serpent|turtle|tortoise|terrapin|"
    r"python|cobra|viper|gecko|chamel|chamae|iguana|tuatara", re.IGNORECASE)
_GROUP_FACT_RE = re.compile(r"\b(like|as with|unlike) (all|other|most|many)\b|\ball [a-z]+s (are|can|have)\b",
                            re.IGNORECASE)
_GROUP_WORDS = {  # everyday group words a fact may use for a genus/family (hand-written for the oracle)
    "Viperidae": ["viper"], "Crotalinae": ["pit viper", "viper"], "Crotalus": ["rattlesnake", "rattler"],
    "Naja": ["cobra"], "Elapidae": ["elapid"], "Pythonidae": ["python"], "Boidae": ["boa"],
    "Chamaeleonidae": ["chameleon"], "Gekkonidae": ["gecko"], "Eublepharidae": ["gecko"],
    "Varanus": ["monitor"], "Cheloniidae": ["sea turtle"], "Testudinidae": ["tortoise"],
    "Dendroaspis": ["mamba"], "Bungarus": ["krait"], "Iguanidae": ["iguana"], "Scincidae": ["skink"],
}


def _name_words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z]+", text.casefold()) if len(w) >= 4
            and w not in {"snake", "snakes", "lizard", "lizards", "turtle", "turtles", "common", "tortoise"}}


def _mentions(text: str, word: str) -> bool:
    """``word`` as a whole word of ``text``, also as a plural or possessive ("cobras", "gecko's")."""
    return re.search(r"\b" + re.escape(word.casefold()) + r"(s|es|'s|’s)?\b", text.casefold()) is not None


def _pointers(t: Taxon, db: dict[str, Taxon]) -> set[str]:
    """Words that point to ``t``: its common name, genus, groups (and their rows' names), synonyms."""
    out = _name_words(t.common_name) | _name_words(t.genus or "") | set()
    for group in (t.genus, t.subfamily, t.family):
        if group:
            out |= {group.casefold()} | set(_GROUP_WORDS.get(group, []))
            row = db.get(group)
            if row is not None:
                out |= _name_words(row.common_name)
    for syn in (t.synonyms or "").split("|"):
        out |= _name_words(syn)
    return out


def give_aways(q: Question, db: dict[str, Taxon]) -> list[str]:
    """What in ``q``'s text gives the answer away or makes a second option right (empty = fair)."""
    subject = db[q.scientific_name]
    found: list[str] = []
    if q.kind == QuestionKind.FUN_FACT:
        fact = subject.fun_fact
        if _GROUP_FACT_RE.search(fact):
            found.append(f"group fact: {fact!r}")
        mixed = any(db[k].reptile_type != subject.reptile_type for k in q.option_keys)
        if _TYPE_WORDS_RE.search(fact) and mixed:
            found.append(f"type word in {fact!r} with options of another type")
        for key in q.option_keys:
            for word in _pointers(db[key], db):
                if _mentions(fact, word):
                    found.append(f"fact mentions {word!r}, which points to {db[key].common_name}")
    if q.kind == QuestionKind.TYPE:
        if _TYPE_WORDS_RE.search(q.prompt):
            found.append(f"type word in {q.prompt!r}")
        if subject.common_name.casefold() in q.prompt.casefold():
            found.append(f"names the animal: {q.prompt!r}")
        for word in _name_words(subject.common_name):
            if _mentions(q.prompt.replace(subject.scientific_name, ""), word):
                found.append(f"common-name word {word!r} in {q.prompt!r}")
    return found


def check_question(q: Question, db: dict[str, Taxon], hand_areas: bool) -> None:
    """All the rules of issue 4 for one question."""
    by_common = {t.common_name: t for t in db.values()}
    assert 1 <= len(q.prompt) <= MAX_PROMPT_CHARS
    assert 2 <= len(q.options) <= 4
    assert all(1 <= len(o) <= MAX_OPTION_CHARS for o in q.options)
    assert len({o.casefold() for o in q.options}) == len(q.options)
    assert len(q.explanation) <= MAX_EXPLANATION_CHARS and q.explanation.count("\n") <= 2
    assert "unknown" not in q.explanation.casefold()
    explained = q.explanation.casefold()
    common = db[q.scientific_name].common_name.casefold()
    assert q.correct_option.casefold() in explained or common in explained
    assert not give_aways(q, db), give_aways(q, db)
    if q.difficulty == Difficulty.KIDS and q.kind != QuestionKind.PHOTO:  # a photo shows what it shows
        assert db[q.scientific_name].well_known
    assert verify(q, db), q
    right = independent_right_options(q, db, by_common, hand_areas)
    assert sum(right) == 1, (q, right)
    assert right[q.correct_index], (q, right)


# -- tests on the synthetic database ---------------------------------------------------------------

TAXA = taxa()
DB = {t.scientific_name: t for t in TAXA}


@settings(max_examples=400, deadline=None)
@given(
    seed=st.integers(min_value=0, max_value=2**32 - 1),
    kind=st.sampled_from(GENERATED_KINDS),
    difficulty=st.sampled_from(list(Difficulty)),
)
def test_property_exactly_one_right_option(seed, kind, difficulty):
    q = QuestionGenerator(TAXA, random.Random(seed)).generate(kind, difficulty)
    assert q is not None  # the test database has enough for every kind at both levels
    assert q.kind == kind and q.difficulty == difficulty
    check_question(q, DB, hand_areas=True)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(min_value=0, max_value=2**32 - 1), difficulty=st.sampled_from(list(Difficulty)),
       n=st.integers(min_value=1, max_value=12))
def test_property_rounds(seed, difficulty, n):
    questions = QuestionGenerator(TAXA, random.Random(seed)).round(n, difficulty)
    assert 1 <= len(questions) <= n
    names = [q.scientific_name for q in questions]
    assert len(names) == len(set(names)), "no animal twice in a round"
    for q in questions:
        check_question(q, DB, hand_areas=True)
    if len(questions) >= len(GENERATED_KINDS):
        assert {q.kind for q in questions} == set(GENERATED_KINDS), "kinds are varied"


def test_seven_kinds_both_levels():
    assert len(GENERATED_KINDS) >= 7
    gen = QuestionGenerator(TAXA, random.Random(7))
    for kind in GENERATED_KINDS:
        for difficulty in Difficulty:
            assert gen.generate(kind, difficulty) is not None, (kind, difficulty)


def test_never_asks_about_groups_or_unknown_facts():
    gen = QuestionGenerator(TAXA, random.Random(1))
    for _ in range(300):
        for kind in GENERATED_KINDS:
            q = gen.generate(kind, Difficulty.EXPERT)
            assert q is not None
            t = DB[q.scientific_name]
            assert t.rank in ("species", "subspecies")
            assert "Variable reed snake" not in q.options or kind == QuestionKind.SCIENTIFIC_NAME
            if kind == QuestionKind.VENOM:
                assert all(DB[k].venom != "mildly venomous" for k in q.option_keys)


def test_kids_use_well_known_animals_only():
    gen = QuestionGenerator(TAXA, random.Random(2))
    for _ in range(100):
        for kind in GENERATED_KINDS:
            q = gen.generate(kind, Difficulty.KIDS)
            assert DB[q.scientific_name].well_known
            if kind in (QuestionKind.VENOM, QuestionKind.IUCN, QuestionKind.FUN_FACT,
                        QuestionKind.SCIENTIFIC_NAME):
                assert all(DB[k].well_known for k in q.option_keys)


def test_venom_questions_never_call_a_crocodile_harmless():
    gen = QuestionGenerator(TAXA, random.Random(3))
    for _ in range(200):
        q = gen.generate(QuestionKind.VENOM, Difficulty.KIDS)
        assert all(DB[k].reptile_type in ("snake", "lizard") for k in q.option_keys)


def test_exclude_and_too_small_database():
    gen = QuestionGenerator(TAXA, random.Random(4))
    everyone = [t.scientific_name for t in TAXA]
    assert gen.generate(QuestionKind.TYPE, Difficulty.EXPERT, exclude=everyone) is None
    tiny = QuestionGenerator(TAXA[:1], random.Random(4))
    assert tiny.round(5, Difficulty.EXPERT) == [] or all(len(q.options) >= 3 for q in tiny.round(5))
    assert QuestionGenerator([], random.Random(0)).round(5) == []


def test_verify_rejects_tampered_questions():
    gen = QuestionGenerator(TAXA, random.Random(5))
    for kind in GENERATED_KINDS:
        q = gen.generate(kind, Difficulty.EXPERT)
        wrong = (q.correct_index + 1) % len(q.options)
        assert not verify(replace(q, correct_index=wrong), DB)
        assert not verify(replace(q, explanation="x" * 201), DB)
        assert not verify(replace(q, options=q.options[:1], option_keys=q.option_keys[:1]), DB)
        assert not verify(replace(q, scientific_name="Nonexistent species"), DB)


def test_verify_catches_a_second_right_answer():
    """A hand-made question with two venomous animals must fail."""
    q = Question(
        kind=QuestionKind.VENOM, prompt="Which one of these reptiles is venomous?",
        options=("Indian cobra", "Black mamba", "Ball python"), correct_index=0,
        explanation="The Indian cobra is venomous.", scientific_name="Naja naja",
        difficulty=Difficulty.EXPERT, option_keys=("Naja naja", "Dendroaspis polylepis", "Python regius"),
        variant="venomous",
    )
    assert not verify(q, DB)
    ok = replace(q, options=("Indian cobra", "Green anaconda", "Ball python"),
                 option_keys=("Naja naja", "Eunectes murinus", "Python regius"))
    assert verify(ok, DB)


def test_photo_question():
    gen = QuestionGenerator(TAXA, random.Random(6))
    for _ in range(50):
        q = gen.photo_question("Thamnophis", "file-123", Difficulty.KIDS)
        assert q is not None and q.prompt == "What reptile is in this photo?"
        assert q.photo_file_id == "file-123"
        assert q.correct_option == "Garter snakes"
        assert "Common garter snake" not in q.options  # a member of the same genus would also be right
        check_question(q, DB, hand_areas=True)
    assert gen.photo_question("Naja naja", "", Difficulty.KIDS) is None
    assert gen.photo_question("Nonexistent", "f", Difficulty.KIDS) is None


@pytest.mark.parametrize("text, expected", [
    ("unknown", None),
    ("Atlantis", None),
    ("Warm regions worldwide", None),
    ("Lake Victoria basin", None),
    ("India and Nepal", {"south_asia"}),
])
def test_regions_are_conservative(text, expected):
    got = regions_of(text)
    assert (got if got is None else set(got)) == expected


def test_regions_agree_with_hand_written_areas():
    """Whenever regions says 'definitely disjoint', the hand-written truth agrees."""
    texts = list(AREAS)
    for a in texts:
        for b in texts:
            if definitely_disjoint(a, b):
                assert not areas_overlap(a, b), (a, b)
            assert definitely_disjoint(a, b) == definitely_disjoint(b, a)


# -- the real committed species database ----------------------------------------------------------

def _real_db_has_rows() -> bool:
    if not REAL_DB.is_file():
        return False
    try:
        with sqlite3.connect(f"{REAL_DB.resolve().as_uri()}?mode=ro", uri=True) as conn:
            return conn.execute("SELECT COUNT(*) FROM taxa").fetchone()[0] > 0
    except sqlite3.DatabaseError:
        return False


@pytest.mark.skipif(not _real_db_has_rows(), reason="species.sqlite not built yet (or empty)")
async def test_property_on_real_species_database():
    repo = await SpeciesRepository.open(REAL_DB)
    try:
        real = repo.taxa
    finally:
        await repo.close()
    db = {t.scientific_name: t for t in real}
    made = 0
    for seed in range(150):
        gen = QuestionGenerator(real, random.Random(seed))
        for kind in GENERATED_KINDS:
            for difficulty in Difficulty:
                q = gen.generate(kind, difficulty)
                if q is not None:
                    check_question(q, db, hand_areas=False)
                    made += 1
        for q in gen.round(10, Difficulty.KIDS) + gen.round(10, Difficulty.EXPERT):
            check_question(q, db, hand_areas=False)
    assert made > 0


@pytest.mark.parametrize("kind", [k for k in QuestionKind if k is not QuestionKind.PHOTO])
def test_generate_accepts_strings(kind):
    gen = QuestionGenerator(TAXA, random.Random(8))
    assert gen.generate(kind.value, "kids") is not None
    with pytest.raises(ValueError):
        gen.generate("photo", "kids")
    with pytest.raises(ValueError):
        gen.generate(kind.value, "grown-ups")


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(min_value=0, max_value=10_000))
def test_photo_questions_property(seed):
    rng = random.Random(seed)
    gen = QuestionGenerator(TAXA, rng)
    subject = rng.choice(TAXA)
    q = gen.photo_question(subject.scientific_name, "f", rng.choice(list(Difficulty)))
    if q is not None:
        check_question(q, DB, hand_areas=True)


def test_options_related_through_the_taxonomy_are_never_offered_together():
    """"The same animal" comes from the one taxonomy (bot/core/taxonomy.py): a subspecies and its
    genus, a species and its family row are related; two species of one family are not."""
    by_name = {t.scientific_name: t for t in taxa()}
    tree = tree_for(by_name)
    ssp, genus = by_name["Thamnophis sirtalis sirtalis"], by_name["Thamnophis"]
    cobra, mamba, elapids = by_name["Naja naja"], by_name["Dendroaspis polylepis"], by_name["Elapidae"]
    assert related(ssp, genus, tree) and related(genus, ssp, tree)
    assert related(cobra, elapids, tree) and related(elapids, mamba, tree)
    assert not related(cobra, mamba, tree)
    assert not related(genus, cobra, tree)
