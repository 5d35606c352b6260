"""The load benchmark (``python -m tests.tools.loadbench``) runs end to end against the fake Bot API
and accounts for every photo it sent (a card, "busy" or lost); its figures are printed, never asserted."""

from __future__ import annotations

from pathlib import Path

from tests.tools.loadbench import offer, table


async def test_every_photo_sent_is_accounted_for(tmp_path: Path) -> None:
    result = await offer(rate=5, seconds=1, workdir=tmp_path / "bench", drain_s=20)
    assert result.sent == 5
    assert result.cards + result.busy + result.lost == result.sent
    assert result.lost == 0  # a light load: every photo answered
    text = table([result])
    assert text.splitlines()[0].startswith("| offered photos/s |")
    assert "| 5 | 1 | 5 |" in text
