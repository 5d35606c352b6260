"""Telegram HTML rendering of fact cards: order, escaping, well-formedness and the 4096 limit."""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.adapters.telegram.render import TELEGRAM_MAX_CHARS, render_html, telegram_length
from bot.core import messages as m
from bot.core.card import Alternative, CardKind, Fact, FactCard, Severity, Warning
from bot.core.cards import problem_card

#: Tags Telegram accepts with parse_mode HTML that we use.
ALLOWED_TAGS = {"b", "i", "a"}


class _Checker(HTMLParser):
    """Fails on unknown tags, bad nesting, attributes other than ``a href`` and unbalanced tags."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.text: list[str] = []
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        assert tag in ALLOWED_TAGS, tag
        if tag == "a":
            assert [k for k, _ in attrs] == ["href"], attrs
            self.hrefs.append(attrs[0][1] or "")
        else:
            assert not attrs, attrs
        self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack[-1] == tag, (self.stack, tag)
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def check_html(text: str) -> _Checker:
    """Parse Telegram HTML and assert it is well-formed; returns the checker (plain text, links)."""
    checker = _Checker()
    checker.feed(text)
    checker.close()
    assert checker.stack == [], checker.stack
    # every "&" starts an entity, every "<" a tag: no raw special characters in text
    assert not re.search(r"&(?!(amp|lt|gt|quot|#x27);)", text)
    return checker


def plain(text: str) -> str:
    return "".join(check_html(text).text)


def reptile_card(**overrides: object) -> FactCard:
    base = dict(
        kind=CardKind.REPTILE,
        title="Indian cobra",
        emoji="🐍",
        scientific_name="Naja naja",
        rank="species",
        reptile_type="snake",
        confidence_text="It might be an Indian cobra, but I'm not sure. (61% sure)",
        warning=Warning(Severity.DANGER, m.WARN_VENOMOUS),
        facts=(Fact("Type", "Snake", "🐍"), Fact("Where it lives", "India, Sri Lanka", "🌍"),
               Fact("Venom", "Venomous", "💉")),
        fun_fact="It spreads a hood when it feels threatened.",
        alternatives=(Alternative("Common garter snake", "Thamnophis sirtalis", 20),),
        tips=("Keep away.",),
        source_url="https://en.wikipedia.org/wiki/Indian_cobra",
        quizzable=False,
    )
    base.update(overrides)
    return FactCard(**base)  # type: ignore[arg-type]


def test_order_warning_first_then_name_facts_fun_fact_guesses_tips_source() -> None:
    text = render_html(reptile_card())
    check_html(text)
    assert text.startswith(f"⚠️ <b>DANGER: {html.escape(m.WARN_VENOMOUS)}</b>")
    assert "🐍 <b>Indian cobra</b> (<i>Naja naja</i>)" in text
    assert "🌍 <b>Where it lives:</b> India, Sri Lanka" in text
    assert "⭐ <b>Fun fact:</b>" in text
    assert "<b>Other guesses:</b>\n• Common garter snake (<i>Thamnophis sirtalis</i>), 20%" in text
    assert '📚 <a href="https://en.wikipedia.org/wiki/Indian_cobra">Source</a>' in text
    order = ["DANGER", "Indian cobra", "61% sure", "Where it lives", "Fun fact", "Other guesses",
             "Tips", "Source"]
    positions = [text.index(word) for word in order]
    assert positions == sorted(positions)


def test_caution_is_not_shouted() -> None:
    text = render_html(reptile_card(warning=Warning(Severity.CAUTION, m.WARN_CROCODILIAN)))
    assert text.startswith(f"⚠️ <b>Careful:</b> {html.escape(m.WARN_CROCODILIAN)}")


def test_every_dynamic_string_is_escaped() -> None:
    evil = '<script>alert("x")</script> & <b>'
    card = reptile_card(
        title=evil, scientific_name=evil, confidence_text=evil, body=evil, group_note=evil,
        members=(evil,), facts=(Fact(evil, evil, "<i>"),), fun_fact=evil,
        alternatives=(Alternative(evil, evil, 5),), tips=(evil,),
        warning=Warning(Severity.CAUTION, evil),
    )
    text = render_html(card)
    checker = check_html(text)
    assert "<script>" not in text and "&lt;script&gt;" in text
    assert "".join(checker.text).count(evil) >= 10


def test_unsafe_source_links_are_dropped() -> None:
    for url in ("javascript:alert(1)", "data:text/html,hi", "/relative", "ftp://x.org/a"):
        text = render_html(reptile_card(source_url=url))
        assert "<a " not in text, url
    text = render_html(reptile_card(source_url='https://x.org/a?b=1&c="2"'))
    assert check_html(text).hrefs == ['https://x.org/a?b=1&c="2"']


def test_problem_card_has_no_source_and_shows_body() -> None:
    text = render_html(problem_card(m.not_found_text("<b>x</b>", ["Komodo dragon"])))
    assert "&lt;b&gt;x&lt;/b&gt;" in text and "<b>x</b>" not in text
    assert "Source" not in text


def test_long_member_lists_are_shortened_to_fit() -> None:
    members = tuple(f"Some very long common name number {i} (Genus species{i})" for i in range(400))
    text = render_html(reptile_card(members=members, group_note="Thamnophis is a genus."))
    assert telegram_length(text) <= TELEGRAM_MAX_CHARS
    check_html(text)
    assert "Some very long common name number 0" in text
    assert re.search(r"… and \d+ more", text)
    assert "Fun fact" in text and "Source" in text  # the rest of the card survives


@settings(max_examples=150, deadline=None)
@given(
    text=st.text(min_size=0, max_size=3000),
    n_members=st.integers(0, 300),
    n_facts=st.integers(0, 12),
    danger=st.booleans(),
)
def test_any_card_is_well_formed_and_fits(text: str, n_members: int, n_facts: int, danger: bool) -> None:
    card = reptile_card(
        title=text[:200] or "x",
        scientific_name=text[:100],
        body=text,
        fun_fact=text,
        group_note=text[:500],
        members=tuple(f"{text[:60]} {i}" for i in range(n_members)),
        facts=tuple(Fact(f"L{i}", text, "🌍") for i in range(n_facts)),
        warning=Warning(Severity.DANGER if danger else Severity.CAUTION, text[:300] or "careful"),
    )
    out = render_html(card)
    assert telegram_length(out) <= TELEGRAM_MAX_CHARS
    check_html(out)
    if len(text) < 100 and n_members < 5 and text.strip():
        assert text in plain(out)


def test_pathological_card_is_cut_to_escaped_plain_text() -> None:
    card = reptile_card(tips=tuple(f"tip <{i}> & more" for i in range(3000)))
    out = render_html(card)
    assert telegram_length(out) <= TELEGRAM_MAX_CHARS
    check_html(out)
    assert out.endswith("…") and "&lt;0&gt;" in out
