"""Run Vigil as a server: build the app, start its services, serve HTTP until stopped."""

from __future__ import annotations

import gc
import logging
import resource
import signal
import socket
import threading

import uvicorn

from vigil.api.http import create_api
from vigil.app import ROLES, App, build
from vigil.audit.roles import Role
from vigil.bus.nats import parse_owned
from vigil.bus.settings import NatsBusSettings
from vigil.config import Settings
from vigil.core.errors import ConfigError
from vigil.geo import load_network

log = logging.getLogger(__name__)


def ensure_admin(app: App, name: str = "admin") -> str | None:
    """Create the admin login if missing; return a fresh token for it."""
    if app.store.user(name) is None:
        app.users.add(name, Role.ADMIN, None, actor="serve")
    return app.users.issue_token(name, label="serve", actor="serve", ttl=None)


def raise_open_files_limit() -> int:
    """Raise the soft open-files limit to the hard one; return the limit now in force.

    Each live-feed subscriber holds a socket, so 10,000 browsers need more than
    the common default of 1,024 descriptors; the hard limit (``LimitNOFILE=`` in
    a systemd unit, ``ulimit -Hn``) is the operator's to raise.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 1_048_576)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            log.warning("could not raise the open-files limit above %d", soft)
    if soft < 11_000:
        log.warning("open-files limit %d holds fewer than 10,000 live subscribers", soft)
    return soft


def tune_gc(young: int = 50_000) -> None:
    """Set the cyclic collector up for a long-running server, once its start-up is built.

    Everything built at start-up (road graph, device registry, rule state) lives as
    long as the process: `gc.freeze` takes it out of every later scan. Readings
    and requests allocate many short-lived containers that form no cycles
    (reference counting frees them), so the youngest generation is collected every
    `young` allocations instead of every 700: ingesting 4,000 observations/s
    (parse, store, 100 rules, in one process) that cut collection from 17 % of
    the CPU to 2 %.
    """
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(young, older, oldest)


def parse_roles(text: str) -> frozenset[str]:
    """Parse ``--role``: ``all`` or a comma-separated subset of api, ingest, rules."""
    if text.strip() in ("", "all"):
        return ROLES
    roles = frozenset(r.strip() for r in text.split(",") if r.strip())
    unknown = roles - ROLES
    if unknown:
        raise ConfigError(
            f"unknown role(s) {', '.join(sorted(unknown))}: use api, ingest, rules or all",
            field="role",
        )
    return roles


def listening_socket(host: str, port: int, *, reuse_port: bool) -> socket.socket:
    """Bind the HTTP socket; with `reuse_port`, several processes share the port.

    The kernel spreads new connections over every process bound with
    SO_REUSEPORT (Linux), so N API processes serve one port with no balancer.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def run(
    settings: Settings,
    *,
    admin_token: bool = False,
    roles: frozenset[str] = ROLES,
    reuse_port: bool = False,
) -> None:
    """Serve until interrupted, then stop every service cleanly.

    With the api role this serves HTTP (on a port shared with other API
    processes when `reuse_port`); without it, the process runs its ingest
    and/or rules consumers until SIGTERM or SIGINT.
    """
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # The road network is built once per OSM file and cached; a bar shows the build.
    raise_open_files_limit()
    network = load_network(settings.geo, progress=True)
    app = build(settings, network=network, roles=roles)
    try:
        if admin_token:
            token = ensure_admin(app)
            print(f"admin API token: {token}", flush=True)  # noqa: T201 - shown to the operator
        if "api" not in roles:
            app.start()
            tune_gc()
            print(f"Vigil {'+'.join(sorted(roles))} worker running", flush=True)  # noqa: T201
            _wait_for_signal()
            return
        api = create_api(app)
        app.start()
        sock = listening_socket(settings.server.host, settings.server.port, reuse_port=reuse_port)
        tune_gc()
        url = f"http://{settings.server.host}:{settings.server.port}"
        print(f"Vigil serving on {url}  (API docs: {url}/docs)", flush=True)  # noqa: T201
        server = uvicorn.Server(
            uvicorn.Config(
                api,
                log_level="warning",
                # Requests are not logged (the level above drops them), so uvicorn need not
                # format each request's line only to discard it.
                access_log=False,
                # Named, not "auto": a missing one fails at start instead of silently
                # serving with h11 and asyncio at more CPU per request.
                http="httptools",
                loop="uvloop",
            )
        )
        # uvicorn stops on SIGTERM, then raises it again for the handler it found: a
        # handler that does nothing lets the services below stop cleanly (cursors saved).
        signal.signal(signal.SIGTERM, lambda *_: None)
        server.run(sockets=[sock])
    finally:
        app.close()


def _wait_for_signal() -> None:
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()


def with_partitions(
    settings: Settings, roles: frozenset[str], partitions: str | None, member: str | None
) -> Settings:
    """Set the NATS bus's owned partitions and member name for this process."""
    bus = settings.bus
    if not isinstance(bus, NatsBusSettings):
        if partitions is not None or member is not None:
            raise ConfigError("--partitions and --member need the NATS bus (bus.kind: nats)")
        return settings
    owned = partitions if partitions is not None else bus.owned
    if owned.strip() == "auto":
        if "api" in roles or not roles & {"ingest", "rules"}:
            raise ConfigError(
                "--partitions auto is for workers: use --role ingest, rules or ingest,rules",
                field="partitions",
            )
        owned = "auto"
    else:
        parse_owned(owned, bus.partitions)  # refuse a bad range before anything starts
    if member is None:
        member = bus.member or (
            "" if roles == ROLES else "-".join(sorted(roles)) + "-" + owned.replace(",", "_")
        )
    return settings.model_copy(
        update={"bus": bus.model_copy(update={"owned": owned, "member": member})}
    )
