"""Render a fact card as plain text (terminal chat and ``reptile-museum identify``)."""

from __future__ import annotations

from bot.core.card import CardKind, FactCard, Severity


def render_text(card: FactCard) -> str:
    """Plain-text card: warning first, then name, confidence, facts, fun fact, alternatives, tips."""
    lines: list[str] = []
    if card.warning:
        prefix = "⚠️ DANGER" if card.warning.severity is Severity.DANGER else "⚠️ Careful"
        lines += [f"{prefix}: {card.warning.text}", ""]
    head = f"{card.emoji} {card.title}".strip()
    if card.scientific_name:
        head += f" ({card.scientific_name})"
    lines.append(head)
    if card.confidence_text:
        lines.append(card.confidence_text)
    if card.body:
        lines.append(card.body)
    if card.group_note:
        lines += ["", card.group_note]
    if card.members:
        lines.append("Species of this group in the museum: " + ", ".join(card.members))
    if card.facts:
        lines.append("")
        lines += [f"{f.emoji} {f.label}: {f.value}".strip() for f in card.facts]
    if card.fun_fact:
        lines += ["", f"⭐ Fun fact: {card.fun_fact}"]
    if card.alternatives:
        lines += ["", "Other guesses:"]
        lines += [f"  • {a.common_name} ({a.scientific_name}), {a.percent}%" for a in card.alternatives]
    if card.tips:
        lines += ["", "Tips:"] + [f"  • {t}" for t in card.tips]
    if card.source_url and card.kind in (CardKind.REPTILE, CardKind.SPECIES):
        lines += ["", f"Source: {card.source_url}"]
    return "\n".join(lines)
