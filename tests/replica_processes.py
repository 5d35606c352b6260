"""Real bot processes on 127.0.0.1 for the topology tests (issue 13): ``reptile-museum run`` started as a
subprocess with its settings in the environment, a round-robin HTTP proxy in front of webhook replicas
(the load balancer), a TCP relay that can be cut to make a server unreachable, and a deliverer that
posts updates the way Telegram does (re-delivering after an error or a timeout).

Nothing here sleeps to synchronise: waits poll a condition (a process's ``/readyz``, a recorded
request) with a generous upper bound and fail with what was seen.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import signal
import socket
import sys
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

#: Upper bound of a process's start-up (model load, migrations, platform login), seconds.
START_TIMEOUT_S = 90.0
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


def free_port() -> int:
    """A TCP port on 127.0.0.1 the OS just handed out for port 0."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_command() -> list[str]:
    """``reptile-museum run`` of this virtualenv (the console script, else ``python -m bot run``)."""
    script = Path(sys.executable).with_name("reptile-museum")
    return [str(script), "run"] if script.is_file() else [sys.executable, "-m", "bot", "run"]


async def poll_until(what: str, check: Callable[[], Awaitable[bool] | bool], timeout: float,
                     every: float = 0.1) -> None:
    """Call ``check`` every ``every`` seconds until it is true.

    Raises:
        AssertionError: ``check`` still false after ``timeout`` seconds (names ``what``).
    """
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if asyncio.iscoroutine(result) or isinstance(result, Awaitable):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        await asyncio.sleep(every)


@dataclass
class BotProcess:
    """One ``reptile-museum run`` subprocess.

    ``env`` holds its settings (added to a clean copy of this process's environment, with no ``.env``:
    the working directory is ``workdir``); stdout and stderr go to ``workdir/<name>.log``.
    """

    name: str
    env: dict[str, str]
    workdir: Path
    health_port: int
    command: list[str] = field(default_factory=run_command)
    proc: asyncio.subprocess.Process | None = None

    @property
    def log_path(self) -> Path:
        """The process's combined stdout/stderr."""
        return self.workdir / f"{self.name}.log"

    def log(self) -> str:
        """Everything the process printed so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.is_file() else ""

    async def start(self) -> BotProcess:
        """Start the process (returns at once; see :meth:`wait_ready`)."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "DISCORD_"))}
        env.update({"SETTINGS_SECRETS_DIR": "", "HEALTH_PORT": str(self.health_port),
                    "HEALTH_LISTEN": "127.0.0.1", "PYTHONUNBUFFERED": "1", **self.env})
        out = self.log_path.open("ab")
        try:
            self.proc = await asyncio.create_subprocess_exec(
                *self.command, cwd=self.workdir, env=env, stdout=out, stderr=asyncio.subprocess.STDOUT,
                stdin=asyncio.subprocess.DEVNULL,
            )
        finally:
            out.close()
        return self

    @property
    def alive(self) -> bool:
        """True while the process runs."""
        return self.proc is not None and self.proc.returncode is None

    async def readyz(self) -> int | None:
        """The status of ``GET /readyz`` (``None``: no answer)."""
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http, \
                    http.get(f"http://127.0.0.1:{self.health_port}/readyz") as resp:
                await resp.read()
                return resp.status
        except (aiohttp.ClientError, TimeoutError):
            return None

    async def wait_ready(self, timeout: float = START_TIMEOUT_S) -> None:
        """Wait until ``/readyz`` answers 200.

        Raises:
            AssertionError: the process exited first, or was not ready within ``timeout`` (with its log).
        """
        async def ready() -> bool:
            if not self.alive:
                raise AssertionError(f"{self.name} exited ({self.proc and self.proc.returncode}):\n"
                                     f"{self.log()[-3000:]}")
            return await self.readyz() == 200

        try:
            await poll_until(f"{self.name} /readyz", ready, timeout, every=0.25)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n--- {self.name} log ---\n{self.log()[-3000:]}") from None

    async def kill(self) -> None:
        """SIGKILL, like a machine or container dying: no clean-up runs."""
        if self.alive:
            assert self.proc is not None
            self.proc.send_signal(signal.SIGKILL)
            await self.proc.wait()

    async def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM and wait (SIGKILL after ``timeout`` s); returns the exit status."""
        if self.proc is None:
            return None
        if self.alive:
            self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), timeout)
            except TimeoutError:
                await self.kill()
        return self.proc.returncode


@dataclass
class Delivery:
    """One forwarded request: which backend (index), and the status it answered (``None``: failed)."""

    backend: int
    status: int | None


class RoundRobinProxy:
    """A load balancer on 127.0.0.1: each POST goes to the next backend in turn.

    Like nginx's ``proxy_next_upstream error``, a backend that refuses the connection is skipped (the
    request never reached it); any other failure (reset, timeout) is answered 502 to the caller, who
    decides whether to deliver again. :attr:`deliveries` records, per ``update_id`` of the JSON body,
    every backend that got the request and what it answered; :attr:`forwarded` where each request was
    sent, before it was answered (the webhook answers only after handling).
    """

    def __init__(self, backends: list[int], path: str = "/hook", timeout: float = 20.0) -> None:
        self.backends = backends
        self.path = path
        self.timeout = timeout
        self.deliveries: dict[int, list[Delivery]] = defaultdict(list)
        #: Per ``update_id``, the backends a request was forwarded to, recorded before it is answered.
        self.forwarded: dict[int, list[int]] = defaultdict(list)
        self._next = itertools.count()
        self._runner: web.AppRunner | None = None
        self._http: aiohttp.ClientSession | None = None
        self.port = 0

    async def start(self) -> RoundRobinProxy:
        """Listen on a free port of 127.0.0.1."""
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout))
        app = web.Application()
        app.router.add_post(self.path, self._forward)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def close(self) -> None:
        """Stop listening."""
        if self._runner is not None:
            await self._runner.cleanup()
        if self._http is not None:
            await self._http.close()

    @property
    def url(self) -> str:
        """Where Telegram posts updates."""
        return f"http://127.0.0.1:{self.port}{self.path}"

    def acked_by(self, update_id: int) -> set[int]:
        """Backends that answered 200 to ``update_id``."""
        return {d.backend for d in self.deliveries.get(update_id, []) if d.status == 200}

    async def _forward(self, request: web.Request) -> web.Response:
        assert self._http is not None
        body = await request.read()
        try:
            import json

            update_id = int(json.loads(body).get("update_id"))
        except (ValueError, TypeError, AttributeError):
            update_id = -1
        headers = {k: v for k, v in request.headers.items() if k.lower() in
                   (SECRET_HEADER.lower(), "content-type")}
        for _ in range(len(self.backends)):
            index = next(self._next) % len(self.backends)
            url = f"http://127.0.0.1:{self.backends[index]}{self.path}"
            self.forwarded[update_id].append(index)
            try:
                async with self._http.post(url, data=body, headers=headers) as resp:
                    text = await resp.read()
                    self.deliveries[update_id].append(Delivery(index, resp.status))
                    return web.Response(status=resp.status, body=text)
            except aiohttp.ClientConnectorError:
                continue  # refused: the request never reached it, try the next one
            except (aiohttp.ClientError, TimeoutError):
                self.deliveries[update_id].append(Delivery(index, None))
                return web.Response(status=502, text="bad gateway")
        return web.Response(status=502, text="no backend")


class TelegramDeliverer:
    """Posts updates to a webhook as Telegram does: at most ``connections`` requests at a time, and an
    update whose request failed (not 2xx, refused, reset, timed out) is delivered again, until
    ``attempts`` deliveries were tried.

    :attr:`attempts_of` counts the deliveries of each ``update_id``.
    """

    def __init__(self, url: str, secret: str, connections: int = 40, timeout: float = 15.0,
                 attempts: int = 30) -> None:
        self.url = url
        self.secret = secret
        self.timeout = timeout
        self.max_attempts = attempts
        self.attempts_of: dict[int, int] = defaultdict(int)
        self.delivered: set[int] = set()
        self._slots = asyncio.Semaphore(connections)
        self._tasks: set[asyncio.Task[None]] = set()
        self._http: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> TelegramDeliverer:
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout))
        return self

    async def __aexit__(self, *exc: object) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._http is not None:
            await self._http.close()

    def send(self, update: dict[str, Any]) -> asyncio.Task[None]:
        """Start delivering ``update`` (it must carry ``update_id``); returns the delivery task."""
        task = asyncio.create_task(self._deliver(update))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def drain(self, timeout: float) -> None:
        """Wait until every update started so far was delivered (answered 200 once)."""
        pending = set(self._tasks)
        if pending:
            done, still = await asyncio.wait(pending, timeout=timeout)
            assert not still, f"{len(still)} update(s) still not delivered after {timeout:.0f} s"
            for task in done:
                task.result()

    async def _deliver(self, update: dict[str, Any]) -> None:
        assert self._http is not None
        update_id = int(update["update_id"])
        for attempt in range(self.max_attempts):
            self.attempts_of[update_id] += 1
            async with self._slots:
                with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                    async with self._http.post(self.url, json=update,
                                               headers={SECRET_HEADER: self.secret}) as resp:
                        await resp.read()
                        if 200 <= resp.status < 300:
                            self.delivered.add(update_id)
                            return
            await asyncio.sleep(min(0.2 * (attempt + 1), 2.0))  # Telegram's back-off before trying again
        raise AssertionError(f"update {update_id} not delivered in {self.max_attempts} attempts")


class TcpRelay:
    """A TCP relay 127.0.0.1:``port`` -> ``target``: :meth:`cut` refuses new connections and drops the
    open ones (the server looks down), :meth:`restore` listens again on the same port."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self._server: asyncio.base_events.Server | None = None
        self._pipes: set[asyncio.StreamWriter] = set()

    async def start(self) -> TcpRelay:
        """Listen (again) on :attr:`port`."""
        self._server = await asyncio.start_server(self._client, "127.0.0.1", self.port, reuse_address=True)
        return self

    async def cut(self) -> None:
        """Stop listening and close every relayed connection."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in list(self._pipes):
            writer.transport.abort()
        self._pipes.clear()

    async def restore(self) -> None:
        """Listen again."""
        await self.start()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._pipes.update({writer, up_writer})

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                dst.transport.abort()
                self._pipes.discard(dst)

        await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer))
