"""Render a :class:`~bot.core.card.FactCard` as Telegram HTML (``parse_mode="HTML"``).

Mirrors :func:`bot.adapters.text_render.render_text`: warning first, then the name, confidence, body,
group note and members, facts, fun fact, other guesses, tips and the source link.

Every dynamic string goes through :func:`html.escape`, so a species name or a user's ``/species`` query
can never inject markup. The result always fits Telegram's 4096-character message limit: when a card
is too long, the member list is shortened first ("… and 12 more"), then long texts are cut.
"""

from __future__ import annotations

import html
import re
from urllib.parse import urlsplit

from bot.core.card import CardKind, FactCard, Severity

#: Telegram's limit for one text message, in characters (UTF-16 code units, to be safe).
TELEGRAM_MAX_CHARS = 4096

#: Attempts from generous to strict: (members shown, longest text kept in characters).
_BUDGETS: tuple[tuple[int | None, int | None], ...] = (
    (None, None),
    (25, None),
    (10, None),
    (5, 600),
    (3, 300),
    (0, 150),
)


def _esc(text: str) -> str:
    return html.escape(text, quote=True)


def _cut(text: str, limit: int | None) -> str:
    """``text`` shortened to ``limit`` characters (with an ellipsis), before escaping."""
    if limit is None or len(text) <= limit:
        return text
    return text[: max(limit - 1, 0)].rstrip() + "…"


def _safe_url(url: str) -> str | None:
    """``url`` when it is an absolute http(s) URL, else ``None`` (no ``javascript:`` links)."""
    url = url.strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return url


def telegram_length(text: str) -> int:
    """Length as Telegram counts it (UTF-16 code units), an upper bound of its character count."""
    return len(text.encode("utf-16-le")) // 2


def _members_line(members: tuple[str, ...], limit: int | None, cut: int | None) -> str:
    shown = members if limit is None else members[:limit]
    names = ", ".join(_esc(_cut(name, cut)) for name in shown)
    rest = len(members) - len(shown)
    if not shown:
        return f"<b>Species of this group in the museum:</b> {len(members)}"
    if rest > 0:
        names += f" … and {rest} more"
    return f"<b>Species of this group in the museum:</b> {names}"


def _render(card: FactCard, member_limit: int | None, cut: int | None) -> str:
    lines: list[str] = []
    if card.warning:
        text = _esc(_cut(card.warning.text, cut))
        if card.warning.severity is Severity.DANGER:
            lines.append(f"⚠️ <b>DANGER: {text}</b>")
        else:
            lines.append(f"⚠️ <b>Careful:</b> {text}")
        lines.append("")
    head = f"<b>{_esc(_cut(card.title, cut))}</b>"
    if card.emoji:
        head = f"{_esc(card.emoji)} {head}"
    if card.scientific_name:
        head += f" (<i>{_esc(_cut(card.scientific_name, cut))}</i>)"
    lines.append(head)
    if card.confidence_text:
        lines.append(_esc(_cut(card.confidence_text, cut)))
    if card.body:
        lines.append(_esc(_cut(card.body, cut)))
    if card.group_note:
        lines += ["", f"<i>{_esc(_cut(card.group_note, cut))}</i>"]
    if card.members:
        lines.append(_members_line(card.members, member_limit, cut))
    if card.facts:
        lines.append("")
        for fact in card.facts:
            label = f"<b>{_esc(_cut(fact.label, cut))}:</b> {_esc(_cut(fact.value, cut))}"
            lines.append(f"{_esc(fact.emoji)} {label}" if fact.emoji else label)
    if card.fun_fact:
        lines += ["", f"⭐ <b>Fun fact:</b> {_esc(_cut(card.fun_fact, cut))}"]
    if card.alternatives:
        lines += ["", "<b>Other guesses:</b>"]
        lines += [
            f"• {_esc(_cut(a.common_name, cut))} (<i>{_esc(_cut(a.scientific_name, cut))}</i>), {a.percent}%"
            for a in card.alternatives
        ]
    if card.tips:
        lines += ["", "<b>Tips:</b>"] + [f"• {_esc(_cut(t, cut))}" for t in card.tips]
    if card.source_url and card.kind in (CardKind.REPTILE, CardKind.SPECIES):
        url = _safe_url(card.source_url)
        if url is not None and (cut is None or len(url) <= max(cut, 300)):
            lines += ["", f'📚 <a href="{_esc(url)}">Source</a>']
    return "\n".join(lines)


def render_html(card: FactCard) -> str:
    """The card as Telegram HTML, at most :data:`TELEGRAM_MAX_CHARS` characters.

    Order: warning (⚠️, bold for DANGER), emoji + bold name + italic scientific name, confidence words,
    body, group note and museum members, facts as ``emoji <b>Label:</b> value``, fun fact, "Other
    guesses", tips, source link. Every dynamic string is escaped.
    """
    text = ""
    for member_limit, cut in _BUDGETS:
        text = _render(card, member_limit, cut)
        if telegram_length(text) <= TELEGRAM_MAX_CHARS:
            return text
    # Unreachable for real cards (every text is capped above); a pathological card with thousands of
    # facts or tips is cut to a plain, escaped prefix rather than sent broken.
    plain = html.unescape(re.sub(r"<[^>]*>", "", text))
    n = TELEGRAM_MAX_CHARS - 1
    while telegram_length(out := _esc(plain[:n] + "…")) > TELEGRAM_MAX_CHARS:
        n = n * 3 // 4
    return out
