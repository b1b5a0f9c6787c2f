"""Item 9: `pip-audit` over the installed (locked) dependencies, when a vulnerability DB answers.

pip-audit needs a vulnerability service: the PyPI JSON API (its default) or
OSV. Each is probed with a release that has a published advisory. This
machine reaches neither (pypi.org resolves to a local mirror whose JSON API
lists no vulnerabilities, and api.osv.dev does not answer), so here the test
skips with that reason; wherever one answers, it audits every
installed distribution except Vigil itself and fails on any known
vulnerability, printing pip-audit's report.
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

PIP_AUDIT = Path(sys.executable).with_name("pip-audit")
PROBE_TIMEOUT_S = 5


# A release with a published advisory (GHSA-9wx4-h78v-vm56, CVE-2024-35195): a real
# vulnerability database lists it; a mirror that only looks like PyPI does not.
KNOWN_VULNERABLE = ("requests", "2.31.0")


def _pypi() -> str | None:
    """Return None if the PyPI JSON API knows a published vulnerability, else why not."""
    name, version = KNOWN_VULNERABLE
    try:
        with urllib.request.urlopen(
            f"https://pypi.org/pypi/{name}/{version}/json", timeout=PROBE_TIMEOUT_S
        ) as r:
            body = json.loads(r.read())
    except (OSError, ValueError) as err:
        return f"pypi.org: {err}"
    if not body.get("vulnerabilities"):
        return f"pypi.org lists no vulnerability of {name} {version} (not the real PyPI)"
    return None


def _osv() -> str | None:
    """Return None if OSV answers a query, else why not."""
    name, version = KNOWN_VULNERABLE
    query = json.dumps({"package": {"name": name, "ecosystem": "PyPI"}, "version": version})
    request = urllib.request.Request(
        "https://api.osv.dev/v1/query",
        data=query.encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=PROBE_TIMEOUT_S) as r:
            body = json.loads(r.read())
    except (OSError, ValueError) as err:
        return f"api.osv.dev: {err}"
    return None if body.get("vulns") else f"api.osv.dev knows no vulnerability of {name}"


def _service() -> str:
    """Return the pip-audit service to use, or skip naming why none is reachable."""
    pypi = _pypi()
    if pypi is None:
        return "pypi"
    osv = _osv()
    if osv is None:
        return "osv"
    pytest.skip(f"no vulnerability database is reachable from this machine ({pypi}; {osv})")


def test_no_known_vulnerabilities_in_the_installed_dependencies() -> None:
    assert PIP_AUDIT.exists(), "pip-audit is a dev dependency: pip install -e '.[dev]'"
    service = _service()
    result = subprocess.run(
        [
            str(PIP_AUDIT),
            "--progress-spinner",
            "off",
            "--vulnerability-service",
            service,
            "--skip-editable",
            "--strict",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
