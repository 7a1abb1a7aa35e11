from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from energyapp.config import Settings

pytestmark = pytest.mark.no_database

ROOT = Path(__file__).resolve().parents[2]


def test_every_setting_is_documented() -> None:
    doc = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    missing = [name for name in Settings.model_fields if f"`ENERGYAPP_{name.upper()}`" not in doc]
    assert missing == [], f"undocumented settings: {missing}"


def test_readme_quick_start_is_two_commands() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "make run" in readme and "make test" in readme


def _documented_settings() -> list[tuple[str, str, str]]:
    """(setting, variable, default) of every row of docs/configuration.md's tables."""
    doc = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    return re.findall(r"^\| (\w+) \| `(ENERGYAPP_\w+)` \| ([^|]*) \|", doc, re.MULTILINE)


def test_every_documented_setting_exists_with_its_default() -> None:
    """The other way round: no row for a setting that is gone or renamed, and a default given
    as a value (`8001`, `["inacapmail.cl"]`) is the code's."""
    rows = _documented_settings()
    assert len(rows) == len({name for name, _, _ in rows}), "a setting documented twice"
    for name, variable, default in rows:
        assert name in Settings.model_fields, f"docs/configuration.md documents {name}"
        assert variable == f"ENERGYAPP_{name.upper()}"
        literal = re.fullmatch(r"`([^`]*)`(?: \(off\))?", default.strip())
        if literal is None:  # described in words ("unset", "a development key")
            continue
        actual = Settings.model_fields[name].get_default(
            call_default_factory=True, validated_data={}
        )
        documented = yaml.safe_load(literal.group(1))
        if isinstance(actual, str) and not isinstance(documented, str):
            documented = literal.group(1)
        assert documented == actual, f"{name}: documented {default.strip()}, code {actual!r}"


def test_paths_named_in_the_docs_exist() -> None:
    """A file of the kit the docs send the operator to (`deploy/...`, `scripts/...`) exists."""
    texts = [ROOT / "README.md", ROOT / ".env.example", *sorted((ROOT / "docs").glob("*.md"))]
    missing = []
    for path in texts:
        text = path.read_text(encoding="utf-8")
        for named in re.findall(r"(?<![\w/.])((?:deploy|scripts)/[\w./@-]*\w)", text):
            if not (ROOT / named).exists():
                missing.append(f"{path.name}: {named}")
    assert missing == []
