"""Spanish counts in the browser, through the one plural helper (static/js/plural.js) that every
view uses: the word agrees with the number and the digits are es-CL."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page

from tests.ui.conftest import LiveApp

pytestmark = pytest.mark.browser

COUNTS = """async () => {
  const { plural } = await import("/static/js/plural.js");
  const { usageText } = await import("/static/js/views/api_keys.js");
  const { answerStats } = await import("/static/js/views/versions.js");
  return [
    plural(1, "mensaje", "mensajes"),
    plural(2, "mensaje", "mensajes"),
    plural(0, "mensaje", "mensajes"),
    plural(1500, "respuesta", "respuestas"),
    usageText({ requests_30d: 1500, tokens_30d: 1 }),
    answerStats({ completion_tokens: 1 }),
  ];
}"""


def test_counts_agree_and_use_chilean_digits(page: Page, live_app: LiveApp) -> None:
    page.goto(f"{live_app.base_url}/static/index.html")
    assert page.evaluate(COUNTS) == [
        "1 mensaje",
        "2 mensajes",
        "0 mensajes",
        "1.500 respuestas",
        "1.500 respuestas, 1 token",
        "1 token",
    ]


BAND = """async (hours) => {
  const { state } = await import("/static/js/state.js");
  const { bandText } = await import("/static/js/views/chat/temporary.js");
  state.config.temporary_chat_hours = hours;
  return bandText();
}"""


@pytest.mark.parametrize(("hours", "said"), [(1, "1 hora"), (5, "5 horas"), (24, "24 horas")])
def test_a_temporary_chats_band_says_its_hours(
    page: Page, live_app: LiveApp, hours: int, said: str
) -> None:
    page.goto(f"{live_app.base_url}/static/index.html")
    assert f"se borrará {said} después del último mensaje" in page.evaluate(BAND, hours)
