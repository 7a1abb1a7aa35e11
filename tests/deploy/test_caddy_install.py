"""How deploy.sh puts the Caddyfile in place (install_caddy_config in scripts/lib.sh, with the real
caddy): the candidate is validated first, and a bad one never replaces a working configuration."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.deploy.conftest import DEPLOY, SCRIPTS, need, run

pytestmark = [pytest.mark.deploy, pytest.mark.no_database]

WORKING = "# the configuration Caddy serves now\n:80 {\n\trespond ok\n}\n"
WORKING_ENV = "ENERGYAPP_DOMAIN=old.example.org\nENERGYAPP_UPSTREAMS=127.0.0.1:8001\n"


@pytest.fixture
def etc_caddy(tmp_path: Path) -> Path:
    """A stand-in for /etc/caddy holding a working configuration."""
    etc = tmp_path / "etc-caddy"
    etc.mkdir()
    (etc / "Caddyfile").write_text(WORKING)
    (etc / "energyapp.env").write_text(WORKING_ENV)
    return etc


def _source(tmp_path: Path, text: str | None = None) -> Path:
    """deploy/Caddyfile (or TEXT) with the access log in TMP_PATH, not /var/log/caddy."""
    original = (DEPLOY / "Caddyfile").read_text()
    src = tmp_path / "Caddyfile.src"
    src.write_text(
        (text or original).replace("/var/log/caddy/energyapp-access.log", str(tmp_path / "a.log"))
    )
    return src


def _install(
    etc: Path, src: Path, domain: str, upstreams: str, email: str = ""
) -> subprocess.CompletedProcess[str]:
    need("caddy")
    home = etc.parent / "home"
    env = {**os.environ, "HOME": str(home), "XDG_CONFIG_HOME": str(home / "config")}
    env["XDG_DATA_HOME"] = str(home / "data")
    script = 'set -euo pipefail; source "$1"; shift; install_caddy_config "$@"'
    args: list[str | Path] = ["bash", "-c", script, "_", SCRIPTS / "lib.sh", etc, src]
    return run([*args, domain, upstreams, email], env=env, timeout=60)


def _assert_untouched(etc: Path) -> None:
    assert (etc / "Caddyfile").read_text() == WORKING
    assert (etc / "energyapp.env").read_text() == WORKING_ENV
    assert sorted(p.name for p in etc.iterdir()) == ["Caddyfile", "energyapp.env"]


def test_a_valid_candidate_replaces_the_configuration(etc_caddy: Path, tmp_path: Path) -> None:
    src = _source(tmp_path)
    upstreams = "127.0.0.1:8001 127.0.0.1:8002"
    result = _install(etc_caddy, src, "energyapp.example.org", upstreams, "ti@example.org")
    assert result.returncode == 0, result.stderr
    installed = (etc_caddy / "Caddyfile").read_text()
    assert installed == "{\n\temail ti@example.org\n}\n\n" + src.read_text()
    env = (etc_caddy / "energyapp.env").read_text()
    assert env == f"ENERGYAPP_DOMAIN=energyapp.example.org\nENERGYAPP_UPSTREAMS={upstreams}\n"
    kept = [p for p in etc_caddy.iterdir() if p.name.startswith("Caddyfile.before-energyapp.")]
    assert len(kept) == 1 and kept[0].read_text() == WORKING
    assert (etc_caddy / "Caddyfile").stat().st_mode & 0o777 == 0o644

    # Re-applying the same configuration keeps no second copy.
    again = _install(etc_caddy, src, "energyapp.example.org", upstreams, "ti@example.org")
    assert again.returncode == 0, again.stderr
    assert len(list(etc_caddy.glob("Caddyfile.before-energyapp.*"))) == 1


@pytest.mark.parametrize(
    ("broken", "email"),
    [
        ("unclosed block", ""),  # a Caddyfile that does not parse
        ("unknown directive", ""),  # one that parses but does not adapt
        ("", "ti@example.org extra"),  # the --email value itself breaks the global block
    ],
)
def test_a_candidate_caddy_refuses_replaces_nothing(
    etc_caddy: Path, tmp_path: Path, broken: str, email: str
) -> None:
    text = (DEPLOY / "Caddyfile").read_text()
    if broken == "unclosed block":
        text += "\nbroken.example.org {\n"
    elif broken == "unknown directive":
        text = text.replace("\tencode {", "\tno_such_directive\n\tencode {", 1)
    src = _source(tmp_path, text)
    result = _install(etc_caddy, src, "new.example.org", "127.0.0.1:8001", email)
    assert result.returncode != 0
    assert "is left as it was" in result.stderr, result.stderr
    _assert_untouched(etc_caddy)


def test_deploy_installs_the_caddyfile_only_through_the_validation() -> None:
    deploy = (SCRIPTS / "deploy.sh").read_text()
    step = deploy[deploy.index('step "Caddy for') : deploy.index('step "fail2ban')]
    step = "\n".join(line for line in step.splitlines() if not line.lstrip().startswith("#"))
    # Nothing else writes /etc/caddy, and Caddy is told only after the install.
    assert re.findall(r"/etc/caddy\S*", step) == ["/etc/caddy"], step
    order = [
        "install_caddy_config /etc/caddy deploy/Caddyfile",
        # The drop-in names /etc/caddy/energyapp.env, which a refused candidate never writes:
        # installed earlier, it would keep Caddy from starting again.
        "deploy/caddy-energyapp.conf /etc/systemd/system/caddy.service.d/energyapp.conf",
        "systemctl daemon-reload",
        "systemctl reload-or-restart caddy",
    ]
    assert [step.index(line) for line in order] == sorted(step.index(line) for line in order)
    assert deploy.count("caddy-energyapp.conf") == 1
