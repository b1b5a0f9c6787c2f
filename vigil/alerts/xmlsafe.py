"""Parse XML from outside without letting the document steer the parser.

Every XML document Vigil reads from another agency, a feed or a file goes
through `parse_untrusted`. Why lxml and not defusedxml + xmlschema: lxml parses
and validates against the CAP XSD in C with one library, and its parser can be
built so that it cannot do anything dangerous — no entity substitution
(``resolve_entities=False``), no DTD loading (``load_dtd=False``), no network
(``no_network=True``), no huge-tree mode (libxml2's own depth and size limits
stay on). On top of that, a document that carries a DOCTYPE at all is refused
before parsing: CAP, Atom, RSS and EDXL-DE never need one, and refusing it is
simpler to reason about than tolerating it. Sizes are checked on the raw bytes
before the parser sees them.
"""

from __future__ import annotations

import re
from pathlib import Path

from lxml import etree

from vigil.core.errors import ValidationError

DEFAULT_MAX_BYTES = 1_000_000

# A DOCTYPE (internal subset, external DTD, entity declarations) anywhere before
# or inside the document. Checked on bytes; UTF-16/32 documents are refused as
# undecodable below because every standard in use here is UTF-8.
_DOCTYPE = re.compile(rb"<!\s*DOCTYPE", re.IGNORECASE)
_ENTITY = re.compile(rb"<!\s*ENTITY", re.IGNORECASE)


class UntrustedXmlError(ValidationError):
    """An XML document was refused; `reason` is a stable counter key."""

    title = "Rejected XML"

    def __init__(self, message: str, *, reason: str, field: str | None = None) -> None:
        super().__init__(message, field=field)
        self.reason = reason


def hardened_parser() -> etree.XMLParser:
    """Return a parser that never resolves entities, loads DTDs or touches the network."""
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )


class _NoResolve(etree.Resolver):
    """A resolver that answers every request for an external resource with nothing."""

    def resolve(self, url: str, pubid: str | None, context: object) -> None:  # type: ignore[override]  # lxml passes a context the stubs omit
        """Refuse every external resource (DTD, entity, XInclude, schema import)."""
        raise UntrustedXmlError(
            f"the document asked for an external resource {url!r}", reason="external"
        )


def parse_untrusted(data: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES) -> etree._Element:
    """Parse bytes from outside into an element tree, or refuse them with a reason."""
    if len(data) > max_bytes:
        raise UntrustedXmlError(
            f"document is {len(data)} bytes, more than the limit of {max_bytes}", reason="too_large"
        )
    if not data.strip():
        raise UntrustedXmlError("document is empty", reason="empty")
    if data.startswith((b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff", b"\xff\xfe\x00\x00")):
        raise UntrustedXmlError("only UTF-8 XML is accepted", reason="encoding")
    if _DOCTYPE.search(data):
        raise UntrustedXmlError(
            "document has a DOCTYPE (DTDs and entity declarations are refused)", reason="doctype"
        )
    if _ENTITY.search(data):
        raise UntrustedXmlError("document declares an entity", reason="entity")
    parser = hardened_parser()
    parser.resolvers.add(_NoResolve())
    try:
        root = etree.fromstring(data, parser=parser)
    except UntrustedXmlError:
        raise
    except etree.XMLSyntaxError as err:
        raise UntrustedXmlError(f"not well-formed XML: {err}", reason="malformed") from err
    if root is None:
        raise UntrustedXmlError("document has no root element", reason="malformed")
    return root


def read_untrusted(path: Path, *, max_bytes: int = DEFAULT_MAX_BYTES) -> etree._Element:
    """Read one file (at most `max_bytes` + 1 bytes of it) and parse it as untrusted XML."""
    try:
        with path.open("rb") as fh:
            data = fh.read(max_bytes + 1)
    except OSError as err:
        raise UntrustedXmlError(f"cannot read {path}: {err.strerror}", reason="unreadable") from err
    return parse_untrusted(data, max_bytes=max_bytes)


def load_schema(path: Path) -> etree.XMLSchema:
    """Load an XSD from a local file with the hardened parser (its imports stay local)."""
    try:
        doc = etree.parse(str(path), parser=hardened_parser())
        return etree.XMLSchema(doc)
    except (OSError, etree.XMLSyntaxError, etree.XMLSchemaParseError) as err:
        raise ValidationError(f"cannot load XML schema {path}: {err}", field="schema") from err
