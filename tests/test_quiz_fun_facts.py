"""Issues 11 and 15: quiz questions with one right answer and nothing in the text that gives it away.

Property tests (Hypothesis, derandomised: the same examples every run) generate thousands of questions
from the real species database and check them with the independent oracle of
``tests/test_quiz_questions.py`` (:func:`give_aways`, :func:`check_question`).
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import replace
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.core.quiz.fairness import fact_problem
from bot.core.quiz.questions import (
    GENERATED_KINDS,
    Difficulty,
    Question,
    QuestionGenerator,
    QuestionKind,
    diet_words,
    verify,
)
from bot.core.species import SpeciesRepository, Taxon
from tests.test_quiz_questions import check_question, give_aways

REAL_DB = Path(__file__).resolve().parents[1] / "species.sqlite"


def _real_taxa() -> list[Taxon]:
    async def load() -> list[Taxon]:
        repo = await SpeciesRepository.open(REAL_DB)
        try:
            return repo.database_taxa
        finally:
            await repo.close()
    return asyncio.run(load())


REAL = _real_taxa()
REAL_DB_MAP = {t.scientific_name: t for t in REAL}


@settings(max_examples=200, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(min_value=0, max_value=2**32 - 1), difficulty=st.sampled_from(list(Difficulty)))
def test_property_thousands_of_real_questions_are_fair(seed, difficulty):
    """200 examples x (7 kinds + a 10-question round) = about 3,000 questions."""
    gen = QuestionGenerator(REAL, random.Random(seed))
    questions = [q for kind in GENERATED_KINDS if (q := gen.generate(kind, difficulty)) is not None]
    questions += gen.round(10, difficulty)
    assert questions
    for q in questions:
        check_question(q, REAL_DB_MAP, hand_areas=False)  # one right answer, and no give-away


def test_fun_facts_over_the_whole_database():
    """Every fact the generator asks passes the oracle with every option it could be offered beside;
    every other fact is refused with a reason. And enough facts stay askable for quizzes."""
    gen = QuestionGenerator(REAL, random.Random(0))
    asked = 0
    for subject in [t for t in REAL if t.rank in ("species", "subspecies") and t.fun_fact != "unknown"]:
        for seed in range(3):
            gen.rng = random.Random(seed)
            q = gen._build_fun_fact(subject, Difficulty.EXPERT)
            if q is None or not verify(q, REAL_DB_MAP):
                continue
            assert not give_aways(q, REAL_DB_MAP), give_aways(q, REAL_DB_MAP)
            asked += 1
    assert asked >= 20, f"only {asked} fun-fact questions could be asked"


def _pit_vipers() -> list[Taxon]:
    return [t for t in REAL if t.subfamily == "Crotalinae" and t.rank == "species"]


def test_a_fact_shared_with_a_distractors_group_is_refused():
    vipers = _pit_vipers()
    assert len(vipers) >= 2
    subject, other = vipers[0], vipers[1]
    shared = ("Like all pit vipers, it can sense the body heat of its prey with pits between its eyes "
              "and nostrils.")
    subject = replace(subject, fun_fact=shared)
    db = {**REAL_DB_MAP, subject.scientific_name: subject}
    third = next(t for t in REAL if t.reptile_type == "turtle" and t.rank == "species")
    q = Question(
        kind=QuestionKind.FUN_FACT, prompt=f"Which animal is this fun fact about?\n“{shared}”",
        options=(subject.common_name, other.common_name, third.common_name), correct_index=0,
        explanation="That's it.", scientific_name=subject.scientific_name, difficulty=Difficulty.EXPERT,
        option_keys=(subject.scientific_name, other.scientific_name, third.scientific_name),
    )
    assert give_aways(q, db), "the oracle must catch the old bug"
    assert not verify(q, db)
    assert fact_problem(shared, subject, [other], QuestionGenerator(list(db.values())).names) is not None


def test_a_fact_naming_its_animal_or_a_distractors_group_is_refused():
    gen = QuestionGenerator(REAL, random.Random(1))
    naja = next(t for t in REAL if t.genus == "Naja" and t.rank == "species")
    python = next(t for t in REAL if t.family == "Pythonidae" and t.rank == "species")
    assert fact_problem("It spreads a wide hood, like a cobra.", naja, [], gen.names)  # its own group word
    assert fact_problem("It is often mistaken for a python.", naja, [python], gen.names)  # a distractor's
    assert fact_problem("It can spray venom into the eyes of an attacker.", naja, [python], gen.names) is None


def test_type_questions_do_not_name_the_animal():
    gen = QuestionGenerator(REAL, random.Random(2))
    made = 0
    for _ in range(200):
        for difficulty in Difficulty:
            q = gen.generate(QuestionKind.TYPE, difficulty)
            if q is None:
                continue
            made += 1
            subject = REAL_DB_MAP[q.scientific_name]
            assert subject.common_name.casefold() not in q.prompt.casefold()
            assert not give_aways(q, REAL_DB_MAP)
    assert made >= 300


def test_grammar_articles_and_no_capitals_mid_sentence():
    gen = QuestionGenerator(REAL, random.Random(3))
    for _ in range(300):
        for difficulty in Difficulty:
            q = gen.generate(QuestionKind.DIET, difficulty)
            if q is None:
                continue
            assert " a omnivore" not in q.explanation and " a insect" not in q.explanation, q.explanation
    assert diet_words("Deer, Pigs and Nile perch.") == "deer, pigs and Nile perch"


def test_the_tuatara_is_a_type_option_and_the_oracle_knows_it():
    from bot.core.quiz.questions import TYPE_LABELS

    for labels in TYPE_LABELS.values():
        assert labels["tuatara"] == "Tuatara"
