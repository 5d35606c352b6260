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
from bot.core.quiz.engine import restart_reveal_text
from bot.core.quiz.questions import Question
from bot.state.quiz import CutQuestion

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
    "tuatara": discord.Colour(0x6D4C41),      # dark olive brown
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


# ---------------------------------------------------------------------------------------------------
# Quiz embeds. Button labels are limited to 80 characters, so the buttons say 1-4 and the option texts
# are in the embed (see bot.core.quiz.questions).
# ---------------------------------------------------------------------------------------------------

QUIZ_COLOUR = discord.Colour(0x1E88E5)      # friendly blue while a question is open
REVEAL_COLOUR = discord.Colour(0x43A047)    # green once the answer is shown
STOPPED_COLOUR = PROBLEM_COLOUR
#: Only http(s) URLs are put in an embed's image (a remembered attachment or media-proxy URL).
_IMAGE_SCHEMES = ("https://", "http://")


def option_lines(options: tuple[str, ...] | list[str], correct_index: int | None = None) -> str:
    """``**1.** text`` lines; with ``correct_index`` the right one is marked ✅."""
    lines = []
    for i, opt in enumerate(options):
        mark = " ✅" if correct_index is not None and i == correct_index else ""
        lines.append(f"**{i + 1}.** {_md(opt)}{mark}")
    return "\n".join(lines)


def _quiz_base(question: Question, number: int, total: int, colour: discord.Colour) -> discord.Embed:
    title = f"Question {number} of {total}" if total > 1 else "Quiz question"
    if question.photo_file_id:
        title = "📷 " + title
    embed = discord.Embed(title=_cut(title, TITLE_MAX), colour=colour)
    photo = question.photo_file_id or ""
    if photo.startswith(_IMAGE_SCHEMES):
        embed.set_image(url=photo)
    return embed


def question_embed(
    question: Question, number: int, total: int, closes_at: float | None = None
) -> discord.Embed:
    """An open question: the prompt, the numbered options and when time is up.

    ``question`` is a :class:`bot.core.quiz.questions.Question`; ``closes_at`` a Unix time, shown as a
    Discord relative timestamp ("in 30 seconds") that every client counts down in its own time zone.
    """
    embed = _quiz_base(question, number, total, QUIZ_COLOUR)
    parts = [f"**{_md(question.prompt)}**", option_lines(question.options)]
    if closes_at is not None:
        parts.append(f"⏳ Time's up <t:{int(closes_at)}:R>")
    embed.description = _cut("\n\n".join(parts), DESCRIPTION_MAX)
    embed.set_footer(text="Press a number to answer. Only your first answer counts!")
    return embed


def reveal_embed(question: Question, number: int, total: int, reveal_text: str) -> discord.Embed:
    """A closed question: the options with the right one marked, then the engine's reveal text."""
    embed = _quiz_base(question, number, total, REVEAL_COLOUR)
    parts = [f"**{_md(question.prompt)}**", option_lines(question.options, question.correct_index),
             _md(reveal_text)]
    embed.description = _cut("\n\n".join(parts), DESCRIPTION_MAX)
    embed.set_footer(text=FOOTER_BRAND)
    return embed


def stopped_embed(question: Question, number: int, total: int) -> discord.Embed:
    """A question whose round was stopped before time was up: the answer is still shown."""
    embed = _quiz_base(question, number, total, STOPPED_COLOUR)
    lines = [f"**{_md(question.prompt)}**", option_lines(question.options, question.correct_index),
             "🛑 The quiz was stopped. " + _md(f"The answer is: {question.correct_option}"),
             _md(question.explanation)]
    embed.description = _cut("\n\n".join(p for p in lines if p), DESCRIPTION_MAX)
    embed.set_footer(text=FOOTER_BRAND)
    return embed


def restart_embed(cut: CutQuestion) -> discord.Embed:
    """A question cut by a restart, closed at the next start-up: its prompt, "stopped by a restart",
    the answer and the explanation (:func:`bot.core.quiz.engine.restart_reveal_text`)."""
    title = f"Question {cut.index + 1} of {cut.total}" if cut.total > 1 else "Quiz question"
    embed = discord.Embed(title=_cut(title, TITLE_MAX), colour=STOPPED_COLOUR)
    parts = [f"**{_md(cut.prompt)}**" if cut.prompt else "", _md(restart_reveal_text(cut))]
    embed.description = _cut("\n\n".join(p for p in parts if p), DESCRIPTION_MAX)
    embed.set_footer(text=FOOTER_BRAND)
    return embed


def text_embed(text: str, title: str | None = None, colour: discord.Colour = DEFAULT_COLOUR) -> discord.Embed:
    """Plain engine text (a round summary, a leaderboard) as an embed, markdown escaped."""
    lines = text.strip().splitlines()
    if title is None and len(lines) > 1:
        title, lines = lines[0], lines[1:]
    embed = discord.Embed(title=_cut(title, TITLE_MAX) if title else None,
                          description=_cut(_md("\n".join(lines)), DESCRIPTION_MAX) or None, colour=colour)
    embed.set_footer(text=FOOTER_BRAND)
    return embed
