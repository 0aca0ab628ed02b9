"""SSH key pairs made and read on the caller's side, so that a private key never travels to the
server: with the ``cryptography`` package when it is installed (``fleetport[ssh]``, and every
server or agent install), else with OpenSSH's ``ssh-keygen``."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from types import ModuleType

from fleetport.client.errors import FleetportError

COMMENT = "fleetport"
NO_TOOL = (
    "making or reading an SSH key needs the cryptography package (pip install 'fleetport[ssh]') "
    "or OpenSSH's ssh-keygen on the PATH"
)


class KeyUnusable(FleetportError, ValueError):
    """A private key that cannot be read (not a key, protected by a passphrase, cut short)."""


def _serialization() -> ModuleType | None:
    """cryptography's serialization module, or None when cryptography is not installed."""
    try:
        from cryptography.hazmat.primitives import serialization
    except ImportError:
        return None
    return serialization


def new_key_pair() -> tuple[str, str]:
    """A new ed25519 key pair: (the private key in OpenSSH's format, its public key line)."""
    serialization = _serialization()
    if serialization is not None:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        key = Ed25519PrivateKey.generate()
        private = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
        ).decode()
        public = key.public_key().public_bytes(
            serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
        )
        return private, f"{public.decode()} {COMMENT}"
    with tempfile.TemporaryDirectory(prefix="fleetport-key-") as directory:
        path = Path(directory) / "id_ed25519"
        _keygen("-q", "-t", "ed25519", "-N", "", "-C", COMMENT, "-f", str(path))
        return path.read_text(), path.with_suffix(".pub").read_text().strip()


def public_key_of(private_key: str) -> str:
    """The OpenSSH public key line of a private key (OpenSSH or PEM format, not encrypted)."""
    if not isinstance(private_key, str) or "PRIVATE KEY-----" not in private_key or "\x00" in private_key:
        raise KeyUnusable("that is not a private key (it has no '-----BEGIN ... PRIVATE KEY-----' line)")
    serialization = _serialization()
    if serialization is not None:
        data = private_key.encode()
        loader = (
            serialization.load_ssh_private_key
            if "BEGIN OPENSSH PRIVATE KEY" in private_key
            else serialization.load_pem_private_key
        )
        try:
            key = loader(data, password=None)
            public = key.public_key().public_bytes(
                serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
            )
        except TypeError:
            raise KeyUnusable(
                "the private key is protected by a passphrase: give its public key too (KEY.pub)"
            ) from None
        except (ValueError, AttributeError) as exc:
            raise KeyUnusable(f"the private key cannot be read: {exc}") from None
        return str(public.decode())
    with tempfile.TemporaryDirectory(prefix="fleetport-key-") as directory:
        path = Path(directory) / "key"
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as out:
            out.write(private_key if private_key.endswith("\n") else private_key + "\n")
        return _keygen("-y", "-P", "", "-f", str(path)).strip()


def same_key(a: str, b: str) -> bool:
    """Whether two public key lines hold the same key (comments aside)."""
    return a.split()[:2] == b.split()[:2]


def _keygen(*args: str) -> str:
    tool = shutil.which("ssh-keygen")
    if tool is None:
        raise FleetportError(NO_TOOL)
    done = subprocess.run(
        [tool, *args], capture_output=True, text=True, stdin=subprocess.DEVNULL, check=False
    )
    if done.returncode != 0:
        reason = done.stderr.strip() or f"ssh-keygen exited with status {done.returncode}"
        raise KeyUnusable(f"ssh-keygen could not use the key: {reason}")
    return done.stdout
