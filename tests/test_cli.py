"""The ``reptile-museum`` console script and the terminal chat, on the real model and database."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys

import pytest
from PIL import Image

from bot.adapters.terminal import handle_line, run_terminal
from bot.services import open_services
from bot.settings import Settings
from tests.paths import REPO, manifest_rows


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args], capture_output=True, text=True, cwd=REPO, timeout=120,
        env={"PATH": "/usr/bin:/bin", "LOG_LEVEL": "WARNING", "STATE_DB_PATH": os.environ["STATE_DB_PATH"]},
    )


def test_identify_json_reports_each_file_and_fails_for_unreadable_ones(tmp_path):
    img = tmp_path / "green.png"
    Image.new("RGB", (300, 200), (40, 160, 60)).save(img)
    text = tmp_path / "notes.jpg"
    text.write_text("this is not a photo")
    missing = tmp_path / "missing.jpg"
    proc = run_cli("identify", "--json", str(img), str(text), str(missing))
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [o["path"] for o in lines] == [str(img), str(text), str(missing)]
    ok = lines[0]
    assert isinstance(ok["is_reptile"], bool)
    assert 0.0 <= ok["type_confidence"] <= 1.0
    assert ok["type"] in (None, "crocodilian", "lizard", "snake", "turtle")
    assert len(ok["top"]) <= 3 and ok["model"]
    assert "error" in lines[1] and "error" in lines[2]


def test_identify_real_reptile_photo_gives_its_type():
    rows = [r for r in manifest_rows("crocodilian") if r["label_taxon"]]
    path = (REPO.parent / "shared" / "photos" / rows[0]["path"]).as_posix()
    proc = run_cli("identify", "--json", path)
    assert proc.returncode == 0, proc.stderr
    obj = json.loads(proc.stdout)
    assert obj["is_reptile"] is True and obj["type"] == "crocodilian"
    assert obj["top"][0]["common_name"]
    for entry in obj["top"]:
        assert set(entry) >= {"scientific_name", "common_name", "rank", "confidence"}


def test_species_command_prints_a_card():
    proc = run_cli("species", "leatherback")
    assert proc.returncode == 0
    assert "Dermochelys coriacea" in proc.stdout
    assert "Conservation status" in proc.stdout


@pytest.fixture
async def services():
    svc = await open_services(Settings(telegram_bot_token=None, discord_bot_token=None))
    yield svc
    await svc.close()


async def test_terminal_chat_answers_paths_commands_and_mistakes(services, tmp_path):
    img = tmp_path / "cup.png"
    Image.new("RGB", (256, 256), (200, 200, 200)).save(img)
    assert "Reptile Museum" in await handle_line(services, "/help")
    assert "Komodo dragon" in await handle_line(services, "/species komodo dragon")
    assert "can't open the file" in await handle_line(services, str(tmp_path / "nope.jpg"))
    assert await handle_line(services, str(img))  # a card of some kind, never an exception
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * 50)
    reply = await handle_line(services, str(broken))
    assert "broken" in reply or "open" in reply
    assert await handle_line(services, "/quit") is None


async def test_terminal_loop_stops_at_end_of_input(services):
    out = io.StringIO()
    await run_terminal(services, stdin=io.StringIO("/species loggerhead\n"), stdout=out)
    assert "Caretta caretta" in out.getvalue()


async def test_terminal_quiz_round_scores_and_leaderboard(services):
    from bot.adapters.terminal_quiz import TERMINAL_CHAT

    first = await handle_line(services, "/quiz 2 kids")
    assert "Question 1 of 2" in first
    assert "already running" in await handle_line(services, "/quiz")
    assert "Please answer" in await handle_line(services, "banana")
    rq = services.quiz.current(TERMINAL_CHAT)
    right = str(rq.question.correct_index + 1)
    reply = await handle_line(services, right)
    assert "The answer is" in reply and "Question 2 of 2" in reply
    rq2 = services.quiz.current(TERMINAL_CHAT)
    wrong = str((rq2.question.correct_index + 1) % len(rq2.question.options) + 1)
    reply = await handle_line(services, wrong)
    assert "end of the quiz" in reply
    assert services.quiz.current(TERMINAL_CHAT) is None
    assert "1" in await handle_line(services, "/score")
    assert await handle_line(services, "/leaderboard")
    assert "no quiz running" in await handle_line(services, "/quiz stop")
    assert "forgotten" in await handle_line(services, "/forgetme")
    assert "1 point" not in await handle_line(services, "/score")
