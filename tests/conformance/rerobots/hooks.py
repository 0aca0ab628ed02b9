"""What the reservation tests need around a real server and agent: an HTTP receiver on loopback
that records the event POSTs a reservation's URL gets (or holds them, answering late), SSH into an
instance with the key a reservation handed out, and users with their tokens."""

from __future__ import annotations

import http.server
import io
import itertools
import json
import os
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import paramiko

_names = itertools.count()


@dataclass
class Event:
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class Receiver:
    """A loopback HTTP server recording every POST; each answer waits ``delay`` seconds."""

    delay: float = 0.0
    events: list[Event] = field(default_factory=list)
    arrived: threading.Condition = field(default_factory=threading.Condition)
    server: http.server.ThreadingHTTPServer | None = None

    def start(self) -> Receiver:
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver.arrived:
                    headers = {k.lower(): v for k, v in self.headers.items()}
                    receiver.events.append(Event(self.path, headers, json.loads(raw)))
                    receiver.arrived.notify_all()
                time.sleep(receiver.delay)
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.block_on_close = False
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def url(self, path: str) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def wait(self, path: str, timeout: float = 20.0) -> Event:
        """The first POST to ``path``, once it arrived."""
        deadline = time.monotonic() + timeout
        with self.arrived:
            while True:
                found = [e for e in self.events if e.path == path]
                if found:
                    return found[0]
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no POST to {path} within {timeout} s: {self.events}")
                self.arrived.wait(left)

    def to(self, path: str) -> list[Event]:
        with self.arrived:
            return [e for e in self.events if e.path == path]

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


def ssh_output(info: dict[str, Any], private_key: str, command: str) -> bytes:
    """Runs ``command`` over SSH on the instance (``GET /instance`` answer) as the rerobots client
    does: user root, the RSA key, the host key from ``hostkeys`` and nothing else."""
    host, port = info["fwd"]["ipv4"], info["fwd"]["port"]
    handle, known_hosts = tempfile.mkstemp()
    with os.fdopen(handle, "w") as out:
        out.write(f"[{host}]:{port} {info['hostkeys'][0]}")
    client = paramiko.SSHClient()
    try:
        client.load_system_host_keys(known_hosts)
        key = paramiko.RSAKey.from_private_key(io.StringIO(private_key))
        client.connect(host, port=port, username="root", pkey=key, timeout=5)
        _, stdout, _ = client.exec_command(command, timeout=10)
        return bytes(stdout.read())
    finally:
        client.close()
        os.unlink(known_hosts)


def new_user(admin: httpx.Client, org_id: str | None = None, role: str = "operator") -> tuple[str, str]:
    """A new user (a member of ``org_id`` with ``role`` when given), logged in: their token and
    email."""
    email = f"r{next(_names)}-{time.monotonic_ns()}@example.com"
    made = admin.post("/api/v1/users", json={"email": email, "name": email, "password": "password1"})
    assert made.status_code == 201, made.text
    if org_id:
        grant = {"subject_type": "user", "subject_id": made.json()["id"], "role": role}
        grant |= {"resource_type": "organization", "resource_id": org_id}
        added = admin.post(f"/api/v1/organizations/{org_id}/authorizations", json=grant)
        assert added.status_code < 300, added.text
    session = admin.post("/api/v1/auth/login", json={"email": email, "password": "password1"})
    assert session.status_code < 300, session.text
    return str(session.json()["token"]), email
