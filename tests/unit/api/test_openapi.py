"""The OpenAPI document declares the problems each operation can return; 405 carries Allow."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import auth
from vigil.audit.roles import Role

PROBLEM = "application/problem+json"


def _ops(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, op)
        for path, item in spec["paths"].items()
        if path.startswith("/api/v1/")
        for method, op in item.items()
    ]


def test_every_operation_declares_its_problem_responses(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert "Problem" in spec["components"]["schemas"]
    ops = _ops(spec)
    assert len(ops) >= 40
    for method, path, op in ops:
        responses = op["responses"]
        public = path.startswith("/api/v1/public/") or path in {
            "/api/v1/auth/login",
            "/api/v1/health",
            "/api/v1/map/basemap",
            "/api/v1/transparency",
        }
        wanted = {"422"} | (set() if public else {"401", "403"})
        if "{" in path:
            wanted.add("404")
        if method in {"POST", "PATCH", "PUT", "DELETE"}:
            wanted |= {"409", "413"}
        if path == "/api/v1/auth/login":
            wanted |= {"401", "429", "503"}
        assert wanted <= set(responses), (method, path, sorted(wanted - set(responses)))
        for status in wanted:
            content = responses[status]["content"]
            assert PROBLEM in content, (method, path, status)


def test_405_carries_allow(client: TestClient, tokens: dict[Role, str]) -> None:
    r = client.delete("/api/v1/incidents", headers=auth(tokens[Role.ADMIN]))
    assert r.status_code == 405
    assert set(r.headers["Allow"].replace(" ", "").split(",")) == {"GET", "POST"}
    assert r.headers["content-type"] == PROBLEM
    r = client.put("/api/v1/auth/login", json={})
    assert r.status_code == 405
    assert r.headers["Allow"] == "POST"
