"""SSH keys made and read on the caller's side, with cryptography and with OpenSSH's ssh-keygen
(the way without cryptography, for a client-only install), and the files a session needs."""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from fleetport.client import models as m
from fleetport.client import sshkeys
from fleetport.client.errors import FleetportError
from fleetport.client.ssh import SshAccess
from fleetport.client.sshkeys import KeyUnusable, new_key_pair, public_key_of, same_key


@pytest.fixture(params=["cryptography", "ssh-keygen"])
def way(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each test runs with cryptography, and again as if it were not installed (ssh-keygen)."""
    if request.param == "ssh-keygen":
        if shutil.which("ssh-keygen") is None:
            pytest.skip("needs OpenSSH's ssh-keygen")
        monkeypatch.setattr(sshkeys, "_serialization", lambda: None)
    return str(request.param)


def test_a_new_pair_is_ed25519_and_its_halves_match(way: str) -> None:
    private, public = new_key_pair()
    assert private.startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
    assert public.startswith("ssh-ed25519 AAAA") and public.endswith(" fleetport")
    assert same_key(public_key_of(private), public)
    assert new_key_pair()[1] != public


def test_both_ways_read_the_same_public_key(way: str, monkeypatch: pytest.MonkeyPatch) -> None:
    private, public = new_key_pair()
    monkeypatch.undo()  # read with cryptography what either way made
    assert same_key(public_key_of(private), public)


@pytest.mark.parametrize("kind", ["rsa", "ecdsa"])
def test_other_key_types_and_pem_keys_are_read(way: str, kind: str) -> None:
    key = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        if kind == "rsa"
        else ec.generate_private_key(ec.SECP256R1())
    )
    expected = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    for fmt in (serialization.PrivateFormat.OpenSSH, serialization.PrivateFormat.TraditionalOpenSSL):
        text = key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption()).decode()
        assert same_key(public_key_of(text), expected.decode())


def test_keys_that_cannot_be_read(way: str, tmp_path: Path) -> None:
    for garbage in (
        "",
        "not a key",
        "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n",
        "x\x00y PRIVATE KEY-----",
    ):
        with pytest.raises(KeyUnusable):
            public_key_of(garbage)
    if shutil.which("ssh-keygen") is None:
        return
    locked = tmp_path / "locked"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "secret", "-f", str(locked)], check=True)
    with pytest.raises(KeyUnusable, match="passphrase" if way == "cryptography" else "ssh-keygen"):
        public_key_of(locked.read_text())


def test_without_cryptography_and_ssh_keygen_the_error_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(sshkeys, "_serialization", lambda: None)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(FleetportError, match=r"pip install 'fleetport\[ssh\]'.*ssh-keygen"):
        new_key_pair()


def test_the_session_files_hold_the_key_and_only_the_given_host_key(tmp_path: Path) -> None:
    private, public = new_key_pair()
    access = SshAccess(instance(), "robots.example.org", 20022, "ssh-ed25519 AAAAC3Nz", private, public, True)
    assert access.known_hosts_line == "[robots.example.org]:20022 ssh-ed25519 AAAAC3Nz\n"
    key, known = access.write_files(tmp_path / "session")
    assert (tmp_path / "session").stat().st_mode & 0o777 == 0o700
    assert key.stat().st_mode & 0o777 == 0o600 and key.read_text() == private
    assert known.read_text() == access.known_hosts_line
    on_22 = SshAccess(instance(), "10.0.0.5", 22, "ssh-ed25519 AAAAC3Nz", private, public, True)
    assert on_22.known_hosts_line == "10.0.0.5 ssh-ed25519 AAAAC3Nz\n"


def instance() -> m.Instance:
    now = datetime.now(UTC)
    return m.Instance(
        id="i",
        deployment_id="d",
        type="generic",
        region="",
        launched_by="u",
        status="READY",
        public_key="ssh-ed25519 AAAA",
        expire_seconds=60,
        started_at=now,
        ready_at=now,
        terminated_at=None,
        port=20022,
        host="robots.example.org",
        hostkey="ssh-ed25519 AAAAC3Nz",
        failure="",
        firewall=None,
        addons={},
    )
