"""Fact cards as Discord embeds: warning first, colours, fields, and Discord's embed limits."""

from __future__ import annotations

import discord
import pytest

from bot.adapters.discord.render import (
    CAUTION_COLOUR,
    DANGER_COLOUR,
    EMBED_TOTAL_MAX,
    FIELD_VALUE_MAX,
    FIELDS_MAX,
    NOT_REPTILE_COLOUR,
    PROBLEM_COLOUR,
    TITLE_MAX,
    TYPE_COLOURS,
    render_embed,
)
from bot.core import messages as m
from bot.core.card import Alternative, CardKind, Fact, FactCard, Severity, Warning
from bot.core.cards import problem_card, rejected_card
from inference.errors import RejectReason


def reptile(**changes: object) -> FactCard:
    base: dict[str, object] = dict(
        kind=CardKind.REPTILE,
        title="Indian cobra",
        emoji="🐍",
        scientific_name="Naja naja",
        rank="species",
        reptile_type="snake",
        confidence_text="It might be an Indian cobra, but I'm not sure. (61% sure)",
        warning=Warning(Severity.DANGER, m.WARN_VENOMOUS),
        facts=(Fact("Type", "Snake", "🐍"), Fact("Where it lives", "India and Sri Lanka", "🌍"),
               Fact("Venom", "Venomous", "💉")),
        fun_fact="It spreads a hood when it feels threatened.",
        alternatives=(Alternative("Monocled cobra", "Naja kaouthia", 20),
                      Alternative("Rat snake", "Ptyas mucosa", 9)),
        source_url="https://en.wikipedia.org/wiki/Indian_cobra",
    )
    base.update(changes)
    return FactCard(**base)  # type: ignore[arg-type]


def test_warning_comes_first_and_danger_is_red() -> None:
    embed = render_embed(reptile())
    assert embed.description.startswith(f"⚠️ **DANGER:** {m.WARN_VENOMOUS}")
    assert embed.colour == DANGER_COLOUR
    assert embed.title == "Indian cobra (Naja naja)"
    assert embed.url == "https://en.wikipedia.org/wiki/Indian_cobra"
    assert "It might be an Indian cobra" in embed.description
    assert embed.description.index("DANGER") < embed.description.index("It might be")


def test_fields_facts_fun_fact_alternatives_and_footer() -> None:
    embed = render_embed(reptile())
    fields = {f.name: f.value for f in embed.fields}
    assert fields["🌍 Where it lives"] == "India and Sri Lanka"
    assert fields["💉 Venom"] == "Venomous"
    assert fields["⭐ Fun fact"] == "It spreads a hood when it feels threatened."
    assert fields["🤔 Other guesses"] == (
        "• Monocled cobra (*Naja kaouthia*), 20%\n• Rat snake (*Ptyas mucosa*), 9%"
    )
    assert embed.footer.text.startswith("Source: https://en.wikipedia.org/wiki/Indian_cobra")


def test_caution_is_orange_and_harmless_animals_are_coloured_by_type() -> None:
    caution = render_embed(reptile(warning=Warning(Severity.CAUTION, m.WARN_MILD)))
    assert caution.colour == CAUTION_COLOUR
    assert caution.description.startswith("⚠️ **Careful:**")
    for kind, colour in TYPE_COLOURS.items():
        embed = render_embed(reptile(warning=None, reptile_type=kind, alternatives=()))
        assert embed.colour == colour
        assert not embed.description.startswith("⚠️")
    assert len({c.value for c in TYPE_COLOURS.values()} | {DANGER_COLOUR.value}) == len(TYPE_COLOURS) + 1 == 6


def test_not_reptile_and_problem_cards_are_friendly() -> None:
    not_reptile = FactCard(kind=CardKind.NOT_REPTILE, title="That's not a reptile", emoji="🐸",
                           body="This looks like a frog.", tips=m.PHOTO_TIPS)
    embed = render_embed(not_reptile)
    assert embed.title == "🐸 That's not a reptile"
    assert embed.colour == NOT_REPTILE_COLOUR
    assert embed.description == "This looks like a frog."
    assert {f.name for f in embed.fields} == {"💡 Tips"}
    assert embed.footer.text == "Reptile Museum" and embed.url is None

    problem = render_embed(rejected_card(RejectReason.NOT_AN_IMAGE))
    assert problem.colour == PROBLEM_COLOUR
    assert problem.description == discord.utils.escape_markdown(
        m.REJECT_TEXT[RejectReason.NOT_AN_IMAGE], as_needed=True)
    assert "DANGER" not in problem.description


def test_markdown_in_card_text_is_escaped() -> None:
    embed = render_embed(problem_card("I couldn't find a reptile called “**boo**_x_”."))
    assert "**boo**" not in embed.description
    assert "\\*\\*boo" in embed.description  # escaped: shown as typed, not bold


@pytest.mark.parametrize("n_facts", [0, 3, 40])
def test_discord_limits_hold_for_huge_cards(n_facts: int) -> None:
    long = "scales " * 2000
    card = reptile(
        title="T" * 400, scientific_name="Naja " + "n" * 300, confidence_text=long,
        facts=tuple(Fact(f"Fact {i} " + "x" * 300, long, "🦎") for i in range(n_facts)),
        fun_fact=long, members=tuple(f"Member {i} " + "y" * 80 for i in range(25)),
        alternatives=(Alternative("A" * 500, "B" * 500, 5),), tips=(long,), body=long, group_note=long,
    )
    embed = render_embed(card)
    assert len(embed.title) <= TITLE_MAX
    assert embed.title.endswith("…)")  # the scientific name keeps its closing bracket
    assert len(embed.description) <= 4096
    assert embed.description.startswith("⚠️ **DANGER:**")
    assert len(embed.fields) <= FIELDS_MAX
    assert all(len(f.name) <= 256 and 0 < len(f.value) <= FIELD_VALUE_MAX for f in embed.fields)
    assert len(embed.footer.text) <= 2048
    assert len(embed) <= EMBED_TOTAL_MAX
    assert embed.to_dict()["title"] == embed.title
