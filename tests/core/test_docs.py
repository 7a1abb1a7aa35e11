from __future__ import annotations

from pathlib import Path

import pytest

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
