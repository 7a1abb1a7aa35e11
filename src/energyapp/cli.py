"""The `energyapp` command line."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import gc
import multiprocessing
import signal
import uuid
from typing import Annotated, Any

from energyapp.core.multiproc import multiprocess_metrics
from energyapp.core.startup import collector_paused

with collector_paused():  # the imports of every command, `serve` first (core/startup.py)
    import typer
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from energyapp.announcements import cli as announcements_cli
    from energyapp.auth import cli as auth_cli
    from energyapp.cli_session import fail as _fail
    from energyapp.cli_session import settings_or_exit as _settings
    from energyapp.cli_session import with_session as _with_session
    from energyapp.cli_session import with_sessionmaker as _with_sessionmaker
    from energyapp.config import Settings
    from energyapp.core import preflight
    from energyapp.core.db_errors import describe_db_error
    from energyapp.db import DatabaseUrlError
    from energyapp.errors import AppError
    from energyapp.llm import cli as stand_in_cli
    from energyapp.settings_cli import settings_app

app = typer.Typer(help="EnergyApp LLM: servidor, base de datos y cuentas.", no_args_is_help=True)
db_app = typer.Typer(help="Base de datos: migraciones y contadores.", no_args_is_help=True)
app.add_typer(db_app, name="db")
keys_app = typer.Typer(help="Claves que cifran los secretos guardados.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
retention_app = typer.Typer(help="Retención de conversaciones.", no_args_is_help=True)
app.add_typer(retention_app, name="retention")
app.add_typer(settings_app, name="settings")
app.command("reset-password")(auth_cli.reset_password)
app.command("reset-2fa")(auth_cli.reset_2fa)
app.command("announce")(announcements_cli.announce)


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument(help="Revisión destino")] = "head") -> None:
    """Apply the Alembic migrations up to REVISION (default: head)."""
    from energyapp.core.migrate import upgrade

    settings = _settings()
    try:
        upgrade(settings.db_url, revision, settings)
    except DatabaseUrlError as exc:
        raise _fail(str(exc), 2) from None
    except Exception as exc:
        problem = describe_db_error(exc, settings.db_url, migrating=True)
        raise _fail(problem or f"la migración falló: {exc}") from None
    typer.echo("Base de datos al día.")


@db_app.command("reconcile-counters")
def reconcile_counters() -> None:
    """Recompute the conversation and message counters of every user and conversation."""
    from energyapp.conversations import counters

    fixed = _with_session(counters.reconcile)
    typer.echo(
        f"Contadores recalculados: {fixed.users} usuarios y {fixed.conversations} "
        "conversaciones estaban desfasados."
    )


@keys_app.command("rotate")
def keys_rotate() -> None:
    """Re-encrypt every stored TOTP secret under the current key (ENERGYAPP_DATA_KEY, or the
    key derived from ENERGYAPP_SECRET_KEY); the keys in ENERGYAPP_PREVIOUS_DATA_KEYS only
    decrypt. Safe to repeat and to run while the app serves."""
    from energyapp.auth import totp_secrets

    keyring = _settings().data_keyring

    async def _rotate(session: AsyncSession) -> totp_secrets.Rotation:
        return await totp_secrets.rotate(session, keyring)

    done = _with_session(_rotate)
    typer.echo(
        f"Clave actual {keyring.current_id}: {done.resealed} secretos de 2FA re-cifrados, "
        f"{done.already_current} ya estaban con ella."
    )
    if done.unreadable:
        ids = ", ".join(sorted(done.unreadable))
        raise _fail(
            f"{sum(done.unreadable.values())} secretos de 2FA no se pudieron descifrar (clave "
            f"{ids}): agregue la clave que los cifró a ENERGYAPP_PREVIOUS_DATA_KEYS y repita; si "
            "ya está, el valor fue alterado o copiado de otra cuenta. Mientras tanto, esos "
            "usuarios entran con un código de recuperación o un administrador restablece su 2FA."
        )


@app.command("seed-demo")
def seed_demo(
    in_production: Annotated[
        bool, typer.Option("--in-production", help="También con ENERGYAPP_ENV=production")
    ] = False,
) -> None:
    """Create the demo accounts (admin, trabajador, supervisor) if missing. Idempotent. Their
    passwords are public: refused in production unless ``--in-production`` (deploy.sh --demo)."""
    from energyapp.auth.demo import DEMO_ACCOUNTS
    from energyapp.auth.demo import seed_demo as _seed

    if _settings().env == "production" and not in_production:
        raise _fail(
            "ENERGYAPP_ENV=production: las cuentas demo tienen contraseñas públicas "
            "(admin@example.com / admin123). Para una demostración agregue --in-production."
        )

    created = _with_session(_seed)
    for email, password, _name, role in DEMO_ACCOUNTS:
        state = "creada" if email in created else "ya existía"
        typer.echo(f"  {role:<11} {email} / {password}  ({state})")


@app.command("create-user")
def create_user(
    email: Annotated[str, typer.Option(prompt="Correo")],
    full_name: Annotated[str, typer.Option("--full-name", prompt="Nombre completo")],
    role: Annotated[str, typer.Option(help="admin, supervisor o trabajador")] = "trabajador",
    any_domain: Annotated[
        bool, typer.Option("--any-domain", help="Aceptar un dominio fuera de los permitidos")
    ] = False,
) -> None:
    """Create an account with an address of ENERGYAPP_REGISTRATION_DOMAINS (any domain with
    --any-domain). The password is asked for on the terminal, never taken from argv."""
    from energyapp.auth import service as auth_service
    from energyapp.auth.passwords import password_problem

    domains = None if any_domain else _settings().registration_domains
    try:  # everything typed is checked before the password is asked for
        address = auth_service.registration_email(email, domains)
        auth_service.checked_account_fields(full_name, role)
    except AppError as exc:
        hint = (
            " Para crearla de todos modos: --any-domain."
            if exc.code == "domain_not_allowed"
            else ""
        )
        raise _fail(exc.detail + hint, 2) from None
    password = _ask_new_password()
    problem = password_problem(password, email=address)
    if problem is not None:
        raise _fail(problem, 2)

    async def _create(session: AsyncSession) -> str:
        user = await auth_service.create_user(
            session, email=address, password=password, full_name=full_name, role=role
        )
        return user.email

    typer.echo(f"Cuenta creada: {_with_session(_create)} ({role})")


def _ask_new_password() -> str:
    password: str = typer.prompt("Contraseña", hide_input=True)
    again: str = typer.prompt("Repita la contraseña", hide_input=True)
    if password != again:
        raise _fail("las dos contraseñas no coinciden: no se creó la cuenta.", 2)
    return password


@app.command("set-role")
def set_role(
    email: Annotated[str, typer.Argument()],
    role: Annotated[str, typer.Argument(help="admin, supervisor o trabajador")],
) -> None:
    """Change the role of an account (audited; the last active admin keeps the role)."""
    from energyapp.admin import service as admin_service
    from energyapp.core.roles import ROLE_VALUES, Role

    if role not in ROLE_VALUES:
        raise _fail(f"Rol desconocido: {role}.")

    async def _set(session: AsyncSession) -> str:
        return (await admin_service.change_from_console(session, email, role=Role(role))).role

    typer.echo(f"{email}: rol {_with_session(_set)}")


@app.command("deactivate-user")
def deactivate_user(email: Annotated[str, typer.Argument()]) -> None:
    """Deactivate an account (never deleted), close its sessions and stop its answers (audited;
    the last active admin stays). Repeating it stops what still runs (chat/console.py)."""
    from energyapp.admin import service as admin_service
    from energyapp.chat import console
    from energyapp.chat import service as chat_service

    async def _deactivate(session: AsyncSession) -> tuple[uuid.UUID, int]:
        user = await admin_service.change_from_console(session, email, is_active=False)
        return user.id, await chat_service.mark_answers_stopped(session, user.id)

    user_id, marked = _with_session(_deactivate)
    typer.echo(f"{email}: desactivada; sus sesiones fueron cerradas.")
    typer.echo(asyncio.run(console.tell_the_app(_settings(), user_id, marked)))


@app.command("prune")
def prune() -> None:
    """Delete ended sessions, expired refresh tokens and expired login challenges older than
    ENERGYAPP_AUTH_RETENTION_DAYS (the app also does it once a day)."""
    from energyapp.auth import maintenance

    settings = _settings()

    async def _prune(session: AsyncSession) -> maintenance.Pruned:
        return await maintenance.prune(session, keep_days=settings.auth_retention_days)

    pruned = _with_session(_prune)
    typer.echo(
        f"Eliminadas: {pruned.sessions} sesiones terminadas, {pruned.refresh_tokens} tokens de "
        f"renovación vencidos y {pruned.login_challenges} desafíos de inicio de sesión vencidos "
        f"(de hace más de {settings.auth_retention_days} días)."
    )


@retention_app.command("run")
def retention_run(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Solo mostrar lo que se eliminaría")
    ] = False,
) -> None:
    """Delete the conversations whose last message is older than ENERGYAPP_RETENTION_DAYS
    allows for their owner's role, and the temporary chats past ENERGYAPP_TEMPORARY_CHAT_HOURS
    (never those on legal hold), in small batches; one audit event. With --dry-run, list them
    and delete nothing."""
    from energyapp.conversations import retention
    from energyapp.db import utcnow

    settings = _settings()
    if not settings.retention_days:
        typer.echo(
            "Retención desactivada (ENERGYAPP_RETENTION_DAYS vacío): solo se eliminan los chats "
            f"temporales de hace más de {settings.temporary_chat_hours} horas."
        )
    if dry_run:

        async def _preview(session: AsyncSession) -> tuple[int, int]:
            count = temporary = 0
            now = utcnow()
            async for item in retention.expired(session, settings, now=now):
                count += 1
                temporary += item.temporary
                typer.echo(item.describe(now))
            return count, temporary

        count, temporary = _with_session(_preview)
        chats = f"{temporary} chat temporal" if temporary == 1 else f"{temporary} chats temporales"
        typer.echo(
            f"Simulación: se eliminarían {count} conversaciones ({chats}). No se eliminó nada."
        )
        return

    async def _run(sessionmaker: async_sessionmaker[AsyncSession]) -> retention.RunSummary:
        return await retention.run(sessionmaker, settings)

    done = _with_sessionmaker(_run)
    typer.echo(
        f"Eliminadas {done.conversations} conversaciones ({done.messages} mensajes) en "
        f"{done.batches} lotes."
    )


@app.command("serve")
def serve(
    host: Annotated[str | None, typer.Option(help="Interfaz (por defecto, la configurada)")] = None,
    port: Annotated[int | None, typer.Option(help="Puerto", min=1, max=65535)] = None,
    workers: Annotated[
        int, typer.Option(min=1, max=32, help="Procesos (más de 1 requiere ENERGYAPP_REDIS_URL)")
    ] = 1,
) -> None:
    """Serve the app with uvicorn (production: behind Caddy on 127.0.0.1:8001). Several workers
    need ENERGYAPP_REDIS_URL: the chat queue and the live answers are then shared through Redis."""
    settings = _settings()
    if workers > 1 and not settings.redis_url:
        # Without Redis the fair queue and the registry of live answers live in one process's
        # memory: two processes would each hand out the same slots and lose each other's answers.
        raise _fail(
            "--workers mayor que 1 requiere Redis: sin ENERGYAPP_REDIS_URL la cola de respuestas y "
            "las respuestas en curso viven en la memoria de un solo proceso, y varios procesos se "
            "quitarían los turnos y perderían respuestas. Configure ENERGYAPP_REDIS_URL o use "
            "--workers 1 (docs/deployment.md).",
            2,
        )
    _check_can_serve(settings, host, port)
    with contextlib.ExitStack() as stack:
        if workers > 1 or settings.redis_url:
            # Before anything imports prometheus_client (core/multiproc.py says why).
            stack.enter_context(multiprocess_metrics())
        _run_uvicorn(settings, host, port, workers)


def _check_can_serve(
    settings: Settings, host: str | None, port: int | None, *, schema: bool = True
) -> None:
    """Port, log file and (unless the caller has just migrated) the database's schema."""
    problem = preflight.port_problem(host or settings.host, port or settings.port)
    if problem is None and settings.log_to_file:
        problem = preflight.log_file_problem(settings.log_file)
    if problem is not None:
        raise _fail(problem, 2)
    if not schema:
        return
    # In a child process: the check loads Alembic and every migration script, some 10 MB the
    # server would otherwise keep for as long as it runs (bench/stream.py's idle RSS).
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else None)
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=context) as child:
        problem = child.submit(_schema_problem, settings.db_url).result()
    if problem is not None:
        raise _fail(problem, 2)


def _schema_problem(db_url: str) -> str | None:
    from energyapp.core.migrate import schema_problem

    return schema_problem(db_url)


def _run_uvicorn(settings: Settings, host: str | None, port: int | None, workers: int) -> None:
    with collector_paused():
        import uvicorn

        import energyapp.main  # noqa: F401 - imported here for uvicorn, with the collector paused
        from energyapp.core.stopping import GracefulServer
    # What the imports made lives as long as the process: keep it out of every later full
    # collection, which would otherwise pause the event loop to scan it again and again.
    gc.freeze()
    options: dict[str, Any] = {
        "factory": True,
        "host": host or settings.host,
        "port": port or settings.port,
        "proxy_headers": False,  # the app trusts X-Forwarded-For only from trusted_proxies itself
        "log_config": None,
        "access_log": False,  # the app's middleware writes the access line, with the request id
        "timeout_graceful_shutdown": 30,
        "ws": "none",  # no WebSocket route: uvicorn would otherwise load a WebSocket library
    }
    if workers > 1:  # uvicorn's supervisor: several workers on one port
        uvicorn.run("energyapp.main:create_app", workers=workers, **options)
        return
    # One process per instance (energyapp@.service): with the broker, leave Caddy's pool before
    # stopping (core/stopping.py).
    delay = settings.shutdown_delay if settings.redis_url else 0.0
    config = uvicorn.Config("energyapp.main:create_app", **options)
    GracefulServer(config, shutdown_delay=delay).run()


app.command("fake-ollama")(stand_in_cli.fake_ollama)


@app.command("dev")
def dev() -> None:
    """What `make run` does: migrate, seed the demo accounts, ensure a model server, serve."""
    settings = _settings()
    if settings.env == "production":
        raise _fail(
            "energyapp dev es para desarrollo (cuentas demo, modelo simulado): use energyapp serve"
        )
    db_upgrade("head")
    # Before anything starts, the stand-in included; the schema is the one just migrated.
    _check_can_serve(settings, None, None, schema=False)
    seed_demo()
    stand_in = None
    if settings.fake_ollama_autostart and not any(
        stand_in_cli.ollama_answers(url) for url in settings.llm_urls
    ):
        stand_in = stand_in_cli.start_stand_in(settings.llm_urls[0], settings.fake_ollama_port)
    typer.echo(f"EnergyApp LLM en http://{settings.host}:{settings.port}/  (Ctrl+C para salir)")
    # uvicorn re-raises SIGTERM/SIGINT after its graceful shutdown, through the handler that was
    # installed before it started: make that handler unwind, so the stand-in is stopped too.
    signal.signal(signal.SIGTERM, _exit_on_signal)
    try:
        serve(host=None, port=None, workers=1)
    finally:
        if stand_in is not None:
            stand_in.terminate()
            stand_in.wait(timeout=10)


def _exit_on_signal(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
