"""The server's TLS certificate: the one configured, or a self-signed one made on first start (for
the HTTPS listener, the Viam gRPC port and the add-on ports that terminate TLS)."""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

if TYPE_CHECKING:
    from fleetport.settings import Settings


def server_certificate(settings: Settings) -> tuple[Path, Path]:
    """The certificate and key the server presents: ``tls_cert`` and ``tls_key`` when both are
    set, else the self-signed pair in the data directory (made when absent)."""
    if settings.tls_cert and settings.tls_key:
        return settings.tls_cert, settings.tls_key
    return ensure_certificate(settings.data_dir / "tls")


def ensure_certificate(directory: Path) -> tuple[Path, Path]:
    """The certificate and key in ``directory``, generated if absent. Names: localhost, 127.0.0.1,
    ::1 and this machine's host name."""
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    if cert_path.exists() and key_path.exists():
        return cert_path, key_path
    directory.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    host = socket.gethostname()
    names: list[x509.GeneralName] = [
        x509.DNSName("localhost"),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        x509.IPAddress(ipaddress.ip_address("::1")),
    ]
    if host and host != "localhost":
        names.append(x509.DNSName(host))
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, host or "localhost"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Fleetport (self-signed)"),
        ]
    )
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=825))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    key_path.chmod(0o600)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path
