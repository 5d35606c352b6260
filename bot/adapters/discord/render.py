"""Render a :class:`~bot.core.card.FactCard` as a Discord embed.

Mirrors :func:`bot.adapters.text_render.render_text`: the safety warning comes first (at the top of the
description), then the name, the confidence in words, the facts as fields, the fun fact, the other
guesses and the tips. Every limit Discord documents for embeds is respected: title 256 characters,
description 4096, at most 25 fields with names of 256 and values of 1024 characters, footer 2048,
and 6000 characters in total.
"""

from __future__ import annotations

import discord
from discord.utils import escape_markdown

from bot.core.card import CardKind, FactCard, Severity

TITLE_MAX = 256
DESCRIPTION_MAX = 4096
FIELDS_MAX = 25
FIELD_NAME_MAX = 256
FIELD_VALUE_MAX = 1024
FOOTER_MAX = 2048
EMBED_TOTAL_MAX = 6000

#: Embed colours. Red is kept for danger; each reptile type has its own colour.
DANGER_COLOUR = discord.Colour(0xD32F2F)
CAUTION_COLOUR = discord.Colour(0xF57C00)
TYPE_COLOURS: dict[str, discord.Colour] = {
    "crocodilian": discord.Colour(0x2E7D32),  # dark green
    "lizard": discord.Colour(0x7CB342),       # leaf green
    "snake": discord.Colour(0x8D6E63),        # earth brown
    "turtle": discord.Colour(0x00897B),       # sea teal
}
NOT_REPTILE_COLOUR = discord.Colour(0x5865F2)  # Discord blurple: friendly, not an error
PROBLEM_COLOUR = discord.Colour(0x99AAB5)      # soft grey
DEFAULT_COLOUR = discord.Colour(0x43A047)

FOOTER_BRAND = "Reptile Museum"
_ELLIPSIS = "…"
#: Facts whose value is at most this long are shown side by side (inline fields).
_INLINE_MAX = 40


def _cut(text: str, limit: int) -> str:
    """``text`` shortened to ``limit`` characters, ending with an ellipsis when cut."""
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + _ELLIPSIS


def _md(text: str) -> str:
    """Plain card text made safe for Discord markdown (cards are plain text; see :mod:`bot.core.card`)."""
    return escape_markdown(text, as_needed=True)


def colour_for(card: FactCard) -> discord.Colour:
    """The embed colour: red for danger, orange for caution, else by reptile type or card kind."""
    if card.warning is not None:
        return DANGER_COLOUR if card.warning.severity is Severity.DANGER else CAUTION_COLOUR
    if card.kind is CardKind.NOT_REPTILE:
        return NOT_REPTILE_COLOUR
    if card.kind is CardKind.PROBLEM:
        return PROBLEM_COLOUR
    return TYPE_COLOURS.get(card.reptile_type, DEFAULT_COLOUR)


def title_for(card: FactCard) -> str:
    """``"Common name (Scientific name)"`` for an animal (its type emoji is on the "Type" field), else
    ``"emoji title"``; always within Discord's 256-character title limit."""
    if card.scientific_name:
        suffix = f" ({_cut(card.scientific_name, TITLE_MAX // 2)})"
        return _cut(card.title, TITLE_MAX - len(suffix)) + suffix
    return _cut(f"{card.emoji} {card.title}".strip(), TITLE_MAX)


def warning_text(card: FactCard) -> str:
    """The warning line shown at the very top of the description, or ``""``."""
    if card.warning is None:
        return ""
    prefix = "DANGER" if card.warning.severity is Severity.DANGER else "Careful"
    return f"⚠️ **{prefix}:** {_md(card.warning.text)}"


def _description(card: FactCard) -> str:
    parts = [
        warning_text(card),
        f"**{_md(card.confidence_text)}**" if card.confidence_text else "",
        _md(card.body),
        _md(card.group_note),
    ]
    return _cut("\n\n".join(p for p in parts if p), DESCRIPTION_MAX)


def _bullets(lines: list[str]) -> str:
    """Bullet lines joined within a field value's limit (whole lines only, then an ellipsis)."""
    out: list[str] = []
    used = 0
    for line in lines:
        line = _cut(f"• {line}", FIELD_VALUE_MAX)
        if used + len(line) + 1 > FIELD_VALUE_MAX:
            out.append(_ELLIPSIS)
            break
        out.append(line)
        used += len(line) + 1
    return "\n".join(out)


def _fields(card: FactCard) -> list[tuple[str, str, bool]]:
    fields: list[tuple[str, str, bool]] = []
    for fact in card.facts:
        value = _md(fact.value)
        fields.append((f"{fact.emoji} {fact.label}".strip(), value, len(value) <= _INLINE_MAX))
    if card.members:
        fields.append(("📚 In the museum", _bullets([_md(n) for n in card.members]), False))
    if card.fun_fact:
        fields.append(("⭐ Fun fact", _md(card.fun_fact), False))
    if card.alternatives:
        lines = [
            f"{_md(a.common_name)} (*{_md(a.scientific_name)}*), {a.percent}%" for a in card.alternatives
        ]
        fields.append(("🤔 Other guesses", _bullets(lines), False))
    if card.tips:
        fields.append(("💡 Tips", _bullets([_md(t) for t in card.tips]), False))
    return [
        (_cut(name, FIELD_NAME_MAX), _cut(value, FIELD_VALUE_MAX), inline)
        for name, value, inline in fields[:FIELDS_MAX]
        if name and value
    ]


def _footer(card: FactCard) -> str:
    if card.source_url and card.kind in (CardKind.REPTILE, CardKind.SPECIES):
        return _cut(f"Source: {card.source_url} · {FOOTER_BRAND}", FOOTER_MAX)
    return FOOTER_BRAND


def render_embed(card: FactCard) -> discord.Embed:
    """A Discord embed for ``card``: warning first, title "Common name (Scientific name)", colour by
    type (red for danger), one field per fact, confidence in words, up to two other guesses, the fun
    fact and a footer naming the source. Not-a-reptile and problem cards become friendly embeds with
    tips. Always within Discord's embed limits."""
    embed = discord.Embed(
        title=title_for(card),
        description=_description(card) or None,
        colour=colour_for(card),
    )
    if card.source_url.startswith("https://") and card.kind in (CardKind.REPTILE, CardKind.SPECIES):
        embed.url = card.source_url
    for name, value, inline in _fields(card):
        embed.add_field(name=name, value=value, inline=inline)
    embed.set_footer(text=_footer(card))
    # Total limit: drop trailing fields (tips first) until the embed fits; the warning stays.
    while len(embed) > EMBED_TOTAL_MAX and embed.fields:
        embed.remove_field(len(embed.fields) - 1)
    return embed
