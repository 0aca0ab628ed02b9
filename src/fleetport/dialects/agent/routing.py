"""Requests for a machine's agent, wherever it is connected.

Every request of the ``WorkspaceHost`` port (and any message the server sends a machine's agent,
``tell``) is an ``Ask``. With the in-process bus the hub performs it here, with the agent of the
machine connected here if any (nobody to ask otherwise). With the bus shared between processes
(Redis), the agent chosen is the first part of the machine, by id, whose agent the database shows
connected (``parts.agent_online_until``): every process chooses the same one, so exactly one acts.
When that part's agent is connected here, the hub performs the request here; otherwise it goes on
the bus, on topic ``agent-ask:<part id>``, which only the process holding that part's connection
follows: it performs the request exactly as if it had been made there (its forwarding and add-on
ports listen there). A request that answers (a snapshot's bytes, the completion of ``addon_stop``,
``relay_open``, ``relay_close``) names the asking process (``reply_to``) and a request id; the
holder publishes the answer on ``agent-answer:<process token>``. No answer within the request's
time gives ``Unavailable``, as a silent agent does.

Messages travel as explicit JSON (``ASK_CODEC``, ``ANSWER_CODEC``); one that does not decode is
dropped with a log line.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import concurrent.futures
import logging
import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fleetport.bus import Codec, SubscriberTooSlow, Subscription, Undecodable
from fleetport.core import errors
from fleetport.core.errors import CoreError, Unavailable
from fleetport.core.remote import Relay

if TYPE_CHECKING:
    from fleetport.dialects.agent.hub import Hub
    from fleetport.dialects.agent.link import AgentLink

log = logging.getLogger("fleetport.agent.routing")

ASK_FAMILY = "agent-ask"
ANSWER_FAMILY = "agent-answer"
KINDS = ("launch", "destroy", "addon_start", "addon_stop", "relay_open", "relay_close", "snapshot", "tell")
ANSWERED = frozenset({"addon_stop", "relay_open", "relay_close", "snapshot"})
TOLD = frozenset({"drive", "ci_job"})  # the agent messages ``tell`` may carry to another process
ANSWER_SECONDS = 15.0  # an answered request other than a snapshot
SNAPSHOT_MARGIN = 2.0  # seconds a snapshot's answer may take on top of the agent's time
IMAGE_MAX = 32 * 1024 * 1024  # bytes of a snapshot answer
_ERRORS: dict[str, type[CoreError]] = {
    cls.code: cls
    for cls in (
        errors.NotFound,
        errors.PermissionDenied,
        errors.Conflict,
        errors.Busy,
        errors.Invalid,
        errors.FailedPrecondition,
        errors.TooLarge,
        Unavailable,
    )
}


def ask_topic(part_id: str) -> str:
    return f"{ASK_FAMILY}:{part_id}"


def answer_topic(token: str) -> str:
    return f"{ANSWER_FAMILY}:{token}"


@dataclass(frozen=True)
class Ask:
    """One request for a machine's agent (the fields its ``kind`` uses; the others stay empty)."""

    kind: str
    machine_id: str
    instance: str = ""
    addon: str = ""
    public_key: str = ""  # launch
    port: int | None = None  # launch: the instance's forwarding port
    relay: Relay | None = None  # addon_start of a relayed add-on
    camera: str = ""  # snapshot
    timeout: float = 0.0  # snapshot: seconds the agent has
    message: str = ""  # tell: the agent message's type
    fields: dict[str, Any] = field(default_factory=dict)  # tell: its fields
    request: str = ""  # the id its answer comes back with ("" when none is awaited)
    reply_to: str = ""  # the token of the process waiting for the answer


@dataclass(frozen=True)
class Answer:
    request: str
    data: bytes | None = None  # a snapshot's image
    code: str = ""  # an error's code ("" when it succeeded)
    error: str = ""


# --- wire forms -------------------------------------------------------------------------------


def _encode_ask(ask: Ask) -> dict[str, Any]:
    relay = ask.relay
    return {
        "kind": ask.kind,
        "machine_id": ask.machine_id,
        "instance": ask.instance,
        "addon": ask.addon,
        "public_key": ask.public_key,
        "port": ask.port,
        "relay": None
        if relay is None
        else {"target": relay.target, "ports": relay.ports, "at_once": relay.at_once},
        "camera": ask.camera,
        "timeout": ask.timeout,
        "message": ask.message,
        "fields": ask.fields,
        "request": ask.request,
        "reply_to": ask.reply_to,
    }


def _text(data: Any, name: str, limit: int) -> str:
    if not isinstance(data, dict) or not isinstance(data.get(name), str):
        raise Undecodable(f"{name} is not text")
    value: str = data[name]
    if len(value) > limit or "\x00" in value:
        raise Undecodable(f"{name} is longer than {limit} characters or holds NUL")
    try:
        value.encode()
    except UnicodeEncodeError:
        raise Undecodable(f"{name} holds a lone surrogate") from None
    return value


def _port(value: Any, name: str) -> int:
    if type(value) is not int or not 0 < value < 65536:
        raise Undecodable(f"{name} is not a TCP port")
    return value


def _relay(value: Any) -> Relay | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise Undecodable("relay is not an object")
    target = None if value.get("target") is None else _text(value, "target", 300)
    ports = value.get("ports")
    if not isinstance(ports, dict) or len(ports) > 4 or not all(k in ("http", "https", "vnc") for k in ports):
        raise Undecodable("relay ports are not http, https or vnc ports")
    at_once = value.get("at_once")
    if not isinstance(at_once, bool):
        raise Undecodable("relay at_once is not a boolean")
    return Relay(target, {kind: _port(port, kind) for kind, port in ports.items()}, at_once)


def _decode_ask(data: Any) -> Ask:
    kind = _text(data, "kind", 20)
    if kind not in KINDS:
        raise Undecodable(f"no request kind {kind[:20]!r}")
    port = data.get("port")
    timeout = data.get("timeout")
    if type(timeout) not in (int, float) or not 0 <= timeout <= 600:
        raise Undecodable("timeout is not a number of seconds from 0 to 600")
    message, fields = _text(data, "message", 40), data.get("fields")
    if kind == "tell" and message not in TOLD:
        raise Undecodable(f"an agent message {message[:40]!r} is not told through the bus")
    if not isinstance(fields, dict):
        raise Undecodable("fields is not an object")
    request, reply_to = _text(data, "request", 64), _text(data, "reply_to", 64)
    if kind in ANSWERED and not (request and reply_to):
        raise Undecodable(f"a {kind} request names no request id and no process to answer")
    return Ask(
        kind,
        _text(data, "machine_id", 100),
        _text(data, "instance", 100),
        _text(data, "addon", 40),
        _text(data, "public_key", 16000),
        None if port is None else _port(port, "port"),
        _relay(data.get("relay")),
        _text(data, "camera", 100),
        float(timeout),
        message,
        fields,
        request,
        reply_to,
    )


def _encode_answer(answer: Answer) -> dict[str, Any]:
    data = None if answer.data is None else base64.b64encode(answer.data).decode()
    return {"request": answer.request, "data": data, "code": answer.code, "error": answer.error}


def _decode_answer(data: Any) -> Answer:
    request, code, error = _text(data, "request", 64), _text(data, "code", 40), _text(data, "error", 2000)
    if code and code not in _ERRORS:
        raise Undecodable(f"no error code {code[:40]!r}")
    image = data.get("data")
    if image is None:
        return Answer(request, None, code, error)
    if not isinstance(image, str) or len(image) > IMAGE_MAX * 4 // 3 + 4:
        raise Undecodable("data is not base64 text of an image")
    try:
        return Answer(request, base64.b64decode(image, validate=True), code, error)
    except binascii.Error:
        raise Undecodable("data is not base64") from None


ASK_CODEC = Codec(ASK_FAMILY, _encode_ask, _decode_ask)
ANSWER_CODEC = Codec(ANSWER_FAMILY, _encode_answer, _decode_answer)


# --- routing ----------------------------------------------------------------------------------


class Router:
    """Sends each request to the agent that performs it (see the module's docstring)."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.token = secrets.token_hex(8)  # names this process's answers
        self._waiting: dict[str, concurrent.futures.Future[Any]] = {}
        bus = hub.fleet.bus
        bus.define(ASK_CODEC)
        bus.define(ANSWER_CODEC)
        bus.watch(answer_topic(self.token), self._answered)

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        loop = self.hub.fleet.bus.loop or self.hub.loop
        return None if loop is None or loop.is_closed() else loop

    def place(self, machine_id: str) -> AgentLink | str | None:
        """Where the machine's agent is: its connection here, the part whose agent another process
        holds, or None when none is connected. Any thread; reads the database with a shared bus."""
        local = self.hub.link_of_machine(machine_id)
        if not self.hub.fleet.bus.shared:
            return local
        try:
            parts = self.hub.fleet.agents.online_parts(machine_id)
        except Exception:  # the database away: only what this process knows
            log.warning("could not read which agents of machine %s are connected", machine_id, exc_info=True)
            return local
        if not parts:
            return local
        return self.hub.links.get(parts[0]) or parts[0]

    def tell(self, machine_id: str, message: str, **fields: Any) -> None:
        """Sends an agent message to the machine's agent, wherever it is connected (nothing when
        none is); messages told from one thread arrive in the order told."""
        self.route(Ask("tell", machine_id, message=message, fields=fields))

    def route(self, ask: Ask) -> concurrent.futures.Future[Any]:
        """Has the request performed by the agent chosen for it: a future of its result (any
        thread)."""
        loop = self.loop
        if loop is None:  # not serving: nobody to ask
            return self.hub.workspaces.idle(ask)
        where = self.place(ask.machine_id)
        if where is None or not isinstance(where, str):
            return asyncio.run_coroutine_threadsafe(self.hub.workspaces.perform(where, ask), loop)
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        if ask.kind in ANSWERED:
            request = secrets.token_urlsafe(12)
            ask = Ask(**{**ask.__dict__, "request": request, "reply_to": self.token})
            self._waiting[request] = future
            wait = ask.timeout + SNAPSHOT_MARGIN if ask.kind == "snapshot" else ANSWER_SECONDS
            loop.call_soon_threadsafe(loop.call_later, wait, self._expire, request, wait)
        else:
            future.set_result(None)
        self.hub.fleet.bus.publish(ask_topic(where), ask)
        return future

    def _expire(self, request: str, wait: float) -> None:
        future = self._waiting.pop(request, None)
        if future is not None and not future.done():
            future.set_exception(
                Unavailable(f"the server process holding the robot's agent did not answer within {wait:g} s")
            )

    def _answered(self, answer: Answer) -> None:
        future = self._waiting.pop(answer.request, None)
        if future is None or future.done():
            return
        if answer.code:
            future.set_exception(_ERRORS.get(answer.code, Unavailable)(answer.error))
        else:
            future.set_result(answer.data)

    # --- on the process holding the agent's connection ------------------------------------

    def follow(self, link: AgentLink) -> Subscription:
        """The requests other processes address to the link's part (subscribed before the link is
        known, so that none is missed)."""
        return self.hub.fleet.bus.subscribe(ask_topic(link.part_id), max_pending=1000)

    async def serve(self, link: AgentLink, asks: Subscription) -> None:
        """Performs each request addressed to the link's part, in order, while it is connected."""
        try:
            while True:
                try:
                    async for ask in asks:
                        self.hub.spawn(self._perform(link, ask))
                    return
                except SubscriberTooSlow:
                    log.warning("agent of part %s: requests of other processes fell behind", link.part_id)
                    asks = self.follow(link)
        finally:
            asks.close()

    async def _perform(self, link: AgentLink, ask: Ask) -> None:
        if ask.machine_id != link.part.machine_id:  # (addressed to a part of another machine)
            log.warning("dropped a %s request for another machine than part %s's", ask.kind, link.part_id)
            return
        try:
            result = await self.hub.workspaces.perform(link, ask)
            answer = Answer(ask.request, result if isinstance(result, bytes) else None)
        except CoreError as exc:
            answer = Answer(
                ask.request, code=exc.code if exc.code in _ERRORS else "unavailable", error=exc.message
            )
        except Exception as exc:
            log.warning("agent of part %s: %s request failed", link.part_id, ask.kind, exc_info=True)
            answer = Answer(ask.request, code="unavailable", error=f"the request failed on the server: {exc}")
        if ask.request and ask.reply_to:
            self.hub.fleet.bus.publish(answer_topic(ask.reply_to), answer)
