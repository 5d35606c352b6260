"""A fake Discord HTTP API on 127.0.0.1 for testing the Discord adapter through discord.py's own code.

discord.py sends every REST call (login, command sync, interaction callbacks, webhook follow-ups) to
``discord.http.Route.BASE``; point it at :attr:`FakeDiscord.api_base` and the library talks to this
server instead of discord.com. Every request is recorded in :attr:`FakeDiscord.requests`.

Handlers are per route and extensible: :meth:`FakeDiscord.route` adds a handler in front of the
defaults (optionally for a limited number of calls), so later tests can inject 429 or 500 responses
with :meth:`FakeDiscord.fail`. :class:`Payloads` builds INTERACTION_CREATE payloads shaped like
Discord's documented JSON (application commands, autocomplete, message context menus, and message
components for buttons).

Messages the bot creates or edits (interaction responses, webhook follow-ups, channel messages) are
kept in :attr:`FakeDiscord.messages` by id, in their latest state, so a test can press a button of a
message exactly as Discord would send it back (``Payloads.component(custom_id, fake.messages[id])``).

A minimal gateway is served too (:attr:`FakeDiscord.gateway_url`; patch
``discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY`` to it): HELLO, READY after IDENTIFY, heartbeat
ACKs, and :meth:`FakeDiscord.gateway_dispatch` to push events such as INTERACTION_CREATE.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

API_PREFIX = "/api/v10"

#: Interaction callback types (Discord docs, "Interaction Callback Type").
CHANNEL_MESSAGE_WITH_SOURCE = 4
DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE = 5
DEFERRED_UPDATE_MESSAGE = 6
UPDATE_MESSAGE = 7
AUTOCOMPLETE_RESULT = 8
#: Message flag EPHEMERAL (1 << 6).
EPHEMERAL = 64


@dataclass
class RecordedRequest:
    """One HTTP request the fake server received.

    Attributes:
        method: ``GET``, ``POST``...
        path: the path without the ``/api/v10`` prefix (e.g. ``/interactions/1/tok/callback``).
        query: query-string parameters.
        headers: request headers.
        body: raw body bytes.
        json: the JSON body (for multipart requests, the ``payload_json`` part), or ``None``.
        files: the files of a multipart request, by name.
        at: when the request arrived (``time.monotonic()``).
    """

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    json: Any = None
    files: dict[str, bytes] = field(default_factory=dict)
    #: ``time.monotonic()`` when the request arrived.
    at: float = field(default_factory=time.monotonic)


Reply = web.StreamResponse | tuple[int, Any] | tuple[int, Any, dict[str, str]]
Handler = Callable[[RecordedRequest, re.Match[str]], Reply | Awaitable[Reply]]


@dataclass
class _Route:
    method: str
    pattern: re.Pattern[str]
    handler: Handler
    remaining: int | None = None  # None: unlimited


class FakeDiscord:
    """The fake Discord REST API. Use as ``async with FakeDiscord() as fake:``.

    Args:
        application_id: the bot application's id (also the bot user's id, as on Discord).
        channel_id: channel id used in generated message payloads.
    """

    def __init__(self, application_id: int = 1100000000000000001, channel_id: int = 1200000000000000001):
        self.application_id = application_id
        self.bot_user_id = application_id
        self.channel_id = channel_id
        self.requests: list[RecordedRequest] = []
        self.files: dict[str, tuple[bytes, str]] = {}
        #: Every message the bot created or edited, by id, in its latest state.
        self.messages: dict[str, dict] = {}
        self._originals: dict[str, str] = {}  # interaction token -> original response message id
        self._followups: dict[str, list[str]] = {}  # interaction token -> follow-up message ids
        self._routes: list[_Route] = []
        self._ids = itertools.count(1300000000000000001)
        self._runner: web.AppRunner | None = None
        self.port = 0
        #: Every gateway payload received from clients (IDENTIFY, heartbeats...).
        self.gateway_received: list[dict] = []
        self._sockets: list[web.WebSocketResponse] = []
        #: The ``[shard_id, shard_count]`` each socket identified with (unsharded clients: none).
        self._shards: dict[int, tuple[int, int]] = {}
        self._seq = 0
        self._install_defaults()

    # ---------------------------------------------------------------- lifecycle
    async def start(self) -> FakeDiscord:
        """Start listening on 127.0.0.1 on a free port."""
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def close(self) -> None:
        """Stop the server (closing any gateway connection first)."""
        for ws in list(self._sockets):
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeDiscord:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def gateway_url(self) -> str:
        """The websocket URL of the fake gateway."""
        return f"ws://127.0.0.1:{self.port}/gateway/"

    @property
    def ready(self) -> bool:
        """True once a client has identified and been sent READY."""
        return any(p.get("op") == 2 for p in self.gateway_received)

    @property
    def gateway_connected(self) -> bool:
        """True while a client holds a gateway connection open."""
        return any(not ws.closed for ws in self._sockets)

    async def gateway_dispatch(self, event: str, data: dict) -> None:
        """Send a DISPATCH (op 0) event, e.g. ``INTERACTION_CREATE``, to every connected client; like
        Discord, an event of a server goes only to the shard that owns it (``(guild_id >> 22) %
        shard_count``) among the sharded connections, and a DM only to shard 0."""
        guild_id = data.get("guild_id") if isinstance(data, dict) else None
        for ws in list(self._sockets):
            if ws.closed:
                continue
            shard = self._shards.get(id(ws))
            if shard is not None:
                owner = (int(guild_id) >> 22) % shard[1] if guild_id else 0
                if owner != shard[0]:
                    continue
            self._seq += 1
            await ws.send_json({"op": 0, "t": event, "s": self._seq, "d": data})

    @property
    def identified_shards(self) -> list[tuple[int, int]]:
        """``(shard_id, shard_count)`` of every sharded gateway connection that identified."""
        return sorted(self._shards.values())

    @property
    def api_base(self) -> str:
        """The value for ``discord.http.Route.BASE``."""
        return self.base_url + API_PREFIX

    # ---------------------------------------------------------------- routes
    def route(self, method: str, pattern: str, handler: Handler, *, times: int | None = None) -> None:
        """Answer ``method`` requests whose API path fully matches the regex ``pattern`` with ``handler``.

        Newer routes take precedence over older ones and over the defaults. With ``times``, the route
        answers only that many requests and then falls through to the next matching route.
        ``handler(request, match)`` returns an aiohttp response or ``(status, json[, headers])``.
        """
        self._routes.insert(0, _Route(method.upper(), re.compile(pattern), handler, times))

    def fail(
        self,
        method: str,
        pattern: str,
        status: int,
        body: Any = None,
        *,
        headers: dict[str, str] | None = None,
        times: int = 1,
    ) -> None:
        """Fault injection: answer the next ``times`` matching requests with ``status`` (e.g. 429, 500)."""
        if body is None:
            body = {"message": "fake failure", "code": 0}
            if status == 429:
                body = {"message": "You are being rate limited.", "retry_after": 0.05, "global": False}
        extra = dict(headers or {})
        self.route(method, pattern, lambda _r, _m: (status, body, extra), times=times)

    def add_file(self, name: str, data: bytes, content_type: str = "application/octet-stream") -> str:
        """Serve ``data`` at ``/files/NAME`` (for attachment URLs); returns the full URL."""
        self.files[name] = (data, content_type)
        return f"{self.base_url}/files/{name}"

    def next_id(self) -> int:
        """A fresh snowflake-like id."""
        return next(self._ids)

    # ---------------------------------------------------------------- queries
    def find(self, method: str, pattern: str) -> list[RecordedRequest]:
        """Recorded requests with this method whose path fully matches the regex ``pattern``."""
        rx = re.compile(pattern)
        return [r for r in self.requests if r.method == method.upper() and rx.fullmatch(r.path)]

    def callbacks(self, interaction_id: int | str | None = None) -> list[RecordedRequest]:
        """``POST /interactions/{id}/{token}/callback`` requests (the first answer to an interaction)."""
        iid = r"\d+" if interaction_id is None else str(interaction_id)
        return self.find("POST", rf"/interactions/{iid}/[^/]+/callback")

    def followups(self, token: str | None = None) -> list[RecordedRequest]:
        """``POST /webhooks/{app_id}/{token}`` requests (follow-up messages)."""
        tok = "[^/]+" if token is None else re.escape(token)
        return self.find("POST", rf"/webhooks/{self.application_id}/{tok}")

    def original_edits(self, token: str | None = None) -> list[RecordedRequest]:
        """``PATCH /webhooks/{app_id}/{token}/messages/@original`` requests."""
        tok = "[^/]+" if token is None else re.escape(token)
        return self.find("PATCH", rf"/webhooks/{self.application_id}/{tok}/messages/@original")

    def for_token(self, token: str) -> list[RecordedRequest]:
        """Every interaction callback or webhook request made with this interaction token, in order."""
        return [r for r in self.requests if f"/{token}" in r.path]

    def original(self, token: str) -> dict | None:
        """The current state of the message an interaction's response created, or ``None``."""
        mid = self._originals.get(token)
        return self.messages.get(mid) if mid else None

    def followup_messages(self, token: str) -> list[dict]:
        """The current state of the follow-up messages sent with an interaction's token, in order."""
        return [self.messages[m] for m in self._followups.get(token, [])]

    def channel_posts(self, channel_id: int | str | None = None) -> list[RecordedRequest]:
        """``POST /channels/{id}/messages`` requests (messages sent through the channel)."""
        cid = r"\d+" if channel_id is None else str(channel_id)
        return self.find("POST", rf"/channels/{cid}/messages")

    def message_edits(self, message_id: int | str) -> list[RecordedRequest]:
        """Every edit of message ``message_id``: through a webhook (by id, or ``@original`` of the
        interaction that created it) or through the channel."""
        mid = str(message_id)
        tokens = {t for t, m in self._originals.items() if m == mid}
        out = []
        for r in self.requests:
            if r.method != "PATCH":
                continue
            last = r.path.rsplit("/", 1)[-1]
            by_id = last == mid and "/messages/" in r.path
            by_original = last == "@original" and any(f"/{t}/messages/" in r.path for t in tokens)
            if by_id or by_original:
                out.append(r)
        return out

    async def wait_for(
        self, predicate: Callable[[FakeDiscord], bool], timeout: float = 30.0
    ) -> None:
        """Wait until ``predicate(self)`` is true (re-checked after every request)."""
        async with asyncio.timeout(timeout):
            while not predicate(self):
                await asyncio.sleep(0.01)

    # ---------------------------------------------------------------- payloads
    def user_payload(
        self, user_id: int | None = None, name: str = "reptile-museum", bot: bool = True
    ) -> dict:
        """A user object."""
        return {
            "id": str(user_id or self.bot_user_id),
            "username": name,
            "discriminator": "0",
            "global_name": None,
            "avatar": None,
            "bot": bot,
            "flags": 0,
            "public_flags": 0,
        }

    def message_payload(self, body: dict | None = None, *, message_id: int | None = None) -> dict:
        """A message object as Discord returns it for a webhook or interaction message."""
        body = body or {}
        return {
            "id": str(message_id or self.next_id()),
            "type": 20,
            "channel_id": str(self.channel_id),
            "author": self.user_payload(),
            "content": body.get("content") or "",
            "timestamp": datetime.now(UTC).isoformat(),
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": [],
            "embeds": body.get("embeds") or [],
            "components": body.get("components") or [],
            "pinned": False,
            "flags": body.get("flags") or 0,
            "webhook_id": str(self.application_id),
            "application_id": str(self.application_id),
        }

    # ---------------------------------------------------------------- defaults
    def _install_defaults(self) -> None:
        app = self.application_id
        r = self._routes.append  # defaults go last, in this order

        def add(method: str, pattern: str, handler: Handler) -> None:
            r(_Route(method, re.compile(pattern), handler))

        add("GET", r"/users/@me", lambda _r, _m: (200, self.user_payload()))
        add("GET", r"/oauth2/applications/@me", lambda _r, _m: (200, self._application()))
        add("PUT", rf"/applications/{app}/commands", self._sync_commands)
        add("PUT", rf"/applications/{app}/guilds/(?P<guild>\d+)/commands", self._sync_commands)
        add("POST", r"/interactions/(?P<id>\d+)/(?P<token>[^/]+)/callback", self._callback)
        add("POST", rf"/webhooks/{app}/(?P<token>[^/]+)", self._followup)
        add("PATCH", rf"/webhooks/{app}/(?P<token>[^/]+)/messages/(?P<mid>[^/]+)", self._edit_message)
        add("GET", rf"/webhooks/{app}/(?P<token>[^/]+)/messages/(?P<mid>[^/]+)", self._edit_message)
        add("POST", r"/channels/(?P<cid>\d+)/messages", self._channel_message)
        add("PATCH", r"/channels/(?P<cid>\d+)/messages/(?P<mid>\d+)", self._edit_message)
        add("DELETE", rf"/webhooks/{app}/[^/]+/messages/[^/]+", lambda _r, _m: web.Response(status=204))
        add("GET", r"/gateway(/bot)?", lambda _r, _m: (503, {"message": "no gateway in tests", "code": 0}))

    def _application(self) -> dict:
        return {
            "id": str(self.application_id),
            "name": "Reptile Museum (test)",
            "description": "",
            "icon": None,
            "bot_public": True,
            "bot_require_code_grant": False,
            "owner": self.user_payload(1000000000000000001, "owner", bot=False),
            "verify_key": "0" * 64,
            "flags": 0,
            "summary": "",
            "rpc_origins": [],
            "team": None,
        }

    def _sync_commands(self, req: RecordedRequest, match: re.Match[str]) -> Reply:
        out = []
        for cmd in req.json or []:
            item = {
                "id": str(self.next_id()),
                "application_id": str(self.application_id),
                "version": str(self.next_id()),
                "default_member_permissions": None,
                "type": 1,
                "description": "",
                **cmd,
            }
            if match.groupdict().get("guild"):
                item["guild_id"] = match["guild"]
            out.append(item)
        return 200, out

    def _callback(self, req: RecordedRequest, match: re.Match[str]) -> Reply:
        body = req.json or {}
        cb_type = body.get("type")
        data = body.get("data") or {}
        ephemeral = bool((data.get("flags") or 0) & EPHEMERAL)
        interaction: dict[str, Any] = {"id": match["id"], "type": 2}
        resource: dict[str, Any] = {"type": cb_type}
        if cb_type in (CHANNEL_MESSAGE_WITH_SOURCE, DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE, UPDATE_MESSAGE):
            message = self.message_payload(data)
            if cb_type != UPDATE_MESSAGE:  # a new message: the interaction's original response
                self._store(message)
                self._originals[match["token"]] = message["id"]
            interaction["response_message_id"] = message["id"]
            interaction["response_message_loading"] = cb_type == DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE
            interaction["response_message_ephemeral"] = ephemeral
            if cb_type != DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE:
                resource["message"] = message
        return 200, {"interaction": interaction, "resource": resource}

    def _store(self, message: dict) -> dict:
        self.messages[message["id"]] = message
        return message

    def _edit_message(self, req: RecordedRequest, match: re.Match[str]) -> Reply:
        mid = match["mid"]
        groups = match.groupdict()
        if mid == "@original":
            mid = self._originals.get(groups.get("token") or "", "")
        known = self.messages.get(mid) if mid else None
        if known is None:
            message = self.message_payload(req.json, message_id=int(mid) if mid.isdigit() else None)
            if groups.get("cid"):
                message["channel_id"] = groups["cid"]
        else:
            message = dict(known)
            for key, value in (req.json or {}).items():
                if key in ("content", "embeds", "components", "flags"):
                    message[key] = value
            message["edited_timestamp"] = datetime.now(UTC).isoformat()
        if req.method == "PATCH":
            self._store(message)
        return 200, message

    def _followup(self, req: RecordedRequest, match: re.Match[str]) -> Reply:
        message = self._store(self.message_payload(req.json))
        self._followups.setdefault(match["token"], []).append(message["id"])
        return 200, message

    def _channel_message(self, req: RecordedRequest, match: re.Match[str]) -> Reply:
        message = self.message_payload(req.json)
        message.update({"type": 0, "channel_id": match["cid"]})
        message.pop("webhook_id", None)
        message.pop("application_id", None)
        return 200, self._store(message)

    # ---------------------------------------------------------------- dispatch
    async def _gateway(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self._sockets.append(ws)
        await ws.send_json({"op": 10, "d": {"heartbeat_interval": 41250}, "s": None, "t": None})
        async for msg in ws:
            if msg.type != web.WSMsgType.TEXT:
                continue
            payload = json.loads(msg.data)
            self.gateway_received.append(payload)
            if payload.get("op") == 1:  # HEARTBEAT
                await ws.send_json({"op": 11, "d": None, "s": None, "t": None})
            elif payload.get("op") == 2:  # IDENTIFY
                shard = (payload.get("d") or {}).get("shard")
                if shard:
                    self._shards[id(ws)] = (int(shard[0]), int(shard[1]))
                self._seq += 1
                await ws.send_json({"op": 0, "t": "READY", "s": self._seq, "d": {
                    "v": 10,
                    "user": self.user_payload(),
                    "guilds": [],
                    "session_id": "fake-session",
                    "resume_gateway_url": self.gateway_url,
                    "application": {"id": str(self.application_id), "flags": 0},
                    **({"shard": list(shard)} if shard else {}),
                }})
        return ws

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        if path.rstrip("/") == "/gateway" and request.headers.get("Upgrade", "").lower() == "websocket":
            return await self._gateway(request)
        if path.startswith("/files/"):
            name = path.removeprefix("/files/")
            self._record(
                RecordedRequest(request.method, path, dict(request.query), dict(request.headers), b"")
            )
            if name not in self.files:
                return web.Response(status=404)
            data, ctype = self.files[name]
            return web.Response(body=data, content_type=ctype)
        if path.startswith(API_PREFIX):
            path = path.removeprefix(API_PREFIX)
        recorded = await self._read(request, path)
        self._record(recorded)
        for route in list(self._routes):
            if route.method != request.method:
                continue
            match = route.pattern.fullmatch(path)
            if match is None or route.remaining == 0:
                continue
            if route.remaining is not None:
                route.remaining -= 1
            reply = route.handler(recorded, match)
            if asyncio.iscoroutine(reply) or isinstance(reply, Awaitable):
                reply = await reply  # type: ignore[misc]
            return _to_response(reply)
        return _to_response((404, {"message": f"404: no fake route for {request.method} {path}", "code": 0}))

    def _record(self, recorded: RecordedRequest) -> None:
        self.requests.append(recorded)

    async def _read(self, request: web.Request, path: str) -> RecordedRequest:
        body = await request.read()
        payload: Any = None
        files: dict[str, bytes] = {}
        ctype = request.content_type
        if ctype == "application/json" and body:
            payload = json.loads(body)
        elif ctype.startswith("multipart/"):
            form = await request.post()
            for key, value in form.items():
                if key == "payload_json":
                    payload = json.loads(value if isinstance(value, str) else value.file.read())
                elif hasattr(value, "file"):
                    files[value.filename or key] = value.file.read()
        return RecordedRequest(request.method, path, dict(request.query), dict(request.headers), body,
                               payload, files)


def _to_response(reply: Reply) -> web.StreamResponse:
    if isinstance(reply, web.StreamResponse):
        return reply
    status, body, *rest = reply
    headers = rest[0] if rest else {}
    if status == 204 or body is None:
        return web.Response(status=status, headers=headers)
    # Exactly "application/json", as Discord sends it: discord.py parses JSON only for that header value.
    return web.Response(body=json.dumps(body).encode(), status=status,
                        headers={"Content-Type": "application/json", **headers})


class Payloads:
    """INTERACTION_CREATE payloads shaped like Discord's documented JSON
    (https://discord.com/developers/docs/interactions/receiving-and-responding#interaction-object).

    Args:
        fake: the fake server (for ids, the application id and file URLs).
        guild_id: when set, interactions come from this server (``member`` set, context 0);
            otherwise from a DM with the bot (``user`` set, context 1).
    """

    def __init__(self, fake: FakeDiscord, guild_id: int | None = 1400000000000000001) -> None:
        self.fake = fake
        self.guild_id = guild_id
        self.user = fake.user_payload(1500000000000000001, "young_herpetologist", bot=False)
        self.command_ids: dict[str, int] = {}

    def _base(self, type_: int, data: dict) -> dict:
        iid = self.fake.next_id()
        payload: dict[str, Any] = {
            "id": str(iid),
            "application_id": str(self.fake.application_id),
            "type": type_,
            "data": data,
            "token": f"tok-{iid}",
            "version": 1,
            "locale": "en-GB",
            "app_permissions": "2248473465835073",
            "entitlements": [],
            "attachment_size_limit": 10 * 1024 * 1024,
        }
        if self.guild_id is not None:
            payload.update({
                "guild_id": str(self.guild_id),
                "guild_locale": "en-US",
                "guild": {"id": str(self.guild_id), "locale": "en-US", "features": []},
                "channel_id": str(self.fake.channel_id),
                "channel": {"id": str(self.fake.channel_id), "type": 0, "name": "reptiles",
                            "guild_id": str(self.guild_id), "position": 0, "permission_overwrites": [],
                            "nsfw": False, "parent_id": None},
                "member": {"user": self.user, "roles": [], "joined_at": "2024-01-01T00:00:00+00:00",
                           "deaf": False, "mute": False, "flags": 0, "permissions": "2248473465835073",
                           "nick": None, "avatar": None, "pending": False},
                "authorizing_integration_owners": {"0": str(self.guild_id)},
                "context": 0,
            })
        else:
            payload.update({
                "channel_id": str(self.fake.channel_id),
                "channel": {"id": str(self.fake.channel_id), "type": 1, "recipients": [self.user],
                            "last_message_id": None, "flags": 0},
                "user": self.user,
                "authorizing_integration_owners": {"0": "0"},
                "context": 1,
            })
        return payload

    def _command_id(self, name: str) -> str:
        return str(self.command_ids.setdefault(name, self.fake.next_id()))

    def attachment(
        self, filename: str, url: str, *, size: int, content_type: str | None,
        width: int | None = None, height: int | None = None,
    ) -> dict:
        """An attachment object."""
        att: dict[str, Any] = {"id": str(self.fake.next_id()), "filename": filename, "size": size,
                               "url": url, "proxy_url": url}
        if content_type is not None:
            att["content_type"] = content_type
        if width is not None:
            att.update({"width": width, "height": height})
        return att

    def slash(self, name: str, options: list[dict] | None = None, *, resolved: dict | None = None) -> dict:
        """APPLICATION_COMMAND (type 2) for a chat-input command (data.type 1)."""
        data: dict[str, Any] = {"id": self._command_id(name), "name": name, "type": 1,
                                "options": options or []}
        if resolved:
            data["resolved"] = resolved
        if self.guild_id is not None:
            data["guild_id"] = str(self.guild_id)
        return self._base(2, data)

    def slash_with_attachment(self, name: str, option: str, attachment: dict) -> dict:
        """A chat-input command whose attachment option carries ``attachment`` (in data.resolved)."""
        return self.slash(
            name,
            [{"name": option, "type": 11, "value": attachment["id"]}],
            resolved={"attachments": {attachment["id"]: attachment}},
        )

    def autocomplete(self, name: str, option: str, value: str) -> dict:
        """APPLICATION_COMMAND_AUTOCOMPLETE (type 4) with ``option`` focused."""
        payload = self.slash(name, [{"name": option, "type": 3, "value": value, "focused": True}])
        payload["type"] = 4
        return payload

    def message(
        self, *, attachments: list[dict] | None = None, embeds: list[dict] | None = None,
        content: str = "",
    ) -> dict:
        """A message object (as in ``resolved.messages``), written by another user."""
        author = self.fake.user_payload(1500000000000000002, "photo_friend", bot=False)
        return {
            "id": str(self.fake.next_id()),
            "type": 0,
            "channel_id": str(self.fake.channel_id),
            "author": author,
            "content": content,
            "timestamp": "2024-05-01T10:00:00+00:00",
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": attachments or [],
            "embeds": embeds or [],
            "components": [],
            "pinned": False,
            "flags": 0,
        }

    def message_command(self, name: str, message: dict) -> dict:
        """APPLICATION_COMMAND (type 2) for a message context-menu command (data.type 3)."""
        data: dict[str, Any] = {
            "id": self._command_id(name),
            "name": name,
            "type": 3,
            "target_id": message["id"],
            "resolved": {"messages": {message["id"]: message}},
        }
        if self.guild_id is not None:
            data["guild_id"] = str(self.guild_id)
        return self._base(2, data)

    def component(self, custom_id: str, message: dict, component_type: int = 2) -> dict:
        """MESSAGE_COMPONENT (type 3), e.g. a button press on ``message``."""
        payload = self._base(3, {"custom_id": custom_id, "component_type": component_type})
        payload["message"] = message
        return payload

    def as_user(self, user_id: int, name: str) -> Payloads:
        """The same server or DM, with interactions coming from another (human) user."""
        other = Payloads(self.fake, guild_id=self.guild_id)
        other.user = self.fake.user_payload(user_id, name, bot=False)
        other.command_ids = self.command_ids
        return other


@contextlib.contextmanager
def patched_route_base(api_base: str):  # pragma: no cover - trivial
    """Point discord.py's REST client (and its webhook adapter, which shares ``Route``) at ``api_base``."""
    import discord.http

    old = discord.http.Route.BASE
    discord.http.Route.BASE = api_base
    try:
        yield
    finally:
        discord.http.Route.BASE = old
