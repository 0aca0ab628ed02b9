"""SSH keys of instances: the public key a caller sends, checked, or a key pair made for them."""

from __future__ import annotations

import base64
import binascii
import re

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from fleetport.core import validate
from fleetport.core.errors import Invalid

PUBLIC_KEY_MAX = 16 * 1024  # characters of an OpenSSH public key line
_KEY_TYPES = (
    "ssh-rsa",
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
)
_BASE64 = re.compile(r"[A-Za-z0-9+/]+={0,2}")


def public_key(value: object, what: str = "sshkey") -> str:
    """An OpenSSH public key line (``<type> <base64> [comment]``), as given."""
    if not isinstance(value, str):
        raise Invalid(f"{what} must be an OpenSSH public key line (text), like 'ssh-rsa AAAA... me@host'")
    text = validate.bounded_text(value.strip(), what, PUBLIC_KEY_MAX)
    parts = text.split(None, 2)
    if len(parts) < 2 or parts[0] not in _KEY_TYPES or not _BASE64.fullmatch(parts[1]):
        raise Invalid(
            f"{what} must be an OpenSSH public key line, '<type> <base64> [comment]' with type one of "
            f"{', '.join(_KEY_TYPES[:3])}..."
        )
    try:
        blob = base64.b64decode(parts[1], validate=True)
    except (binascii.Error, ValueError):
        raise Invalid(f"{what}: the key's base64 does not decode") from None
    if not blob.startswith(len(parts[0]).to_bytes(4, "big") + parts[0].encode()):
        raise Invalid(f"{what}: the key's data is not a {parts[0]} key")
    return text


def key_pair() -> tuple[str, str]:
    """A new RSA 2048 key pair: (the private key as PEM ``BEGIN RSA PRIVATE KEY``, the OpenSSH
    public key line)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return private, public.decode()


def sealed_public_key() -> str:
    """The OpenSSH public key of an ed25519 key whose private half is dropped at once: for an
    instance nobody logs in to (a CI job's)."""
    public = ed25519.Ed25519PrivateKey.generate().public_key()
    return public.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
