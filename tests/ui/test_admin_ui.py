"""Admin panel in the browser: scope, reassignment, admin-only actions, URL tampering."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.sync_api import Page, Route, expect

from tests.ui.conftest import LiveApp, login, quick_login

pytestmark = pytest.mark.browser


def test_a_slow_answer_to_an_older_search_does_not_replace_the_pickers_list(
    page: Page, live_app: LiveApp
) -> None:
    """The reassignment picker searched as one types, and drew every answer as it came: on a
    loaded server the answer to "Trabajador" came after the one to the admin's address, and the
    list showed people the last search did not match (the clean-clone CI caught it)."""
    source = live_app.create_user(full_name="Origen Lento")
    live_app.create_user(full_name="Destino Lento")
    admin = live_app.create_user(role="admin", full_name="Otra Admin")
    live_app.create_conversation(source["id"], "Plan lento", [("user", "Hola")])
    quick_login(page, live_app.base_url, "supervisor")
    page.goto(f"{live_app.base_url}/static/index.html#/admin/usuario/{source['id']}")
    page.locator("#user-conversations [data-action=reassign]").click()
    expect(page.locator("#reassign-user option").first).to_be_attached()
    held: list[Route] = []

    def hold_first(route: Route) -> None:
        if held:
            route.continue_()
        else:
            held.append(route)

    page.route("**/admin/users?q=*", hold_first)
    page.fill("#reassign-search", "Lento")
    for _ in range(100):  # the search waits 250 ms after typing, then is held here
        if held:
            break
        page.wait_for_timeout(50)
    page.fill("#reassign-search", admin["email"])
    options = page.locator("#reassign-user option")
    expect(options).to_have_text(["Nadie coincide con la búsqueda."])
    with page.expect_response(lambda r: "q=Lento" in r.url):
        held[0].continue_()
    page.wait_for_timeout(200)  # the late answer is read
    expect(options).to_have_text(["Nadie coincide con la búsqueda."])


def test_supervisor_reassigns_a_worker_conversation(page: Page, live_app: LiveApp) -> None:
    source = live_app.create_user(full_name="Origen Trabajador")
    target = live_app.create_user(full_name="Destino Trabajador")
    admin = live_app.create_user(role="admin", full_name="Otra Admin")
    live_app.create_conversation(source["id"], "Plan de mantención", [("user", "Hola")])

    quick_login(page, live_app.base_url, "supervisor")
    page.click("nav.tabs a:text('Admin')")
    page.fill("#user-search", source["email"])
    row = page.locator(f"tr[data-user-id='{source['id']}']")
    expect(row).to_be_visible()
    # Never signed in: "nunca", not the time the account was created.
    expect(row.locator("td").nth(5)).to_have_text("nunca")
    # A supervisor cannot change roles or deactivate: no account management.
    expect(row.locator("[data-action=manage]")).to_have_count(0)
    row.locator("a", has_text="Ver").click()
    conv_row = page.locator("#user-conversations tbody tr", has_text="Plan de mantención")
    conv_row.locator("[data-action=reassign]").click()
    # The picker searches; only users in the supervisor's scope: no admin, not the owner.
    page.fill("#reassign-search", "Trabajador")
    expect(page.locator(f"#reassign-user option[value='{target['id']}']")).to_be_attached()
    options = page.locator("#reassign-user option").all_inner_texts()
    assert any(target["email"] in o for o in options)
    assert not any(source["email"] in o for o in options)
    page.fill("#reassign-search", admin["email"])
    expect(page.locator("#reassign-user option")).to_have_text(["Nadie coincide con la búsqueda."])
    page.fill("#reassign-search", target["email"])
    expect(page.locator("#reassign-user option")).to_have_count(1)
    page.select_option("#reassign-user", target["id"])
    page.locator("dialog button[type=submit]").click()
    # The confirmation names the conversation, its owner and the new one.
    confirm = page.locator("#reassign-confirm")
    expect(confirm).to_contain_text("«Plan de mantención»")
    expect(confirm).to_contain_text(f"De: Origen Trabajador ({source['email']})")
    expect(confirm).to_contain_text(f"A: Destino Trabajador ({target['email']})")
    page.locator("[data-action=confirm-reassign]").click()
    expect(page.locator(".toast")).to_have_text("Conversación reasignada.")
    expect(page.locator("#user-conversations tbody")).not_to_contain_text("Plan de mantención")

    page.goto(f"{live_app.base_url}/static/index.html#/admin/usuario/{target['id']}")
    expect(page.locator("#user-conversations tbody")).to_contain_text("Plan de mantención")
    page.locator("#user-conversations a", has_text="Ver mensajes").click()
    expect(page.locator("#admin-viewer .bubble")).to_have_text("Hola")
    expect(page.locator("#viewer-heading")).to_have_text(
        f"«Plan de mantención», conversación de Destino Trabajador ({target['email']})"
    )


def test_worker_cannot_reach_admin_data_by_url(page: Page, live_app: LiveApp) -> None:
    other = live_app.create_user(full_name="Alguien Más")
    conv = live_app.create_conversation(other["id"], "Secreto ajeno", [("user", "dato privado")])
    quick_login(page, live_app.base_url, "trabajador")
    for hash_ in ("#/admin", "#/admin/usuarios", f"#/admin/usuario/{other['id']}"):
        page.goto(f"{live_app.base_url}/static/index.html{hash_}")
        expect(page.locator(".chat")).to_be_visible()
        assert "#/chat" in page.url
    page.goto(f"{live_app.base_url}/static/index.html#/chat/{conv}")
    expect(page.locator("text=Conversación no encontrada")).to_be_visible()
    expect(page.locator("body")).not_to_contain_text("dato privado")
    # The API refuses too, with the worker's own token.
    statuses = page.evaluate(
        """async ([userId, convId]) => {
            const api = await import('/static/js/api.js');
            const out = [];
            for (const path of ['/admin/users', `/admin/conversations?user_id=${userId}`,
                                `/admin/conversations/${convId}/messages`, '/admin/audit']) {
                try { await api.api(path); out.push(200); } catch (e) { out.push(e.status); }
            }
            return out;
        }""",
        [other["id"], conv],
    )
    assert statuses == [403, 403, 403, 403]
    page.goto(f"{live_app.base_url}/admin/users")
    assert "example.com" not in page.content()


def test_admin_sees_audit_usage_and_user_actions(page: Page, live_app: LiveApp) -> None:
    worker = live_app.create_user(full_name="Para Desactivar")
    # Two days ago: the answers other tests of this session write today don't change its average.
    live_app.create_conversation(
        worker["id"],
        "Consumo",
        [("user", "Hola"), ("assistant", "Buenas")],
        first_token_ms=2400,
        days_ago=2,
    )
    answered = datetime.now(UTC) - timedelta(days=2, minutes=2)  # as create_conversation dates it
    quick_login(page, live_app.base_url, "admin")
    page.goto(f"{live_app.base_url}/static/index.html#/admin/usuarios")
    page.fill("#user-search", worker["email"])
    row = page.locator(f"tr[data-user-id='{worker['id']}']")
    row.locator("[data-action=manage]").click()
    page.locator("dialog [data-action=deactivate]").click()
    page.locator("dialog button", has_text="Confirmar").click()
    expect(page.locator(".toast")).to_have_text("Cambio guardado.")
    expect(row.locator(".pill")).to_have_text("Inactivo")
    row.locator("[data-action=manage]").click()
    page.select_option("#manage-role", "supervisor")
    page.locator("dialog button", has_text="Cambiar rol").click()
    page.locator("dialog button", has_text="Confirmar").click()
    expect(row.locator("td").nth(2)).to_have_text("Supervisor")

    page.click("a.btn:text('Uso')")
    expect(page.locator("#usage-chart canvas")).to_be_visible()
    expect(page.locator("#usage-users tbody tr").first).to_be_visible()
    day = answered.astimezone(ZoneInfo("America/Santiago")).strftime("%d-%m-%Y")  # Santiago days
    expect(page.locator("#usage-first-token tbody tr", has_text=day)).to_have_text(f"{day}2,4 s")
    page.click("a.btn:text('Auditoría')")
    expect(page.locator("#audit-table tbody tr").first).to_be_visible()
    expect(page.locator("#audit-table")).to_contain_text("Inició sesión")
    expect(page.locator("#audit-table")).to_contain_text(
        "Cambió el rol de Para Desactivar de Trabajador a Supervisor"
    )


def test_supervisor_audit_tab_shows_only_its_scope(page: Page, live_app: LiveApp) -> None:
    user = live_app.create_user(role="supervisor", full_name="Super Visora")
    other_admin = live_app.create_user(role="admin", full_name="Administradora Ajena")
    with httpx.Client(base_url=live_app.base_url) as http:
        http.post(
            "/auth/login", json={"email": other_admin["email"], "password": other_admin["password"]}
        )
    login(page, live_app.base_url, user["email"], user["password"])
    page.goto(f"{live_app.base_url}/static/index.html#/admin/auditoria")
    expect(page.locator(".admin-tabs a")).to_have_text(
        ["Usuarios", "Uso", "Auditoría", "Claves de API"]
    )
    expect(page.locator("#audit-table tbody tr").first).to_be_visible()
    expect(page.locator("#audit-table")).to_contain_text("Super Visora")
    expect(page.locator("#audit-table")).not_to_contain_text("Administradora Ajena")
