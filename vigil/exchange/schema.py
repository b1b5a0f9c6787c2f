"""The NENA EIDO JSON schema: read from its OpenAPI 3.0 document and the NIEM components it uses.

NENA publishes EIDO as OpenAPI 3.0 components (``Schema/openapi.yaml``) that
reference NIEM components in ``Schema/NIEMComponents/*.yaml``. Version 1.0.0
has a few YAML slips, e.g. ``minItems: 1,`` which YAML reads as the string
``"1,"``: they are repaired in memory (never in the file) and listed in
``EidoSchema.repairs`` so an operator can see exactly what was reinterpreted.
References resolve only to files inside the schema folder: nothing is fetched.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from referencing import Registry, Resource
from referencing.exceptions import NoSuchResource
from referencing.jsonschema import DRAFT7 as _DRAFT7

from vigil.core.errors import ConfigError

# A virtual base URI: it names the schema folder and is mapped to it by `_retrieve`.
BASE = "file:///eido-schema/"
ROOT_TYPE = "EmergencyIncidentDataObjectType"
_NUMERIC = {"minItems", "maxItems", "minLength", "maxLength", "minimum", "maximum", "minProperties"}
_SLIP = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*,?\s*$")


@dataclass(frozen=True, slots=True)
class Problem:
    """One way a document breaks the EIDO schema or Vigil's profile rules."""

    path: str
    message: str
    check: str  # "schema" | "profile" | "json"

    def __str__(self) -> str:
        return f"{self.check}: {self.path}: {self.message}"


def _repair(node: Any, where: str, repairs: list[str]) -> Any:
    """Return the node with numeric keywords read as numbers (``"1,"`` -> 1)."""
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key in _NUMERIC and isinstance(value, str):
                m = _SLIP.match(value)
                if m is None:
                    raise ConfigError(f"{where}/{key}: {value!r} is not a number")
                number = float(m.group(1)) if "." in m.group(1) else int(m.group(1))
                repairs.append(f"{where}/{key}: {value!r} read as {number}")
                out[key] = number
            else:
                out[key] = _repair(value, f"{where}/{key}", repairs)
        # OpenAPI 3.0 'nullable: true' is JSON Schema's type: [T, null].
        if out.get("nullable") is True and isinstance(out.get("type"), str):
            out["type"] = [out["type"], "null"]
        return out
    if isinstance(node, list):
        return [_repair(v, f"{where}[{i}]", repairs) for i, v in enumerate(node)]
    return node


@dataclass(slots=True)
class EidoSchema:
    """The EIDO schema, its NIEM components, and a validator for whole EIDO documents."""

    folder: Path
    repairs: list[str] = field(default_factory=list)
    _docs: dict[str, Any] = field(default_factory=dict)
    _validator: Any = None

    @classmethod
    def load(cls, openapi: Path) -> EidoSchema:
        """Load ``openapi.yaml`` (its NIEM components are read from beside it when referenced)."""
        schema = cls(folder=openapi.parent)
        schema._read("openapi.yaml" if openapi.name == "openapi.yaml" else openapi.name)
        registry: Registry[Any] = Registry(retrieve=schema._retrieve)  # type: ignore[call-arg]
        root = {"$ref": f"{BASE}{openapi.name}#/components/schemas/{ROOT_TYPE}"}
        schema._validator = jsonschema.Draft7Validator(root, registry=registry)
        # Resolve every reference now, so a missing NIEM file is a start-up error, not a 500.
        schema._check_refs()
        return schema

    def _read(self, name: str) -> Any:
        name = posixpath.normpath(name)
        if name in self._docs:
            return self._docs[name]
        path = (self.folder / name).resolve()
        if self.folder.resolve() not in path.parents:
            raise ConfigError(f"EIDO schema reference {name!r} leaves the schema folder")
        try:
            raw = yaml.safe_load(path.read_text("utf-8"))
        except (OSError, yaml.YAMLError) as err:
            raise ConfigError(f"cannot read EIDO schema file {path}: {err}") from err
        doc = _repair(raw, name, self.repairs)
        if isinstance(doc, dict):
            doc["$id"] = BASE + name  # relative references resolve against this file
        self._docs[name] = doc
        return doc

    def _retrieve(self, uri: str) -> Resource[Any]:
        if not uri.startswith(BASE):
            raise NoSuchResource(ref=uri)  # type: ignore[call-arg]  # attrs class, untyped init
        doc = self._read(uri.removeprefix(BASE))
        return Resource.from_contents(doc, default_specification=_DRAFT7)

    def _check_refs(self) -> None:
        done: set[str] = set()
        while todo := [n for n in self._docs if n not in done]:
            for name in todo:
                done.add(name)
                for ref in _refs(self._docs[name]):
                    target, _, _pointer = ref.partition("#")
                    if target:
                        self._read(posixpath.join(posixpath.dirname(name), target))

    def problems(self, document: Any) -> list[Problem]:
        """Return the schema's complaints about an EIDO document (empty when valid)."""
        errors = sorted(self._validator.iter_errors(document), key=lambda e: list(e.absolute_path))
        return [
            Problem(
                path="/" + "/".join(str(p) for p in e.absolute_path),
                message=e.message[:300],
                check="schema",
            )
            for e in errors
        ]


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and not isinstance(node.get("type"), str):
            yield ref
        for key, value in node.items():
            if key != "properties":
                yield from _refs(value)
            elif isinstance(value, dict):
                for sub in value.values():
                    yield from _refs(sub)
    elif isinstance(node, list):
        for v in node:
            yield from _refs(v)
