"""Connection mistakes a new user makes: the command line answers with one line that says how to fix
them, never a traceback; the SDK raises errors of its own kind for them."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import fleetport
from fleetport import InvalidServerURL, UntrustedCertificate
from tests.conftest import ADMIN_KEY, RunningServer, start_server, stop_server


def _cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("FLEETPORT_")}
    environ.update(COLUMNS="200", NO_COLOR="1", **env)
    argv = [sys.executable, "-m", "fleetport.cli", *args]
    return subprocess.run(argv, capture_output=True, text=True, env=environ, timeout=60)


def _one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


@pytest.fixture(scope="module")
def https_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = start_server(tmp_path_factory.mktemp("https"), https=True)
    yield running
    stop_server(running)


@pytest.mark.parametrize(
    ("url", "advice"),
    [
        ("localhost:8080", "use http://localhost:8080"),
        ("127.0.0.1:8080", "use http://127.0.0.1:8080"),
        ("fleet.example.com", "use http://fleet.example.com or https://fleet.example.com"),
        ("ftp://localhost:8080", "must start with http:// or https://"),
        ("http://", "has no host: give one like http://localhost:8080"),
        ("http://localhost:notaport", "'http://localhost:notaport' is not valid"),
    ],
)
def test_a_server_url_without_http_is_one_line_that_says_what_to_write(url: str, advice: str) -> None:
    line = _one_line_error(_cli("orgs", "list", FLEETPORT_URL=url, FLEETPORT_API_KEY=ADMIN_KEY))
    assert advice in line and "FLEETPORT_URL" in line
    line = _one_line_error(_cli("--url", url, "orgs", "list", FLEETPORT_API_KEY=ADMIN_KEY))
    assert advice in line
    with pytest.raises(InvalidServerURL, match="http"):
        fleetport.Client(url, ADMIN_KEY)
    with pytest.raises(InvalidServerURL):
        fleetport.AsyncClient(url, ADMIN_KEY)


def test_a_self_signed_certificate_points_to_ca_cert(https_server: RunningServer) -> None:
    assert https_server.https_url
    url = https_server.https_url
    line = _one_line_error(_cli("--url", url, "orgs", "list", FLEETPORT_API_KEY=ADMIN_KEY))
    assert "not trusted" in line and "--ca-cert" in line and url in line
    # it says where the option goes (before the command: after it, it is an unknown option)
    assert "fleetport --ca-cert" in line and "FLEETPORT_CA_CERT" in line

    cert = https_server.data_dir / "tls" / "cert.pem"
    trusted = _cli(
        "--url", url, "--ca-cert", str(cert), "orgs", "list", "--json", FLEETPORT_API_KEY=ADMIN_KEY
    )
    assert trusted.returncode == 0 and trusted.stdout.strip().startswith("["), trusted.stderr
    from_env = _cli(
        "orgs", "list", FLEETPORT_URL=url, FLEETPORT_CA_CERT=str(cert), FLEETPORT_API_KEY=ADMIN_KEY
    )
    assert from_env.returncode == 0, from_env.stderr

    with fleetport.Client(url, ADMIN_KEY) as fp, pytest.raises(UntrustedCertificate) as caught:
        list(fp.organizations.list())
    assert "verify=" in caught.value.message and caught.value.url.startswith(url)
    with fleetport.Client(url, ADMIN_KEY, verify=cert) as fp:
        assert fp.whoami().is_admin


def test_a_ca_cert_that_is_not_a_certificate_is_one_line(https_server: RunningServer, tmp_path: Path) -> None:
    assert https_server.https_url
    bogus = tmp_path / "not-a-cert.pem"
    bogus.write_text("hello\n")
    line = _one_line_error(
        _cli(
            "--url",
            https_server.https_url,
            "--ca-cert",
            str(bogus),
            "orgs",
            "list",
            FLEETPORT_API_KEY=ADMIN_KEY,
        )
    )
    assert "CA bundle" in line and str(bogus) in line
