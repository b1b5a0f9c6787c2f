"""A private Mosquitto for the MQTT attack tests: password and ACL files, optional TLS.

Each test starts its own broker on free ports in a temp dir (``mosquitto -c``),
never the system broker; files are written by Vigil (`vigil.ingest.broker`)
and reread on SIGHUP. Certificates are generated here with `cryptography`: a
self-signed CA, a server certificate for 127.0.0.1 and a client certificate.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.conftest import free_port

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


def need_mosquitto() -> None:
    """Skip (fail under CI) when the mosquitto binary is absent."""
    if not Path(MOSQUITTO).exists():
        if os.environ.get("CI") == "true":
            pytest.fail("mosquitto is not installed; CI must have it")
        pytest.skip("mosquitto is not installed")


def wait(cond: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll `cond` until true or fail naming `what`."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


def listening(port: int) -> bool:
    """Return whether something accepts TCP connections on 127.0.0.1:`port`."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


@dataclass(frozen=True)
class Pki:
    """PEM files of a test CA, a server certificate and a client certificate."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    other_ca: Path  # a CA that signed nothing here: trusting it must fail


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


def _ca(cn: str, path: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(_name(cn))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert, key


def _leaf(
    cn: str,
    ca: tuple[x509.Certificate, ec.EllipticCurvePrivateKey],
    cert_path: Path,
    key_path: Path,
    *,
    server: bool,
) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(ca[0].subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
    )
    if server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        ).add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
    else:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
    cert_path.write_bytes(
        builder.sign(ca[1], hashes.SHA256()).public_bytes(serialization.Encoding.PEM)
    )
    _write_key(key, key_path)


def make_pki(workdir: Path) -> Pki:
    """Generate a CA, a server certificate for 127.0.0.1 and a client certificate."""
    workdir.mkdir(parents=True, exist_ok=True)
    ca = _ca("Vigil test CA", workdir / "ca.pem")
    _ca("Someone else's CA", workdir / "other-ca.pem")
    _leaf("127.0.0.1", ca, workdir / "server.pem", workdir / "server.key", server=True)
    _leaf("vigil-ingest", ca, workdir / "client.pem", workdir / "client.key", server=False)
    return Pki(
        ca=workdir / "ca.pem",
        server_cert=workdir / "server.pem",
        server_key=workdir / "server.key",
        client_cert=workdir / "client.pem",
        client_key=workdir / "client.key",
        other_ca=workdir / "other-ca.pem",
    )


class SecuredBroker:
    """Mosquitto with allow_anonymous false, Vigil's password and ACL files, and TLS."""

    def __init__(self, workdir: Path, pki: Pki | None = None) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.tls_port = free_port() if pki is not None else None
        self.password_file = workdir / "passwd"
        self.acl_file = workdir / "acl"
        # Mosquitto will not start without them; Vigil rewrites both at build.
        self.password_file.write_text("")
        self.acl_file.write_text("")
        self.conf = workdir / "mosquitto.conf"
        lines = [
            f"listener {self.port} 127.0.0.1",
            "allow_anonymous false",
            f"password_file {self.password_file}",
            f"acl_file {self.acl_file}",
            "persistence false",
            "log_dest stdout",
            "log_type all",
        ]
        if pki is not None:
            lines += [
                f"listener {self.tls_port} 127.0.0.1",
                f"cafile {pki.ca}",
                f"certfile {pki.server_cert}",
                f"keyfile {pki.server_key}",
                "require_certificate true",  # Vigil's client certificate is checked too
            ]
        if os.geteuid() == 0:
            lines.append("user root")  # as root it would switch to a user that cannot read here
        self.conf.write_text("\n".join(lines) + "\n")
        self.log = workdir / "mosquitto.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the broker and wait until every listener accepts connections."""
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [MOSQUITTO, "-c", str(self.conf)], stdout=log, stderr=subprocess.STDOUT
            )
        wait(lambda: listening(self.port), 10, "mosquitto to listen")
        if self.tls_port is not None:
            tls_port = self.tls_port
            wait(lambda: listening(tls_port), 10, "mosquitto's TLS listener")

    @property
    def reload_command(self) -> list[str]:
        """The command Vigil runs after rewriting the files: SIGHUP to this broker."""
        assert self.proc is not None
        return ["kill", "-HUP", str(self.proc.pid)]

    def stop(self) -> None:
        """Stop the broker (SIGTERM, then SIGKILL)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def log_text(self) -> str:
        """Return what the broker logged (for failure messages)."""
        return self.log.read_text("utf-8", errors="replace")[-4000:]
