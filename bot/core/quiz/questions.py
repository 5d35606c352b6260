"""Quiz questions generated from the species database, each checked to have exactly one right answer.

Every question kind is an explicit *property* of a :class:`~bot.core.species.Taxon`; an option is
"right" when the property holds for it in the database. :func:`verify` re-checks a finished question
against the database and :class:`QuestionGenerator` only returns questions that pass it.

Rules (issue 4):

* only ``species`` and ``subspecies`` rows are asked about (genus/family rows only as photo answers);
* a fact that is ``"unknown"`` (or a Red List category ``NE``/``DD``/``unknown``) is never used, not
  even for a wrong option;
* ``kids`` questions use well-known animals (``well_known = 1``) and simple words; ``expert`` uses all;
* every reveal teaches: the explanation states the fact and, when there is room, the fun fact.

Length limits (Telegram Bot API ``sendPoll``, Bot API 10.0 as shipped with python-telegram-bot 22.8,
``telegram.constants.PollLimit``; https://core.telegram.org/bots/api#sendpoll): question 1-300
characters, 2-12 options of 1-100 characters each, quiz explanation 0-200 characters with at most 2
line feeds. We use 2-4 options (:data:`MIN_OPTIONS`-:data:`MAX_OPTIONS`). Discord button labels are
limited to 80 characters, so the Discord adapter should label buttons with numbers or letters and show
the option texts in the message (see :func:`bot.core.quiz.engine.format_question_text`).
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from bot.core.messages import IUCN_NAMES
from bot.core.names import NameIndex
from bot.core.quiz.fairness import cached_for, fact_problem, index_for, type_prompt_problem
from bot.core.quiz.regions import definitely_disjoint, regions_of
from bot.core.species import Taxon
from bot.core.taxonomy import Taxonomy

#: Telegram ``sendPoll``: question 1-300 characters.
MAX_PROMPT_CHARS = 300
#: Telegram ``sendPoll``: each option 1-100 characters.
MAX_OPTION_CHARS = 100
#: Telegram ``sendPoll``: quiz explanation 0-200 characters ...
MAX_EXPLANATION_CHARS = 200
#: ... with at most 2 line feeds.
MAX_EXPLANATION_LINE_FEEDS = 2
#: Options per question we generate (Telegram allows 2-12).
MIN_OPTIONS = 2
MAX_OPTIONS = 4
#: The generator aims for this many options and gives up below :data:`GENERATED_MIN_OPTIONS`.
TARGET_OPTIONS = 4
GENERATED_MIN_OPTIONS = 3

QUESTION_RANKS = ("species", "subspecies")
PHOTO_PROMPT = "What reptile is in this photo?"


class Difficulty(StrEnum):
    """``kids``: well-known animals and simple words. ``expert``: every species, scientific words."""

    KIDS = "kids"
    EXPERT = "expert"


class QuestionKind(StrEnum):
    """What a question asks. Every kind but ``PHOTO`` is generated from the database alone."""

    TYPE = "type"                        # which type of reptile is X
    DISTRIBUTION = "distribution"        # where does X live
    DIET = "diet"                        # what does X eat
    VENOM = "venom"                      # which of these is venomous (variant: harmless)
    IUCN = "iucn"                        # which is Critically Endangered (variant: Least Concern)
    FUN_FACT = "fun_fact"                # which animal is this fun fact about
    SCIENTIFIC_NAME = "scientific_name"  # which common name goes with this scientific name
    PHOTO = "photo"                      # what reptile is in this photo (photo rounds)


GENERATED_KINDS: tuple[QuestionKind, ...] = tuple(k for k in QuestionKind if k is not QuestionKind.PHOTO)

# Variants.
VENOMOUS = "venomous"
HARMLESS = "harmless"
CR = "CR"
LC = "LC"

TYPE_LABELS: dict[Difficulty, dict[str, str]] = {
    Difficulty.KIDS: {
        "crocodilian": "Crocodile or alligator",
        "lizard": "Lizard",
        "snake": "Snake",
        "turtle": "Turtle or tortoise",
        "tuatara": "Tuatara",
    },
    Difficulty.EXPERT: {
        "crocodilian": "Crocodilian",
        "lizard": "Lizard",
        "snake": "Snake",
        "turtle": "Turtle or tortoise",
        "tuatara": "Tuatara",
    },
}
TYPE_WORDS = {
    "crocodilian": "crocodilian", "lizard": "lizard", "snake": "snake", "turtle": "turtle",
    "tuatara": "tuatara",
}

DIET_LABELS: dict[Difficulty, dict[str, str]] = {
    Difficulty.KIDS: {
        "carnivore": "Meat-eater",
        "insectivore": "Insect-eater",
        "herbivore": "Plant-eater",
        "omnivore": "Eats both plants and animals",
    },
    Difficulty.EXPERT: {
        "carnivore": "Carnivore (meat-eater)",
        "insectivore": "Insectivore (insect-eater)",
        "herbivore": "Herbivore (plant-eater)",
        "omnivore": "Omnivore (plants and animals)",
    },
}
#: Insects are meat too: an insect-eater and a meat-eater are never offered together.
DIET_CONFLICTS = frozenset({frozenset({"carnivore", "insectivore"})})

#: Red List categories that can appear at all (known, assessed, still living in the wild).
IUCN_USABLE = frozenset({"LC", "NT", "VU", "EN", "CR"})
#: Wrong options for each variant and difficulty: clearly different from the asked category.
IUCN_DISTRACTORS: dict[tuple[str, Difficulty], frozenset[str]] = {
    (CR, Difficulty.KIDS): frozenset({"LC", "NT"}),
    (CR, Difficulty.EXPERT): frozenset({"LC", "NT", "VU", "EN"}),
    (LC, Difficulty.KIDS): frozenset({"VU", "EN", "CR"}),
    (LC, Difficulty.EXPERT): frozenset({"NT", "VU", "EN", "CR"}),
}
#: Venom questions are about snakes and lizards only (a "harmless" crocodile would be a bad lesson).
VENOM_TYPES = frozenset({"snake", "lizard"})



@dataclass(frozen=True, slots=True)
class Question:
    """One multiple-choice question, ready for a Telegram quiz poll, Discord buttons or a terminal.

    Attributes:
        kind: what is asked.
        prompt: question text, 1-300 characters (Telegram poll question limit).
        options: 2-4 answer texts, each 1-100 characters (Telegram poll option limit), all different.
        correct_index: 0-based index of the only right option.
        explanation: what the reveal teaches, 0-200 characters with at most 2 line feeds (Telegram quiz
            explanation limit).
        scientific_name: the taxon the question is about (the photo's taxon for photo questions).
        difficulty: ``kids`` or ``expert``.
        option_keys: the database value behind each option, used by :func:`verify`: a reptile type or
            diet class, a ``distribution`` string, or a taxon's scientific name (for name options).
        variant: ``"venomous"``/``"harmless"`` for venom, ``"CR"``/``"LC"`` for IUCN, else ``""``.
        photo_file_id: platform file id of the photo for photo questions (never the photo's bytes).
    """

    kind: QuestionKind
    prompt: str
    options: tuple[str, ...]
    correct_index: int
    explanation: str
    scientific_name: str
    difficulty: Difficulty = Difficulty.KIDS
    option_keys: tuple[str, ...] = ()
    variant: str = ""
    photo_file_id: str | None = None

    @property
    def correct_option(self) -> str:
        """The text of the right option."""
        return self.options[self.correct_index]


def question_to_json(q: Question) -> dict[str, Any]:
    """A question as JSON-able data (see :func:`question_from_json`), e.g. for a round's stored plan."""
    return {
        "kind": q.kind.value, "prompt": q.prompt, "options": list(q.options),
        "correct_index": q.correct_index, "explanation": q.explanation,
        "scientific_name": q.scientific_name, "difficulty": q.difficulty.value,
        "option_keys": list(q.option_keys), "variant": q.variant, "photo_file_id": q.photo_file_id,
    }


def question_from_json(d: dict[str, Any]) -> Question:
    """The question :func:`question_to_json` stored.

    Raises:
        KeyError, ValueError: not a stored question.
    """
    return Question(
        QuestionKind(d["kind"]), str(d["prompt"]), tuple(d["options"]), int(d["correct_index"]),
        str(d["explanation"]), str(d["scientific_name"]), Difficulty(d["difficulty"]),
        tuple(d.get("option_keys") or ()), str(d.get("variant") or ""), d.get("photo_file_id"),
    )


# ---------------------------------------------------------------------------------------------------
# Property predicates (the single source of truth for "is this option right?")
# ---------------------------------------------------------------------------------------------------


def _known(value: str | None) -> bool:
    return bool(value) and value.strip().casefold() != "unknown"


def is_question_taxon(t: Taxon) -> bool:
    """Species and subspecies rows only."""
    return t.rank in QUESTION_RANKS


#: Taxonomies of recently used ``{scientific_name: Taxon}`` mappings (see :func:`tree_for`).
_TREES: list[tuple[Mapping[str, Taxon], Taxonomy]] = []


def tree_for(taxa_by_name: Mapping[str, Taxon]) -> Taxonomy:
    """The :class:`~bot.core.taxonomy.Taxonomy` of a ``{scientific_name: Taxon}`` mapping (cached for the
    last few mappings, by identity)."""
    return cached_for(_TREES, taxa_by_name, Taxonomy)


def related(a: Taxon, b: Taxon, tree: Taxonomy) -> bool:
    """True when ``a`` and ``b`` could be "the same animal" to a quiz player.

    Same row, same common name, or one above the other in ``tree`` (the museum's one taxonomy,
    :mod:`bot.core.taxonomy`): a subspecies and its species, a genus, subfamily or family row and one
    of its members.
    """
    if a.scientific_name == b.scientific_name:
        return True
    if a.common_name.casefold() == b.common_name.casefold():
        return True
    return (a.scientific_name in tree.ancestors(b.scientific_name)
            or b.scientific_name in tree.ancestors(a.scientific_name))


def _type_ok(t: Taxon, key: str) -> bool:
    return t.reptile_type == key


def _diet_ok(t: Taxon, key: str) -> bool:
    return _known(t.diet_class) and t.diet_class == key


def _venom_ok(t: Taxon, variant: str) -> bool:
    return t.venom == variant


def _iucn_ok(t: Taxon, variant: str) -> bool:
    return t.iucn_category == variant


def verify(question: Question, taxa_by_name: Mapping[str, Taxon]) -> bool:
    """Re-check ``question`` against the database: exactly one option is right, and it is the marked one.

    Also checks the limits (prompt, options, explanation), that options are distinct, that no
    ``unknown`` fact is used, and that ``kids`` questions only use well-known animals.
    Returns ``False`` for anything it cannot confirm.
    """
    q = question
    subject = taxa_by_name.get(q.scientific_name)
    if subject is None or not _limits_ok(q):
        return False
    if len(q.option_keys) != len(q.options):
        return False
    kids = q.difficulty == Difficulty.KIDS
    try:
        checker = _VERIFIERS[q.kind]
    except KeyError:
        return False
    right = checker(q, subject, taxa_by_name, kids)
    if right is None or len(right) != len(q.options):
        return False
    return sum(right) == 1 and right[q.correct_index]


def _limits_ok(q: Question) -> bool:
    if not 1 <= len(q.prompt) <= MAX_PROMPT_CHARS:
        return False
    if not MIN_OPTIONS <= len(q.options) <= MAX_OPTIONS:
        return False
    if not 0 <= q.correct_index < len(q.options):
        return False
    if any(not 1 <= len(o) <= MAX_OPTION_CHARS or o != o.strip() for o in q.options):
        return False
    if len({o.casefold() for o in q.options}) != len(q.options):
        return False
    expl = q.explanation
    return len(expl) <= MAX_EXPLANATION_CHARS and expl.count("\n") <= MAX_EXPLANATION_LINE_FEEDS


def _kids_ok(taxa: Iterable[Taxon], kids: bool) -> bool:
    return not kids or all(t.well_known for t in taxa)


def _option_taxa(q: Question, taxa_by_name: Mapping[str, Taxon]) -> list[Taxon] | None:
    """Taxa behind name options; ``None`` when an option is not exactly that taxon's common name."""
    out: list[Taxon] = []
    for text, key in zip(q.options, q.option_keys, strict=True):
        t = taxa_by_name.get(key)
        if t is None or t.common_name != text:
            return None
        out.append(t)
    tree = tree_for(taxa_by_name)
    for i, a in enumerate(out):
        for b in out[i + 1:]:
            if related(a, b, tree):
                return None
    return out


def _v_type(q: Question, s: Taxon, _db: Mapping[str, Taxon], kids: bool) -> list[bool] | None:
    labels = TYPE_LABELS[q.difficulty]
    if not is_question_taxon(s) or not _kids_ok([s], kids) or q.variant:
        return None
    if any(labels.get(k) != o for k, o in zip(q.option_keys, q.options, strict=True)):
        return None
    if type_prompt_problem(q.prompt, s, index_for(_db)) is not None:  # no give-away in the question
        return None
    return [_type_ok(s, k) for k in q.option_keys]


def _v_diet(q: Question, s: Taxon, _db: Mapping[str, Taxon], kids: bool) -> list[bool] | None:
    labels = DIET_LABELS[q.difficulty]
    if not is_question_taxon(s) or not _kids_ok([s], kids) or not _known(s.diet_class) or q.variant:
        return None
    if any(labels.get(k) != o for k, o in zip(q.option_keys, q.options, strict=True)):
        return None
    keys = set(q.option_keys)
    if any(c <= keys for c in DIET_CONFLICTS):
        return None
    return [_diet_ok(s, k) for k in q.option_keys]


def _v_distribution(q: Question, s: Taxon, _db: Mapping[str, Taxon], kids: bool) -> list[bool] | None:
    if not is_question_taxon(s) or not _kids_ok([s], kids) or q.variant:
        return None
    if not _known(s.distribution) or regions_of(s.distribution) is None:
        return None
    if any(k != o for k, o in zip(q.option_keys, q.options, strict=True)):
        return None
    # Right: the animal's own range. Every other option must be *definitely* elsewhere; an option we
    # are not sure about counts as (possibly) right, so the question fails the exactly-one check.
    return [k == s.distribution or not definitely_disjoint(s.distribution, k) for k in q.option_keys]


def _fair_option_taxa(q: Question, s: Taxon, db: Mapping[str, Taxon], kids: bool) -> list[Taxon] | None:
    """Taxa behind name options when they make a fair question about ``s``: every option is exactly a
    taxon's common name, no two are related, ``s`` is among them, all suit the level and all may be used
    in questions; else ``None``."""
    taxa = _option_taxa(q, db)
    if taxa is None or s not in taxa or not _kids_ok(taxa, kids):
        return None
    if any(not is_question_taxon(t) for t in taxa):
        return None
    return taxa


def _v_venom(q: Question, s: Taxon, db: Mapping[str, Taxon], kids: bool) -> list[bool] | None:
    if q.variant not in (VENOMOUS, HARMLESS):
        return None
    taxa = _fair_option_taxa(q, s, db, kids)
    if taxa is None or any(t.reptile_type not in VENOM_TYPES for t in taxa):
        return None
    if any(t.venom not in (VENOMOUS, HARMLESS) for t in taxa):  # no 'mildly venomous', no 'unknown'
        return None
    return [_venom_ok(t, q.variant) for t in taxa]


def _v_iucn(q: Question, s: Taxon, db: Mapping[str, Taxon], kids: bool) -> list[bool] | None:
    if q.variant not in (CR, LC):
        return None
    taxa = _fair_option_taxa(q, s, db, kids)
    if taxa is None or any(t.iucn_category not in IUCN_USABLE for t in taxa):
        return None
    return [_iucn_ok(t, q.variant) for t in taxa]


def _v_fun_fact(q: Question, s: Taxon, db: Mapping[str, Taxon], kids: bool) -> list[bool] | None:
    if q.variant or not _known(s.fun_fact) or s.fun_fact not in q.prompt:
        return None
    taxa = _fair_option_taxa(q, s, db, kids)
    if taxa is None:
        return None
    # True of its animal alone: no group fact, no word pointing to it or to another option's animal.
    if fact_problem(s.fun_fact, s, taxa, index_for(db)) is not None:
        return None
    return [t.fun_fact.strip().casefold() == s.fun_fact.strip().casefold() for t in taxa]


def _v_scientific(q: Question, s: Taxon, db: Mapping[str, Taxon], kids: bool) -> list[bool] | None:
    if q.variant or s.scientific_name not in q.prompt or scientific_name_gives_away(s):
        return None
    taxa = _fair_option_taxa(q, s, db, kids)
    if taxa is None:
        return None
    return [t.scientific_name == s.scientific_name for t in taxa]


def _v_photo(q: Question, s: Taxon, db: Mapping[str, Taxon], _kids: bool) -> list[bool] | None:
    if q.variant or not q.photo_file_id or q.prompt != PHOTO_PROMPT:
        return None
    taxa = _option_taxa(q, db)  # also rejects related options (e.g. a genus and its own species)
    if taxa is None or s not in taxa:
        return None
    return [t.scientific_name == s.scientific_name for t in taxa]


_Verifier = Callable[[Question, Taxon, Mapping[str, Taxon], bool], "list[bool] | None"]
_VERIFIERS: dict[QuestionKind, _Verifier] = {
    QuestionKind.TYPE: _v_type,
    QuestionKind.DIET: _v_diet,
    QuestionKind.DISTRIBUTION: _v_distribution,
    QuestionKind.VENOM: _v_venom,
    QuestionKind.IUCN: _v_iucn,
    QuestionKind.FUN_FACT: _v_fun_fact,
    QuestionKind.SCIENTIFIC_NAME: _v_scientific,
    QuestionKind.PHOTO: _v_photo,
}


# ---------------------------------------------------------------------------------------------------
# Text helpers
# ---------------------------------------------------------------------------------------------------


def _sentence(text: str) -> str:
    text = " ".join(text.split())
    return text if text.endswith((".", "!", "?")) else text + "."


def _lower_first(text: str) -> str:
    """'Crabs, clams' -> 'crabs, clams' (keeps acronyms and names such as 'IUCN' or 'Komodo')."""
    if len(text) > 1 and text[0].isupper() and text[1].islower() and text.split()[0].isalpha():
        return text[0].lower() + text[1:]
    return text


def _clip(text: str, limit: int) -> str:
    """Shorten ``text`` to ``limit`` characters at a word boundary, ending with an ellipsis."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1].rsplit(" ", 1)[0].rstrip(",;:")
    return cut + "…"


def explanation_text(core: str, fun_fact: str = "") -> str:
    """``core`` plus the fun fact when both fit in 200 characters (Telegram quiz explanation limit)."""
    core = _sentence(core)
    if _known(fun_fact):
        with_fact = f"{core}\nFun fact: {_sentence(fun_fact)}"
        if len(with_fact) <= MAX_EXPLANATION_CHARS:
            return with_fact
    return _clip(core.replace("\n", " "), MAX_EXPLANATION_CHARS)


def _the(name: str | Taxon) -> str:
    """``"the green anole"``: a common name for the middle of a sentence (see :func:`name_in_sentence`)."""
    return f"the {name_in_sentence(name) if isinstance(name, Taxon) else name}"


def _cap_the(name: str | Taxon) -> str:
    return f"The {name_in_sentence(name) if isinstance(name, Taxon) else name}"


#: First words of common names that are names of people or places and keep their capital.
_PROPER_FIRST = frozenset({
    "Komodo", "Nile", "Gila", "Gaboon", "Burmese", "Madagascar", "Fiji", "Lord", "Utila", "Grand", "Aruba",
    "Mojave", "Texas", "Florida", "California", "Sonoran", "Antiguan", "Blanding", "Schneider", "Cuvier",
})


def name_in_sentence(t: Taxon) -> str:
    """The common name with its first word in lower case, unless that word is a name of a person or a
    place (ends in 's, is in :data:`_PROPER_FIRST`, ends like a people's name (-an, -ese, -ish, -ine)
    or starts like a capitalised place in the animal's own range): "Green anole" -> "green anole",
    "Indian cobra" and "Cuvier's dwarf caiman" stay."""
    name = t.common_name
    first = name.split(" ")[0]
    bare = first.split("-")[0]
    places = {w[:4] for w in re.findall(r"\b[A-Z][a-z]+", t.distribution)}
    proper = (
        not bare[:1].isupper() or not bare[1:2].islower() or bare.endswith(("'s", "’s"))
        or bare in _PROPER_FIRST or bare.endswith(("an", "ese", "ish", "ine")) or bare[:4] in places
    )
    return name if proper else name[0].lower() + name[1:]


# ---------------------------------------------------------------------------------------------------
# Generator
# ---------------------------------------------------------------------------------------------------


class QuestionGenerator:
    """Builds verified questions from the species table.

    Args:
        taxa: every row of the species database (e.g. ``SpeciesRepository.taxa``).
        rng: source of randomness (pass ``random.Random(seed)`` for repeatable quizzes).
    """

    def __init__(self, taxa: Sequence[Taxon], rng: random.Random | None = None) -> None:
        self.taxa: tuple[Taxon, ...] = tuple(taxa)
        self.by_name: dict[str, Taxon] = {t.scientific_name: t for t in self.taxa}
        self.rng = rng or random.Random()
        self._subjects = tuple(t for t in self.taxa if is_question_taxon(t))
        self.names: NameIndex = index_for(self.by_name)
        #: The taxonomy over these taxa: which options are "the same animal" (:func:`related`).
        self.tree: Taxonomy = tree_for(self.by_name)

    # -- public API ------------------------------------------------------------------------------

    def generate(
        self,
        kind: QuestionKind | str,
        difficulty: Difficulty | str = Difficulty.KIDS,
        exclude: Iterable[str] = (),
    ) -> Question | None:
        """One verified question of ``kind``, or ``None`` when the database has too little to ask it.

        ``exclude``: scientific names not to ask about (used by :meth:`round` to avoid repeats).
        """
        kind = QuestionKind(kind)
        difficulty = Difficulty(difficulty)
        if kind is QuestionKind.PHOTO:
            raise ValueError("photo questions need a photo: use photo_question()")
        excluded = set(exclude)
        subjects = [t for t in self._pool(difficulty) if t.scientific_name not in excluded]
        self.rng.shuffle(subjects)
        build = getattr(self, f"_build_{kind.value}")
        for subject in subjects[:200]:
            question = build(subject, difficulty)
            if question is not None and verify(question, self.by_name):
                return question
        return None

    def round(self, n: int, difficulty: Difficulty | str = Difficulty.KIDS) -> list[Question]:
        """Up to ``n`` (1-50) verified questions of varied kinds, each about a different animal.

        May return fewer than ``n`` (or none) when the database is small.
        """
        n = max(1, min(int(n), 50))
        kinds = list(GENERATED_KINDS)
        self.rng.shuffle(kinds)
        used: set[str] = set()
        out: list[Question] = []
        start = 0
        while len(out) < n:
            for offset in range(len(kinds)):
                kind = kinds[(start + offset) % len(kinds)]
                q = self.generate(kind, difficulty, exclude=used)
                if q is not None:
                    out.append(q)
                    used.add(q.scientific_name)
                    start = (start + offset + 1) % len(kinds)
                    break
            else:
                break
        return out

    def photo_question(
        self,
        scientific_name: str,
        file_id: str,
        difficulty: Difficulty | str = Difficulty.KIDS,
    ) -> Question | None:
        """"What reptile is in this photo?" for a photo the bot identified as ``scientific_name``.

        Options: the identified taxon's common name and 2-3 distractors (species of the same type
        first, then other types) that are not in the same group. ``None`` when the taxon is unknown or
        there are too few distractors. ``file_id`` is the platform's file id, never the photo's bytes.
        """
        difficulty = Difficulty(difficulty)
        subject = self.by_name.get(scientific_name)
        if subject is None or not file_id:
            return None
        pool = [t for t in self._pool(difficulty) if not related(t, subject, self.tree)]
        if difficulty is Difficulty.KIDS and len(pool) < TARGET_OPTIONS - 1:
            pool = [t for t in self._subjects if not related(t, subject, self.tree)]
        same = [t for t in pool if t.reptile_type == subject.reptile_type and t.family != subject.family]
        other = [t for t in pool if t.reptile_type != subject.reptile_type]
        self.rng.shuffle(same)
        self.rng.shuffle(other)
        # Mostly the same type (harder), at least one other type when there is one (fairer for kids).
        ordered = same[: TARGET_OPTIONS - 2] + other + same[TARGET_OPTIONS - 2:]
        distractors = self._pick_unrelated(ordered, [subject], TARGET_OPTIONS - 1)
        if len(distractors) < GENERATED_MIN_OPTIONS - 1:
            return None
        name = subject.common_name
        if subject.is_group:
            core = f"It's one of the {name} ({subject.scientific_name})"
        else:
            core = f"It's {_the(subject)} ({subject.scientific_name})"
        q = self._name_question(
            QuestionKind.PHOTO, PHOTO_PROMPT, subject, distractors, difficulty,
            explanation_text(core, subject.fun_fact), photo_file_id=file_id,
        )
        return q if q is not None and verify(q, self.by_name) else None

    # -- helpers -----------------------------------------------------------------------------------

    def _pool(self, difficulty: Difficulty) -> list[Taxon]:
        if difficulty is Difficulty.KIDS:
            return [t for t in self._subjects if t.well_known]
        return list(self._subjects)

    def _pick_unrelated(self, candidates: Iterable[Taxon], chosen: list[Taxon], k: int) -> list[Taxon]:
        picked: list[Taxon] = []
        for t in candidates:
            if len(picked) >= k:
                break
            if len(t.common_name) > MAX_OPTION_CHARS:
                continue
            if any(related(t, c, self.tree) for c in chosen + picked):
                continue
            picked.append(t)
        return picked

    def _finish(
        self,
        kind: QuestionKind,
        prompt: str,
        right: tuple[str, str],
        wrong: Sequence[tuple[str, str]],
        subject: Taxon,
        difficulty: Difficulty,
        explanation: str,
        variant: str = "",
        photo_file_id: str | None = None,
    ) -> Question | None:
        """Shuffle ``right`` (text, key) among ``wrong`` ones and build the question."""
        if len(wrong) < GENERATED_MIN_OPTIONS - 1 or len(prompt) > MAX_PROMPT_CHARS:
            return None
        pairs = [right, *wrong[: TARGET_OPTIONS - 1]]
        self.rng.shuffle(pairs)
        return Question(
            kind=kind,
            prompt=prompt,
            options=tuple(p[0] for p in pairs),
            correct_index=pairs.index(right),
            explanation=explanation,
            scientific_name=subject.scientific_name,
            difficulty=difficulty,
            option_keys=tuple(p[1] for p in pairs),
            variant=variant,
            photo_file_id=photo_file_id,
        )

    def _name_question(
        self,
        kind: QuestionKind,
        prompt: str,
        subject: Taxon,
        distractors: Sequence[Taxon],
        difficulty: Difficulty,
        explanation: str,
        variant: str = "",
        photo_file_id: str | None = None,
    ) -> Question | None:
        if len(subject.common_name) > MAX_OPTION_CHARS:
            return None
        return self._finish(
            kind, prompt, (subject.common_name, subject.scientific_name),
            [(t.common_name, t.scientific_name) for t in distractors],
            subject, difficulty, explanation, variant, photo_file_id,
        )

    # -- one builder per kind ----------------------------------------------------------------------

    def _build_type(self, s: Taxon, d: Difficulty) -> Question | None:
        labels = TYPE_LABELS[d]
        # The common name often tells the type ("Indian cobra"): ask by the scientific name instead,
        # with where it lives for kids, and skip animals whose question would still give it away.
        prompts = [f"To which group of reptiles does {s.scientific_name} belong?"]
        where = re.sub(r"^(native to|only)\s+", "", s.distribution.rstrip("."), flags=re.IGNORECASE)
        if d is Difficulty.KIDS and _known(s.distribution) and len(where) <= 110:
            prompts.insert(0, f"Scientists call one reptile {s.scientific_name}. It lives in "
                              f"{place_phrase(where)}. What kind of reptile is it?")
        prompt = next((p for p in prompts if type_prompt_problem(p, s, self.names) is None), None)
        if prompt is None:
            return None
        wrong = [(labels[k], k) for k in labels if k != s.reptile_type]
        self.rng.shuffle(wrong)
        type_word = TYPE_WORDS[s.reptile_type]
        core = f"{s.scientific_name} is {_the(s)}, {_article(type_word)} {type_word}"
        return self._finish(
            QuestionKind.TYPE, prompt, (labels[s.reptile_type], s.reptile_type), wrong, s, d,
            explanation_text(core, s.fun_fact),
        )

    def _build_diet(self, s: Taxon, d: Difficulty) -> Question | None:
        if not _known(s.diet_class) or s.diet_class not in DIET_LABELS[d]:
            return None
        labels = DIET_LABELS[d]
        keys = [k for k in labels if k != s.diet_class]
        keys = [k for k in keys if frozenset({k, s.diet_class}) not in DIET_CONFLICTS]
        self.rng.shuffle(keys)
        chosen: list[str] = []
        for k in keys:
            if all(frozenset({k, c}) not in DIET_CONFLICTS for c in chosen):
                chosen.append(k)
        if d is Difficulty.KIDS:
            prompt = f"What does {_the(s)} eat?"
        else:
            prompt = f"What kind of diet does {_the(s)} ({s.scientific_name}) have?"
        word = labels[s.diet_class].lower() if d is Difficulty.KIDS else s.diet_class
        core = f"{_cap_the(s)} is {_article(word)} {word}"
        if _known(s.diet):
            core += f": it eats {diet_words(s.diet)}"
        if s.diet_class == "omnivore" and d is Difficulty.KIDS:
            core = f"{_cap_the(s)} eats both plants and animals"
            if _known(s.diet):
                core += f": {diet_words(s.diet)}"
        return self._finish(
            QuestionKind.DIET, prompt, (labels[s.diet_class], s.diet_class),
            [(labels[k], k) for k in chosen], s, d, explanation_text(core, s.fun_fact),
        )

    def _build_distribution(self, s: Taxon, d: Difficulty) -> Question | None:
        answer = s.distribution
        if not _known(answer) or len(answer) > MAX_OPTION_CHARS or regions_of(answer) is None:
            return None
        if _names_place(s.common_name, answer):  # "Komodo dragon" / "...islands of Komodo"
            return None
        seen = {answer.casefold()}
        candidates: list[str] = []
        others = list(self._subjects)
        self.rng.shuffle(others)
        if d is Difficulty.KIDS:  # shorter place lists first: easier to read
            others.sort(key=lambda t: len(t.distribution) > 60)
        for t in others:
            text = t.distribution
            if text.casefold() in seen or not _known(text) or len(text) > MAX_OPTION_CHARS:
                continue
            if definitely_disjoint(answer, text) and all(definitely_disjoint(text, c) for c in candidates):
                candidates.append(text)
                seen.add(text.casefold())
            if len(candidates) >= TARGET_OPTIONS - 1:
                break
        prompt = f"Where does {_the(s)} live in the wild?"
        core = f"{_cap_the(s)} lives in: {answer}"
        return self._finish(
            QuestionKind.DISTRIBUTION, prompt, (answer, answer), [(c, c) for c in candidates], s, d,
            explanation_text(core, s.fun_fact),
        )

    def _build_venom(self, s: Taxon, d: Difficulty) -> Question | None:
        if s.reptile_type not in VENOM_TYPES or s.venom not in (VENOMOUS, HARMLESS):
            return None
        variant = s.venom
        opposite = HARMLESS if variant == VENOMOUS else VENOMOUS
        pool = [t for t in self._pool(d) if t.reptile_type in VENOM_TYPES and t.venom == opposite]
        self.rng.shuffle(pool)
        pool.sort(key=lambda t: t.reptile_type != s.reptile_type)  # same type first
        distractors = self._pick_unrelated(pool, [s], TARGET_OPTIONS - 1)
        name = _cap_the(s)
        if variant == VENOMOUS:
            prompt = "Which of these animals is venomous?" if d is Difficulty.KIDS else \
                "Which one of these reptiles is venomous?"
            core = f"{name} is venomous. Never go near one: keep away and tell an adult!"
        else:
            prompt = "Which of these animals has no venom?" if d is Difficulty.KIDS else \
                "Which one of these reptiles is not venomous?"
            core = f"{name} has no venom, but never touch a wild {TYPE_WORDS[s.reptile_type]}!"
        return self._name_question(
            QuestionKind.VENOM, prompt, s, distractors, d, explanation_text(core, s.fun_fact), variant,
        )

    def _build_iucn(self, s: Taxon, d: Difficulty) -> Question | None:
        variant = s.iucn_category
        if variant not in (CR, LC):
            return None
        allowed = IUCN_DISTRACTORS[(variant, d)]
        pool = [t for t in self._pool(d) if t.iucn_category in allowed]
        self.rng.shuffle(pool)
        distractors = self._pick_unrelated(pool, [s], TARGET_OPTIONS - 1)
        if variant == CR:
            prompt = (
                "Which of these animals is Critically Endangered (in the most danger of dying out)?"
                if d is Difficulty.KIDS
                else "Which of these is listed as Critically Endangered on the IUCN Red List?"
            )
        else:
            prompt = (
                "Which of these animals is NOT in danger at the moment (Least Concern)?"
                if d is Difficulty.KIDS
                else "Which of these is listed as Least Concern on the IUCN Red List?"
            )
        year = f" ({s.iucn_year})" if s.iucn_year else ""
        core = f"The IUCN Red List{year} lists {_the(s)} as {IUCN_NAMES[variant]}"
        return self._name_question(
            QuestionKind.IUCN, prompt, s, distractors, d, explanation_text(core, s.fun_fact), variant,
        )

    def _build_fun_fact(self, s: Taxon, d: Difficulty) -> Question | None:
        fact = s.fun_fact.strip()
        if not _known(fact):
            return None
        prompt = f"Which animal is this fun fact about?\n“{fact}”"
        if len(prompt) > MAX_PROMPT_CHARS:
            return None
        folded = fact.casefold()
        if fact_problem(fact, s, (), self.names) is not None:  # a group fact, or it names its animal
            return None
        pool = [
            t for t in self._pool(d)
            if _known(t.fun_fact) and t.fun_fact.strip().casefold() != folded
            and fact_problem(fact, s, (t,), self.names) is None  # nothing in it points to this option
        ]
        self.rng.shuffle(pool)
        distractors = self._pick_unrelated(pool, [s], TARGET_OPTIONS - 1)
        core = f"That's {_the(s)} ({s.scientific_name})"
        return self._name_question(QuestionKind.FUN_FACT, prompt, s, distractors, d, explanation_text(core))

    def _build_scientific_name(self, s: Taxon, d: Difficulty) -> Question | None:
        if scientific_name_gives_away(s):  # "Varanus komodoensis" -> "Komodo dragon"
            return None
        pool = list(self._pool(d))
        self.rng.shuffle(pool)
        if d is Difficulty.EXPERT:  # same type first: harder
            pool.sort(key=lambda t: t.reptile_type != s.reptile_type)
        distractors = self._pick_unrelated(pool, [s], TARGET_OPTIONS - 1)
        if d is Difficulty.KIDS:
            prompt = f"Scientists call this animal {s.scientific_name}. What is its everyday name?"
        else:
            prompt = f"Which animal has the scientific name {s.scientific_name}?"
        core = f"{s.scientific_name} is the scientific name of {_the(s)}"
        return self._name_question(
            QuestionKind.SCIENTIFIC_NAME, prompt, s, distractors, d, explanation_text(core, s.fun_fact),
        )


_DIRECTION_WORDS = {
    "north", "south", "east", "west", "northern", "southern", "eastern", "western", "central",
    "common", "great", "greater", "lesser",
}
_WORDS = re.compile(r"[^\W\d_][\w'’-]*")


def _names_place(common_name: str, distribution: str) -> bool:
    """True when the common name gives the range away (same first 4 letters as a place name in it)."""
    name_stems = {
        w.casefold()[:4] for w in _WORDS.findall(common_name)
        if len(w) >= 4 and w.casefold() not in _DIRECTION_WORDS
    }
    places = {w.casefold()[:4] for w in _WORDS.findall(distribution) if len(w) >= 4 and w[0].isupper()}
    return bool(name_stems & places)


#: First words of a range that are ordinary words (lower case mid-sentence); any other first word is
#: a place name and keeps its capital ("Yemen and Saudi Arabia").
_COMMON_PLACE_WORDS = frozenset({
    "north", "south", "east", "west", "northern", "southern", "eastern", "western", "central", "tropical",
    "coastal", "most", "much", "all", "warm", "temperate", "sub-saharan", "south-eastern", "south-western",
    "north-eastern", "north-western", "southeastern", "southwestern", "northeastern", "northwestern",
    "deserts", "islands", "mainland", "lowland", "lowlands", "mountains", "forests", "rivers",
})


def place_phrase(text: str) -> str:
    """A range for the middle of a sentence: "Southern Madagascar" -> "southern Madagascar", but
    "Yemen and Saudi Arabia" stays."""
    first = text.split(" ")[0]
    if first.casefold().rstrip(",:;") in _COMMON_PLACE_WORDS and first[:1].isupper():
        return first[0].lower() + text[1:]
    return text


def scientific_name_gives_away(t: Taxon) -> bool:
    """True when a word of the scientific name starts like a word of the common name (first 4
    letters), e.g. *Crocodylus niloticus* / Nile crocodile, *Varanus komodoensis* / Komodo dragon."""
    sci = {w.casefold()[:4] for w in _WORDS.findall(t.scientific_name) if len(w) >= 4}
    common = {w.casefold()[:4] for w in _WORDS.findall(t.common_name) if len(w) >= 4}
    return bool(sci & common)


def _article(word: str) -> str:
    """``"an"`` before a vowel sound (omnivore, insect-eater), else ``"a"``."""
    return "an" if word[:1].lower() in "aeiou" else "a"


#: Capitalised words kept as they are inside a diet (proper names and adjectives from places).
_PROPER_WORDS = frozenset({
    "Nile", "African", "American", "Asian", "European", "Australian", "Indian", "Chinese", "Komodo",
    "Amazon", "Pacific", "Atlantic", "Caribbean",
})


def diet_words(diet: str) -> str:
    """A diet for the middle of a sentence: no capitals except proper names ("Deer, Pigs" ->
    "deer, pigs"; "Nile perch" stays), no final full stop."""
    out = []
    for w in diet.rstrip(". ").split(" "):
        core = w.strip(",;:()")
        if core[:1].isupper() and core[1:2].islower() and core not in _PROPER_WORDS:
            w = w.replace(core, core[0].lower() + core[1:], 1)
        out.append(w)
    return " ".join(out)
