"""Check a claim on the shared SFFD history: consistent claims supported, exaggerated not."""

from __future__ import annotations

import csv
import math
from collections.abc import Iterator
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import duckdb
import pytest

from tests.conftest import shared_file
from vigil.analytics.claims import Claim, Period, check
from vigil.analytics.settings import AnalyticsSettings
from vigil.history.store import HistoryStore

SF = ZoneInfo("America/Los_Angeles")
SETTINGS = AnalyticsSettings(timezone="America/Los_Angeles")
A = Period(since=datetime(2009, 1, 1, 8, tzinfo=UTC), until=datetime(2013, 1, 1, 8, tzinfo=UTC))
B = Period(since=datetime(2015, 1, 1, 8, tzinfo=UTC), until=datetime(2019, 1, 1, 8, tzinfo=UTC))
FIRES = "cad/sffd_calls_fires_2009_2019.csv"


@pytest.fixture(scope="module")
def sffd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[duckdb.DuckDBPyConnection]:
    store = HistoryStore(tmp_path_factory.mktemp("history"))
    store.import_file(shared_file(FIRES), "sffd", tz=None, progress=False)
    con = store.connect()
    yield con
    con.close()


def _local(text: str) -> datetime | None:
    return datetime.strptime(text, "%m/%d/%Y %I:%M:%S %p").replace(tzinfo=SF) if text else None


def _turnouts(period: Period) -> list[float]:
    """Turnout (dispatch -> en route) per unit response, read straight from the CSV."""
    out = []
    with shared_file(FIRES).open(newline="") as f:
        for row in csv.DictReader(f):
            received = _local(row["Received DtTm"])
            dispatch, en_route = _local(row["Dispatch DtTm"]), _local(row["Response DtTm"])
            if received is None or dispatch is None or en_route is None:
                continue
            if not period.since <= received < period.until:
                continue
            seconds = (en_route - dispatch).total_seconds()
            if 0 <= seconds <= SETTINGS.max_interval_s:
                out.append(seconds)
    return sorted(out)


def _median(values: list[float]) -> float:
    return values[math.ceil(len(values) * 0.5) - 1]


def _incidents(period: Period, call_type: str) -> int:
    seen = set()
    with shared_file(FIRES).open(newline="") as f:
        for row in csv.DictReader(f):
            received = _local(row["Received DtTm"])
            if (
                received
                and row["Call Type"] == call_type
                and period.since <= received < period.until
            ):
                seen.add(row["Incident Number"])
    return len(seen)


def test_a_claim_consistent_with_the_data_is_supported(sffd: duckdb.DuckDBPyConnection) -> None:
    before, after = _median(_turnouts(A)), _median(_turnouts(B))
    claim = Claim(
        kind="interval",
        interval="turnout",
        statistic="p50",
        a=A,
        b=B,
        before_s=before,
        after_s=after,
    )
    result = check(sffd, SETTINGS, claim)
    assert result.verdict == "supported", result.reasons
    assert result.a is not None and result.a.value == before
    assert result.b is not None and result.b.value == after
    assert result.n_a == len(_turnouts(A))


def test_an_exaggerated_claim_is_not_supported(sffd: duckdb.DuckDBPyConnection) -> None:
    before = _median(_turnouts(A))
    # "Turnout fell by more than half": the vendor-style claim.
    claim = Claim(
        kind="interval",
        interval="turnout",
        statistic="p50",
        a=A,
        b=B,
        before_s=before,
        after_s=before * 0.45,
    )
    result = check(sffd, SETTINGS, claim)
    assert result.verdict == "not supported"
    assert any(r.startswith("period B") for r in result.reasons)


def test_count_claims(sffd: duckdb.DuckDBPyConnection) -> None:
    na, nb = _incidents(A, "Outside Fire"), _incidents(B, "Outside Fire")
    actual = 100 * ((nb / B.days()) / (na / A.days()) - 1)
    honest = Claim(kind="count", call_types=("Outside Fire",), a=A, b=B, change_pct=actual)
    assert check(sffd, SETTINGS, honest).verdict == "supported"
    exaggerated = Claim(
        kind="count", call_types=("Outside Fire",), a=A, b=B, change_pct=actual - 46
    )
    result = check(sffd, SETTINGS, exaggerated)
    assert result.verdict == "not supported", result.reasons
    assert result.n_a == na and result.n_b == nb


def test_claims_without_definition_or_data_cannot_be_checked(
    sffd: duckdb.DuckDBPyConnection,
) -> None:
    vague = Claim(kind="interval", a=A, b=B, before_s=600, after_s=270)  # "10 -> 4.5 minutes"
    result = check(sffd, SETTINGS, vague)
    assert result.verdict == "cannot be checked"
    assert any("no interval defined" in r for r in result.reasons)
    future = Period(since=datetime(2030, 1, 1, tzinfo=UTC), until=datetime(2031, 1, 1, tzinfo=UTC))
    empty = Claim(kind="interval", interval="travel", statistic="p90", a=A, b=future, before_s=300)
    assert check(sffd, SETTINGS, empty).verdict == "cannot be checked"
