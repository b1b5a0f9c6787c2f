"""Hostile XML is refused without reading files, touching the network or expanding entities."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from lxml import etree
from typer.testing import CliRunner

from tests.conftest import shared_file
from vigil.alerts.events import ExternalAlertReceived
from vigil.alerts.inbound import CapIntake, DeadLetters
from vigil.alerts.xmlsafe import UntrustedXmlError, hardened_parser, parse_untrusted
from vigil.cli import cli
from vigil.core.clock import ManualClock

SECRET = "TOP-SECRET-CONTENT-42"


def _xxe(secret_file: Path) -> bytes:
    return f"""<?xml version="1.0"?>
<!DOCTYPE alert [<!ENTITY xxe SYSTEM "file://{secret_file}">]>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>&xxe;</identifier></alert>""".encode()


def _external_dtd(port: int) -> bytes:
    return f"""<?xml version="1.0"?>
<!DOCTYPE alert SYSTEM "http://127.0.0.1:{port}/evil.dtd">
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>x</identifier></alert>""".encode()


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>&lol9;</identifier></alert>"""

XINCLUDE = b"""<?xml version="1.0"?>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2" xmlns:xi="http://www.w3.org/2001/XInclude">
<identifier><xi:include href="file:///etc/passwd" parse="text"/></identifier></alert>"""


def _oversized() -> bytes:
    return (
        b"<alert xmlns='urn:oasis:names:tc:emergency:cap:1.2'><note>"
        + b"a" * 2_000_000
        + b"</note></alert>"
    )


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    path = tmp_path / "secret.txt"
    path.write_text(SECRET)
    return path


@pytest.fixture
def listener() -> Iterator[object]:
    """A TCP listener that records whether anything connected (it must not)."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    srv.settimeout(0.2)
    hits: list[bool] = []
    stop = threading.Event()

    def run() -> None:
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except OSError:
                continue
            hits.append(True)
            conn.close()

    t = threading.Thread(target=run, daemon=True)
    t.start()

    class L:
        port = srv.getsockname()[1]
        connected = hits

    yield L
    stop.set()
    t.join(timeout=2)
    srv.close()


def test_xxe_file_entity_refused_without_reading(secret: Path) -> None:
    with pytest.raises(UntrustedXmlError) as err:
        parse_untrusted(_xxe(secret))
    assert err.value.reason == "doctype"
    assert SECRET not in str(err.value)


def test_parser_itself_never_expands_even_if_the_prescan_were_bypassed(secret: Path) -> None:
    root = etree.fromstring(_xxe(secret), parser=hardened_parser())
    assert SECRET not in etree.tostring(root).decode()
    try:
        laughs = etree.fromstring(BILLION_LAUGHS, parser=hardened_parser())
    except etree.XMLSyntaxError as err:  # libxml2's amplification limit refuses it outright
        assert "amplification" in str(err)
    else:
        assert len(etree.tostring(laughs)) < 5000


def test_external_dtd_not_fetched(listener: object) -> None:
    with pytest.raises(UntrustedXmlError) as err:
        parse_untrusted(_external_dtd(listener.port))  # type: ignore[attr-defined]
    assert err.value.reason == "doctype"
    assert listener.connected == []  # type: ignore[attr-defined]


def test_billion_laughs_refused() -> None:
    with pytest.raises(UntrustedXmlError) as err:
        parse_untrusted(BILLION_LAUGHS)
    assert err.value.reason == "doctype"


def test_oversized_refused_before_parsing() -> None:
    with pytest.raises(UntrustedXmlError) as err:
        parse_untrusted(_oversized(), max_bytes=1_000_000)
    assert err.value.reason == "too_large"


def test_xinclude_is_never_processed(cap_schema: etree.XMLSchema) -> None:
    root = parse_untrusted(XINCLUDE)
    assert "root:" not in etree.tostring(root).decode()


@pytest.mark.parametrize("kind", ["xxe", "dtd", "laughs", "big"])
def test_intake_dead_letters_and_counts(
    kind: str, secret: Path, listener: object, tmp_path: Path, cap_schema: etree.XMLSchema
) -> None:
    doc = {
        "xxe": _xxe(secret),
        "dtd": _external_dtd(listener.port),  # type: ignore[attr-defined]
        "laughs": BILLION_LAUGHS,
        "big": _oversized(),
    }[kind]
    recorded: list[ExternalAlertReceived] = []
    dead = DeadLetters(tmp_path / "dead.sqlite3")
    intake = CapIntake(
        schema=cap_schema, dead=dead, record=lambda e, i: not recorded.append(e),  # type: ignore[func-returns-value]
        clock=ManualClock(), max_bytes=1_000_000,
    )  # fmt: skip
    result = intake.take(doc, source="partner")
    assert result.accepted == 0 and len(result.rejected) == 1
    assert recorded == []
    reason = "too_large" if kind == "big" else "doctype"
    assert dead.counters() == {"partner": {reason: 1}}
    assert dead.recent()[0]["reason"] == reason
    assert SECRET not in str(dead.recent())
    assert listener.connected == []  # type: ignore[attr-defined]
    dead.close()


def test_cli_refuses_hostile_files(
    tmp_path: Path, secret: Path, listener: object, cap_xsd_path: Path
) -> None:
    files = []
    for name, body in (
        ("xxe.cap", _xxe(secret)),
        ("dtd.cap", _external_dtd(listener.port)),  # type: ignore[attr-defined]
        ("laughs.cap", BILLION_LAUGHS),
        ("big.cap", _oversized()),
    ):
        path = tmp_path / name
        path.write_bytes(body)
        files.append(str(path))
    good = str(shared_file("cap/canada.cap"))
    result = CliRunner().invoke(
        cli, ["cap", "validate", "--schema", str(cap_xsd_path), good, *files]
    )
    assert result.exit_code == 1
    assert SECRET not in result.output
    assert f"{good}: valid" in result.output
    assert result.output.count("INVALID (refused)") == 4
    assert "too_large" in result.output and "doctype" in result.output
    assert listener.connected == []  # type: ignore[attr-defined]


def test_cli_all_valid_exits_zero(cap_xsd_path: Path) -> None:
    files = [
        str(shared_file(f"cap/{n}"))
        for n in ("canada.cap", "australia.cap", "bushfire_valid.edxlde")
    ]
    result = CliRunner().invoke(cli, ["cap", "validate", "--schema", str(cap_xsd_path), *files])
    assert result.exit_code == 0, result.output
    assert "3 valid, 0 invalid" in result.output


def test_cli_invalid_lists_reasons(cap_xsd_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["cap", "validate", "--schema", str(cap_xsd_path), str(shared_file("cap/invalid.cap"))]
    )
    assert result.exit_code == 1
    assert "alert/scope: is required" in result.output
