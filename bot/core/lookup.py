"""``/species NAME``: look-up of a taxon, answered with a fact card, a group card or a kind "not found".

Order of the rules (issue 11):

1. an everyday group word ("rattlesnake", "cobras", "gecko"; :data:`bot.core.names.GROUPS`) gives the
   group's card with its members (taken from the genus/subfamily/family columns), unless the name is
   exactly a species' name;
2. an exact common name, scientific name or synonym;
3. a name of an amphibian or a dinosaur (and no reptile or danger word) gets a kind "not a reptile"
   answer, before any fuzzy match ("frog" is not the frog-faced softshell turtle);
4. a fuzzy match (rapidfuzz WRatio >= :data:`ACCEPT_SCORE`) is taken, unless the name contains a
   dangerous-group word and the match is a harmless animal not named by that word;
5. otherwise "not found": with the keep-away warning when the name contains a dangerous-group word (and
   then no harmless suggestions).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from bot.core import messages as m
from bot.core.card import CardKind, Fact, FactCard, Severity, Warning
from bot.core.cards import problem_card, species_card, taxon_warning
from bot.core.names import Group, danger_term, group_for, group_members, normalise, not_reptile_kind, words
from bot.core.species import SpeciesRepository, Taxon

#: rapidfuzz WRatio score (0-100) from which the best hit is taken as the answer; below it, the bot
#: lists suggestions instead. 86 accepts "komodo" → Komodo dragon and "gartr snake" → garter snakes,
#: and rejects unrelated words (measured in tests/test_lookup.py).
ACCEPT_SCORE = 86.0
#: Most members listed on a group card.
MAX_MEMBERS = 25


@dataclass(frozen=True, slots=True)
class LookupResult:
    """What a look-up found, for every platform and for ``reptile-museum species --json``.

    Attributes:
        query: the query as typed (whitespace collapsed).
        card: the card to show.
        taxon: the taxon found (a group's own row for a group with one), else ``None``.
        group: the everyday group matched, else ``None``.
        members: species of a found group (empty for a species).
        suggestions: taxa suggested when nothing was found.
        not_reptile: ``"amphibian"`` or ``"dinosaur"`` when the name is one, else ``None``.
    """

    query: str
    card: FactCard
    taxon: Taxon | None = None
    group: Group | None = None
    members: tuple[Taxon, ...] = ()
    suggestions: tuple[Taxon, ...] = ()
    not_reptile: str | None = None

    @property
    def found(self) -> bool:
        """True when a taxon or a group was found."""
        return self.taxon is not None or self.group is not None

    def to_json(self) -> dict[str, Any]:
        """The JSON object of ``reptile-museum species --json`` (issue 11).

        Found: ``query``, ``found`` (true), ``scientific_name``, ``common_name``, ``rank``, ``type``,
        ``venom``, ``iucn_category``, ``iucn_year``, ``members`` (for a group: a list of
        ``{"scientific_name", "common_name"}``; ``null`` for a species), ``warning``. Not found:
        ``query``, ``found`` (false), ``suggestions`` (same shape as members), ``warning``,
        ``not_reptile`` (``"amphibian"``, ``"dinosaur"`` or ``null``). ``warning`` is
        ``{"severity": "danger" | "caution", "text": ...}`` or ``null``.
        """
        warning = self.card.warning
        warn = {"severity": warning.severity.value, "text": warning.text} if warning else None
        if not self.found:
            return {"query": self.query, "found": False, "suggestions": _pairs(self.suggestions),
                    "warning": warn, "not_reptile": self.not_reptile}
        t, g = self.taxon, self.group
        is_group = g is not None or (t is not None and t.is_group)
        if g is not None:
            scientific = g.label if t is None or len(g.taxa) > 1 else t.scientific_name
            common = self.card.title
        else:
            scientific, common = t.scientific_name, t.common_name
        return {
            "query": self.query,
            "found": True,
            "scientific_name": scientific,
            "common_name": common,
            "rank": _group_rank(g) if g is not None and (t is None or len(g.taxa) > 1) else t.rank,
            "type": t.reptile_type if t is not None else g.reptile_type,
            "venom": t.venom if t is not None else _group_venom(self.members),
            "iucn_category": t.iucn_category if t is not None else "NE",
            "iucn_year": t.iucn_year if t is not None else None,
            "members": _pairs(self.members) if is_group else None,
            "warning": warn,
        }


def _pairs(taxa: tuple[Taxon, ...]) -> list[dict[str, str]]:
    return [{"scientific_name": t.scientific_name, "common_name": t.common_name} for t in taxa]


def _group_rank(group: Group) -> str:
    """``genus``/``subfamily``/``family`` for a one-taxon group (by the name's ending), else ``group``."""
    if len(group.taxa) > 1:
        return "group"
    name = group.taxa[0]
    return "family" if name.endswith("idae") else "subfamily" if name.endswith("inae") else "genus"


def _group_venom(members: tuple[Taxon, ...]) -> str:
    """The venom status true of every member, or the most dangerous one when they differ."""
    kinds = {t.venom for t in members}
    if len(kinds) == 1:
        return kinds.pop()
    for kind in ("venomous", "mildly venomous", "unknown"):
        if kind in kinds:
            return kind
    return "unknown"


def _exact(species: SpeciesRepository, query: str) -> Taxon | None:
    q = normalise(query)
    hits = [h for h in species.search(query, limit=3) if h.score >= 100.0]
    for h in hits:
        names = (h.taxon.common_name, h.taxon.scientific_name, *h.taxon.synonym_list)
        if any(normalise(n) == q for n in names):
            return h.taxon
    return None


def _group_card(species: SpeciesRepository, group: Group, query: str) -> LookupResult | None:
    """The group's card (its own row's when the database has one), or ``None`` when the museum has
    neither a row nor a member of it."""
    members = tuple(group_members(species.taxa, group))
    row = next((t for t in species.taxa if t.scientific_name == group.taxa[0] and t.is_group), None)
    if row is not None:
        card = species_card(row, list(members[:MAX_MEMBERS]))
        if group.member_genera or len(group.taxa) > 1:  # the row's own rank is wider or narrower
            card = _with(card, title=group.title)
        card = _with(card, members=_more(card.members, len(members)))
        return LookupResult(query, card, taxon=row, group=group, members=members)
    if not members:
        return None
    return LookupResult(query, _synthetic_group_card(group, members), group=group, members=members)


def _more(names: tuple[str, ...], total: int) -> tuple[str, ...]:
    """``names`` plus "and N more" when the group has more members than the card lists."""
    return (*names, f"and {total - len(names)} more") if total > len(names) else names


def _with(card: FactCard, **changes: Any) -> FactCard:
    return replace(card, **changes)


def _synthetic_group_card(group: Group, members: tuple[Taxon, ...]) -> FactCard:
    """A group card when the database has no row for the group itself: the members and the warning
    that is true of the most dangerous of them."""
    warnings = [w for w in (taxon_warning(t) for t in members) if w is not None]
    danger = next((w for w in warnings if w.severity is Severity.DANGER), None)
    warning = danger or (warnings[0] if warnings else None)
    if group.dangerous and (warning is None or warning.severity is not Severity.DANGER):
        warning = Warning(Severity.DANGER, m.WARN_VENOMOUS)
    listed = tuple(f"{t.common_name} ({t.scientific_name})" for t in members[:MAX_MEMBERS])
    names = _more(listed, len(members))
    note = f"{group.title} ({group.label}) are a group of related species. These are the ones in the museum."
    return FactCard(
        kind=CardKind.SPECIES,
        title=group.title,
        emoji=m.TYPE_EMOJI.get(group.reptile_type, ""),
        scientific_name=group.label,
        rank="group",
        reptile_type=group.reptile_type,
        warning=warning,
        facts=(Fact("Type", m.TYPE_NAMES.get(group.reptile_type, group.reptile_type)
                    + " (a group of species)", m.TYPE_EMOJI.get(group.reptile_type, "")),),
        group_note=note,
        members=names,
    )


def _names_term(t: Taxon, term: str) -> bool:
    texts = (t.common_name, *t.synonym_list)
    return any(term in " ".join(words(x)) for x in texts)


async def _taxon_result(species: SpeciesRepository, query: str, taxon: Taxon) -> LookupResult:
    """The card of one taxon; for a group row with all its members (the card lists the first 25)."""
    members = tuple(await species.members(taxon, limit=10_000)) if taxon.is_group else ()
    card = species_card(taxon, list(members[:MAX_MEMBERS]) or None)
    if len(members) > MAX_MEMBERS:
        card = _with(card, members=_more(card.members, len(members)))
    return LookupResult(query, card, taxon=taxon, members=members)


async def resolve(species: SpeciesRepository, query: str) -> LookupResult:
    """Look ``query`` up (see the module docstring for the rules). Never raises for bad input."""
    query = " ".join(query.split())
    if not query:
        return LookupResult(query, problem_card(m.SPECIES_USAGE_TEXT))
    exact = _exact(species, query)
    group = group_for(query)
    if group is not None and (exact is None or exact.is_group):  # "Rattlesnakes": Crotalus and Sistrurus
        found = _group_card(species, group, query)
        if found is not None:
            return found
    if exact is not None:
        return await _taxon_result(species, query, exact)
    term = danger_term(query)
    kind = not_reptile_kind(query)
    if kind is not None and term is None:  # "frog" is not the frog-faced softshell turtle
        card = FactCard(kind=CardKind.NOT_REPTILE, title="That's not a reptile",
                        emoji="🐸" if kind[0] == "amphibian" else "🦕", body=m.not_reptile_text(*kind))
        return LookupResult(query, card, not_reptile=kind[0])
    hits = species.search(query, limit=4)
    if hits and hits[0].score >= ACCEPT_SCORE:
        taxon = hits[0].taxon
        if term is None or taxon.venom != "harmless" or _names_term(taxon, term):
            return await _taxon_result(species, query, taxon)
    candidates = [h.taxon for h in species.search(query, limit=6, min_score=45.0)]
    if term is not None:  # never harmless suggestions alone for a dangerous name
        candidates = [t for t in candidates if t.venom in ("venomous", "mildly venomous")]
        body = m.not_found_text(query, [t.common_name for t in candidates[:3]])
        card = problem_card(body, title="Not found")
        card = _with(card, warning=Warning(Severity.DANGER, m.danger_name_text(term)))
        return LookupResult(query, card, suggestions=tuple(candidates[:3]))
    suggestions = tuple(candidates[:3])
    card = problem_card(m.not_found_text(query, [t.common_name for t in suggestions]), title="Not found")
    return LookupResult(query, card, suggestions=suggestions)


async def lookup_species(species: SpeciesRepository, query: str) -> FactCard:
    """The card for ``query``: a taxon's or group's card, or a kind "not found" (see :func:`resolve`)."""
    return (await resolve(species, query)).card
