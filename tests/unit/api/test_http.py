"""The API builds its routes' request handling at startup, not on the first request."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import fastapi.routing
import pytest
from fastapi.dependencies.utils import get_dependant
from fastapi.testclient import TestClient

from tests.natsutil import run_coroutine
from vigil.api.http import create_api, probe
from vigil.app import App


def _counting(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count FastAPI's building of a route's dependencies (it does so on first match)."""
    calls = [0]
    real: Callable[..., Any] = get_dependant

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(fastapi.routing, "get_dependant", counted)
    return calls


def test_the_first_request_finds_every_route_built(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _counting(monkeypatch)
    # Without the startup (no lifespan run), the first request builds them: the page
    # at `/` comes after every router, so it is matched against every route.
    cold = TestClient(create_api(app))
    assert cold.get("/").status_code == 200
    every_route = calls[0]
    assert every_route > 50
    calls[0] = 0
    with TestClient(create_api(app)) as warm:  # runs the startup
        assert calls[0] == every_route
        assert warm.get("/").status_code == 200
        assert warm.get("/api/v1/health").status_code == 200
    assert calls[0] == every_route  # nothing more on the requests


def test_the_startup_probes_answer(app: App) -> None:
    api = create_api(app)
    with TestClient(api):
        # On a loop of its own: the browser tests leave one running in this thread.
        assert run_coroutine(lambda: probe(api, "/.vigil-warm-up")) == 404  # every route
        assert run_coroutine(lambda: probe(api, "/api/v1/health")) == 200
