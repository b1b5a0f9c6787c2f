"""The composition root: build(settings) -> App wires every part, and nothing else does."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from vigil.alerts.delivery import Deliverer
from vigil.alerts.events import AlertPublished
from vigil.alerts.inbound import CapIn, build_cap_in
from vigil.alerts.postgres import PostgresCapDeadLetters
from vigil.alerts.service import Alerts
from vigil.audit.access import PersonalDataAccess
from vigil.audit.anchor import Anchors, load_private_key
from vigil.auth.login import LoginLimits, Logins
from vigil.auth.users import Users
from vigil.bus import Bus
from vigil.bus.log import LogBus
from vigil.bus.nats import NatsBus, parse_owned, partition_of
from vigil.bus.settings import BusSettings, NatsBusSettings
from vigil.cad.service import AddressResolver, Cad, Located, PlaceDescriber
from vigil.config import Settings
from vigil.core.clock import Clock, SystemClock
from vigil.core.errors import ConfigError, GeoError
from vigil.core.geometry import LatLon
from vigil.core.ticker import Ticker
from vigil.dispatch.service import Dispatcher
from vigil.exchange.service import Exchange
from vigil.geo import Geocoder, RoadNetwork, is_ambiguous
from vigil.geo.travel import model_for
from vigil.incidents.catalogue import load_catalogue
from vigil.ingest.events import DeviceRegistered, GatewayRegistered
from vigil.ingest.postgres import PostgresObservationStore
from vigil.ingest.service import OBSERVATIONS_FILE, Ingest
from vigil.ingest.store import ObservationStorage, ObservationStore
from vigil.reports.photos import PhotoBlur
from vigil.reports.postgres import PostgresPhotos
from vigil.reports.service import Reports
from vigil.rules.engine import RulesEngine, create_engine, recent_events
from vigil.store.ports import Store
from vigil.store.postgres.database import Database
from vigil.store.postgres.store import PostgresStore
from vigil.store.sqlite import SqliteStore
from vigil.workers.duties import Duties, ticking
from vigil.workers.group import WorkerGroup, member_id
from vigil.workers.handover import Handover

ROLES = frozenset({"api", "ingest", "rules"})
"""What one process does: serve HTTP, take devices' readings (MQTT), run the rules.

A process with every role (the default, one machine) also runs the duties that
must run once per deployment: alert delivery, rule notifications, the retention
purges, CAP feed polling and audit checkpoints. With several processes those run
in the process with the rules role that holds partition 0, and move with it when
partitions move by lease (`vigil.workers.duties`, docs/deployment.md).
"""


@dataclass(slots=True)
class App:
    """Every long-lived part of a running Vigil, built once."""

    settings: Settings
    clock: Clock
    store: Store
    bus: Bus
    cad: Cad
    users: Users
    logins: Logins
    access: PersonalDataAccess
    dispatch: Dispatcher
    ingest: Ingest
    rules: RulesEngine
    alerts: Alerts
    cap_in: CapIn
    delivery: Deliverer
    exchange: Exchange
    reports: Reports
    tickers: list[Ticker] = field(default_factory=list)
    duties: Duties = field(default_factory=Duties)
    network: RoadNetwork | None = None
    geocoder: Geocoder | None = None
    roles: frozenset[str] = ROLES
    singleton: bool = True
    group: WorkerGroup | None = None

    def start(self) -> None:
        """Start background services (retention purge, ingest, rules reload)."""
        for ticker in self.tickers:
            ticker.start()
        if self.group is not None:
            self.group.start()  # join: the first partitions are taken (and warmed) now
        if "ingest" in self.roles:
            self.ingest.start()
        if self.singleton:
            self.duties.start()

    def close(self) -> None:
        """Stop services and release every resource."""
        for ticker in self.tickers:
            ticker.stop()
        if self.group is not None:
            self.group.close()  # hand every partition over at once (cursors saved)
        self.duties.stop()
        self.ingest.close()
        self.bus.close()  # every consumer stops (cursors saved) before what it calls closes
        self.rules.close()
        self.delivery.close()
        self.alerts.close()
        self.cap_in.close()
        self.reports.close()
        self.logins.close()
        self.store.close()


def build(
    settings: Settings,
    *,
    clock: Clock | None = None,
    network: RoadNetwork | None = None,
    roles: frozenset[str] = ROLES,
) -> App:
    """Build the application from settings (a prebuilt road network may be passed in)."""
    clock = clock or SystemClock()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store, observations = _stores(settings)
    bus = bus_of(settings.bus, store)
    shared = isinstance(settings.bus, NatsBusSettings)  # other processes share the log
    duties = Duties()
    group, handover = _leased(settings, roles, bus, store, clock, duties=duties)
    owns_device = _owns_device(settings.bus, bus)
    singleton = group is None and (
        roles == ROLES
        or ("rules" in roles and (owns_device is None or _owns_partition_zero(settings.bus)))
    )
    catalogue = load_catalogue(settings.catalogue)
    geocoder, resolve = _geo_parts(network)
    describe = _describer(geocoder)
    cad = Cad(
        store=store,
        bus=bus,
        clock=clock,
        catalogue=catalogue,
        personal_data_retention=timedelta(days=settings.audit.personal_data_retention_days),
        resolve_address=resolve,
        describe_place=describe,
        shared_log=shared,
    )
    if shared:
        bus.subscribe("cad-follow", cad.follow, durable=False)
    users = Users(store, clock, token_ttl=timedelta(hours=settings.auth.session_hours))
    logins = Logins(users, _login_limits(settings))
    access = PersonalDataAccess(store, clock)
    ingest = Ingest(
        settings.ingest,
        data_dir=settings.data_dir,
        store=store,
        bus=bus,
        users=users,
        clock=clock,
        observations=observations,
        monitor="ingest" in roles,
        owns_device=owns_device,
    )
    if shared:  # devices registered through another process reach this one's parser
        bus.subscribe(
            "devices-follow",
            ingest.registry.follow,
            kinds=(DeviceRegistered, GatewayRegistered),
            durable=False,
        )
    dispatch = Dispatcher(
        cad,
        network,
        speed_factors=settings.geo.speed_factors,
        model=model_for(settings.geo),
        clock=clock,
    )
    rules = create_engine(
        settings=settings.rules, cad=cad, dispatch=dispatch, store=store, bus=bus, clock=clock
    )
    if handover is not None and group is not None:
        # Partitions by lease: each is warmed when taken (see vigil/workers/handover.py).
        handover.bind(
            group,
            rules if "rules" in roles else None,
            ingest.history,
            events_upto=bus.resumes_after("rules") if "rules" in roles else None,
        )
        if "rules" in roles:
            rules.attach(bus, handover.source(ingest))
    elif "rules" in roles:
        # Windows survive a restart: refilled from the stored observations they reach back to
        # (a worker: those of its partitions' devices) and the log events the rules' cursor
        # had passed (those after it are delivered again once attached).
        since = clock.now() - timedelta(seconds=rules.memory_s())
        history = ingest.history(since)
        if owns_device is not None:
            mine = owns_device
            history = ([o for o in batch if mine(o.device_id)] for batch in history)
        passed = recent_events(store, since, upto=bus.resumes_after("rules"))
        rules.warm(history, store, events=passed)
        rules.attach(bus, ingest)
    alerts = Alerts(settings=settings.alerts, store=store, bus=bus, clock=clock)
    cap_in = build_cap_in(
        settings.alerts.feeds,
        path=settings.data_dir / "cap-in.sqlite3",
        dead=None
        if settings.store.url is None
        else PostgresCapDeadLetters(postgres(settings, "cap dead letters", max_size=2)),
        schema=alerts.schema,
        record=lambda event, event_id: alerts.record_external(event, event_id=event_id),
        clock=clock,
        max_bytes=settings.alerts.max_cap_bytes,
    )
    delivery = Deliverer(
        list(settings.alerts.channels),
        record=alerts.record_delivery,
        retries=settings.alerts.delivery_retries,
        backoff_s=settings.alerts.delivery_backoff_s,
    )
    reports = Reports(
        store=store,
        bus=bus,
        clock=clock,
        cad=cad,
        photo_path=settings.data_dir / "report-photos.sqlite3",
        photos=None
        if settings.store.url is None
        else PostgresPhotos(postgres(settings, "report photos", max_size=2)),
        per_client_per_hour=settings.alerts.reports_per_client_per_hour,
        per_area_per_hour=settings.alerts.reports_per_area_per_hour,
        photo_max_bytes=settings.alerts.report_photo_max_bytes,
        contact_retention=timedelta(days=settings.alerts.report_contact_retention_days),
        retention=timedelta(days=settings.alerts.report_retention_days),
        blur=PhotoBlur(),
    )
    app = App(
        settings=settings,
        clock=clock,
        store=store,
        bus=bus,
        cad=cad,
        users=users,
        logins=logins,
        access=access,
        dispatch=dispatch,
        ingest=ingest,
        rules=rules,
        alerts=alerts,
        cap_in=cap_in,
        delivery=delivery,
        exchange=Exchange(
            settings=settings.exchange,
            cad=cad,
            store=store,
            bus=bus,
            clock=clock,
            access=access,
            personal_data_retention=timedelta(days=settings.audit.personal_data_retention_days),
        ),
        reports=reports,
        tickers=[rules.ticker(settings.rules.reload_interval_s)],
        duties=duties,
        network=network,
        geocoder=geocoder,
        roles=roles,
        singleton=singleton,
        group=group,
    )
    if singleton or (group is not None and "rules" in roles):
        _add_duties(app)
    return app


def _add_duties(app: App) -> None:
    """Give `app` the once-per-deployment duties (started by `App.start` or by lease)."""
    settings, bus, duties = app.settings, app.bus, app.duties

    def alert_delivery() -> Callable[[], None]:
        app.delivery.start()
        # Not durable: what the log shows undelivered is queued again at each start.
        stop = bus.subscribe(
            "alert-delivery", app.delivery.on_record, kinds=(AlertPublished,), durable=False
        )
        names = [c.name for c in settings.alerts.channels]
        for alert_id, xml, channels in app.alerts.undelivered(names):
            app.delivery.enqueue(alert_id, xml, only=channels)
        return stop

    duties.add("alert delivery", alert_delivery)
    notifier = app.rules.notifier
    if notifier is not None:
        duties.add("rule notifications", lambda: notifier.attach(bus))
    purge = settings.audit.purge_interval_s
    tickers = [
        Ticker("purge-personal-data", purge, app.access.purge_expired),
        Ticker("purge-reports", purge, app.reports.purge_expired),
    ]
    if settings.alerts.feeds:  # other agencies' CAP feeds, each on its own interval
        tickers.append(Ticker("cap-feeds", 5.0, app.cap_in.poller.poll_due))
    anchors = anchors_of(settings, app.store, app.clock)
    if anchors is not None:
        interval = settings.audit.checkpoint_interval_s
        tickers.append(Ticker("audit-checkpoint", interval, anchors.tick))
    for ticker in tickers:
        duties.add(ticker.name, ticking(ticker))


def _leased(
    settings: Settings,
    roles: frozenset[str],
    bus: Bus,
    store: Store,
    clock: Clock,
    *,
    duties: Duties,
) -> tuple[WorkerGroup | None, Handover | None]:
    """Return the worker group and its hand-over when partitions move by lease (auto).

    The holder of partition 0 in a group with the rules role runs `duties`: started
    after the partition is taken, stopped before it is handed over.
    """
    s = settings.bus
    if not isinstance(s, NatsBusSettings) or s.owned.strip() != "auto":
        return None, None
    assert isinstance(bus, NatsBus)
    if not s.lease_margin_s < s.lease_ttl_s / 2:
        raise ConfigError(
            f"bus.lease_margin_s ({s.lease_margin_s}) must be less than half of "
            f"bus.lease_ttl_s ({s.lease_ttl_s})",
            field="bus.lease_margin_s",
        )
    handover = Handover(
        bus=bus,
        store=store,
        clock=clock,
        partitions=s.partitions,
        # Batches the last owner had in hand come back after ack_wait_s at the latest.
        keep_s=2 * s.ack_wait_s + 60.0,
    )
    runs_duties = "rules" in roles

    def acquire(parts: tuple[int, ...]) -> None:
        handover.acquire(parts)
        if runs_duties:
            duties.on_acquire(parts)

    def release(part: int) -> None:
        if runs_duties:
            duties.on_release(part)
        handover.release(part)

    group = WorkerGroup(
        store,
        group=f"{s.prefix}:{'+'.join(sorted(roles & {'ingest', 'rules'}))}",
        member=member_id(s.member),
        partitions=s.partitions,
        ttl_s=s.lease_ttl_s,
        margin_s=s.lease_margin_s,
        on_acquire=acquire,
        on_release=release,
        on_round=handover.checkpoint,
    )
    bus.use_leases(group)
    return group, handover


def _owns_device(settings: BusSettings, bus: Bus) -> Callable[[str], bool] | None:
    """Return whether a device is this process's (its partition is owned), when partitioned."""
    if not isinstance(settings, NatsBusSettings):
        return None
    if isinstance(bus, NatsBus) and bus.leases is not None:
        n = settings.partitions
        return lambda device_id: partition_of(device_id, n) in bus.owned
    owned = parse_owned(settings.owned, settings.partitions)
    if len(owned) == settings.partitions:
        return None
    return lambda device_id: partition_of(device_id, settings.partitions) in owned


def _owns_partition_zero(settings: BusSettings) -> bool:
    if isinstance(settings, NatsBusSettings) and settings.owned.strip() == "auto":
        return False
    return not isinstance(settings, NatsBusSettings) or 0 in parse_owned(
        settings.owned, settings.partitions
    )


def bus_of(settings: BusSettings, store: Store) -> Bus:
    """Open the configured bus over the store's log."""
    if isinstance(settings, NatsBusSettings):
        return NatsBus(
            store,
            url=settings.url,
            prefix=settings.prefix,
            replicas=settings.replicas,
            partitions=settings.partitions,
            owned=frozenset()
            if settings.owned.strip() == "auto"
            else parse_owned(settings.owned, settings.partitions),
            member=settings.member,
            max_deliver=settings.max_deliver,
            ack_wait_s=settings.ack_wait_s,
            attempts=settings.attempts,
            topic_max_msgs=settings.topic_max_msgs,
            events_max_age_s=settings.events_max_age_s,
            duplicate_window_s=settings.duplicate_window_s,
        )
    return LogBus(store)


def postgres(settings: Settings, what: str, *, max_size: int | None = None) -> Database:
    """Open a connection pool to the configured PostgreSQL database (one per store)."""
    s = settings.store
    if s.url is None:
        raise ConfigError("store.url is not set: the store is SQLite", field="store.url")
    return Database(
        s.url,
        what=what,
        max_size=max_size or s.pool_size,
        connect_timeout_s=s.connect_timeout_s,
        wait_s=s.connect_timeout_s,
        retry_after_s=s.retry_after_s,
    )


def observation_store(settings: Settings) -> ObservationStorage | None:
    """Open the configured observation store alone (None: SQLite and no file yet)."""
    if settings.store.url is not None:
        return PostgresObservationStore(postgres(settings, "observation store", max_size=2))
    path = settings.data_dir / OBSERVATIONS_FILE
    return ObservationStore(path) if path.exists() else None


def _stores(settings: Settings) -> tuple[Store, ObservationStorage | None]:
    """Return the event store and the observation store (None: ingest's SQLite default)."""
    if settings.store.url is None:
        return SqliteStore(settings.data_dir / "vigil.sqlite3"), None
    store = PostgresStore(postgres(settings, "store"))
    try:
        observations = PostgresObservationStore(postgres(settings, "observation store"))
    except BaseException:
        store.close()
        raise
    return store, observations


# Beyond this, the nearest address is "near" the point rather than its address.
_AT_ADDRESS_M = 60.0


def _describer(geocoder: Geocoder | None) -> PlaceDescriber | None:
    """Return the reverse geocoder that gives incidents opened from coordinates an address."""
    if geocoder is None:
        return None

    def describe(point: LatLon) -> str | None:
        match = geocoder.reverse(point)
        if not match.label:
            return None
        return match.label if match.distance_m <= _AT_ADDRESS_M else f"near {match.label}"

    return describe


def anchors_of(settings: Settings, store: Store, clock: Clock) -> Anchors | None:
    """Return the checkpoint signer when a signing key is configured."""
    key_file = settings.audit.signing_key_file
    if key_file is None:
        return None
    return Anchors(
        log=store,
        trail=store,
        key=load_private_key(key_file),
        path=settings.audit.anchor_file or settings.data_dir / "anchors.jsonl",
        clock=clock,
    )


def _login_limits(settings: Settings) -> LoginLimits:
    a = settings.auth
    return LoginLimits(
        per_client=a.login_attempts_per_minute,
        client_per_s=a.login_attempts_per_minute / 60,
        per_account=a.login_failures_per_account,
        account_per_s=a.login_failures_per_account / (a.login_lockout_minutes * 60),
        hash_workers=a.hash_workers,
        hash_queue=a.hash_queue,
        refusal_delay_s=a.refusal_delay_s,
    )


def _geo_parts(
    network: RoadNetwork | None,
) -> tuple[Geocoder | None, AddressResolver | None]:
    """Return the geocoder and the call-taker's address resolver over the road network."""
    if network is None:
        return None, None
    geocoder = Geocoder(network)

    def resolve(text: str) -> Located:
        matches = geocoder.geocode(text, limit=5)
        if not matches:
            raise GeoError(f"no place matches the address {text!r}", field="address")
        if is_ambiguous(matches):
            raise GeoError(
                f"the address {text!r} is ambiguous; choose one of the candidates",
                field="address",
                extra={
                    "candidates": [
                        {
                            "label": m.label,
                            "lat": m.location.lat,
                            "lon": m.location.lon,
                            "confidence": round(m.confidence, 3),
                            "kind": m.kind,
                        }
                        for m in matches
                    ]
                },
            )
        best = matches[0]
        return Located(location=best.location, label=best.label, confidence=best.confidence)

    return geocoder, resolve
