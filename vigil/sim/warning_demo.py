"""`vigil demo`: public warning and citizen reports, seeded beside the simulated city.

The river-rise event of the demo's scenario makes the flood rule draft a CAP
flood warning (early in the demo's evening: SHOWCASE in demo.py); a supervisor
login is created so someone other than its author can approve it (two-person
rule), and one citizen report is sent through the public API the way a phone
would, to wait in the moderation queue.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import httpx

from vigil.audit.roles import Role

SUPERVISOR = "demo-supervisor"
REPORT = {
    "category": "flooding",
    "text": "Sea water is coming over the quay at the Market Square, by the ferry stop.",
    "lat": 60.16735,
    "lon": 24.95290,
    "accuracy_m": 15,
}


CAP_ENV = "VIGIL_ALERTS__CAP_SCHEMA"
EIDO_ENV = "VIGIL_EXCHANGE__EIDO_SCHEMA"
# (label, setting's environment variable, file under the shared data, what it checks):
# the published schemas are not shipped with Vigil; the demo uses the shared copies.
SCHEMAS = (
    ("CAP schema", CAP_ENV, "cap/cap12.xsd", "OASIS CAP 1.2; every alert, before publication"),
    ("EIDO schema", EIDO_ENV, "eido/Schema/openapi.yaml", "NENA; every EIDO export and import"),
)


def shared_data() -> Path:
    """Where the shared data is: VIGIL_SHARED_DATA, else ../shared/data."""
    root = os.environ.get("VIGIL_SHARED_DATA")
    return Path(root) if root else Path.cwd().parent / "shared" / "data"


def use_shared_schemas() -> list[str]:
    """Point the demo's CAP and EIDO schema settings at the shared copies; return what the
    demo prints (loudly when one is missing). Call before the settings are loaded (they
    read the environment); a schema already set in the environment is kept."""
    lines = []
    for label, env, relative, checks in SCHEMAS:
        if os.environ.get(env):
            path = Path(os.environ[env])
        else:
            path = shared_data() / relative
            if not path.is_file():
                lines.append(
                    f"  {label} NOT CONFIGURED: ../shared/data/{relative} is missing, so "
                    f"documents are checked against Vigil's profile rules only (set {env})"
                )
                continue
            os.environ[env] = str(path)
        lines.append(f"  {label} {path}   ({checks})")
    return lines


def seed(base_url: str) -> str:
    """Send the demo's citizen report through the public API; return its private status URL."""
    with httpx.Client(base_url=base_url, timeout=30) as client:
        r = client.post("/api/v1/public/reports", json=REPORT)
        r.raise_for_status()
        return base_url + str(r.json()["status_url"])


def start(
    base_url: str,
    add_login: Callable[[str, Role, str], object],
    password: str,
    rise_at: datetime | None = None,
) -> list[str]:
    """Add the supervisor login, send the citizen report; return what the demo prints."""
    add_login(SUPERVISOR, Role.SUPERVISOR, password)
    status = seed(base_url)
    return [
        f"  supervisor  {SUPERVISOR} / {password}   (approves alert drafts: Alerts tab)",
        f"  report form {base_url}/report   (public, for phones; no login)",
        f"  public feed {base_url}/api/v1/public/alerts.atom   (CAP 1.2; GeoJSON: alerts.geojson)",
        f"  a citizen's report waits for moderation (its private status link: {status})",
    ] + (
        [
            f"  from {rise_at:%H:%M} simulated time the sea rises at the Market Square: the flood"
            " rule drafts a CAP warning for approval about 45 min later"
        ]
        if rise_at is not None
        else []
    )
