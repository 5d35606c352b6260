"""Build :class:`~bot.core.card.FactCard` objects from identifications and species rows."""

from __future__ import annotations

from bot.core import messages as m
from bot.core.bite import strong_bite
from bot.core.card import Alternative, CardKind, Fact, FactCard, Severity, Warning
from bot.core.species import Taxon
from bot.core.venom import VenomWarning
from inference.errors import RejectReason
from inference.types import Identification


def _article(name: str) -> str:
    return "an" if name[:1].lower() in "aeiou" else "a"


def _unknown(value: str | None) -> bool:
    return value is None or not value.strip() or value.strip().lower() == "unknown"


def iucn_text(taxon: Taxon) -> str:
    """Conservation status in words, e.g. ``"Vulnerable (VU), IUCN Red List 2017"``."""
    cat = taxon.iucn_category
    if cat == "unknown":
        return "unknown"
    if cat == "NE" and taxon.is_group:
        return "Not evaluated as a group (the IUCN Red List assesses single species)"
    text = f"{m.IUCN_NAMES.get(cat, cat)} ({cat})"
    if taxon.iucn_year:
        text += f", IUCN Red List {taxon.iucn_year}"
    return text


def venom_text(taxon: Taxon) -> str:
    """Venom status in plain words."""
    return {
        "venomous": "Venomous",
        "mildly venomous": "Mildly venomous (not usually dangerous to people, but never handle it)",
        "harmless": "Not venomous",
    }.get(taxon.venom, "unknown")


def length_text(taxon: Taxon) -> str | None:
    """Typical adult length in words, or ``None`` when unknown. Turtles are measured by shell."""
    if taxon.adult_length_cm is None:
        return None
    cm = taxon.adult_length_cm
    size = f"{cm:.0f} cm" if cm < 100 else f"{cm / 100:.1f} m".replace(".0 m", " m")
    what = "shell length" if taxon.reptile_type == "turtle" else "long"
    return f"about {size} {what}" if what == "long" else f"{what} about {size}"


def taxon_facts(taxon: Taxon) -> tuple[Fact, ...]:
    """The labelled facts of a taxon, skipping unknown ones (the card stays honest and short)."""
    type_word = m.TYPE_NAMES.get(taxon.reptile_type, taxon.reptile_type.capitalize())
    if taxon.is_group:
        type_word += f" ({m.RANK_WORDS.get(taxon.rank, taxon.rank)}: a group of species)"
    facts = [Fact("Type", type_word, m.TYPE_EMOJI.get(taxon.reptile_type, ""))]
    for label, value, emoji in (
        ("Where it lives", taxon.distribution, "🌍"),
        ("Habitat", taxon.habitat, "🏞️"),
        ("Colour", taxon.colour, "🎨"),
        ("Diet", taxon.diet, "🍽️"),
    ):
        if not _unknown(value):
            facts.append(Fact(label, value, emoji))
    size = length_text(taxon)
    if size:
        facts.append(Fact("Size", size, "📏"))
    facts.append(Fact("Conservation status", iucn_text(taxon), "🛡️"))
    facts.append(Fact("Venom", venom_text(taxon), "💉"))
    return tuple(facts)


def taxon_warning(taxon: Taxon) -> Warning | None:
    """The safety warning for the animal itself, or ``None`` when it is harmless."""
    if taxon.venom == "venomous":
        return Warning(Severity.DANGER, m.WARN_VENOMOUS)
    if taxon.venom == "mildly venomous":
        return Warning(Severity.CAUTION, m.WARN_MILD)
    if taxon.venom == "unknown" and taxon.reptile_type == "snake":
        return Warning(Severity.CAUTION, m.WARN_UNKNOWN_SNAKE)
    if taxon.reptile_type == "crocodilian":
        return Warning(Severity.CAUTION, m.WARN_CROCODILIAN)
    if strong_bite(taxon):
        return Warning(Severity.CAUTION, m.WARN_STRONG_BITE)
    return None


def _group_note(taxon: Taxon) -> str:
    if not taxon.is_group:
        return ""
    rank = m.RANK_WORDS.get(taxon.rank, taxon.rank)
    return (
        f"{taxon.common_name} ({taxon.scientific_name}) is a {rank}: a group of related species. "
        "From a photo I can tell the group, but not the exact species."
    )


def _member_names(members: list[Taxon]) -> tuple[str, ...]:
    return tuple(f"{t.common_name} ({t.scientific_name})" for t in members)


def species_card(taxon: Taxon, members: list[Taxon] | None = None) -> FactCard:
    """A card for a /species look-up: the taxon's facts with no confidence words."""
    return FactCard(
        kind=CardKind.SPECIES,
        title=taxon.common_name,
        emoji=m.TYPE_EMOJI.get(taxon.reptile_type, ""),
        scientific_name=taxon.scientific_name,
        rank=taxon.rank,
        reptile_type=taxon.reptile_type,
        warning=taxon_warning(taxon),
        facts=taxon_facts(taxon),
        fun_fact="" if _unknown(taxon.fun_fact) else taxon.fun_fact,
        group_note=_group_note(taxon),
        members=_member_names(members or []),
        # Only a web page is a source a reader can follow; a pack's provenance note stays in the data.
        source_url=taxon.source_url if taxon.source_url.startswith(("https://", "http://")) else "",
    )


def confidence_words(name: str, is_group: bool, confident: bool, percent: int) -> str:
    """The model's confidence in words, e.g. ``"I'm pretty sure this is a Komodo dragon! (92%)"``."""
    what = f"one of the {name.lower()}" if is_group else f"{_article(name)} {name}"
    if confident:
        return f"I'm pretty sure this is {what}! ({percent}% sure)"
    return f"It might be {what}, but I'm not sure. ({percent}% sure)"


def reptile_card(
    ident: Identification,
    top: Taxon,
    others: list[Taxon],
    members: list[Taxon] | None = None,
    *,
    confident: bool | None = None,
    score: float | None = None,
    venom_warning: VenomWarning | None = None,
) -> FactCard:
    """A card for a photo identified as a reptile.

    Args:
        ident: the model's answer.
        top: species-database row of the answer (``ident.top[0]``, or the taxon the core rolled the
            candidates up to).
        others: rows of the other candidates in ``ident.top`` (same order; missing rows left out).
        members: museum species within ``top`` when it is a genus, subfamily or family.
        confident: "I'm pretty sure" (default ``ident.confident``).
        score: the answer's probability in [0, 1] (default ``ident.top[0].confidence``).
        venom_warning: the venom rule's verdict (:func:`bot.core.venom.venom_warning`): ``DANGER``
            shows the venomous warning (also for a group with venomous members), ``CAUTION`` the
            "may be a venomous snake" caution and replaces a "Not venomous" fact, since the photo
            alone cannot clear it.
    """
    confident = ident.confident if confident is None else confident
    if score is None:
        score = ident.top[0].confidence if ident.top else 0.0
    percent = round(100 * score)
    warning = taxon_warning(top)
    if venom_warning is VenomWarning.DANGER and (warning is None or warning.severity != Severity.DANGER):
        warning = Warning(Severity.DANGER, m.WARN_GROUP_VENOMOUS)
    if warning is None or warning.severity != Severity.DANGER:
        venomous_alt = next((t for t in others if t.venom == "venomous"), None)
        if venomous_alt is not None:
            warning = Warning(Severity.CAUTION, m.warn_lookalike(venomous_alt.common_name))
        elif venom_warning is VenomWarning.CAUTION:
            text = m.WARN_MAY_BE_VENOMOUS_SNAKE if top.reptile_type == "snake" else m.WARN_COULD_BE_SNAKE
            warning = Warning(Severity.CAUTION, text)
    alternatives: tuple[Alternative, ...] = ()
    if not confident:
        by_name = {t.scientific_name: t for t in others}
        alternatives = tuple(
            Alternative(by_name[s.scientific_name].common_name, s.scientific_name,
                        round(100 * s.confidence))
            for s in ident.top
            if s.scientific_name in by_name and s.scientific_name != top.scientific_name
        )[:2]
    card = species_card(top, members)
    facts = card.facts
    if venom_warning is VenomWarning.CAUTION and top.venom == "harmless":
        facts = tuple(Fact(f.label, m.VENOM_NOT_CLEARED, f.emoji) if f.label == "Venom" else f for f in facts)
    return FactCard(
        kind=CardKind.REPTILE,
        title=card.title,
        emoji=card.emoji,
        scientific_name=card.scientific_name,
        rank=card.rank,
        reptile_type=card.reptile_type,
        confidence_text=confidence_words(top.common_name, top.is_group, confident, percent),
        warning=warning,
        facts=facts,
        fun_fact=card.fun_fact,
        group_note=card.group_note,
        members=card.members,
        alternatives=alternatives,
        source_url=card.source_url,
    )


_SALAMANDER_WORDS = ("salamander", "newt", "eft", "axolotl")


def not_reptile_card(ident: Identification, venom_warning: VenomWarning | None = None) -> FactCard:
    """A friendly card for a photo that is not a reptile, naming what it seems to be when obvious.

    With ``venom_warning`` (the photo may still show a snake: :mod:`bot.core.venom`) the card carries
    the "could be a snake" caution first.
    """
    label = (ident.non_reptile_label or "").strip()
    kind = ident.non_reptile_kind
    if kind == "amphibian":
        if any(w in label.lower() for w in _SALAMANDER_WORDS):
            body = (
                "This looks like a salamander or a newt. They are amphibians, not reptiles! "
                "Amphibians have smooth, damp skin; reptiles have dry, scaly skin."
            )
        else:
            body = (
                "This looks like a frog. Frogs are amphibians, not reptiles! "
                "Amphibians have smooth, damp skin; reptiles have dry, scaly skin."
            )
        emoji = "🐸"
    elif kind == "dinosaur":
        body = (
            "This looks like a dinosaur model or skeleton! Dinosaurs died out long ago, "
            "so I can only name living reptiles."
        )
        emoji = "🦕"
    elif kind == "animal":
        body = "I don't think this animal is a reptile."
        if label:
            body += f" It looks more like {_article(label)} {label} to me."
        emoji = "🐾"
    else:
        body = "I couldn't find a reptile in this photo."
        if label:
            body += f" I think I see {_article(label)} {label}."
        emoji = "🔍"
    warning = Warning(Severity.CAUTION, m.WARN_COULD_BE_SNAKE) if venom_warning is not None else None
    return FactCard(
        kind=CardKind.NOT_REPTILE,
        title="That's not a reptile",
        emoji=emoji,
        body=body,
        tips=m.PHOTO_TIPS,
        warning=warning,
    )


def problem_card(text: str, title: str = "Hmm…", tips: tuple[str, ...] = ()) -> FactCard:
    """A kind message for bad input, a busy bot or an internal error."""
    return FactCard(kind=CardKind.PROBLEM, title=title, emoji="🙈", body=text, tips=tips)


def rejected_card(reason: RejectReason, max_bytes: int | None = None) -> FactCard:
    """The card for an input the image decoder refused."""
    if reason is RejectReason.TOO_LARGE and max_bytes:
        return problem_card(m.too_large_text(max_bytes))
    return problem_card(m.REJECT_TEXT.get(reason, m.REJECT_TEXT[RejectReason.NOT_AN_IMAGE]))
