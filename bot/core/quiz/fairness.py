"""Fairness checks for quiz questions (issues 11 and 15): a question must have one right answer and
its text must not give that answer away.

* A fun fact is askable only when it is true of its animal alone: it may not describe a group
  ("Like all pit vipers, ...") and may not contain a word pointing to its animal (common name, genus,
  group names, synonyms) nor to any other option's animal (a distractor's group could share the fact).
* A "what kind of reptile" question may not name the animal by a word that tells its type.

Both use the name index of the species look-up (:class:`bot.core.names.NameIndex`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import TypeVar

from bot.core.names import NameIndex, normalise
from bot.core.species import Taxon

#: Phrases that make a fact about a whole group rather than one animal.
SHARED_FACT = re.compile(
    r"\b(like|as with|as do|unlike) (all|other|most|many|every|its|their)\b"
    r"|\b(all|most|many|other) [a-z-]+s (are|can|have|do|lay|give|eat|use|live|sense)\b"
    r"|\ball of them\b",
    re.IGNORECASE,
)
#: Word stems that tell a reptile's type (in a common or scientific name).
TYPE_STEMS: tuple[str, ...] = (
    "crocod", "alligat", "caiman", "gharial", "gavial", "lizard", "snake", "turtle", "tortois", "terrapin",
    "python", "cobra", "viper", "adder", "boa", "gecko", "chamel", "chamae", "iguan", "monitor", "skink",
    "anole",
    "dragon", "rattle", "mamba", "krait", "slider", "chelon", "testud", "tuatara", "emys", "serpent",
)

T = TypeVar("T")

_INDEXES: list[tuple[Mapping[str, Taxon], NameIndex]] = []


def cached_for(cache: list[tuple[Mapping[str, Taxon], T]], taxa_by_name: Mapping[str, Taxon],
               build: Callable[[Iterable[Taxon]], T]) -> T:
    """``build(taxa_by_name.values())``, kept in ``cache`` for the last four mappings (by identity:
    the question generator and the verifier pass the same mapping again and again)."""
    for mapping, value in cache:
        if mapping is taxa_by_name:
            return value
    value = build(taxa_by_name.values())
    cache.insert(0, (taxa_by_name, value))
    del cache[4:]
    return value


def index_for(taxa_by_name: Mapping[str, Taxon]) -> NameIndex:
    """The :class:`NameIndex` of a ``{scientific_name: Taxon}`` mapping (cached for the last few)."""
    return cached_for(_INDEXES, taxa_by_name, NameIndex)
    index = NameIndex(taxa_by_name.values())
    _INDEXES.insert(0, (taxa_by_name, index))
    del _INDEXES[4:]
    return index


def fact_problem(fact: str, subject: Taxon, others: Iterable[Taxon], index: NameIndex) -> str | None:
    """Why ``fact`` may not be asked as "whose fun fact?" with ``others`` as the wrong options, or
    ``None`` when it may. A type word ("the smallest tortoise", "this snake") is allowed only when every
    option is of the subject's type: otherwise it tells the answer."""
    if SHARED_FACT.search(fact):
        return "describes a group, not one animal"
    others = list(others)
    type_word = type_word_in(fact)
    if type_word is not None:
        mixed = next((o for o in others if o.reptile_type != subject.reptile_type), None)
        if mixed is not None:
            return f"says {type_word!r}, which tells it from the option {mixed.common_name}"
    word = index.giveaway_in(fact, subject)
    if word is not None:
        return f"contains {word!r}, which points to its animal"
    for other in others:
        if other.scientific_name == subject.scientific_name:
            continue
        word = index.giveaway_in(fact, other)
        if word is not None:
            return f"contains {word!r}, which points to the option {other.common_name}"
    return None


def type_word_in(text: str) -> str | None:
    """The first word of ``text`` that starts with a :data:`TYPE_STEMS` stem, or holds one of 5 or more
    letters anywhere ("Malayopython"), or ``None``."""
    for w in normalise(text).split():
        if any(w.startswith(stem) or (len(stem) >= 5 and stem in w) for stem in TYPE_STEMS):
            return w
    return None


def type_prompt_problem(prompt: str, subject: Taxon, index: NameIndex) -> str | None:
    """Why a "what kind of reptile" ``prompt`` about ``subject`` gives the answer away, or ``None``."""
    word = type_word_in(prompt)
    if word is not None:
        return f"names a type word {word!r}"
    prompt_words = normalise(prompt).split()
    for w in normalise(subject.common_name).split():  # "Bothrops jararaca" / Jararaca names it
        if len(w) >= 4 and any(p.startswith(w) for p in prompt_words):
            return f"contains {w!r} of its common name"
    without_name = prompt.replace(subject.scientific_name, " ")
    word = index.giveaway_in(without_name, subject)
    if word is not None:
        return f"contains {word!r}, which points to the animal"
    return None
