"""The admin panel for people: the readable audit page with filters and CSV, the phone layout
(cards with their actions), es-CL dates on the usage chart, the reassignment picker."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, Route, expect
from sqlalchemy import select

from energyapp.conversations.models import Message
from energyapp.db import create_engine, create_sessionmaker
from energyapp.usage.models import UsageEvent
from tests.ui.conftest import SCREENSHOTS, LiveApp, Watch, _arun, login, quick_login

pytestmark = pytest.mark.browser


def _backdate_messages(live_app: LiveApp, conversation_id: str, moment: datetime) -> None:
    """Put every message of a conversation at ``moment`` with some tokens on the answers."""

    async def _update() -> None:
        engine = create_engine(live_app.db_url)
        try:
            async with create_sessionmaker(engine)() as session:
                rows = await session.scalars(
                    select(Message).where(Message.conversation_id == uuid.UUID(conversation_id))
                )
                for message in rows.all():
                    message.created_at = moment
                    event = await session.scalar(
                        select(UsageEvent).where(UsageEvent.message_id == message.id)
                    )
                    assert event is not None  # the ledger's row (live_app.create_conversation)
                    event.created_at = moment
                    if message.role == "assistant":
                        message.prompt_tokens, message.completion_tokens = 1200, 300
                        event.prompt_tokens, event.completion_tokens = 1200, 300
                await session.commit()
        finally:
            await engine.dispose()

    _arun(_update())


def test_audit_page_reads_in_spanish_and_filters(page: Page, live_app: LiveApp) -> None:
    worker = live_app.create_user(full_name="Tomás Auditado")
    with httpx.Client(base_url=live_app.base_url) as http:
        http.post("/auth/login", json={"email": worker["email"], "password": "no-es-la-clave"})
        http.post("/auth/login", json={"email": worker["email"], "password": worker["password"]})

    quick_login(page, live_app.base_url, "admin")
    page.goto(f"{live_app.base_url}/static/index.html#/admin/auditoria")
    page.fill("#audit-person", "Tomás Auditado")
    rows = page.locator("#audit-table tbody tr:not(.audit-details)")
    expect(rows).to_have_count(2)
    expect(rows.nth(1).locator(".audit-label")).to_have_text(
        "Falló el inicio de sesión (contraseña incorrecta o cuenta inexistente)"
    )
    expect(rows.nth(0).locator(".audit-label")).to_have_text("Inició sesión")
    expect(rows.nth(0)).to_contain_text(worker["email"])
    # Dates read dd-mm-aaaa HH:MM.
    assert re.fullmatch(
        r"\d{2}-\d{2}-\d{4} \d{2}:\d{2}", rows.nth(0).locator("td").first.inner_text()
    )

    page.select_option("#audit-outcome", "failure")
    expect(rows).to_have_count(1)
    expect(rows.first.locator(".pill")).to_have_text("Fallida")
    rows.first.locator("[data-action=details]").click()
    details = page.locator("#audit-table tr.audit-details").first
    expect(details).to_be_visible()
    expect(details).to_contain_text("login_failed")
    expect(details).to_contain_text("invalid_credentials")

    page.select_option("#audit-outcome", "")
    page.select_option("#audit-action", "login")
    expect(rows).to_have_count(1)
    expect(rows.first.locator(".audit-label")).to_have_text("Inició sesión")
    # A day in the past: nothing; a wrong date: a message, not a request.
    page.fill("#audit-from", "01-01-2020")
    page.fill("#audit-to", "31-01-2020")
    page.locator("#audit-to").dispatch_event("change")
    expect(page.locator("#audit-table tbody")).to_contain_text("No hay registros que coincidan.")
    page.fill("#audit-to", "31-02-2020")
    page.locator("#audit-to").dispatch_event("change")
    expect(page.locator(".alert-error")).to_contain_text("dd-mm-aaaa")
    page.fill("#audit-from", "")
    page.fill("#audit-to", "")
    page.locator("#audit-to").dispatch_event("change")
    expect(rows).to_have_count(1)

    with page.expect_download() as download:
        page.click("#audit-export")
    path = download.value.path()
    assert re.fullmatch(r"auditoria-\d{2}-\d{2}-\d{4}\.csv", download.value.suggested_filename)
    raw = Path(path).read_bytes()
    assert raw.startswith("\ufeff".encode())
    text = raw.decode("utf-8-sig")
    assert "Inició sesión" in text and "Tomás Auditado" in text
    assert "Falló" not in text  # the export follows the filters (action: login)


def test_phone_admin_layout_shows_cards_with_actions(
    browser: Browser, live_app: LiveApp, watch: Watch
) -> None:
    worker = live_app.create_user(full_name="Carla Tarjeta")
    live_app.create_conversation(worker["id"], "Informe de consumo", [("user", "Hola")])
    context = browser.new_context(viewport={"width": 375, "height": 760}, locale="es-CL")
    try:
        page = context.new_page()
        page.on("pageerror", lambda exc: watch.errors.append(str(exc)))
        login(page, live_app.base_url, "admin@example.com", "admin123")
        page.goto(f"{live_app.base_url}/static/index.html#/admin/usuarios")
        page.fill("#user-search", "Carla Tarjeta")
        card = page.locator(f"#users-table tr[data-user-id='{worker['id']}']")
        # The search's own page drawn (the whole list drawn first is replaced): measured below.
        expect(page.locator("#users-table tr[data-user-id]")).to_have_count(1)
        expect(card).to_be_visible()
        expect(page.locator("#users-table thead")).to_be_hidden()
        # A card: the cells stack (each one as wide as the row) and the actions are on screen.
        box = card.bounding_box()
        cell = card.locator("td").first.bounding_box()
        assert box is not None and cell is not None and box["width"] <= 375
        assert cell["width"] > box["width"] * 0.8
        expect(card.locator("a", has_text="Ver")).to_be_in_viewport()
        expect(card.locator("[data-action=manage]")).to_be_in_viewport()
        expect(card.locator("td[data-label=Actividad]")).to_have_text("nunca")
        assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "admin-cards-mobile.png"))

        card.locator("a", has_text="Ver").click()
        conv = page.locator("#user-conversations tbody tr", has_text="Informe de consumo")
        expect(conv.locator("[data-action=reassign]")).to_be_in_viewport()
        expect(conv.locator("a", has_text="Ver mensajes")).to_be_in_viewport()
        expect(page.locator("h2")).to_contain_text("Carla Tarjeta")
        assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
        page.goto(f"{live_app.base_url}/static/index.html#/admin/auditoria")
        expect(page.locator("#audit-table tbody tr").first).to_be_visible()
        assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
        page.screenshot(path=str(SCREENSHOTS / "admin-audit-mobile.png"))
    finally:
        context.close()
    watch.assert_clean()
    assert (SCREENSHOTS / "admin-cards-mobile.png").stat().st_size > 10_000


def test_usage_chart_reads_es_cl_days(page: Page, live_app: LiveApp) -> None:
    worker = live_app.create_user(full_name="Ursula Uso")
    conv = live_app.create_conversation(
        worker["id"], "Uso de octubre", [("user", "pregunta"), ("assistant", "respuesta")]
    )
    # 02:30 UTC on 10-10-2026 is the evening of 09-10-2026 in Santiago.
    _backdate_messages(live_app, conv, datetime(2026, 10, 10, 2, 30, tzinfo=UTC))
    quick_login(page, live_app.base_url, "admin")
    page.goto(f"{live_app.base_url}/static/index.html#/admin/uso")
    expect(page.locator("#usage-chart canvas")).to_be_visible()
    page.fill("#usage-from", "01-10-2026")
    page.fill("#usage-to", "31-10-2026")
    page.click("#usage-range button[type=submit]")
    expect(page.locator("#usage-summary")).to_have_text(
        "Del 01-10-2026 al 31-10-2026: 1.500 tokens y 1 respuesta."
    )
    expect(page.locator("#usage-users tbody")).to_contain_text("Ursula Uso")
    # The legend follows the cursor: day 9 of the range (index 8) reads 09-10-2026.
    over = page.locator("#usage-chart .u-over")
    box = over.bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] * 8 / 30, box["y"] + box["height"] / 2)
    day = page.locator("#usage-chart .u-legend .u-series").first.locator(".u-value")
    expect(day).to_have_text("09-10-2026")
    tokens = page.locator("#usage-chart .u-legend .u-series").nth(1).locator(".u-value")
    expect(tokens).to_have_text("1.200")
    # The axis (drawn on the canvas) names days dd-mm-aaaa, never month/day.
    chart = page.locator("#usage-chart")
    expect(chart).to_have_attribute("aria-label", "Tokens por día, del 01-10-2026 al 31-10-2026")
    axis_days = (chart.get_attribute("data-axis-days") or "").split()
    assert axis_days and axis_days[0] == "01-10-2026"
    assert all(re.fullmatch(r"\d{2}-10-2026", d) for d in axis_days), axis_days


def test_a_slow_answer_to_an_older_filter_never_replaces_a_newer_one(
    page: Page, live_app: LiveApp
) -> None:
    """The list asked for with "desde" alone answers last, after the one with both days: the
    table keeps the newer answer (before the fix it showed the older one's rows)."""
    worker = live_app.create_user(full_name="Tomás Lento")
    with httpx.Client(base_url=live_app.base_url) as http:
        http.post("/auth/login", json={"email": worker["email"], "password": worker["password"]})
    held: list[Route] = []

    def hold_the_older(route: Route) -> None:
        url = route.request.url
        if "from=2020-01-01" in url and "to=" not in url:
            held.append(route)  # answered only when the test says so
        else:
            route.continue_()

    quick_login(page, live_app.base_url, "admin")
    page.goto(f"{live_app.base_url}/static/index.html#/admin/auditoria")
    page.fill("#audit-person", "Tomás Lento")
    rows = page.locator("#audit-table tbody tr:not(.audit-details)")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(worker["email"])
    page.route("**/admin/audit?*", hold_the_older)
    page.fill("#audit-from", "01-01-2020")
    page.locator("#audit-from").dispatch_event("change")
    page.fill("#audit-to", "31-01-2020")
    page.locator("#audit-to").dispatch_event("change")
    tbody = page.locator("#audit-table tbody")
    expect(tbody).to_contain_text("No hay registros que coincidan.")
    assert held, "the older list was not asked for"
    for route in held:
        with page.expect_request_finished(lambda r, url=route.request.url: r.url == url):
            route.continue_()
    page.wait_for_timeout(300)  # the page reads and would render the late answer meanwhile
    assert tbody.inner_text().strip() == "No hay registros que coincidan."
