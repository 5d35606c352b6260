"""The name index shared by the species look-up and the quizzes.

What a child may type, and what points to an animal:

* :data:`GROUPS`: everyday group words ("rattlesnake", "cobra", "gecko", ...) and the taxa (genus,
  subfamily or family names, as stored in the species database's ``genus``/``subfamily``/``family``
  columns) whose species they cover. Members are always derived from those columns, never listed.
* :data:`DANGER_TERMS`: words that name a dangerous (venomous) group, so that an unknown name that
  contains one still gets the keep-away warning.
* :data:`AMPHIBIAN_TERMS` / :data:`DINOSAUR_TERMS`: animals that are not reptiles today.
* :class:`NameIndex`: for each taxon, the words that give it away (its common name, genus, groups,
  synonyms); the quizzes refuse a fun fact or a question text that contains one.

Sources for the group contents: The Reptile Database (https://reptile-database.reptarium.cz/), family and
genus pages (checked for the groups listed below: Crotalus and Sistrurus are the rattlesnakes; Naja the
true cobras; Dendroaspis the mambas; Pythonidae the pythons; Cheloniidae and Dermochelyidae the sea turtles;
Chamaeleonidae the chameleons; the gecko families of Gekkota except the legless Pygopodidae).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from bot.core.species import Taxon


def normalise(text: str) -> str:
    """Case-folded, accent-free words separated by single spaces (hyphens and punctuation are spaces)."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c)).casefold()
    text = re.sub(r"['’`]s\b", "s", text)
    text = re.sub(r"[^\w]+|_", " ", text)
    return re.sub(r"\s+", " ", text).strip()


def words(text: str) -> list[str]:
    """The normalised words of ``text``."""
    return normalise(text).split()


def singular(word: str) -> str:
    """A crude English singular for matching group words ("cobras" -> "cobra", "boas" -> "boa")."""
    for plural, single in (("ies", "y"), ("sses", "ss"), ("ches", "ch"), ("shes", "sh"), ("xes", "x")):
        if word.endswith(plural) and len(word) > len(plural) + 1:
            return word[: -len(plural)] + single
    if word.endswith("s") and not word.endswith("ss") and len(word) > 3:
        return word[:-1]
    return word


def singular_phrase(text: str) -> str:
    """``text`` normalised with every word made singular."""
    return " ".join(singular(w) for w in words(text))


@dataclass(frozen=True, slots=True)
class Group:
    """An everyday group name.

    Attributes:
        title: card title, e.g. ``"Rattlesnakes"``.
        taxa: genus/subfamily/family names whose species belong to the group, e.g. ``("Crotalus",
            "Sistrurus")``; the first is the group's own row when the database has one.
        reptile_type: crocodilian, lizard, snake, turtle or tuatara.
        dangerous: the group has venomous members that can kill people (keep-away warning).
        member_genera: when set, only species of these genera count as members (e.g. the sea snakes
            among the Hydrophiinae, which also hold Australia's land elapids).
    """

    title: str
    taxa: tuple[str, ...]
    reptile_type: str
    dangerous: bool = False
    member_genera: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        """Scientific label: ``"Crotalus and Sistrurus"``."""
        if len(self.taxa) == 1:
            return self.taxa[0]
        return ", ".join(self.taxa[:-1]) + " and " + self.taxa[-1]


_SEA_SNAKE_GENERA = (
    "Hydrophis", "Laticauda", "Aipysurus", "Emydocephalus", "Microcephalophis", "Ephalophis", "Parahydrophis",
    "Hydrelaps", "Pelamis", "Enhydrina", "Lapemis", "Astrotia", "Thalassophis", "Kerilia", "Acalyptophis",
)
_GECKO_FAMILIES = (
    "Gekkonidae", "Eublepharidae", "Diplodactylidae", "Phyllodactylidae", "Sphaerodactylidae",
    "Carphodactylidae",
)

#: Group words (singular, normalised) -> group. Plurals are matched through :func:`singular`.
GROUPS: dict[str, Group] = {
    "rattlesnake": Group("Rattlesnakes", ("Crotalus", "Sistrurus"), "snake", dangerous=True),
    "rattler": Group("Rattlesnakes", ("Crotalus", "Sistrurus"), "snake", dangerous=True),
    "cobra": Group("Cobras", ("Naja",), "snake", dangerous=True),
    "mamba": Group("Mambas", ("Dendroaspis",), "snake", dangerous=True),
    "krait": Group("Kraits", ("Bungarus",), "snake", dangerous=True),
    "taipan": Group("Taipans", ("Oxyuranus",), "snake", dangerous=True),
    "coral snake": Group("Coral snakes", ("Micrurus", "Micruroides", "Calliophis", "Sinomicrurus"), "snake",
                         dangerous=True),
    "sea snake": Group("Sea snakes", ("Hydrophiinae",), "snake", dangerous=True,
                       member_genera=_SEA_SNAKE_GENERA),
    "viper": Group("Vipers", ("Viperidae",), "snake", dangerous=True),
    "pit viper": Group("Pit vipers", ("Crotalinae",), "snake", dangerous=True),
    "lancehead": Group("Lanceheads", ("Bothrops",), "snake", dangerous=True),
    "python": Group("Pythons", ("Pythonidae",), "snake"),
    "boa": Group("Boas", ("Boidae",), "snake"),
    "anaconda": Group("Anacondas", ("Eunectes",), "snake"),
    "sea turtle": Group("Sea turtles", ("Cheloniidae", "Dermochelyidae"), "turtle"),
    "tortoise": Group("Tortoises", ("Testudinidae",), "turtle"),
    "snapping turtle": Group("Snapping turtles", ("Chelydridae",), "turtle"),
    "chameleon": Group("Chameleons", ("Chamaeleonidae",), "lizard"),
    "gecko": Group("Geckos", _GECKO_FAMILIES, "lizard"),
    "monitor": Group("Monitor lizards", ("Varanus",), "lizard"),
    "monitor lizard": Group("Monitor lizards", ("Varanus",), "lizard"),
    "iguana": Group("Iguanas", ("Iguanidae",), "lizard"),
    "skink": Group("Skinks", ("Scincidae",), "lizard"),
    "alligator": Group("Alligators", ("Alligator",), "crocodilian"),
    "caiman": Group("Caimans", ("Caimaninae",), "crocodilian"),
    "crocodile": Group("Crocodiles", ("Crocodylus",), "crocodilian"),
}

#: Words (normalised, singular) naming dangerous snakes and lizards. A name not in the museum that
#: contains one gets the keep-away warning and no harmless suggestions. Sources: WHO snake-antivenom
#: guidelines (TRS 1004, Annex 5, 2017) species lists and their common names.
DANGER_TERMS: tuple[str, ...] = (
    "viper", "adder", "cobra", "krait", "mamba", "taipan", "rattlesnake", "rattler", "coral snake",
    "sea snake",
    "sea krait", "copperhead", "cottonmouth", "water moccasin", "moccasin", "boomslang", "bushmaster",
    "fer de lance", "lancehead", "jararaca", "habu", "tiger snake", "brown snake", "death adder",
    "saw scaled", "twig snake", "vine snake", "keelback", "sidewinder", "massasauga", "pit viper", "asp",
    "king brown", "mulga", "dugite", "gwardar", "gila monster", "beaded lizard", "cantil", "urutu",
    "terciopelo", "barba amarilla", "puff adder", "ringhals",
)
#: Amphibians: not reptiles. "horned toad" is a lizard (Phrynosoma), so a reptile word wins.
AMPHIBIAN_TERMS: tuple[str, ...] = (
    "frog", "toad", "newt", "salamander", "axolotl", "caecilian", "tadpole", "bullfrog", "treefrog",
    "hellbender", "mudpuppy", "olm", "siren", "eft", "amphibian", "waterdog",
)
DINOSAUR_TERMS: tuple[str, ...] = (
    "dinosaur", "dino", "t rex", "trex", "tyrannosaurus", "triceratops", "velociraptor", "raptor",
    "stegosaurus", "brachiosaurus", "diplodocus", "spinosaurus", "allosaurus", "ankylosaurus",
    "iguanodon", "parasaurolophus", "apatosaurus", "brontosaurus", "pachycephalosaurus", "argentinosaurus",
    "giganotosaurus", "carnotaurus", "deinonychus", "compsognathus", "archaeopteryx",
)
#: Words that make a name a reptile's even when it also names an amphibian ("horned toad", "toad-headed
#: agama", "frog-eyed gecko").
_REPTILE_WORDS = frozenset({
    "lizard", "gecko", "agama", "skink", "snake", "turtle", "tortoise", "terrapin", "iguana", "monitor",
    "chameleon", "horned", "horny", "crocodile", "alligator", "caiman", "anole", "dragon",
})


def _contains(phrase_words: Sequence[str], term: str) -> bool:
    t = term.split()
    n = len(t)
    return any(list(phrase_words[i:i + n]) == t for i in range(len(phrase_words) - n + 1))


def _singular_words(text: str) -> list[str]:
    return [singular(w) for w in words(text)]


def danger_term(text: str) -> str | None:
    """The first dangerous-group word in ``text`` (e.g. ``"mamba"`` in "green mambas"), or ``None``."""
    ws = _singular_words(text)
    raw = words(text)
    for term in DANGER_TERMS:
        if _contains(ws, term) or _contains(raw, term):
            return term
    return None


def not_reptile_kind(text: str) -> tuple[str, str] | None:
    """``("amphibian" | "dinosaur", the word found)`` when ``text`` names one and no reptile word,
    e.g. ``("amphibian", "axolotl")``; else ``None``."""
    ws, raw = _singular_words(text), words(text)
    if any(w in _REPTILE_WORDS for w in ws):
        return None
    for kind, terms in (("amphibian", AMPHIBIAN_TERMS), ("dinosaur", DINOSAUR_TERMS)):
        for term in terms:
            if _contains(ws, term) or _contains(raw, term):
                return kind, term
    return None


def group_for(query: str) -> Group | None:
    """The group an everyday name stands for: ``"rattlesnakes"`` -> Rattlesnakes, ``"cobra"`` -> Cobras.

    Only the whole query counts ("king cobra" is not the cobra group)."""
    return GROUPS.get(singular_phrase(query))


def in_taxa(t: Taxon, taxa: Iterable[str]) -> bool:
    """True when ``t`` is one of ``taxa`` or belongs to one (by its genus, subfamily or family)."""
    names = set(taxa)
    return bool(names & {t.scientific_name, t.genus, t.subfamily, t.family} - {None})


def group_members(all_taxa: Iterable[Taxon], group: Group) -> list[Taxon]:
    """Species and subspecies of ``group`` (from the genus/subfamily/family columns), by common name."""
    out = [
        t for t in all_taxa
        if t.rank in ("species", "subspecies") and in_taxa(t, group.taxa)
        and (not group.member_genera or t.genus in group.member_genera)
    ]
    return sorted(out, key=lambda t: t.common_name.casefold())


#: Words too common to give an animal away ("the common snake", "great", colours are kept).
STOP_WORDS = frozenset({
    "the", "a", "an", "of", "and", "or", "in", "on", "common", "true", "s", "de", "la", "el", "le",
    "snake", "snakes", "lizard", "lizards", "turtle", "turtles",
})


class NameIndex:
    """Words that point to each taxon: words of its common name, genus, groups and synonyms.

    ``type`` words (snake, lizard, turtle, tortoise) are not counted: they name the type, not the
    animal (the "what kind of reptile" question handles those itself).

    Args:
        taxa: every taxon of the repository (group rows give their common names to their members).
    """

    def __init__(self, taxa: Iterable[Taxon]) -> None:
        self._taxa = list(taxa)
        groups = [t for t in self._taxa if t.is_group]
        self._group_rows = {g.scientific_name: g for g in groups}
        self._cache: dict[str, frozenset[str]] = {}

    def group_names(self, t: Taxon) -> list[str]:
        """Names of every group ``t`` belongs to: genus/subfamily/family (scientific and, where the
        database has the group row, its common name) and the everyday group words of :data:`GROUPS`."""
        names: list[str] = []
        for rank_name in (t.genus, t.subfamily, t.family):
            if not rank_name:
                continue
            names.append(rank_name)
            row = self._group_rows.get(rank_name)
            if row is not None:
                names.append(row.common_name)
        for word, group in GROUPS.items():
            if in_taxa(t, group.taxa):
                names += [word, group.title]
        return names

    def giveaway_words(self, t: Taxon) -> frozenset[str]:
        """Normalised, singular words that give ``t`` away (length >= 3, minus :data:`STOP_WORDS`)."""
        cached = self._cache.get(t.scientific_name)
        if cached is not None:
            return cached
        texts = [t.common_name, t.scientific_name, *t.synonym_list, *self.group_names(t)]
        out = set()
        for text in texts:
            for w in words(text):
                s = singular(w)
                if len(s) >= 3 and w not in STOP_WORDS and s not in STOP_WORDS:
                    out.add(s)
        self._cache[t.scientific_name] = result = frozenset(out)
        return result

    def giveaway_in(self, text: str, t: Taxon) -> str | None:
        """The first word of ``text`` that gives ``t`` away (also as the start of a longer word,
        e.g. "rattlesnake's", "chameleons"), or ``None``."""
        bad = self.giveaway_words(t)
        for w in words(text):
            s = singular(w)
            if s in bad or w in bad:
                return w
            # "rattlesnake's" (longer) and "roof" for "roofed" (shorter) point to the same name
            if any((len(b) >= 5 and w.startswith(b)) or (len(w) >= 4 and b.startswith(w)) for b in bad):
                return w
        return None
