"""The web apps' string catalogue: every key in every language, placeholders kept, no key unknown."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

WEB = Path(__file__).resolve().parents[3] / "vigil" / "web" / "src"
CATALOGUE = WEB / "i18n"
PLACEHOLDER = re.compile(r"\{(\w+)\}")
# t("key"...) with a literal key; keys built at run time (unit.<status>, ...) are
# checked by `has()` in the UI and fall back to the API's value.
USED = re.compile(r"""\bt\(\s*"([A-Za-z0-9_.]+)"\s*[,)]""")


def load(lang: str) -> dict[str, str]:
    data: dict[str, str] = json.loads((CATALOGUE / f"{lang}.json").read_text(encoding="utf-8"))
    return data


LANGUAGES = sorted(p.stem for p in CATALOGUE.glob("*.json"))


def test_english_and_another_language_ship() -> None:
    assert "en" in LANGUAGES and len(LANGUAGES) >= 2, LANGUAGES


@pytest.mark.parametrize("lang", [x for x in LANGUAGES if x != "en"])
def test_every_key_exists_in_every_language_with_the_same_placeholders(lang: str) -> None:
    en, other = load("en"), load(lang)
    assert sorted(set(en) - set(other)) == [], f"{lang} lacks these keys"
    assert sorted(set(other) - set(en)) == [], f"{lang} has keys English does not"
    for key, text in other.items():
        assert text.strip(), f"{lang}:{key} is empty"
        assert set(PLACEHOLDER.findall(text)) == set(PLACEHOLDER.findall(en[key])), (
            f"{lang}:{key} placeholders differ from English"
        )


def test_every_key_the_apps_use_is_in_the_catalogue() -> None:
    en = load("en")
    used: dict[str, str] = {}
    for src in WEB.rglob("*.ts"):
        if "generated" in src.parts:
            continue
        for key in USED.findall(src.read_text(encoding="utf-8")):
            used.setdefault(key, str(src.relative_to(WEB)))
    assert used, "no t(...) call found: the pattern no longer matches the code"
    missing = {k: where for k, where in used.items() if k not in en}
    assert missing == {}


def test_the_command_centre_and_field_app_draw_their_words_from_the_catalogue() -> None:
    # The command centre's panels and dialogs and the field app go through `t`.
    for rel in ("centre/shell.ts", "centre/queue.ts", "panels/alerts.ts", "panels/cameras.ts",
                "panels/incident.ts", "dialogs/newcall.ts", "field/main.ts"):  # fmt: skip
        assert USED.search((WEB / rel).read_text(encoding="utf-8")), rel
