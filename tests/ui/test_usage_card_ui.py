"""Configuración → "Uso de hoy": the tokens a person used today against their role's daily
quota, what is left and when it starts again, before a refused message tells them."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from energyapp.db import create_engine, create_sessionmaker, utcnow
from energyapp.usage.models import UsageEvent
from tests.ui.conftest import (
    DEAD_OLLAMA,
    LiveApp,
    _arun,
    _database,
    _seed,
    _serve,
    login,
)

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def quota_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApp]:
    """An app whose workers may use 1,000 tokens a day (supervisors: no quota)."""
    with _database(tmp_path_factory.mktemp("ui-quota")) as db_url:
        _seed(db_url)
        env = {"ENERGYAPP_DAILY_TOKEN_QUOTA": '{"trabajador": 1000}'}
        with _serve(db_url, DEAD_OLLAMA, tmp_path_factory.mktemp("ui-quota-logs"), env) as base:
            yield LiveApp(base_url=base, db_url=db_url, ollama_url=None)


def _spend(app: LiveApp, user_id: str, prompt: int, completion: int) -> None:
    """One generation of the person's, now, in the usage ledger."""

    async def _write() -> None:
        engine = create_engine(app.db_url)
        try:
            async with create_sessionmaker(engine)() as session:
                session.add(
                    UsageEvent(
                        user_id=uuid.UUID(user_id),
                        created_at=utcnow(),
                        source="web",
                        status="complete",
                        prompt_tokens=prompt,
                        completion_tokens=completion,
                        messages=2,
                        answers=1,
                    )
                )
                await session.commit()
        finally:
            await engine.dispose()

    _arun(_write())


def test_a_worker_sees_what_is_left_of_todays_quota(page: Page, quota_app: LiveApp) -> None:
    user = quota_app.create_user()
    _spend(quota_app, user["id"], 600, 150)
    login(page, quota_app.base_url, user["email"], user["password"])
    page.click("nav.tabs a:text('Configuración')")
    card = page.locator("section[aria-labelledby=usage-h]")
    expect(card.locator("h2")).to_have_text("Uso de hoy")
    expect(card.locator("#usage-text")).to_have_text(
        "Ha usado 750 de 1.000 tokens hoy (75 %). Le quedan 250."
    )
    bar = card.locator("#usage-meter")
    expect(bar).to_have_attribute("value", "750")
    expect(bar).to_have_attribute("max", "1000")
    expect(card.locator("#usage-reset")).to_contain_text("Se renueva el ")
    expect(card.locator("#usage-reset")).to_contain_text("(hora de Chile)")

    _spend(quota_app, user["id"], 400, 100)  # past the quota: nothing left, said plainly
    page.reload()
    expect(card.locator("#usage-text")).to_have_text(
        "Ha usado 1.250 de 1.000 tokens hoy: alcanzó su cuota diaria."
    )
    expect(bar).to_have_attribute("value", "1000")


def test_a_role_without_a_quota_sees_only_what_it_used(page: Page, quota_app: LiveApp) -> None:
    user = quota_app.create_user(role="supervisor")
    _spend(quota_app, user["id"], 1500, 500)
    login(page, quota_app.base_url, user["email"], user["password"])
    page.click("nav.tabs a:text('Configuración')")
    card = page.locator("section[aria-labelledby=usage-h]")
    expect(card.locator("#usage-text")).to_have_text(
        "Ha usado 2.000 tokens hoy. Su rol no tiene un límite diario."
    )
    expect(card.locator("#usage-meter")).to_have_count(0)
