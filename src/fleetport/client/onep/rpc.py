"""The One Platform JSON-RPC client: ``OnepV1``, call-compatible with pyonep's.

Every procedure method takes the auth first (a CIK string, or a full auth dict such as
``{"token": ...}``) and ``defer=False`` last. Sent at once, a method returns
``(success, result_or_status)``: ``(True, result)``, ``(True, "ok")`` when the procedure returns
nothing, or ``(False, status)`` with the platform's status (``"invalid"``, ``"restricted"``, or for a
partly failed ``recordbatch`` a list ``[[timestamp, "invalid"], ...]``). With ``defer=True`` the call
is queued for that auth and the method returns True; :meth:`OnepV1.send_deferred` then sends the
queue as one request.

HTTPS verifies certificates as httpx does by default; to trust a server's self-signed certificate,
point ``SSL_CERT_FILE`` at it before the first request (the TLS context is built once per process).
"""

from __future__ import annotations

import functools
import json
import logging
import shlex
import ssl
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Literal, TypeAlias, overload

import httpx

from fleetport.client.onep.exceptions import JsonRPCRequestException, OneException, OnePlatformException

log = logging.getLogger("fleetport.onep")

Auth: TypeAlias = str | Mapping[str, Any]
"""A CIK string, or an auth object sent as is (``{"cik", "client_id"}``, ``{"token"}``, ...)."""
ResourceID: TypeAlias = str | Mapping[str, Any]
"""A 40-hex RID, ``{"alias": name}``, or ``{"alias": ""}`` for the calling client itself."""
Options: TypeAlias = Mapping[str, Any]
Call: TypeAlias = dict[str, Any]
"""One call of an envelope: ``{"id": int, "procedure": str, "arguments": list}``."""
Reply: TypeAlias = tuple[bool, Any]
"""``(success, result_or_status)``."""
BatchReply: TypeAlias = tuple[Call | None, bool, Any]
"""``(call, success, result_or_status)``; ``call`` is None when the reply's id matches no call."""

JSON_CONTENT_TYPE = "application/json; charset=utf-8"


def _jsonable(value: object) -> object:
    """Lets ``json.dumps`` take any Mapping or non-string Sequence, not only dicts and lists."""
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes, bytearray)):
        return list(value)
    raise TypeError(f"{type(value).__name__} cannot be sent as JSON")


@functools.cache
def _tls() -> ssl.SSLContext:
    """httpx's default TLS context (``SSL_CERT_FILE``/``SSL_CERT_DIR`` honoured), built once: building
    it is most of the cost of a new httpx.Client, and without connection reuse every call makes one."""
    return httpx.create_ssl_context()


class Transport:
    """The HTTP side of a One Platform client.

    Without ``reuse`` every request gets a new ``httpx.Client`` (so a new TCP connection), closed
    once the answer is read. With ``reuse`` one client is kept; a request made with
    ``notimeout=True`` (a long poll) still gets a client of its own, without a timeout. Errors are
    httpx's own.
    """

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float,
        reuse: bool = False,
        curldebug: bool = False,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.base_url = base_url
        self.timeout = timeout
        self.reuse = reuse
        self.curldebug = curldebug
        self.headers = dict(headers or {})
        self._client: httpx.Client | None = None

    def request(
        self,
        method: str,
        path: str,
        *,
        content: str | bytes | None = None,
        headers: Mapping[str, str] | None = None,
        notimeout: bool = False,
    ) -> httpx.Response:
        url = self.base_url + path
        all_headers = {**self.headers, **(headers or {})}
        timeout = None if notimeout else self.timeout
        if self.curldebug:
            log.debug("%s", _curl(method, url, all_headers, content, timeout))
        if self.reuse and not notimeout:
            if self._client is None:
                self._client = httpx.Client(timeout=self.timeout, verify=_tls())
            return self._client.request(method, url, content=content, headers=all_headers)
        with httpx.Client(timeout=timeout, verify=_tls()) as client:
            return client.request(method, url, content=content, headers=all_headers)

    def close(self) -> None:
        """Closes the kept connection, if any; the next request opens a new one."""
        if self._client is not None:
            self._client.close()
            self._client = None


def _curl(
    method: str, url: str, headers: Mapping[str, str], content: str | bytes | None, timeout: float | None
) -> str:
    words = ["curl", url, "-X", method]
    if timeout is not None:
        words += ["-m", str(timeout)]
    for name, value in headers.items():
        words += ["-H", f"{name}: {value}"]
    if content:
        body = content.decode("utf-8", "replace") if isinstance(content, bytes) else content
        words += ["-d", body]
    return " ".join(shlex.quote(word) for word in words)


class DeferredRequests:
    """Calls queued per auth until :meth:`OnepV1.send_deferred` sends them.

    A CIK string is its own key; an auth dict is keyed by a canonical ``{k:v,...}`` string with
    sorted keys, so equal dicts share a queue.
    """

    def __init__(self) -> None:
        self._requests: dict[str, list[tuple[str, list[Any]]]] = {}
        self._notimeouts: dict[str, bool] = {}

    @staticmethod
    def key(auth: Auth) -> str:
        if isinstance(auth, str):
            return auth
        return "{" + ",".join(f"{k}:{auth[k]}" for k in sorted(auth)) + "}"

    def add(self, auth: Auth, method: str, args: list[Any], notimeout: bool = False) -> None:
        """Queues one call; ``notimeout`` marks the whole batch as a long poll."""
        key = self.key(auth)
        self._requests.setdefault(key, []).append((method, args))
        self._notimeouts[key] = self._notimeouts.get(key, False) or notimeout

    def reset(self, auth: Auth) -> None:
        """Forgets the calls queued for ``auth``."""
        key = self.key(auth)
        self._requests.pop(key, None)
        self._notimeouts.pop(key, None)

    def has_requests(self, auth: Auth) -> bool:
        return bool(self._requests.get(self.key(auth)))

    def get_method_args_pairs(self, auth: Auth) -> list[tuple[str, list[Any]]]:
        """The queued ``(procedure, arguments)`` pairs for ``auth``, in order."""
        return list(self._requests.get(self.key(auth), []))

    def get_notimeout(self, auth: Auth) -> bool:
        """Whether the queue for ``auth`` holds a call that must run without a timeout (``wait``)."""
        return self._notimeouts.get(self.key(auth), False)


class OnepV1:
    """A One Platform JSON-RPC client for ``POST <url>`` on ``host:port``.

    Args:
        host, port, url, https: where the endpoint is: ``http(s)://host:port`` + ``url``.
        httptimeout: seconds to wait for a connection and for the answer; ``wait`` (and a deferred
            batch that holds a ``wait``) runs without a timeout.
        agent: the User-Agent to send.
        reuseconnection: keep one connection for all calls (close it with :meth:`close`) instead of
            opening a new one per call.
        logrequests: append every envelope, before it is sent, to the class-level list that
            :meth:`loggedrequests` returns.
        curldebug: log every request as a curl command at DEBUG on the ``fleetport.onep`` logger.
        startid: the id of the first call; each call put into an envelope takes the next one.
    """

    _loggedrequests: ClassVar[list[dict[str, Any]]] = []

    def __init__(
        self,
        host: str = "m2.exosite.com",
        port: str | int = "443",
        url: str = "/onep:v1/rpc/process",
        https: bool = True,
        httptimeout: float = 10,
        agent: str | None = None,
        reuseconnection: bool = False,
        logrequests: bool = False,
        curldebug: bool = False,
        startid: int = 0,
    ) -> None:
        self.url = url
        self.logrequests = logrequests
        self.startid = startid
        """The id the next call will carry."""
        self.deferred = DeferredRequests()
        self._clientid: str | None = None
        self._resourceid: str | None = None
        headers = {"Content-Type": JSON_CONTENT_TYPE}
        if agent is not None:
            headers["User-Agent"] = agent
        self._transport = Transport(
            ("https://" if https else "http://") + host + ":" + str(port),
            timeout=httptimeout,
            reuse=reuseconnection,
            curldebug=curldebug,
            headers=headers,
        )

    def close(self) -> None:
        """Closes the kept connection (with ``reuseconnection``); the next call opens a new one."""
        self._transport.close()

    def loggedrequests(self) -> list[dict[str, Any]]:
        """The envelopes sent with ``logrequests=True`` (shared by every OnepV1)."""
        return self._loggedrequests

    def connect_as(self, clientid: str | None) -> None:
        """Acts as the descendant client ``clientid`` in later calls made with a CIK string
        (``{"cik", "client_id"}``); None goes back to the CIK's own client."""
        self._clientid = clientid
        self._resourceid = None

    def connect_owner(self, resourceid: str | None) -> None:
        """Acts as the owner of ``resourceid`` in later calls made with a CIK string
        (``{"cik", "resource_id"}``); None goes back to the CIK's own client."""
        self._resourceid = resourceid
        self._clientid = None

    def has_deferred(self, auth: Auth) -> bool:
        """Whether calls are queued for ``auth``."""
        return self.deferred.has_requests(auth)

    def send_deferred(self, auth: Auth) -> list[BatchReply]:
        """Sends every call queued for ``auth`` in one request and returns ``(call, success,
        result_or_status)`` per reply, in the server's order. The queue is emptied even if this
        raises; with nothing queued it raises JsonRPCRequestException."""
        if not self.deferred.has_requests(auth):
            raise JsonRPCRequestException("No deferred requests to send.")
        try:
            calls = self._number(self.deferred.get_method_args_pairs(auth))
            return self._send(auth, calls, self.deferred.get_notimeout(auth))
        finally:
            self.deferred.reset(auth)

    # -- plumbing

    def _auth(self, auth: Auth) -> Mapping[str, Any]:
        if not isinstance(auth, str):
            return auth
        if self._clientid is not None:
            return {"cik": auth, "client_id": self._clientid}
        if self._resourceid is not None:
            return {"cik": auth, "resource_id": self._resourceid}
        return {"cik": auth}

    def _number(self, pairs: list[tuple[str, list[Any]]]) -> list[Call]:
        calls = []
        for procedure, arguments in pairs:
            calls.append({"id": self.startid, "procedure": procedure, "arguments": arguments})
            self.startid += 1
        return calls

    def _send(self, auth: Auth, calls: list[Call], notimeout: bool) -> list[BatchReply]:
        envelope = {"auth": self._auth(auth), "calls": calls}
        if self.logrequests:
            self._loggedrequests.append(envelope)
        body = json.dumps(envelope, default=_jsonable)
        try:
            response = self._transport.request("POST", self.url, content=body, notimeout=notimeout)
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise JsonRPCRequestException(f"Failed to make http request: {exc}") from exc
        return _replies(response.text, calls)

    def _call(
        self, procedure: str, auth: Auth, arguments: list[Any], defer: bool, notimeout: bool = False
    ) -> Reply | Literal[True]:
        if defer:
            self.deferred.add(auth, procedure, arguments, notimeout=notimeout)
            return True
        replies = self._send(auth, self._number([(procedure, arguments)]), notimeout)
        if not replies:
            raise IndexError("the server answered the call with an empty list")
        _, success, result = replies[0]
        return success, result

    # -- procedures: argument arrays exactly as pyonep sends them (onep.md §6). Each one is overloaded
    # so that a call sent at once is typed as a Reply; with a defer flag it may also be True.

    @overload
    def activate(self, auth: Auth, codetype: str, code: str, defer: Literal[False] = False) -> Reply: ...
    @overload
    def activate(
        self, auth: Auth, codetype: str, code: str, defer: bool = False
    ) -> Reply | Literal[True]: ...
    def activate(self, auth: Auth, codetype: str, code: str, defer: bool = False) -> Reply | Literal[True]:
        """Activates a CIK (``codetype="client"``) or a share code (``"share"``) for the caller."""
        return self._call("activate", auth, [codetype, code], defer)

    @overload
    def create(self, auth: Auth, type: str, desc: Options, defer: Literal[False] = False) -> Reply: ...
    @overload
    def create(self, auth: Auth, type: str, desc: Options, defer: bool = False) -> Reply | Literal[True]: ...
    def create(self, auth: Auth, type: str, desc: Options, defer: bool = False) -> Reply | Literal[True]:
        """Creates a ``client``, ``dataport``, ``datarule``, ``dispatch`` or ``clone`` under the
        caller; the result is the new RID."""
        return self._call("create", auth, [type, desc], defer)

    @overload
    def createDataport(self, auth: Auth, desc: Options, defer: Literal[False] = False) -> Reply: ...
    @overload
    def createDataport(self, auth: Auth, desc: Options, defer: bool = False) -> Reply | Literal[True]: ...
    def createDataport(self, auth: Auth, desc: Options, defer: bool = False) -> Reply | Literal[True]:
        """Creates a dataport; ``desc`` needs ``format`` (float, integer, string) and ``retention``
        (``{"count": n|"infinity", "duration": hours|"infinity"}``)."""
        return self._call("create", auth, ["dataport", desc], defer)

    @overload
    def deactivate(self, auth: Auth, codetype: str, code: str, defer: Literal[False] = False) -> Reply: ...
    @overload
    def deactivate(
        self, auth: Auth, codetype: str, code: str, defer: bool = False
    ) -> Reply | Literal[True]: ...
    def deactivate(self, auth: Auth, codetype: str, code: str, defer: bool = False) -> Reply | Literal[True]:
        """Deactivates a CIK (``"client"``) or this caller's activation of a share (``"share"``)."""
        return self._call("deactivate", auth, [codetype, code], defer)

    @overload
    def drop(self, auth: Auth, resource: ResourceID, defer: Literal[False] = False) -> Reply: ...
    @overload
    def drop(self, auth: Auth, resource: ResourceID, defer: bool = False) -> Reply | Literal[True]: ...
    def drop(self, auth: Auth, resource: ResourceID, defer: bool = False) -> Reply | Literal[True]:
        """Deletes a resource and everything under it."""
        return self._call("drop", auth, [resource], defer)

    @overload
    def flush(
        self, auth: Auth, resource: ResourceID, options: Options | None = None, defer: Literal[False] = False
    ) -> Reply: ...
    @overload
    def flush(
        self, auth: Auth, resource: ResourceID, options: Options | None = None, defer: bool = False
    ) -> Reply | Literal[True]: ...
    def flush(
        self, auth: Auth, resource: ResourceID, options: Options | None = None, defer: bool = False
    ) -> Reply | Literal[True]:
        """Deletes a resource's points: all of them, or those between ``newerthan`` and ``olderthan``."""
        arguments: list[Any] = [resource] if options is None else [resource, options]
        return self._call("flush", auth, arguments, defer)

    @overload
    def grant(
        self,
        auth: Auth,
        resource: ResourceID,
        permissions: Options,
        ttl: int | None = None,
        defer: Literal[False] = False,
    ) -> Reply: ...
    @overload
    def grant(
        self,
        auth: Auth,
        resource: ResourceID,
        permissions: Options,
        ttl: int | None = None,
        defer: bool = False,
    ) -> Reply | Literal[True]: ...
    def grant(
        self,
        auth: Auth,
        resource: ResourceID,
        permissions: Options,
        ttl: int | None = None,
        defer: bool = False,
    ) -> Reply | Literal[True]:
        """Issues a token with ``permissions`` (``{rid: ["read", "write", ...]}``), used later as the
        auth ``{"token": token}``."""
        arguments: list[Any] = [resource, permissions]
        if ttl is not None:
            arguments.append({"ttl": ttl})
        return self._call("grant", auth, arguments, defer)

    @overload
    def info(
        self, auth: Auth, resource: ResourceID, options: Options | None = None, defer: Literal[False] = False
    ) -> Reply: ...
    @overload
    def info(
        self, auth: Auth, resource: ResourceID, options: Options | None = None, defer: bool = False
    ) -> Reply | Literal[True]: ...
    def info(
        self, auth: Auth, resource: ResourceID, options: Options | None = None, defer: bool = False
    ) -> Reply | Literal[True]:
        """Describes a resource: the keys set to true in ``options`` (``basic``, ``description``,
        ``key``, ``storage``, ...), or all of them for ``{}`` (the default)."""
        return self._call("info", auth, [resource, {} if options is None else options], defer)

    @overload
    def listing(
        self,
        auth: Auth,
        types: Sequence[str],
        options: Options | Sequence[Any] | None = None,
        resource: ResourceID | None = None,
        defer: Literal[False] = False,
    ) -> Reply: ...
    @overload
    def listing(
        self,
        auth: Auth,
        types: Sequence[str],
        options: Options | Sequence[Any] | None = None,
        resource: ResourceID | None = None,
        defer: bool = False,
    ) -> Reply | Literal[True]: ...
    def listing(
        self,
        auth: Auth,
        types: Sequence[str],
        options: Options | Sequence[Any] | None = None,
        resource: ResourceID | None = None,
        defer: bool = False,
    ) -> Reply | Literal[True]:
        """Lists RIDs by type. Pass both ``options`` and ``resource`` for the current form
        (``{type: [rid, ...]}``); ``options`` alone, or nothing, sends the older forms
        (``[types, options]``, ``[types]``; the latter answers a list of lists)."""
        arguments: list[Any]
        if options is None:
            arguments = [types]
        elif resource is None:
            arguments = [types, options]
        else:
            arguments = [resource, types, options]
        return self._call("listing", auth, arguments, defer)

    @overload
    def lookup(self, auth: Auth, type: str, mapping: str, defer: Literal[False] = False) -> Reply: ...
    @overload
    def lookup(self, auth: Auth, type: str, mapping: str, defer: bool = False) -> Reply | Literal[True]: ...
    def lookup(self, auth: Auth, type: str, mapping: str, defer: bool = False) -> Reply | Literal[True]:
        """Finds an RID by ``alias`` (``""`` for the caller itself), by ``owner`` of an RID, or by
        ``shared`` code."""
        return self._call("lookup", auth, [type, mapping], defer)

    @overload
    def map(self, auth: Auth, resource: ResourceID, alias: str, defer: Literal[False] = False) -> Reply: ...
    @overload
    def map(
        self, auth: Auth, resource: ResourceID, alias: str, defer: bool = False
    ) -> Reply | Literal[True]: ...
    def map(self, auth: Auth, resource: ResourceID, alias: str, defer: bool = False) -> Reply | Literal[True]:
        """Gives ``resource`` the alias ``alias`` under the caller."""
        return self._call("map", auth, ["alias", resource, alias], defer)

    @overload
    def move(
        self,
        auth: Auth,
        resource: ResourceID,
        destinationresource: ResourceID,
        options: Options | None = None,
        defer: Literal[False] = False,
    ) -> Reply: ...
    @overload
    def move(
        self,
        auth: Auth,
        resource: ResourceID,
        destinationresource: ResourceID,
        options: Options | None = None,
        defer: bool = False,
    ) -> Reply | Literal[True]: ...
    def move(
        self,
        auth: Auth,
        resource: ResourceID,
        destinationresource: ResourceID,
        options: Options | None = None,
        defer: bool = False,
    ) -> Reply | Literal[True]:
        """Moves a resource under another client; ``options`` defaults to ``{"aliases": True}``."""
        arguments = [resource, destinationresource, {"aliases": True} if options is None else options]
        return self._call("move", auth, arguments, defer)

    @overload
    def read(
        self, auth: Auth, resource: ResourceID, options: Options, defer: Literal[False] = False
    ) -> Reply: ...
    @overload
    def read(
        self, auth: Auth, resource: ResourceID, options: Options, defer: bool = False
    ) -> Reply | Literal[True]: ...
    def read(
        self, auth: Auth, resource: ResourceID, options: Options, defer: bool = False
    ) -> Reply | Literal[True]:
        """Reads ``[[timestamp, value], ...]``; ``options`` takes ``starttime``, ``endtime``,
        ``sort`` (``"desc"``), ``limit`` (1) and ``selection`` (``"all"``)."""
        return self._call("read", auth, [resource, options], defer)

    @overload
    def record(
        self,
        auth: Auth,
        resource: ResourceID,
        entries: Sequence[Sequence[Any]],
        options: Options | None = None,
        defer: Literal[False] = False,
    ) -> Reply: ...
    @overload
    def record(
        self,
        auth: Auth,
        resource: ResourceID,
        entries: Sequence[Sequence[Any]],
        options: Options | None = None,
        defer: bool = False,
    ) -> Reply | Literal[True]: ...
    def record(
        self,
        auth: Auth,
        resource: ResourceID,
        entries: Sequence[Sequence[Any]],
        options: Options | None = None,
        defer: bool = False,
    ) -> Reply | Literal[True]:
        """Writes ``[[timestamp, value], ...]`` all or nothing (deprecated; see :meth:`recordbatch`)."""
        arguments = [resource, entries, {} if options is None else options]
        return self._call("record", auth, arguments, defer)

    @overload
    def recordbatch(
        self,
        auth: Auth,
        resource: ResourceID,
        entries: Sequence[Sequence[Any]],
        defer: Literal[False] = False,
    ) -> Reply: ...
    @overload
    def recordbatch(
        self, auth: Auth, resource: ResourceID, entries: Sequence[Sequence[Any]], defer: bool = False
    ) -> Reply | Literal[True]: ...
    def recordbatch(
        self, auth: Auth, resource: ResourceID, entries: Sequence[Sequence[Any]], defer: bool = False
    ) -> Reply | Literal[True]:
        """Writes ``[[timestamp, value], ...]``; a negative timestamp counts back from now. When some
        points are refused the answer is ``(False, [[timestamp, "invalid"], ...])``."""
        return self._call("recordbatch", auth, [resource, entries], defer)

    @overload
    def revoke(self, auth: Auth, codetype: str, code: str, defer: Literal[False] = False) -> Reply: ...
    @overload
    def revoke(self, auth: Auth, codetype: str, code: str, defer: bool = False) -> Reply | Literal[True]: ...
    def revoke(self, auth: Auth, codetype: str, code: str, defer: bool = False) -> Reply | Literal[True]:
        """Revokes a CIK (``"client"``, which gets a new one), a share code (``"share"``) or a token
        from ``grant`` (``"token"``: the token, or its id from ``listing``)."""
        return self._call("revoke", auth, [codetype, code], defer)

    @overload
    def share(
        self, auth: Auth, resource: ResourceID, options: Options | None = None, defer: Literal[False] = False
    ) -> Reply: ...
    @overload
    def share(
        self, auth: Auth, resource: ResourceID, options: Options | None = None, defer: bool = False
    ) -> Reply | Literal[True]: ...
    def share(
        self, auth: Auth, resource: ResourceID, options: Options | None = None, defer: bool = False
    ) -> Reply | Literal[True]:
        """Makes a share code for ``resource`` (``options``: ``meta``, or ``code`` to update one)."""
        return self._call("share", auth, [resource, {} if options is None else options], defer)

    @overload
    def tag(
        self, auth: Auth, resource: ResourceID, action: str, tag: str, defer: Literal[False] = False
    ) -> Reply: ...
    @overload
    def tag(
        self, auth: Auth, resource: ResourceID, action: str, tag: str, defer: bool = False
    ) -> Reply | Literal[True]: ...
    def tag(
        self, auth: Auth, resource: ResourceID, action: str, tag: str, defer: bool = False
    ) -> Reply | Literal[True]:
        """Adds (``action="add"``) or removes (``"remove"``) a tag on a resource."""
        return self._call("tag", auth, [resource, action, tag], defer)

    @overload
    def unmap(self, auth: Auth, alias: str, defer: Literal[False] = False) -> Reply: ...
    @overload
    def unmap(self, auth: Auth, alias: str, defer: bool = False) -> Reply | Literal[True]: ...
    def unmap(self, auth: Auth, alias: str, defer: bool = False) -> Reply | Literal[True]:
        """Removes one of the caller's aliases."""
        return self._call("unmap", auth, ["alias", alias], defer)

    @overload
    def update(
        self, auth: Auth, resource: ResourceID, desc: Options | None = None, defer: Literal[False] = False
    ) -> Reply: ...
    @overload
    def update(
        self, auth: Auth, resource: ResourceID, desc: Options | None = None, defer: bool = False
    ) -> Reply | Literal[True]: ...
    def update(
        self, auth: Auth, resource: ResourceID, desc: Options | None = None, defer: bool = False
    ) -> Reply | Literal[True]:
        """Changes a resource's description (not its format)."""
        return self._call("update", auth, [resource, {} if desc is None else desc], defer)

    @overload
    def usage(
        self,
        auth: Auth,
        resource: ResourceID,
        metric: str,
        starttime: int,
        endtime: int,
        defer: Literal[False] = False,
    ) -> Reply: ...
    @overload
    def usage(
        self, auth: Auth, resource: ResourceID, metric: str, starttime: int, endtime: int, defer: bool = False
    ) -> Reply | Literal[True]: ...
    def usage(
        self, auth: Auth, resource: ResourceID, metric: str, starttime: int, endtime: int, defer: bool = False
    ) -> Reply | Literal[True]:
        """Measures ``metric`` (an entity type or a consumable) over a window, sub-tree included."""
        arguments = [resource, metric, starttime, endtime]
        return self._call("usage", auth, arguments, defer)

    @overload
    def wait(
        self, auth: Auth, resource: ResourceID, options: Options, defer: Literal[False] = False
    ) -> Reply: ...
    @overload
    def wait(
        self, auth: Auth, resource: ResourceID, options: Options, defer: bool = False
    ) -> Reply | Literal[True]: ...
    def wait(
        self, auth: Auth, resource: ResourceID, options: Options, defer: bool = False
    ) -> Reply | Literal[True]:
        """Long-polls for the next point (``options``: ``timeout`` in ms, ``since``); answers
        ``(True, [timestamp, value])`` or ``(False, "expire")``. Runs without a client timeout."""
        return self._call("wait", auth, [resource, options], defer, notimeout=True)

    @overload
    def write(
        self,
        auth: Auth,
        resource: ResourceID,
        value: Any,
        options: Options | None = None,
        defer: Literal[False] = False,
    ) -> Reply: ...
    @overload
    def write(
        self,
        auth: Auth,
        resource: ResourceID,
        value: Any,
        options: Options | None = None,
        defer: bool = False,
    ) -> Reply | Literal[True]: ...
    def write(
        self,
        auth: Auth,
        resource: ResourceID,
        value: Any,
        options: Options | None = None,
        defer: bool = False,
    ) -> Reply | Literal[True]:
        """Writes one point at the server's current time."""
        arguments = [resource, value, {} if options is None else options]
        return self._call("write", auth, arguments, defer)

    @overload
    def writegroup(
        self, auth: Auth, entries: Sequence[Sequence[Any]], defer: Literal[False] = False
    ) -> Reply: ...
    @overload
    def writegroup(
        self, auth: Auth, entries: Sequence[Sequence[Any]], defer: bool = False
    ) -> Reply | Literal[True]: ...
    def writegroup(
        self, auth: Auth, entries: Sequence[Sequence[Any]], defer: bool = False
    ) -> Reply | Literal[True]:
        """Writes ``[[resource, value], ...]``, every point with the same timestamp."""
        return self._call("writegroup", auth, [entries], defer)


def _replies(text: str, calls: list[Call]) -> list[BatchReply]:
    """Reads a response body the way pyonep does (onep.md §4)."""
    try:
        body = json.loads(text)
    except ValueError as exc:
        raise OnePlatformException(f"Exception while parsing JSON response: {text}\n{exc}") from exc
    if isinstance(body, dict) and "error" in body:
        raise OnePlatformException(str(body["error"]))
    if not isinstance(body, list):
        raise OneException("Unknown error")
    replies: list[BatchReply] = []
    for reply in body:
        if not isinstance(reply, dict):
            continue
        call = next((c for c in calls if c["id"] == reply.get("id")), None)
        if "status" in reply:
            if reply["status"] == "ok":
                replies.append((call, True, reply.get("result", "ok")))
            else:
                replies.append((call, False, reply["status"]))
        elif "error" in reply:
            raise OnePlatformException(str(reply["error"]))
    return replies
