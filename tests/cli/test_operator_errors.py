"""What the operator sees when a command meets bad input or a broken environment: one line that
says what to do, a non-zero exit code, never a traceback and never a password."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from energyapp.auth.models import User
from tests.cli.conftest import run_cli, running_dev
from tests.multiproc import free_port

PASSWORD = "Clave-muy-segura-9"


def _refused(result: subprocess.CompletedProcess[str], code: int, *fragments: str) -> str:
    """The one ``Error:`` line of a refused command, once it is checked."""
    output = result.stdout + result.stderr
    assert result.returncode == code, output
    assert "Traceback" not in output and PASSWORD not in output and "s3cr3t" not in output
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1, result.stderr
    for fragment in fragments:
        assert fragment in errors[0], errors[0]
    return errors[0]


@contextmanager
def _taken_port() -> Iterator[int]:
    """A port some other program listens on (and never answers)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


# --- the database ---------------------------------------------------------------------------


@pytest.mark.no_database
@pytest.mark.parametrize("command", [["set-role", "ana@inacapmail.cl", "admin"], ["prune"]])
@pytest.mark.parametrize(
    ("url", "fragments"),
    [
        (
            "postgresql://postgres:s3cr3t@127.0.0.1:9/energyapp",  # nothing listens on 9
            ["no se pudo conectar a la base de datos", "postgres:***@127.0.0.1"],
        ),
        (
            "postgresql://postgres@127.0.0.1:5432/energyapp_no_such_db",
            ["no existe", "créela o corrija ENERGYAPP_DB_URL"],
        ),
        (
            "postgresql://energyapp_no_such_role:s3cr3t@127.0.0.1:5432/postgres",
            ["PostgreSQL rechazó la conexión", "corrija el usuario o la contraseña"],
        ),
    ],
    ids=["refused", "no-database", "no-role"],
)
def test_a_database_out_of_reach_is_one_line(
    cli_env: dict[str, str], command: list[str], url: str, fragments: list[str]
) -> None:
    result = run_cli(command, cli_env | {"ENERGYAPP_DB_URL": url})
    _refused(result, 1, *fragments)


@pytest.mark.no_database
def test_the_migration_names_an_unreachable_database(cli_env: dict[str, str]) -> None:
    url = "postgresql://postgres@127.0.0.1:5432/energyapp_no_such_db"
    result = run_cli(["db", "upgrade"], cli_env | {"ENERGYAPP_DB_URL": url})
    _refused(result, 1, "energyapp_no_such_db no existe")


@pytest.mark.parametrize(
    "command",
    [["seed-demo"], ["set-role", "ana@inacapmail.cl", "admin"], ["db", "reconcile-counters"]],
)
def test_a_database_never_migrated_says_to_migrate(
    cli_db_env: dict[str, str], command: list[str]
) -> None:
    """An empty database (or ENERGYAPP_DB_URL naming the wrong one) was a page of traceback."""
    result = run_cli(command, cli_db_env)
    _refused(result, 1, "no tiene las tablas de EnergyApp", "ejecute `energyapp db upgrade`")


# --- create-user ----------------------------------------------------------------------------


def _create(
    env: dict[str, str], *args: str, stdin: str = f"{PASSWORD}\n{PASSWORD}\n"
) -> subprocess.CompletedProcess[str]:
    return run_cli(["create-user", "--full-name", "Ana Pérez", *args], env, stdin=stdin)


async def _accounts(sessionmaker: async_sessionmaker[AsyncSession]) -> int:
    async with sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(User)) or 0)


async def test_create_user_checks_what_was_typed_before_the_password(
    cli_env: dict[str, str], db_url: str, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    """No stdin: had the command asked for the password first, it would say "Aborted."."""
    env = cli_env | {"ENERGYAPP_DB_URL": db_url}
    before = await _accounts(sessionmaker)
    cases = [
        (["--email", "ana@gmail.com"], "Solo se pueden registrar correos", "--any-domain"),
        (["--email", "ana-en-ningun-lado"], "El correo no es una dirección válida", ""),
        (["--email", "ñandú@inacapmail.cl"], "letras sin tilde", ""),
        (["--email", "ana@inacapmail.cl", "--role", "jefe"], "Rol desconocido: jefe", ""),
    ]
    for args, message, hint in cases:
        result = await asyncio.to_thread(_create, env, *args, stdin="")
        _refused(result, 2, message, hint)
        assert "Contraseña" not in result.stdout  # never asked
    assert await _accounts(sessionmaker) == before


async def test_create_user_password_prompts(
    cli_env: dict[str, str], db_url: str, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    env = cli_env | {"ENERGYAPP_DB_URL": db_url}
    before = await _accounts(sessionmaker)
    mismatch = await asyncio.to_thread(
        _create, env, "--email", "ana@inacapmail.cl", stdin=f"{PASSWORD}\n{PASSWORD}x\n"
    )
    _refused(mismatch, 2, "las dos contraseñas no coinciden")
    assert "Repita la contraseña" in mismatch.stdout
    weak = await asyncio.to_thread(
        _create, env, "--email", "ana@inacapmail.cl", stdin="corta\n" * 2
    )
    _refused(weak, 2, "al menos 8 caracteres")
    assert await _accounts(sessionmaker) == before

    # An administrator may create an account of another domain on purpose.
    other = await asyncio.to_thread(_create, env, "--email", "Soporte@Proveedor.cl", "--any-domain")
    assert other.returncode == 0, other.stderr
    assert "Cuenta creada: soporte@proveedor.cl (trabajador)" in other.stdout
    assert PASSWORD not in other.stdout + other.stderr
    again = await asyncio.to_thread(_create, env, "--email", "soporte@proveedor.cl", "--any-domain")
    _refused(again, 1, "Ya existe una cuenta con ese correo")
    assert await _accounts(sessionmaker) == before + 1


# --- serve and dev --------------------------------------------------------------------------


@pytest.mark.no_database
@pytest.mark.parametrize("command", ["serve", "dev"])
def test_a_taken_port_stops_serve_and_dev_before_they_start(
    cli_env: dict[str, str], command: str
) -> None:
    """uvicorn's JSON log line about errno 98, after `dev` had announced the app's address and
    started the stand-in, was all the operator got."""
    stand_in = f"http://127.0.0.1:{free_port()}"
    with _taken_port() as port:
        env = cli_env | {"ENERGYAPP_PORT": str(port), "ENERGYAPP_OLLAMA_URL": stand_in}
        result = run_cli([command], env)
    _refused(result, 2, f"el puerto {port} de 127.0.0.1 ya está en uso", "ENERGYAPP_PORT")
    assert "REEMPLAZO" not in result.stdout and "EnergyApp LLM en" not in result.stdout


@pytest.mark.no_database
def test_an_unwritable_log_file_stops_serve_with_its_name(cli_env: dict[str, str]) -> None:
    env = cli_env | {"ENERGYAPP_LOG_TO_FILE": "true", "ENERGYAPP_LOG_FILE": "/proc/energyapp/x.log"}
    result = run_cli(["serve", "--port", str(free_port())], env)
    _refused(result, 2, "ENERGYAPP_LOG_FILE: no se puede escribir /proc/energyapp/x.log")


@pytest.mark.no_database
def test_dev_says_when_the_stand_in_could_not_start(cli_env: dict[str, str]) -> None:
    """Another program holds the stand-in's port and does not answer like Ollama: `dev` said it
    had started the stand-in, and waited up to 80 s on that program first."""
    with _taken_port() as ollama_port:
        env = cli_env | {
            "ENERGYAPP_PORT": str(free_port()),
            "ENERGYAPP_OLLAMA_URL": f"http://127.0.0.1:{ollama_port}",
            "ENERGYAPP_OLLAMA_WARM_UP": "false",
        }
        with running_dev(env, timeout=40) as dev:
            pass
    assert dev.health is not None, dev.output
    assert dev.health["ollama"] == "unavailable" and dev.health["ollama_stand_in"] is False
    assert "no se pudo iniciar el Ollama de reemplazo" in dev.output
    assert "SINTÉTICAS" not in dev.output and "Traceback" not in dev.output


def test_serve_refuses_a_database_it_cannot_serve(cli_db_env: dict[str, str]) -> None:
    """Never migrated, or behind this release (a pull without `energyapp db upgrade`): the app
    started with /health green and answered 500 wherever a table or column was missing. A
    database ahead of the release (the previous release after a rollback) is served."""
    port = str(free_port())
    bare = run_cli(["serve", "--port", port], cli_db_env)
    _refused(bare, 2, "no tiene las tablas de EnergyApp", "`energyapp db upgrade`")
    assert run_cli(["db", "upgrade", "0005_last_login"], cli_db_env).returncode == 0
    behind = run_cli(["serve", "--port", port], cli_db_env)
    _refused(behind, 2, "está en la revisión 0005_last_login", "`energyapp db upgrade`")


def test_the_schema_check_leaves_alembic_out_of_the_server(cli_db_env: dict[str, str]) -> None:
    """The check loads Alembic and every migration script: run in the serving process, they
    stayed in its memory for as long as it ran (idle RSS 126 MB against 117 before the check)."""
    code = (
        "import sys\n"
        "from energyapp import cli\n"
        "try:\n"
        f"    cli._check_can_serve(cli._settings(), '127.0.0.1', {free_port()})\n"
        "except BaseException as exc:\n"
        "    print('refused', type(exc).__name__)\n"
        "print('loaded', sorted({m.split('.')[0] for m in sys.modules} & {'alembic', 'mako'}))\n"
    )
    env = {k: v for k, v in cli_db_env.items() if k != "_CWD"}
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "refused Exit" in result.stdout, result.stdout + result.stderr  # the check ran
    assert "loaded []" in result.stdout, result.stdout


async def test_a_database_ahead_of_the_release_is_served(db_url: str) -> None:
    """update.sh's rollback runs the previous release on the schema the new one migrated."""
    from energyapp.core.migrate import schema_problem
    from energyapp.db import create_engine

    assert await asyncio.to_thread(schema_problem, db_url) is None  # at head
    engine = create_engine(db_url)
    try:
        async with engine.begin() as conn:
            before = await conn.scalar(text("SELECT version_num FROM alembic_version"))
            await conn.execute(text("UPDATE alembic_version SET version_num = '9999_future'"))
        try:
            assert await asyncio.to_thread(schema_problem, db_url) is None
        finally:
            async with engine.begin() as conn:
                await conn.execute(
                    text("UPDATE alembic_version SET version_num = :v"), {"v": before}
                )
    finally:
        await engine.dispose()
