"""Screenshots for the README (docs/screenshots/), taken from the running app."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.conftest import TEST_DB
from tests.ui.conftest import SCREENSHOTS, LiveApp, Watch, login

# Pictures do not depend on the database: take them once, in the SQLite pass.
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(TEST_DB != "sqlite", reason="screenshots are taken in the SQLite pass"),
]

QUESTION = "¿Cómo calculo el consumo promedio mensual de una planta a partir de lecturas diarias?"
ANSWER = """Puede calcularlo en tres pasos:

1. **Agrupe** las lecturas diarias (kWh) por mes.
2. **Sume** el consumo de cada mes.
3. **Promedie** los totales mensuales.

```python
from collections import defaultdict

def promedio_mensual(lecturas: list[tuple[str, float]]) -> float:
    por_mes: dict[str, float] = defaultdict(float)
    for fecha, kwh in lecturas:
        por_mes[fecha[:7]] += kwh
    return sum(por_mes.values()) / len(por_mes)
```

> Consejo: revise primero que no falten días; un mes incompleto baja el promedio.
"""
OLDER_QUESTION = "¿Cómo calculo el consumo mensual?"
OTHER_TITLES = [
    "Correo al equipo de mantención",
    "Resumen normativa eléctrica",
    "Ventajas de la energía solar",
    "Plan de eficiencia 2027",
]


def _shot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.wait_for_timeout(150)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


def test_screenshots(browser: Browser, live_app: LiveApp, watch: Watch) -> None:
    user = live_app.create_user(full_name="Camila Rojas", email="camila.rojas@alvaradomazzei.cl")
    for title in OTHER_TITLES:
        live_app.create_conversation(user["id"], title, [("user", title), ("assistant", "Listo.")])
    # The question was edited once and the answer regenerated: both show "‹ 2/2 ›".
    conv = live_app.create_conversation(
        user["id"],
        "Consumo promedio mensual",
        [("user", QUESTION), ("assistant", ANSWER)],
        versions={0: [OLDER_QUESTION], 1: ["Sume las lecturas y divida por 12."]},
    )
    failed = live_app.create_conversation(
        user["id"],
        "Informe de consumo de noviembre",
        [("user", "Resume el informe de consumo de noviembre en tres puntos."), ("assistant", "")],
        last_error="llm_unavailable",
    )
    for width, height, suffix in ((1280, 800, ""), (375, 760, "-mobile")):
        context = browser.new_context(
            viewport={"width": width, "height": height}, locale="es-CL", color_scheme="light"
        )
        page = context.new_page()
        page.on("pageerror", lambda exc: watch.errors.append(str(exc)))
        page.goto(f"{live_app.base_url}/")
        expect(page.locator("[data-quick=admin]")).to_be_visible()
        _shot(page, f"login{suffix}")

        login(page, live_app.base_url, user["email"], user["password"])
        page.goto(f"{live_app.base_url}/static/index.html#/chat/{conv}")
        expect(page.locator(".md pre")).to_be_visible()
        expect(page.locator(".version-count")).to_have_text(["2/2", "2/2"])
        _shot(page, f"chat-light{suffix}")
        page.goto(f"{live_app.base_url}/static/index.html#/chat/{failed}")
        expect(page.get_by_role("button", name="Reintentar", exact=True)).to_be_visible()
        _shot(page, f"chat-error{suffix}")
        page.goto(f"{live_app.base_url}/static/index.html#/config")
        expect(page.locator("#instructions-about")).to_be_enabled()  # loaded
        page.click("[data-theme-choice=dark]")
        _shot(page, f"config-dark{suffix}")
        page.goto(f"{live_app.base_url}/static/index.html#/chat/{conv}")
        expect(page.locator(".md pre")).to_be_visible()
        _shot(page, f"chat-dark{suffix}")
        page.goto(f"{live_app.base_url}/static/index.html#/config")
        expect(page.locator("#instructions-about")).to_be_enabled()
        page.click("[data-theme-choice=light]")
        _shot(page, f"config{suffix}")
        page.click(".profile-btn")
        page.click("[data-action=logout]")

        login(page, live_app.base_url, "admin@example.com", "admin123")
        page.goto(f"{live_app.base_url}/static/index.html#/admin/usuarios")
        expect(page.locator("#users-table tbody tr").first).to_be_visible()
        _shot(page, f"admin{suffix}")
        context.close()
    for name in ("login", "chat-light", "chat-error", "chat-dark", "config", "admin"):
        assert (SCREENSHOTS / f"{name}.png").stat().st_size > 10_000
    watch.assert_clean()
