"""Stopping a person's answers from the server's console (``energyapp deactivate-user``), a
process that runs no chat runtime and shares only the database (and Redis, when set) with the
app's processes.

- **Web answers**: the deactivation's transaction marks them ``stopped``
  (``chat.service.mark_answers_stopped``); the process generating one stops it at its next
  progress save, within a second of text, with or without Redis.
- **API answers** (``/v1``) have no row to mark. With Redis, ``stop-user <id>`` on the broker's
  channel makes every process stop them at once (and the web ones too). Without Redis the app's
  one process holds them in memory, which the console cannot reach: their streams end at their
  next periodic check (``chat/revocation.py``, 15 s at most), which finds the owner inactive.

Any other command that ends a person's sessions or API keys (``reset-2fa``, ``set-role``) tells
their streams as the web does: ``creds <id>`` through Redis once committed
(:func:`announce_credentials_ended`, called by ``cli_session.with_session``); without Redis,
the periodic check.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from redis.exceptions import RedisError

from energyapp.chat import redis_keys
from energyapp.chat.redis_keys import BrokerKeys, announce_stop_of
from energyapp.config import Settings
from energyapp.core.redis import async_redis

WITHOUT_REDIS = (
    "Sin Redis (ENERGYAPP_REDIS_URL), la consola no alcanza las respuestas de la API (/v1) en "
    "curso: se cortan en 15 s como máximo, y su clave se rechaza desde la siguiente solicitud."
)


async def tell_the_app(settings: Settings, user_id: uuid.UUID, marked: int) -> str:
    """After the deactivation is committed: ask the app's processes through Redis (when set)
    to stop the answers of ``user_id``, and say in Spanish what was stopped and what was not.
    ``marked``: the web answers the deactivation marked ``stopped``."""
    web = (
        f"{marked} respuesta(s) en curso en la web se detienen en el próximo segundo, con su "
        "texto guardado."
        if marked
        else "No tenía respuestas en curso en la web."
    )
    if not settings.redis_url:
        return f"{web} {WITHOUT_REDIS}"
    redis = async_redis(settings.redis_url, decode_responses=True)
    try:
        keys = BrokerKeys(settings.redis_prefix, "console")
        listeners = await announce_stop_of(redis, keys, user_id)
    except (RedisError, OSError) as exc:
        return (
            f"{web} No se pudo avisar a la aplicación por Redis ({type(exc).__name__}): sus "
            "respuestas de la API (/v1) en curso se cortan en 15 s como máximo. Repita el comando "
            "cuando Redis responda, o reinicie el servicio de la aplicación."
        )
    finally:
        await redis.aclose()
    if not listeners:
        return f"{web} Ningún proceso de la aplicación escucha en Redis: nada más que detener."
    return (
        f"{web} Se pidió a {listeners} proceso(s) de la aplicación detener sus respuestas en "
        "curso, también las de la API (/v1)."
    )


async def announce_credentials_ended(
    settings: Settings, user_ids: Iterable[uuid.UUID]
) -> str | None:
    """After a console transaction that ended sessions or API keys of ``user_ids`` is
    committed: with Redis, every app process's streams of those people check now, and end (as
    after the same change on the web). What to say when Redis did not answer; None otherwise
    (without Redis, as when it is away, the streams' periodic check ends them)."""
    if not settings.redis_url:
        return None
    redis = async_redis(settings.redis_url, decode_responses=True)
    try:
        keys = BrokerKeys(settings.redis_prefix, "console")
        for user_id in user_ids:
            await redis_keys.announce_credentials_ended(redis, keys, user_id)
    except (RedisError, OSError) as exc:
        return (
            f"No se pudo avisar a la aplicación por Redis ({type(exc).__name__}): las "
            "respuestas que se estaban mostrando con esas sesiones o claves se cortan en 15 s "
            "como máximo."
        )
    finally:
        await redis.aclose()
    return None
