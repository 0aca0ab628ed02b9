"""The mistyproxy and vnc add-ons end to end: a real server (SQLite and PostgreSQL), a real
``fleetport agent`` process, the unmodified ``rerobots`` client, and servers on the robot's side
started here on loopback (an HTTP and WebSocket echo, a stand-in VNC server). HTTPS through the
proxy is verified against the server's own (self-signed) certificate."""

from __future__ import annotations

import contextlib
import signal
import socket
import ssl
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from rerobots.api import APIClient
from rerobots.api import Error as RerobotsError
from rerobots.instances import Instance
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect as ws_connect

from fleetport.testing import FleetportServer
from tests.conformance.rerobots.robot_local import RFB_VERSION, echo_server, refused, vnc_server
from tests.conftest import ADMIN_KEY, fresh_pg_database, start_server
from tests.e2e.agent.conftest import FAST, AgentProcess, Robot, agent_for, make_robot, wait_for

FIRST, LAST = 24000, 24019
ENV = {
    **FAST,
    "FLEETPORT_REMOTE__PORTS": f"{FIRST}-{LAST}",
    "FLEETPORT_REMOTE__LAUNCH_TIMEOUT_SECONDS": "30",
    "FLEETPORT_REMOTE__SWEEP_EVERY_SECONDS": "0.2",
}


@dataclass
class Robots:
    server: FleetportServer
    http_port: int  # the robot's HTTP and WebSocket echo
    vnc_port: int  # its VNC server

    def apic(self, token: str = ADMIN_KEY) -> APIClient:
        return APIClient(api_token=token, ignore_env=True, base_uri=self.server.url + "/rerobots")

    def tls(self) -> ssl.SSLContext:
        """Trusts the server's certificate (made by the server in its data directory)."""
        return ssl.create_default_context(cafile=str(self.server.data_dir / "tls" / "cert.pem"))


@dataclass
class Site:
    robots: Robots
    robot: Robot
    agent: AgentProcess
    apic: APIClient
    instance: Instance
    iid: str

    def raw(self, path: str, method: str = "GET", token: str = ADMIN_KEY) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"}
        return httpx.request(method, f"{self.robots.server.url}/rerobots{path}", headers=headers, timeout=30)


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def robots(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Robots]:
    with contextlib.ExitStack() as stack:
        url = stack.enter_context(fresh_pg_database()) if request.param == "postgres" else None
        server = start_server(tmp_path_factory.mktemp("proxy"), env=ENV, database_url=url)
        stack.callback(server.stop)
        yield Robots(server, stack.enter_context(echo_server()), stack.enter_context(vnc_server()))


def open_site(robots: Robots, directory: Path, agent_args: list[str], config: dict[str, Any]) -> Site:
    robot = make_robot(robots.server, directory)
    agent = agent_for(robot, directory / "agent", *agent_args).start()
    agent.wait_log("connected to the server")
    body = {"machine_id": robot.machine_id, "addons": ["mistyproxy", "vnc"], "addons_config": config}
    with httpx.Client(base_url=robots.server.url, headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as admin:
        made = admin.post("/api/v1/deployments", json=body)
        assert made.status_code == 201, made.text
    apic = robots.apic()
    instance = Instance(wdeployment_id=made.json()["id"], apic=apic)
    wait_for(lambda: instance.get_status() == "READY", 30, "the instance to be READY")
    return Site(robots, robot, agent, apic, instance, str(instance._id))


@pytest.fixture
def site(robots: Robots, tmp_path: Path) -> Iterator[Site]:
    """A robot whose agent serves VNC (--vnc-target); its deployment names the mistyproxy target."""
    config = {"mistyproxy": {"ip": "127.0.0.1", "port": robots.http_port}}
    made = open_site(robots, tmp_path, ["--vnc-target", f"127.0.0.1:{robots.vnc_port}"], config)
    try:
        yield made
    finally:
        made.agent.stop()


def active_proxy(site: Site) -> tuple[str, str]:
    """Activates mistyproxy through ``Instance`` and waits until it is active: its URLs."""
    site.instance.activate_addon_mistyproxy()
    assert site.instance.status_addon_mistyproxy()["status"] in ("starting", "active")
    shown = wait_for(
        lambda: (s := site.instance.status_addon_mistyproxy())["status"] == "active" and s, 15, "mistyproxy"
    )
    assert isinstance(shown, dict) and set(shown) == {"status", "url"}
    http_url, https_url = shown["url"]
    return http_url, https_url


def port_of(url: str) -> int:
    port = httpx.URL(url).port
    assert port is not None and FIRST <= port <= LAST
    return port


def test_mistyproxy_relays_http_websockets_and_https(site: Site) -> None:
    assert site.apic.status_addon_mistyproxy(site.iid) == {"status": "notfound"}
    http_url, https_url = active_proxy(site)
    assert http_url.startswith("http://127.0.0.1:") and https_url.startswith("https://127.0.0.1:")
    http_port, https_port = port_of(http_url), port_of(https_url)
    with httpx.Client(base_url=http_url, timeout=10) as web:  # one connection, kept alive
        got = web.get("/api/info", params={"x": "1"}, headers={"X-Misty": "hello"}).json()
        posted = web.post(
            "/api/drive", content=b'{"linear": 0.5}', headers={"Content-Type": "application/json"}
        )
    assert got["method"] == "GET" and got["path"] == "/api/info" and got["query"] == "x=1"
    assert got["headers"]["x-misty"] == "hello" and got["headers"]["host"] == f"127.0.0.1:{http_port}"
    echoed = posted.json()
    assert (
        echoed["method"] == "POST" and echoed["path"] == "/api/drive" and echoed["body"] == '{"linear": 0.5}'
    )
    assert (
        echoed["headers"]["content-type"] == "application/json"
        and echoed["headers"]["content-length"] == "15"
    )
    assert echoed["peer"] == got["peer"]  # the robot saw one connection: keep-alive passed through
    with ws_connect(f"ws://127.0.0.1:{http_port}/pubsub", open_timeout=10) as ws:
        ws.send("hello misty")
        assert ws.recv(timeout=10) == "hello misty"
        payload = bytes(range(256)) * 1024
        ws.send(payload)
        assert ws.recv(timeout=10) == payload
    with httpx.Client(base_url=https_url, verify=site.robots.tls(), timeout=10) as secure:
        answer = secure.put("/api/led", json={"red": 255})
    assert answer.json()["method"] == "PUT" and answer.json()["body"] == '{"red":255}'
    assert answer.json()["headers"]["host"] == f"127.0.0.1:{https_port}"
    with ws_connect(f"wss://127.0.0.1:{https_port}/pubsub", ssl=site.robots.tls(), open_timeout=10) as wss:
        wss.send("over tls")
        assert wss.recv(timeout=10) == "over tls"
    site.instance.deactivate_addon_mistyproxy()
    assert refused(http_port) and refused(https_port)  # closed before the answer came
    assert site.apic.status_addon_mistyproxy(site.iid) == {"status": "notfound"}
    site.agent.wait_log(f"mistyproxy add-on of instance {site.iid} stopped")


def test_the_firewall_applies_to_the_proxy_ports(site: Site) -> None:
    http_url, https_url = active_proxy(site)
    http_port, https_port = port_of(http_url), port_of(https_url)
    site.instance.add_firewall_rule("DROP", "127.0.0.1/32")
    site.instance.add_firewall_rule("ACCEPT", "127.0.0.2/32")
    for port in (http_port, https_port):
        with contextlib.suppress(ConnectionResetError):  # closed without a byte read
            assert request_from("127.0.0.1", port) == b""
    with httpx.Client(transport=httpx.HTTPTransport(local_address="127.0.0.2"), timeout=10) as web:
        assert web.get(f"{http_url}/allowed").json()["path"] == "/allowed"
    with pytest.raises(httpx.TransportError):  # the client's own address is dropped
        httpx.get(f"{https_url}/dropped", verify=site.robots.tls(), timeout=5)
    site.instance.flush_firewall_rules()
    site.instance.add_firewall_rule("REJECT", "127.0.0.0/8")
    with pytest.raises(ConnectionResetError):
        request_from("127.0.0.2", http_port)


def request_from(source: str, port: int) -> bytes:
    """What the port answers an HTTP request made from ``source`` (b"": closed unanswered)."""
    with socket.socket() as sock:
        sock.settimeout(10)
        sock.bind((source, 0))
        sock.connect(("127.0.0.1", port))
        with contextlib.suppress(BrokenPipeError):
            sock.sendall(b"GET / HTTP/1.1\r\nHost: robot\r\n\r\n")
        return sock.recv(1024)


def test_an_agent_killed_closes_the_proxy_ports(site: Site) -> None:
    http_url, https_url = active_proxy(site)
    http_port, https_port = port_of(http_url), port_of(https_url)
    with ws_connect(f"ws://127.0.0.1:{http_port}/pubsub", open_timeout=10) as ws:
        ws.send("before")
        assert ws.recv(timeout=10) == "before"
        site.agent.stop(signal.SIGKILL)
        wait_for(lambda: site.instance.get_status() == "TERMINATED", 15, "the instance to end")
        with pytest.raises((ConnectionClosed, TimeoutError)):
            ws.send("after")
            ws.recv(timeout=10)
    assert refused(http_port) and refused(https_port)
    assert site.apic.status_addon_mistyproxy(site.iid) == {"status": "notfound"}
    shown = site.raw(f"/addon/mistyproxy/{site.iid}")
    assert shown.status_code == 404
    assert (
        "TERMINATED" in shown.json()["error_message"]
        and "agent disconnected" in shown.json()["error_message"]
    )


def test_vnc_listens_between_start_and_stop(site: Site) -> None:
    apic, iid = site.apic, site.iid
    assert apic.status_addon_vnc(iid) == {"status": "notfound"}
    apic.activate_addon_vnc(iid)
    apic.activate_addon_vnc(iid)  # twice: harmless
    shown = wait_for(lambda: (s := apic.status_addon_vnc(iid))["status"] == "active" and s, 15, "vnc")
    assert isinstance(shown, dict) and shown["started"] is False and shown["fwd"]["ipv4"] == "127.0.0.1"
    port = shown["fwd"]["port"]
    assert FIRST <= port <= LAST and refused(port)
    apic.start_addon_vnc(iid)
    assert apic.status_addon_vnc(iid) == {"status": "active", "fwd": shown["fwd"], "started": True}
    with socket.create_connection(("127.0.0.1", port), timeout=10) as viewer:
        assert viewer.recv(len(RFB_VERSION)) == RFB_VERSION
        viewer.sendall(b"RFB 003.008\n")
        assert viewer.recv(64) == b"RFB 003.008\n"
        apic.stop_addon_vnc(iid)
        assert viewer.recv(64) == b""  # its connection ended with the port
    assert refused(port) and apic.status_addon_vnc(iid)["started"] is False
    apic.start_addon_vnc(iid)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as viewer:
        assert viewer.recv(len(RFB_VERSION)) == RFB_VERSION
    apic.deactivate_addon_vnc(iid)
    assert refused(port) and apic.status_addon_vnc(iid) == {"status": "notfound"}
    with pytest.raises(RerobotsError, match="not active"):
        apic.start_addon_vnc(iid)


def test_an_agent_without_targets_refuses_clearly_or_uses_its_own(robots: Robots, tmp_path: Path) -> None:
    """No --vnc-target and no config: vnc fails, saying what to give; --mistyproxy-target is used
    when the deployment's config names no address."""
    site = open_site(robots, tmp_path, ["--mistyproxy-target", f"127.0.0.1:{robots.http_port}"], {})
    try:
        apic, iid = site.apic, site.iid
        apic.activate_addon_vnc(iid)
        wait_for(lambda: apic.status_addon_vnc(iid) == {"status": "notfound"}, 15, "vnc to fail")
        shown = site.raw(f"/addon/vnc/{iid}")
        assert shown.status_code == 404 and "did not start" in shown.json()["error_message"]
        assert "--vnc-target" in shown.json()["error_message"]
        with pytest.raises(RerobotsError, match="--vnc-target"):
            apic.start_addon_vnc(iid)
        http_url, _ = active_proxy(site)
        assert httpx.get(f"{http_url}/own/target", timeout=10).json()["path"] == "/own/target"
    finally:
        site.agent.stop()


def test_bad_requests_are_refused_clearly(site: Site) -> None:
    apic, iid = site.apic, site.iid
    unknown = "01a20000-0000-7000-8000-000000000000"
    with pytest.raises(RerobotsError, match="instance not found"):
        apic.activate_addon_mistyproxy(unknown)
    assert apic.status_addon_mistyproxy(unknown) == {"status": "notfound"}
    for path in ("/addon/mistyproxy/%00", "/addon/vnc/" + "a" * 5000, "/addon/vnc/%ED%A0%80/start"):
        for method in ("GET", "POST", "DELETE"):
            refusal = site.raw(path, method)
            assert refusal.status_code in (404, 405), refusal.text
    with pytest.raises(RerobotsError, match="not active"):
        apic.deactivate_addon_mistyproxy(iid)
    with pytest.raises(RerobotsError, match="not active"):
        apic.stop_addon_vnc(iid)
    stranger = stranger_token(site.robots.server)
    with pytest.raises(RerobotsError, match="instance not found"):
        site.robots.apic(stranger).activate_addon_mistyproxy(iid)
    apic.activate_addon_mistyproxy(iid)
    twice = site.raw(f"/addon/mistyproxy/{iid}", "POST")
    assert twice.status_code == 503
    assert twice.json()["error_message"].startswith(f"add-on `mistyproxy` already applied to instance {iid}")
    with pytest.raises(RerobotsError, match="already applied"):
        apic.activate_addon_mistyproxy(iid)
    assert site.raw(f"/addon/mistyproxy/{iid}", token=stranger).status_code == 404
    with pytest.raises(RerobotsError, match="instance not found"):
        site.robots.apic(stranger).deactivate_addon_mistyproxy(iid)
    with pytest.raises(RerobotsError, match="does not offer the cam add-on"):
        apic.activate_addon_cam(iid)
    apic.deactivate_addon_mistyproxy(iid)


def stranger_token(server: FleetportServer) -> str:
    """A user of no organization, logged in: their token."""
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as admin:
        email = f"stranger-{uuid.uuid4().hex}@example.com"
        made = admin.post("/api/v1/users", json={"email": email, "name": "stranger", "password": "password1"})
        assert made.status_code == 201, made.text
        session = admin.post("/api/v1/auth/login", json={"email": email, "password": "password1"})
    return str(session.json()["token"])
