"""Mosquitto password and ACL files kept by Vigil: one MQTT login per device and gateway.

Vigil writes both files from its device registry (``ingest.mqtt.broker``) and
runs the configured reload command (Mosquitto rereads them on SIGHUP):

- a device logs in as its API login ``device-<id>`` with its API token as the
  password, and may publish only on ``vigil/<its site>/devices/<its id>/+``;
- a gateway (``gateway-<id>``) may publish only on ``vigil/+/gateways/<id>/batch``,
  and the parser accepts from that batch only the devices it was registered for;
- Vigil's own login may only subscribe (``vigil/#``);
- nobody else may do anything (with ``allow_anonymous false`` in the broker).

Only hashes are written: PBKDF2-SHA512 in Mosquitto's ``$7$`` format, the
same as ``mosquitto_passwd`` produces. A token is known in clear only when it
is issued, so its line is written then; regenerating the files keeps the
lines already there. A device registered before (or from a devices file)
gets its line when a token is next issued for it
(``vigil ingest mqtt-credentials --issue <id>``).
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import logging
import os
import secrets
import subprocess
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

from vigil.core.errors import ConfigError
from vigil.ingest.model import Device
from vigil.ingest.registry import (
    DeviceRegistry,
    Gateway,
    gateway_user_name,
    user_name,
)

log = logging.getLogger(__name__)

ITERATIONS = 1000
HEADER = "# Written by Vigil from its device registry; edits are overwritten.\n"


def password_hash(password: str, *, salt: bytes | None = None, iterations: int = ITERATIONS) -> str:
    """Return a Mosquitto ``$7$`` (PBKDF2-SHA512) hash of a password."""
    salt = secrets.token_bytes(12) if salt is None else salt
    digest = hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), salt, iterations)
    b64 = base64.b64encode
    return f"$7${iterations}${b64(salt).decode()}${b64(digest).decode()}"


def check_password(password: str, hashed: str) -> bool:
    """Return whether a password matches a ``$7$`` hash (what the broker will decide)."""
    parts = hashed.split("$")
    if len(parts) != 5 or parts[1] != "7":
        return False
    salt = base64.b64decode(parts[3])
    return secrets.compare_digest(
        password_hash(password, salt=salt, iterations=int(parts[2])), hashed
    )


def acl_text(
    devices: Iterable[Device], gateways: Iterable[Gateway], *, ingest_user: str | None
) -> str:
    """Return the ACL file: each login may publish only on its own topics."""
    lines = [HEADER.rstrip("\n")]
    if ingest_user is not None:
        lines += ["", f"user {ingest_user}", "topic read vigil/#"]
    for d in sorted(devices, key=lambda d: d.id):
        lines += ["", f"user {user_name(d.id)}", f"topic write vigil/{d.site}/devices/{d.id}/+"]
    for g in sorted(gateways, key=lambda g: g.id):
        lines += [
            "",
            f"user {gateway_user_name(g.id)}",
            f"topic write vigil/+/gateways/{g.id}/batch",
        ]
    return "\n".join(lines) + "\n"


def read_passwords(path: Path) -> dict[str, str]:
    """Return login -> hash from a Mosquitto password file (missing file: empty)."""
    try:
        text = path.read_text("utf-8")
    except FileNotFoundError:
        return {}
    out: dict[str, str] = {}
    for line in text.splitlines():
        if line and not line.startswith("#") and ":" in line:
            user, hashed = line.split(":", 1)
            out[user] = hashed
    return out


def _atomic_write(path: Path, text: str, mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)


class BrokerFiles:
    """Keep the broker's password and ACL files in step with the registry (a CredentialSink)."""

    def __init__(
        self,
        *,
        password_file: Path,
        acl_file: Path,
        registry: DeviceRegistry,
        ingest_user: str | None,
        ingest_password: str | None,
        reload_command: Sequence[str] | None = None,
        run: Callable[[Sequence[str]], object] | None = None,
    ) -> None:
        if (ingest_user is None) != (ingest_password is None):
            raise ConfigError(
                "ingest.mqtt.username and a password are needed together when Vigil "
                "writes the broker's password file",
                field="ingest.mqtt.password",
            )
        self.password_file = password_file
        self.acl_file = acl_file
        self._registry = registry
        self._ingest_user = ingest_user
        self._ingest_password = ingest_password
        self._reload = list(reload_command) if reload_command else None
        self._run = run or _run
        self._lock = threading.Lock()
        self.reloads = 0

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Hold this process's lock and a file lock (other Vigil processes write too)."""
        lock_path = self.password_file.with_name(self.password_file.name + ".lock")
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock, open(lock_path, "a") as f:  # noqa: PTH123 - flock needs a file object
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    def logins(self) -> set[str]:
        """Return every login the files may name (devices, gateways, Vigil)."""
        out = {user_name(d) for d in self._registry.devices}
        out |= {gateway_user_name(g) for g in self._registry.gateways}
        if self._ingest_user is not None:
            out.add(self._ingest_user)
        return out

    def write(self, *, issued: dict[str, str] | None = None) -> None:
        """Rewrite both files; `issued`: logins whose new token becomes their password."""
        with self._locked():
            hashes = read_passwords(self.password_file)
            keep = self.logins()
            hashes = {u: h for u, h in hashes.items() if u in keep}
            for login, token in (issued or {}).items():
                hashes[login] = password_hash(token)
            if self._ingest_user is not None and self._ingest_password is not None:
                old = hashes.get(self._ingest_user)
                if old is None or not check_password(self._ingest_password, old):
                    hashes[self._ingest_user] = password_hash(self._ingest_password)
            text = HEADER + "".join(f"{u}:{h}\n" for u, h in sorted(hashes.items()))
            acl = acl_text(
                self._registry.devices.values(),
                self._registry.gateways.values(),
                ingest_user=self._ingest_user,
            )
            changed = False
            for path, content, mode in (
                (self.password_file, text, 0o640),
                (self.acl_file, acl, 0o644),
            ):
                try:
                    same = path.read_text("utf-8") == content
                except FileNotFoundError:
                    same = False
                if not same:
                    _atomic_write(path, content, mode)
                    changed = True
        if changed:
            self.reload()

    def reload(self) -> None:
        """Ask the broker to reread the files (the configured command; failures are logged)."""
        if self._reload is None:
            return
        try:
            self._run(self._reload)
        except (OSError, subprocess.SubprocessError) as err:
            log.warning("broker reload command %s failed: %s", self._reload, err)
        else:
            self.reloads += 1

    # CredentialSink

    def issued(self, login: str, token: str) -> None:
        """A login got a new token: it is now its MQTT password too (the old one stops)."""
        self.write(issued={login: token})

    def changed(self) -> None:
        """Devices or gateways changed: rewrite the ACLs (and drop stale logins)."""
        self.write()


def _run(command: Sequence[str]) -> object:
    result = subprocess.run(  # noqa: S603 - the operator's own configured command
        list(command), check=False, timeout=30, capture_output=True
    )
    if result.returncode != 0:
        log.warning(
            "broker reload command %s exited %s: %s",
            list(command),
            result.returncode,
            result.stderr.decode("utf-8", "replace")[:500],
        )
    return result
