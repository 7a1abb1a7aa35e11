"""Application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

from energyapp import __version__
from energyapp.admin.audit_router import router as admin_audit_router
from energyapp.admin.policy_router import router as admin_policy_router
from energyapp.admin.report_router import router as admin_report_router
from energyapp.admin.router import router as admin_router
from energyapp.admin.status_router import router as admin_status_router
from energyapp.announcements.admin_router import router as admin_announcements_router
from energyapp.announcements.router import router as announcements_router
from energyapp.apikeys.router import router as apikeys_router
from energyapp.auth import maintenance as auth_maintenance
from energyapp.auth.deps import ChangesLimited
from energyapp.auth.recovery_router import router as recovery_router
from energyapp.auth.router import router as auth_router
from energyapp.auth.verification_router import router as verification_router
from energyapp.chat import lifecycle as chat_lifecycle
from energyapp.chat.router import router as chat_router
from energyapp.config import PROJECT_ROOT, Settings, get_settings
from energyapp.conversations.router import router as conversations_router
from energyapp.core import metrics
from energyapp.core.head import HeadAsGetMiddleware
from energyapp.core.middleware import (
    BodySizeLimitMiddleware,
    CorsMiddleware,
    JsonTextGuardMiddleware,
    RequestContextMiddleware,
)
from energyapp.core.public_config import router as public_config_router
from energyapp.core.ratelimit import RateLimiter
from energyapp.db import create_engine, create_sessionmaker
from energyapp.errors import ERROR_RESPONSES, install_error_handlers
from energyapp.feedback.router import router as feedback_router
from energyapp.folders.router import router as folders_router
from energyapp.health.router import router as health_router
from energyapp.instructions.router import router as instructions_router
from energyapp.llm import client as llm
from energyapp.logging import configure_logging
from energyapp.openai_api.router import router as openai_router
from energyapp.prompts.router import admin_router as admin_prompts_router
from energyapp.prompts.router import router as prompts_router
from energyapp.sharing.router import router as sharing_router
from energyapp.usage.router import router as usage_router

STATIC_DIR = PROJECT_ROOT / "static"
OPENAPI_TAGS = [
    {"name": "service", "description": "Estado del servicio y configuración pública."},
    {"name": "auth", "description": "Cuentas, sesiones y verificación en dos pasos."},
    {"name": "conversations", "description": "Historial de conversaciones."},
    {"name": "chat", "description": "Mensajes y respuestas del modelo (Server-Sent Events)."},
    {"name": "prompts", "description": "Indicaciones guardadas para el cuadro del mensaje."},
    {"name": "folders", "description": "Carpetas para agrupar las conversaciones."},
    {"name": "admin", "description": "Administración de usuarios, uso y auditoría."},
    {"name": "announcements", "description": "Avisos generales de los administradores."},
    {"name": "api-keys", "description": "Claves de API personales para la API /v1."},
    {"name": "openai", "description": "API compatible con OpenAI (con clave de API)."},
]


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    metrics.forget_dead_workers()
    engine = create_engine(
        settings.db_url, pool_size=settings.db_pool_size, max_overflow=settings.db_max_overflow
    )
    app.state.engine = engine
    app.state.sessionmaker = create_sessionmaker(engine)
    app.state.rate_limiter = RateLimiter.from_url(settings.redis_url, settings.redis_prefix)
    app.state.llm_http = llm.new_session(connect_timeout=settings.llm_connect_timeout)
    try:
        async with AsyncExitStack() as stack:
            await stack.enter_async_context(chat_lifecycle.lifespan(app))
            await stack.enter_async_context(auth_maintenance.lifespan(app))
            yield
    finally:
        await app.state.llm_http.close()
        await engine.dispose()
        metrics.forget_this_worker()


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings.log_level, to_file=settings.log_to_file, log_file=settings.log_file)
    docs = settings.api_docs_enabled
    app = FastAPI(
        title="EnergyApp LLM",
        version=__version__,
        description="Plataforma privada de chat sobre un modelo local (Ollama).",
        lifespan=lifespan,
        responses=ERROR_RESPONSES,
        openapi_tags=OPENAPI_TAGS,
        # The API's documentation and schema: off in production unless docs_enabled says so.
        docs_url="/docs" if docs else None,
        redoc_url="/redoc" if docs else None,
        openapi_url="/openapi.json" if docs else None,
    )
    app.state.settings = settings
    install_error_handlers(app)

    app.include_router(health_router)
    app.include_router(public_config_router)
    app.include_router(auth_router)
    app.include_router(recovery_router)
    app.include_router(verification_router)
    # The chat and /v1 count messages and requests with limits of their own; these count changes.
    app.include_router(conversations_router, dependencies=[ChangesLimited])
    app.include_router(feedback_router, dependencies=[ChangesLimited])
    app.include_router(sharing_router, dependencies=[ChangesLimited])
    app.include_router(chat_router)
    app.include_router(admin_router, dependencies=[ChangesLimited])
    app.include_router(admin_audit_router)
    app.include_router(admin_report_router)
    app.include_router(admin_status_router, dependencies=[ChangesLimited])
    app.include_router(admin_policy_router, dependencies=[ChangesLimited])
    app.include_router(admin_announcements_router, dependencies=[ChangesLimited])
    app.include_router(announcements_router, dependencies=[ChangesLimited])
    app.include_router(apikeys_router, dependencies=[ChangesLimited])
    app.include_router(instructions_router, dependencies=[ChangesLimited])
    app.include_router(usage_router, dependencies=[ChangesLimited])
    app.include_router(prompts_router, dependencies=[ChangesLimited])
    app.include_router(folders_router, dependencies=[ChangesLimited])
    app.include_router(admin_prompts_router, dependencies=[ChangesLimited])
    app.include_router(openai_router)

    @app.get("/", include_in_schema=False)
    async def root() -> RedirectResponse:
        return RedirectResponse("/static/index.html")

    STATIC_DIR.mkdir(exist_ok=True)
    app.mount("/static", StaticFiles(directory=STATIC_DIR, html=True), name="static")

    # Outermost last: request context wraps everything, including CORS and size refusals.
    # Innermost, so that the others see a HEAD as it came: HEAD wherever GET (core/head.py).
    app.add_middleware(HeadAsGetMiddleware)
    if settings.allowed_origins:
        app.add_middleware(
            CorsMiddleware,
            allow_origins=settings.allowed_origins,
            allow_credentials=False,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
            # Last-Event-ID: the UI resumes a stream with it (GET /chat/{id}/stream).
            allow_headers=["Authorization", "Content-Type", "Last-Event-ID", "X-Request-ID"],
            # What the UI reads from an answer: the wait after a 429/503, an export's file name.
            expose_headers=["Retry-After", "Content-Disposition", "X-Request-ID"],
            max_age=600,
        )
    app.add_middleware(JsonTextGuardMiddleware)
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestContextMiddleware)
    return app
