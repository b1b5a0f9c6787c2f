"""Free text that reaches the log, the audit trail or an operator's screen.

Refused, not stripped: the sender learns which character and where.
"""

from __future__ import annotations

import re

# Characters no free text may hold: C0/C1 controls (ESC starts ANSI sequences that
# repaint an operator's terminal), DEL, bidirectional overrides and isolates
# (they reorder what a reviewer reads: "Trojan Source"), zero-width and BOM marks.
_BIDI = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
_INVISIBLE = "\u200b-\u200d\u2028\u2029\ufeff"
_FORBIDDEN_LINE = re.compile(f"[\x00-\x1f\x7f-\x9f{_BIDI}{_INVISIBLE}]")
_FORBIDDEN_TEXT = re.compile(f"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f{_BIDI}{_INVISIBLE}]")


def clean_line(value: str) -> str:
    """Refuse one-line text holding control, bidirectional or invisible characters."""
    found = _FORBIDDEN_LINE.search(value)
    if found:
        raise ValueError(
            f"control, bidirectional or invisible character U+{ord(found.group()):04X} "
            f"at position {found.start()} is not allowed"
        )
    return value


def clean_text(value: str) -> str:
    """Refuse free text holding control characters (tab and line breaks are allowed)."""
    found = _FORBIDDEN_TEXT.search(value)
    if found:
        raise ValueError(
            f"control, bidirectional or invisible character U+{ord(found.group()):04X} "
            f"at position {found.start()} is not allowed"
        )
    return value
