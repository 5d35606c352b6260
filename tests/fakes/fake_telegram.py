"""A fake Telegram Bot API server (aiohttp) for end-to-end tests of the real PTB Application.

It sits beside the fake Discord API (:mod:`tests.fakes.fake_discord`); the tests and ``make selftest``
(:mod:`tests.tools.selftest`, run from a checkout without pytest) use it. It is not part of the package.

Start one with ``async with FakeTelegram(token) as tg:``, point the bot at ``tg.base_url`` and
``tg.base_file_url``, push updates with :meth:`FakeTelegram.push_message`, then wait for the bot's
requests with :meth:`FakeTelegram.wait_for`.

Implemented methods: ``getMe``, ``deleteWebhook``, ``setWebhook``, ``getUpdates`` (long-poll friendly),
``getFile``, the file download route, ``sendMessage``, ``sendChatAction``, ``sendPoll``, ``stopPoll``,
``sendPhoto`` and ``sendDocument``. Every request is recorded (method + decoded parameters, and the
result once answered). Unknown methods answer ``True``; tests can add methods with
:meth:`FakeTelegram.route` and inject failures with :meth:`FakeTelegram.fail` (Bot API errors such as
429 with ``retry_after``, 500, 502, "file is too big"), :meth:`FakeTelegram.delay` (an answer slower than
the client's timeout), :meth:`FakeTelegram.reset` (the connection is closed without an answer) and
:meth:`FakeTelegram.malformed` (HTTP 200 with a body that is not JSON). The file download route takes
faults under the method name ``"download"``. Quiz tests push
``poll_answer`` and ``callback_query`` updates with :meth:`FakeTelegram.push_poll_answer` and
:meth:`FakeTelegram.push_callback_query`.

PTB sends parameters as ``application/x-www-form-urlencoded`` (nested objects JSON-encoded) or as
multipart form data when files are attached; JSON bodies and query strings are accepted too.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

#: The token used by tests; shaped like a real one so redaction patterns are exercised too.
FAKE_TOKEN = "123456789:AAFakeTokenForTestsOnly-abcdefghijklmn"

BOT_USER = {
    "id": 123456789,
    "is_bot": True,
    "first_name": "Reptile Museum",
    "username": "reptile_museum_test_bot",
    "can_join_groups": True,
    "can_read_all_group_messages": False,
    "supports_inline_queries": False,
}

#: Like the real Bot API, getFile refuses files over 20 MB ("file is too big").
GETFILE_LIMIT = 20 * 1024 * 1024

Handler = Callable[["FakeTelegram", dict[str, Any]], Awaitable[Any] | Any]


@dataclass(slots=True)
class Recorded:
    """One Bot API call made by the bot; ``result`` is what the fake answered (``None`` for an error),
    set before :meth:`FakeTelegram.wait_for` returns the call."""

    method: str
    params: dict[str, Any]
    at: float
    result: Any = None
    answered: bool = field(default=False, repr=False)
    #: The injected fault kind that answered this call (``None`` = a normal answer).
    fault: str | None = None


@dataclass(slots=True)
class Fault:
    """A bad answer for the next call(s) of one method.

    ``kind`` is ``"error"`` (a Bot API error: ``status``, ``description``, optional ``retry_after``),
    ``"delay"`` (wait ``delay_s`` seconds, then answer normally), ``"reset"`` (close the connection
    without answering) or ``"malformed"`` (HTTP 200 whose body is not JSON).
    """

    status: int
    description: str
    times: int = 1
    retry_after: int | None = None
    match: Callable[[dict[str, Any]], bool] | None = None
    kind: str = "error"
    delay_s: float = 0.0


@dataclass
class StoredFile:
    """A file the bot can fetch with getFile and download."""

    file_id: str
    data: bytes
    file_path: str
    declared_size: int | None = None


def _decode(value: Any) -> Any:
    """Form values are strings; nested objects and arrays arrive JSON-encoded."""
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


class FakeTelegram:
    """A fake Bot API on 127.0.0.1 with an ephemeral port.

    Args:
        token: the token the bot must use in its URLs (other tokens get 401 Unauthorized).
        max_poll_wait: longest time (seconds) a getUpdates call waits for an update before returning
            an empty list, whatever ``timeout`` the bot asked for; keeps shutdowns fast.
    """

    def __init__(self, token: str = FAKE_TOKEN, max_poll_wait: float = 0.5) -> None:
        self.token = token
        self.max_poll_wait = max_poll_wait
        self.bot_user = dict(BOT_USER)
        self.requests: list[Recorded] = []
        self.files: dict[str, StoredFile] = {}
        self.downloads: list[str] = []
        self.faults: dict[str, deque[Fault]] = defaultdict(deque)
        self.routes: dict[str, Handler] = {}
        self._updates: list[dict[str, Any]] = []
        #: The highest ``update_id`` getUpdates has handed to the bot (0: none yet).
        self.fetched_up_to = 0
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(1000)
        self._file_ids = itertools.count(1)
        self._poll_ids = itertools.count(1)
        self._callback_ids = itertools.count(1)
        #: Polls sent by the bot, by poll id: the poll dict and the message id and chat id carrying it.
        self.polls: dict[str, dict[str, Any]] = {}
        self._new_update = asyncio.Event()
        self._new_request = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self.port = 0

    # -- lifecycle -----------------------------------------------------------------------------------

    async def start(self) -> FakeTelegram:
        """Listen on 127.0.0.1 (ephemeral port)."""
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._download)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None and server.sockets
        self.port = server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        """Stop listening."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeTelegram:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        """Value for ``TELEGRAM_BASE_URL`` (PTB appends the token)."""
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def base_file_url(self) -> str:
        """Value for ``TELEGRAM_BASE_FILE_URL`` (PTB appends the token)."""
        return f"http://127.0.0.1:{self.port}/file/bot"

    # -- test controls ------------------------------------------------------------------------------

    def route(self, method: str, handler: Handler) -> None:
        """Answer ``method`` with ``handler(fake, params)`` (sync or async); its return is ``result``."""
        self.routes[method] = handler

    def fail(
        self,
        method: str,
        description: str,
        status: int = 400,
        times: int = 1,
        retry_after: int | None = None,
        match: Callable[[dict[str, Any]], bool] | None = None,
    ) -> None:
        """Answer the next ``times`` calls of ``method`` (whose params satisfy ``match``) with an error.

        ``description`` is the Bot API text, e.g. ``"Bad Request: file is too big"``; ``retry_after``
        adds ``parameters.retry_after`` (use with status 429).
        """
        self.faults[method].append(Fault(status, description, times, retry_after, match))

    def delay(self, method: str, seconds: float, times: int = 1,
              match: Callable[[dict[str, Any]], bool] | None = None) -> None:
        """Answer the next ``times`` calls of ``method`` only after ``seconds`` (longer than the client's
        timeout = a timeout on the bot's side; the call still counts as received and answered)."""
        self.faults[method].append(Fault(200, "", times, None, match, "delay", seconds))

    def reset(self, method: str, times: int = 1,
              match: Callable[[dict[str, Any]], bool] | None = None) -> None:
        """Close the connection of the next ``times`` calls of ``method`` without answering."""
        self.faults[method].append(Fault(0, "", times, None, match, "reset"))

    def malformed(self, method: str, times: int = 1,
                  match: Callable[[dict[str, Any]], bool] | None = None) -> None:
        """Answer the next ``times`` calls of ``method`` with HTTP 200 and a body that is not JSON."""
        self.faults[method].append(Fault(200, "", times, None, match, "malformed"))

    def pending_faults(self) -> int:
        """Injected faults not yet used up."""
        return sum(f.times for q in self.faults.values() for f in q)

    def add_file(self, data: bytes, declared_size: int | None = None, suffix: str = "jpg") -> str:
        """Store a file; returns its ``file_id``. ``declared_size`` is what getFile reports."""
        n = next(self._file_ids)
        file_id = f"FILE{n:04d}"
        self.files[file_id] = StoredFile(file_id, data, f"documents/file_{n}.{suffix}", declared_size)
        return file_id

    def push_update(self, update: dict[str, Any]) -> int:
        """Queue a raw update (``update_id`` is added); returns its id."""
        update = {"update_id": next(self._update_ids), **update}
        self._updates.append(update)
        self._new_update.set()
        return update["update_id"]

    def push_message(self, **message: Any) -> dict[str, Any]:
        """Queue a ``message`` update; returns the message. Pass ``chat`` and ``from_user`` dicts (or
        use :meth:`private_chat` / :meth:`group_chat`), plus any Message fields (``text``, ``photo``...).
        """
        message = self.message(**message)
        self.push_update({"message": message})
        return message

    def message(self, chat: dict[str, Any] | None = None, from_user: dict[str, Any] | None = None,
                **fields: Any) -> dict[str, Any]:
        """A Bot API Message dict (not queued), e.g. for ``reply_to_message``."""
        chat = chat or self.private_chat()
        user = from_user or {"id": chat["id"] if chat["type"] == "private" else 4242,
                             "is_bot": False, "first_name": "Kid"}
        msg = {"message_id": next(self._message_ids), "date": int(time.time()), "chat": chat,
               "from": user, **fields}
        text = msg.get("text")
        if isinstance(text, str) and text.startswith("/") and "entities" not in msg:
            length = len(text.split()[0])
            msg["entities"] = [{"type": "bot_command", "offset": 0, "length": length}]
        return msg

    def push_poll_answer(self, poll_id: str, user: dict[str, Any], option_ids: list[int]) -> int:
        """Queue a ``poll_answer`` update: ``user`` voted ``option_ids`` in poll ``poll_id``."""
        poll = self.polls.get(poll_id, {}).get("poll", {})
        persistent = [poll["options"][i]["persistent_id"] for i in option_ids
                      if poll and 0 <= i < len(poll["options"])]
        return self.push_update({"poll_answer": {"poll_id": poll_id, "user": user,
                                                 "option_ids": option_ids,
                                                 "option_persistent_ids": persistent}})

    def push_callback_query(self, message: dict[str, Any], data: str,
                            from_user: dict[str, Any] | None = None) -> str:
        """Queue a ``callback_query`` update: someone pressed a button with ``data`` under ``message``
        (a message the bot sent, e.g. ``recorded.result``). Returns the query id."""
        query_id = f"cq{next(self._callback_ids)}"
        user = from_user or {"id": 4242, "is_bot": False, "first_name": "Kid"}
        self.push_update({"callback_query": {"id": query_id, "from": user, "message": message,
                                             "chat_instance": "ci1", "data": data}})
        return query_id

    @staticmethod
    def user(user_id: int, first_name: str) -> dict[str, Any]:
        """A User dict."""
        return {"id": user_id, "is_bot": False, "first_name": first_name}

    @staticmethod
    def private_chat(chat_id: int = 1001) -> dict[str, Any]:
        """A private chat dict."""
        return {"id": chat_id, "type": "private", "first_name": "Kid"}

    @staticmethod
    def group_chat(chat_id: int = -100777) -> dict[str, Any]:
        """A supergroup chat dict."""
        return {"id": chat_id, "type": "supergroup", "title": "Class 4B"}

    def photo_sizes(self, data: bytes, width: int = 800, height: int = 600) -> list[dict[str, Any]]:
        """PhotoSize dicts like Telegram's (a thumbnail plus the full photo), all serving ``data``."""
        small = self.add_file(data)
        big = self.add_file(data)
        return [
            {"file_id": small, "file_unique_id": f"u{small}", "width": 90, "height": 68,
             "file_size": len(data)},
            {"file_id": big, "file_unique_id": f"u{big}", "width": width, "height": height,
             "file_size": len(data)},
        ]

    def document(self, data: bytes, file_name: str, mime_type: str | None,
                 file_size: int | None = None) -> dict[str, Any]:
        """A Document dict serving ``data``; ``file_size`` defaults to ``len(data)``."""
        file_id = self.add_file(data, declared_size=file_size, suffix=file_name.rsplit(".", 1)[-1])
        doc = {"file_id": file_id, "file_unique_id": f"u{file_id}", "file_name": file_name,
               "file_size": len(data) if file_size is None else file_size}
        if mime_type is not None:
            doc["mime_type"] = mime_type
        return doc

    # -- inspection ---------------------------------------------------------------------------------

    def calls(self, method: str) -> list[Recorded]:
        """Recorded calls of ``method``, oldest first."""
        return [r for r in self.requests if r.method == method]

    async def wait_for(
        self,
        method: str,
        predicate: Callable[[dict[str, Any]], bool] | None = None,
        timeout: float = 20.0,
        after: int = 0,
    ) -> Recorded:
        """The first call of ``method`` (from index ``after`` of :attr:`requests`) matching ``predicate``.

        Raises:
            AssertionError: when none arrives within ``timeout`` seconds (lists what did arrive).
        """

        def find() -> Recorded | None:
            for r in self.requests[after:]:
                if r.answered and r.method == method and (predicate is None or predicate(r.params)):
                    return r
            return None

        async def wait() -> Recorded:
            async with self._new_request:
                while (found := find()) is None:
                    await self._new_request.wait()
                return found

        try:
            return await asyncio.wait_for(wait(), timeout)
        except TimeoutError:
            seen = [(r.method, {k: v for k, v in r.params.items() if k != "timeout"})
                    for r in self.requests[after:] if r.method != "getUpdates"]
            raise AssertionError(f"no {method} within {timeout} s; saw {seen}") from None

    async def idle(self, quiet: float = 0.5, timeout: float = 10.0) -> None:
        """Wait until every queued update was fetched and no non-polling request came for ``quiet`` s."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            last = max((r.at for r in self.requests if r.method != "getUpdates"), default=0.0)
            if not self._updates and time.monotonic() - last >= quiet:
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"bot still busy after {timeout} s")

    async def polling_paused(self, quiet: float = 0.5, timeout: float = 10.0) -> None:
        """Wait until the bot made no getUpdates call for ``quiet`` s (its updater is waiting).

        Raises:
            AssertionError: when it kept polling for ``timeout`` s.
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            last = max((r.at for r in self.requests if r.method == "getUpdates"), default=0.0)
            if time.monotonic() - last >= quiet:
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"bot still polling after {timeout} s")

    # -- HTTP -----------------------------------------------------------------------------------------

    async def _params(self, request: web.Request) -> dict[str, Any]:
        params: dict[str, Any] = {k: _decode(v) for k, v in request.query.items()}
        if request.method != "POST" or not request.can_read_body:
            return params
        if request.content_type == "application/json":
            body = await request.json()
            if isinstance(body, dict):
                params.update(body)
            return params
        form = await request.post()
        for key, value in form.items():
            if isinstance(value, web.FileField):
                params[key] = {"filename": value.filename, "size": len(value.file.read())}
            else:
                params[key] = _decode(value)
        return params

    @staticmethod
    def _drop(request: web.Request) -> web.Response:
        """Abort the connection (the client sees a reset); the response returned is never sent."""
        if request.transport is not None:
            request.transport.abort()
        return web.Response(status=204)

    @staticmethod
    def _error(status: int, description: str, retry_after: int | None = None) -> web.Response:
        body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
        if retry_after is not None:
            body["parameters"] = {"retry_after": retry_after}
        return web.json_response(body, status=status)

    async def _record(self, method: str, params: dict[str, Any]) -> Recorded:
        async with self._new_request:
            rec = Recorded(method, params, time.monotonic())
            self.requests.append(rec)
            return rec

    async def _answered(self, rec: Recorded, result: Any) -> None:
        async with self._new_request:
            rec.result = result
            rec.answered = True
            self._new_request.notify_all()

    async def _api(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return self._error(401, "Unauthorized")
        method = request.match_info["method"]
        params = await self._params(request)
        rec = await self._record(method, params)
        result: Any = None
        try:
            fault = self._take_fault(method, params)
            rec.fault = fault.kind if fault is not None else None
            if fault is not None and fault.kind == "reset":
                return self._drop(request)
            if fault is not None and fault.kind == "malformed":
                result = web.Response(text='{"ok": true, "result": {', content_type="application/json")
                return result
            if fault is not None and fault.kind == "error":
                result = self._error(fault.status, fault.description, fault.retry_after)
                return result
            if fault is not None and fault.kind == "delay":
                await asyncio.sleep(fault.delay_s)
            result = await self._answer(method, params)
            return result
        finally:
            body = getattr(result, "text", None)
            try:
                payload = json.loads(body) if isinstance(body, str) else {}
            except ValueError:
                payload = {}
            await self._answered(rec, payload.get("result") if isinstance(payload, dict) else None)

    def _take_fault(self, method: str, params: dict[str, Any]) -> Fault | None:
        queue = self.faults.get(method)
        if queue:
            fault = queue[0]
            if fault.match is None or fault.match(params):
                fault.times -= 1
                if fault.times <= 0:
                    queue.popleft()
                return fault
        return None

    async def _answer(self, method: str, params: dict[str, Any]) -> web.Response:
        handler = self.routes.get(method) or getattr(self, f"_m_{method.lower()}", None)
        if handler is None:
            return web.json_response({"ok": True, "result": True})
        result = handler(self, params) if method in self.routes else handler(params)
        if asyncio.iscoroutine(result):
            result = await result
        if isinstance(result, web.Response):
            return result
        return web.json_response({"ok": True, "result": result})

    async def _download(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.Response(status=401)
        path = request.match_info["path"]
        self.downloads.append(path)
        fault = self._take_fault("download", {"path": path})
        if fault is not None and fault.kind == "reset":
            return self._drop(request)
        if fault is not None and fault.kind == "delay":
            await asyncio.sleep(fault.delay_s)
        elif fault is not None:
            return web.Response(status=fault.status or 500, text=fault.description)
        for stored in self.files.values():
            if stored.file_path == path:
                return web.Response(body=stored.data, content_type="application/octet-stream")
        return web.Response(status=404)

    # -- methods ------------------------------------------------------------------------------------

    def _m_getme(self, params: dict[str, Any]) -> dict[str, Any]:
        return self.bot_user

    def _m_deletewebhook(self, params: dict[str, Any]) -> bool:
        return True

    def _m_setwebhook(self, params: dict[str, Any]) -> bool:
        return True

    def _m_sendchataction(self, params: dict[str, Any]) -> bool:
        return True

    async def _m_getupdates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        offset = int(params.get("offset") or 0)
        if offset:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        timeout = float(params.get("timeout") or 0)
        if not self._updates and timeout > 0:
            self._new_update.clear()
            wait = min(timeout, self.max_poll_wait)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._new_update.wait(), wait)
        allowed = params.get("allowed_updates")
        if isinstance(allowed, list) and allowed:  # like Telegram: other update types are dropped
            self._updates = [u for u in self._updates if any(k in allowed for k in u if k != "update_id")]
        limit = int(params.get("limit") or 100)
        batch = self._updates[:limit]
        if batch:
            self.fetched_up_to = max(self.fetched_up_to, batch[-1]["update_id"])
        return batch

    def _m_getfile(self, params: dict[str, Any]) -> dict[str, Any] | web.Response:
        stored = self.files.get(str(params.get("file_id")))
        if stored is None:
            return self._error(400, "Bad Request: invalid file_id")
        size = stored.declared_size if stored.declared_size is not None else len(stored.data)
        if size > GETFILE_LIMIT:
            return self._error(400, "Bad Request: file is too big")
        return {"file_id": stored.file_id, "file_unique_id": f"u{stored.file_id}", "file_size": size,
                "file_path": stored.file_path}

    def _bot_message(self, params: dict[str, Any], **fields: Any) -> dict[str, Any]:
        """A Message sent by the bot to ``params["chat_id"]``."""
        chat_id = int(params["chat_id"])
        chat = {"id": chat_id, "type": "private" if chat_id > 0 else "supergroup"}
        if chat_id < 0:
            chat["title"] = "Group"
        else:
            chat["first_name"] = "Kid"
        msg = {"message_id": next(self._message_ids), "date": int(time.time()), "chat": chat,
               "from": {k: self.bot_user[k] for k in ("id", "is_bot", "first_name", "username")},
               **fields}
        if params.get("reply_markup"):
            msg["reply_markup"] = params["reply_markup"]
        return msg

    def _m_sendmessage(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._bot_message(params, text=str(params.get("text", "")))

    def _m_sendpoll(self, params: dict[str, Any]) -> dict[str, Any]:
        poll_id = f"poll{next(self._poll_ids)}"
        options = params.get("options") or []
        poll: dict[str, Any] = {
            "id": poll_id,
            "question": str(params.get("question", "")),
            "options": [{"text": o if isinstance(o, str) else o.get("text", ""), "voter_count": 0,
                         "persistent_id": f"{poll_id}-{i}"} for i, o in enumerate(options)],
            "total_voter_count": 0,
            "is_closed": False,
            "is_anonymous": str(params.get("is_anonymous", "true")).lower() == "true",
            "type": str(params.get("type", "regular")),
            "allows_multiple_answers": False,
            "allows_revoting": False,
            "members_only": False,
        }
        for key in ("correct_option_ids", "explanation"):
            if key in params:
                poll[key] = params[key]
        if "open_period" in params:
            poll["open_period"] = int(params["open_period"])
        msg = self._bot_message(params, poll=poll)
        self.polls[poll_id] = {"poll": poll, "message_id": msg["message_id"], "chat_id": msg["chat"]["id"]}
        return msg

    def _m_stoppoll(self, params: dict[str, Any]) -> dict[str, Any] | web.Response:
        for sent in self.polls.values():
            if sent["chat_id"] == int(params["chat_id"]) and sent["message_id"] == int(params["message_id"]):
                if sent["poll"]["is_closed"]:
                    return self._error(400, "Bad Request: poll has already been closed")
                sent["poll"]["is_closed"] = True
                return sent["poll"]
        return self._error(400, "Bad Request: message with poll to stop not found")

    def _m_sendphoto(self, params: dict[str, Any]) -> dict[str, Any]:
        file_id = str(params.get("photo"))
        return self._bot_message(params, photo=[{"file_id": file_id, "file_unique_id": f"u{file_id}",
                                                 "width": 800, "height": 600}])

    def _m_senddocument(self, params: dict[str, Any]) -> dict[str, Any]:
        file_id = str(params.get("document"))
        return self._bot_message(params, document={"file_id": file_id, "file_unique_id": f"u{file_id}"})
