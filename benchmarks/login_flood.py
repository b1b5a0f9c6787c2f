"""Login flood benchmark: POST /calls latency while 60 clients hammer /auth/login.

Run from the repository root: `.venv/bin/python -m benchmarks.login_flood`.
Three phases (no flood; flood with the default limits; flood with the limits
lifted so every attempt reaches the hashing pool), printed and saved to
benchmarks/results/login_flood.json. The harness (server, hammer, call-taker
in three processes) is tests/security/flood.py, shared with the regression test.
"""

from __future__ import annotations

from tests.security.flood import run_benchmark

if __name__ == "__main__":
    run_benchmark()
