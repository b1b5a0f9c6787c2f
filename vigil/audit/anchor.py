"""Anchors for the hash chains: signed checkpoints kept outside the database.

A hash chain proves that no row was edited *unless every later hash was
recomputed too*: someone who can write the database can rewrite the whole log
consistently. So, periodically, the heads of both chains (last sequence number
and hash) are signed with an Ed25519 key that is not in the database, and the
signed checkpoint is appended to a file outside it (append-only: one JSON line
each, fsynced). An auditor who holds any old checkpoint — exported, mailed,
printed — detects a rewrite: the event at that sequence number no longer has
the signed hash.

The private key comes from a file named in the settings or the environment
(``VIGIL_AUDIT__SIGNING_KEY_FILE``), never from the YAML itself; the public key
is all a verifier needs.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from vigil.core.clock import Clock
from vigil.core.errors import ConfigError
from vigil.store.ports import AuditTrail, EventLog


@dataclass(frozen=True, slots=True, kw_only=True)
class Checkpoint:
    """The signed heads of the event log and the audit trail at one moment."""

    at: str  # ISO 8601, UTC
    events_seq: int
    events_hash: str
    audit_seq: int
    audit_hash: str
    key_id: str  # first 16 hex of SHA-256 of the raw public key
    signature: str  # base64 Ed25519 over message()

    def message(self) -> bytes:
        """Return the bytes that are signed (everything but the signature)."""
        fields = {k: v for k, v in asdict(self).items() if k != "signature"}
        return json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()


def key_id(public: Ed25519PublicKey) -> str:
    """Return a short fingerprint of a public key."""
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def generate_key(path: Path) -> Ed25519PublicKey:
    """Write a new private key (PEM, mode 0600) to `path`; return its public key."""
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    return key.public_key()


def load_private_key(path: Path) -> Ed25519PrivateKey:
    """Read an Ed25519 private key (PEM)."""
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as err:
        raise ConfigError(f"cannot read the signing key {path}: {err}") from err
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(f"{path} is not an Ed25519 private key")
    return key


def public_pem(public: Ed25519PublicKey) -> bytes:
    """Return a public key as PEM (what an auditor keeps)."""
    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def load_public_key(path: Path) -> Ed25519PublicKey:
    """Read an Ed25519 public key (PEM); a private key file gives its public half."""
    try:
        data = path.read_bytes()
        if b"PRIVATE KEY" in data:
            return load_private_key(path).public_key()
        key = serialization.load_pem_public_key(data)
    except (OSError, ValueError, TypeError) as err:
        raise ConfigError(f"cannot read the public key {path}: {err}") from err
    if not isinstance(key, Ed25519PublicKey):
        raise ConfigError(f"{path} is not an Ed25519 public key")
    return key


def _heads(log: EventLog, trail: AuditTrail) -> tuple[int, str, int, str]:
    events_seq = log.last_seq()
    events_hash = next(iter(log.read(after_seq=events_seq - 1, limit=1))).hash if events_seq else ""
    newest = trail.audit_entries(limit=1)
    audit_seq, audit_hash = (newest[0].seq, newest[0].hash) if newest else (0, "")
    return events_seq, events_hash, audit_seq, audit_hash


class Anchors:
    """Sign the chain heads and append the checkpoint to the anchor file."""

    def __init__(
        self,
        *,
        log: EventLog,
        trail: AuditTrail,
        key: Ed25519PrivateKey,
        path: Path,
        clock: Clock,
    ) -> None:
        self._log = log
        self._trail = trail
        self._key = key
        self._key_id = key_id(key.public_key())
        self.path = path
        self._clock = clock

    def checkpoint(self, *, force: bool = False) -> Checkpoint | None:
        """Append a signed checkpoint of both heads; None when nothing changed since the last."""
        es, eh, aus, auh = _heads(self._log, self._trail)
        last = read_checkpoints(self.path)[-1:] if self.path.exists() else []
        if not force and last and (last[0].events_seq, last[0].audit_seq) == (es, aus):
            return None
        draft = Checkpoint(
            at=self._clock.now().isoformat(),
            events_seq=es,
            events_hash=eh,
            audit_seq=aus,
            audit_hash=auh,
            key_id=self._key_id,
            signature="",
        )
        signed = Checkpoint(
            **{
                **asdict(draft),
                "signature": base64.b64encode(self._key.sign(draft.message())).decode(),
            }
        )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # O_APPEND: a checkpoint is only ever added after the others, never rewritten.
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            os.write(fd, json.dumps(asdict(signed), sort_keys=True).encode() + b"\n")
            os.fsync(fd)
        finally:
            os.close(fd)
        return signed

    def tick(self) -> None:
        """Ticker entry: checkpoint if the heads moved."""
        self.checkpoint()


def read_checkpoints(path: Path) -> list[Checkpoint]:
    """Read an anchor file (one JSON checkpoint per line)."""
    out: list[Checkpoint] = []
    try:
        lines = path.read_text("utf-8").splitlines()
    except OSError as err:
        raise ConfigError(f"cannot read checkpoints {path}: {err}") from err
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            out.append(Checkpoint(**json.loads(line)))
        except (ValueError, TypeError) as err:
            raise ConfigError(f"{path}:{n}: not a checkpoint: {err}") from err
    return out


@dataclass(frozen=True, slots=True)
class AnchorBreak:
    """A checkpoint the log or trail no longer agrees with (or that is not genuine)."""

    at: str
    events_seq: int
    reason: str


def verify_checkpoints(
    checkpoints: Iterable[Checkpoint],
    public: Ed25519PublicKey,
    *,
    log: EventLog,
    trail: AuditTrail,
) -> list[AnchorBreak]:
    """Check each checkpoint's signature and that the chains still hold its hashes."""
    audit = {e.seq: e.hash for e in trail.audit_entries(limit=10**9)}
    last_seq = log.last_seq()
    breaks: list[AnchorBreak] = []
    for cp in checkpoints:
        try:
            public.verify(base64.b64decode(cp.signature), cp.message())
        except (InvalidSignature, ValueError):
            breaks.append(AnchorBreak(cp.at, cp.events_seq, "signature does not verify"))
            continue
        if cp.events_seq:
            if cp.events_seq > last_seq:
                reason = f"the log ends at {last_seq}, before this checkpoint's {cp.events_seq}"
                breaks.append(AnchorBreak(cp.at, cp.events_seq, reason))
                continue
            rec = next(iter(log.read(after_seq=cp.events_seq - 1, limit=1)))
            if rec.hash != cp.events_hash:
                reason = f"event {cp.events_seq} no longer has the signed hash: log rewritten"
                breaks.append(AnchorBreak(cp.at, cp.events_seq, reason))
        if cp.audit_seq and audit.get(cp.audit_seq) != cp.audit_hash:
            reason = f"audit entry {cp.audit_seq} no longer has the signed hash: trail rewritten"
            breaks.append(AnchorBreak(cp.at, cp.events_seq, reason))
    return breaks


def projection_differences(
    stored: Iterable[tuple[str, str, bytes]], replayed: Iterable[tuple[str, str, bytes]]
) -> list[str]:
    """Return every (kind/id) whose stored projection row differs from a replay of the log."""
    a = {(k, i): b for k, i, b in stored}
    b = {(k, i): body for k, i, body in replayed}
    out = []
    for key in sorted(a.keys() | b.keys()):
        if key not in b:
            out.append(f"{key[0]}/{key[1]}: stored but not produced by the log")
        elif key not in a:
            out.append(f"{key[0]}/{key[1]}: produced by the log but missing")
        elif json.loads(a[key]) != json.loads(b[key]):
            out.append(f"{key[0]}/{key[1]}: differs from the replay of the log")
    return out


def checkpoint_age(checkpoints: list[Checkpoint], now: datetime) -> float | None:
    """Return seconds since the newest checkpoint (None when there is none)."""
    if not checkpoints:
        return None
    return (now - datetime.fromisoformat(checkpoints[-1].at)).total_seconds()
