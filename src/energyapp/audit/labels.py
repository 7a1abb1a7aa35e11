"""What an audit event means, in Spanish, for the person who reads the trail.

The stored event keeps its stable code (``conversation.viewed``) and raw ids; this module turns
them into a sentence naming the object ("Vio la conversación «Presupuesto» de Juan Pérez").
Names are resolved by the caller (one query per page) and passed in as :class:`Names`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from energyapp.core.roles import ROLE_LABELS

# Every action code and its name in the filter list, in the order the list shows them.
ACTION_NAMES: dict[str, str] = {
    "login": "Inicio de sesión",
    "login_failed": "Inicio de sesión fallido",
    "logout": "Cierre de sesión",
    "logout_all": "Cierre de todas las sesiones",
    "refresh_token_reused": "Reutilización de un token de sesión",
    "refresh_token_retried": "Renovación de sesión repetida",
    "register": "Creación de cuenta",
    "profile_updated": "Cambio de perfil",
    "password_changed": "Cambio de contraseña",
    "password_check_failed": "Contraseña actual incorrecta",
    "password_reset_link_created": "Enlace para restablecer contraseña",
    "password_reset": "Contraseña restablecida con un enlace",
    "email_verified": "Correo verificado",
    "2fa_setup_started": "Inicio de configuración de 2FA",
    "2fa_enabled": "Activación de 2FA",
    "2fa_disabled": "Desactivación de 2FA",
    "2fa_code_failed": "Código de 2FA incorrecto",
    "2fa_reset": "Restablecimiento de 2FA",
    "user.role_changed": "Cambio de rol",
    "user.activated": "Activación de cuenta",
    "user.deactivated": "Desactivación de cuenta",
    "user.email_verified": "Correo confirmado por un administrador",
    "conversations.listed": "Consulta de conversaciones de otro usuario",
    "conversation.viewed": "Lectura de una conversación ajena",
    "conversation.reassigned": "Reasignación de conversación",
    "conversation.deleted": "Eliminación de conversación",
    "conversation.shared": "Enlace para compartir una conversación",
    "conversation.unshared": "Fin de un enlace compartido",
    "conversation.copied": "Copia de una conversación compartida",
    "audit.listed": "Consulta de la auditoría",
    "audit.exported": "Exportación de la auditoría",
    "usage.exported": "Exportación del reporte de uso",
    "user.2fa_required": "2FA exigida a un usuario",
    "user.2fa_requirement_removed": "2FA dejó de exigirse a un usuario",
    "role.2fa_required": "2FA exigida a un rol",
    "role.2fa_requirement_removed": "2FA dejó de exigirse a un rol",
    "conversation.legal_hold": "Retención legal de una conversación",
    "conversation.legal_hold_released": "Fin de una retención legal",
    "conversations.exported": "Descarga de todas sus conversaciones",
    "retention.run": "Eliminación por política de retención",
    "api_key_created": "Creación de clave de API",
    "api_key_revoked": "Revocación de clave de API",
    "api_key_new_ip": "Uso de clave de API desde una IP nueva",
    "api_keys_enabled": "Habilitación de claves de API",
    "api_keys_disabled": "Deshabilitación de claves de API",
    "announcement.created": "Creación de un aviso general",
    "announcement.updated": "Cambio de un aviso general",
    "announcement.ended": "Término de un aviso general",
    "announcement.deleted": "Eliminación de un aviso general",
    "prompt.published": "Publicación de una indicación",
    "prompt.updated": "Cambio de una indicación publicada",
    "prompt.unpublished": "Eliminación de una indicación publicada",
    "work.stopped": "Detención de una respuesta desde Estado",
}

# Actions that record something that did not succeed (the "Resultado: fallido" filter).
FAILURE_ACTIONS = frozenset(
    {"login_failed", "password_check_failed", "2fa_code_failed", "refresh_token_reused"}
)

_LOGIN_FAILURES = {
    "invalid_credentials": "contraseña incorrecta o cuenta inexistente",
    "account_disabled": "cuenta desactivada",
    "email_not_verified": "correo sin confirmar",
    "invalid_2fa_code": "código de verificación incorrecto",
}


@dataclass(frozen=True)
class Person:
    full_name: str
    email: str


@dataclass(frozen=True)
class Names:
    """The people (by id text) and conversations (id text -> title, owner id) of a page."""

    people: Mapping[str, Person] = field(default_factory=dict)
    conversations: Mapping[str, tuple[str, str]] = field(default_factory=dict)

    def person(self, user_id: Any) -> str:
        found = self.people.get(str(user_id)) if user_id else None
        return found.full_name if found else "un usuario eliminado"

    def conversation(self, conversation_id: Any, details: Mapping[str, Any]) -> tuple[str, str]:
        """«title» and the owner's name; a deleted conversation keeps its title in details."""
        found = self.conversations.get(str(conversation_id))
        if found is not None:
            return f"«{found[0] or 'Sin título'}»", self.person(found[1])
        title = details.get("title")
        owner = self.person(details.get("owner_id"))
        return (f"«{title}»" if title else "una conversación eliminada"), owner


@dataclass(frozen=True)
class EventFacts:
    action: str
    target_type: str | None
    target_id: str | None
    details: Mapping[str, Any]


def _role(value: Any) -> str:
    return ROLE_LABELS.get(str(value), str(value))


def _login_failed(event: EventFacts, names: Names) -> str:
    reason = _LOGIN_FAILURES.get(str(event.details.get("reason")), "motivo desconocido")
    return f"Falló el inicio de sesión ({reason})"


def _role_changed(event: EventFacts, names: Names) -> str:
    details = event.details
    return (
        f"Cambió el rol de {names.person(event.target_id)} de {_role(details.get('from'))} "
        f"a {_role(details.get('to'))}"
    )


def _listed(event: EventFacts, names: Names) -> str:
    if event.target_type == "user":
        return f"Revisó la lista de conversaciones de {names.person(event.target_id)}"
    return "Revisó la lista de conversaciones de todos los usuarios"


def _viewed(event: EventFacts, names: Names) -> str:
    title, owner = names.conversation(event.target_id, event.details)
    return f"Vio la conversación {title} de {owner}"


def _reassigned(event: EventFacts, names: Names) -> str:
    title, _owner = names.conversation(event.target_id, event.details)
    source = names.person(event.details.get("from_user_id"))
    return f"Reasignó {title} de {source} a {names.person(event.details.get('to_user_id'))}"


def _deleted(event: EventFacts, names: Names) -> str:
    title, owner = names.conversation(event.target_id, event.details)
    if event.details.get("temporary"):  # no title kept (docs/conversations-and-admin.md)
        return f"Eliminó un chat temporal de {owner}"
    return f"Eliminó la conversación {title} de {owner}"


def _shared(event: EventFacts, names: Names) -> str:
    title, _owner = names.conversation(event.target_id, event.details)
    verb = "Actualizó el enlace" if event.details.get("updated") else "Creó un enlace"
    return f"{verb} para compartir la conversación {title}"


def _unshared(event: EventFacts, names: Names) -> str:
    title, _owner = names.conversation(event.target_id, event.details)
    return f"Dejó de compartir la conversación {title}"


def _copied(event: EventFacts, names: Names) -> str:
    title, owner = names.conversation(event.target_id, event.details)
    return f"Copió en su cuenta la conversación compartida {title} de {owner}"


def _count(value: Any, one: str, many: str) -> str:
    """The count with its noun: "1 evento", "3 eventos"."""
    return f"{value} {one if value == 1 else many}"


def _exported(event: EventFacts, names: Names) -> str:
    return f"Exportó la auditoría ({_count(event.details.get('rows', 0), 'evento', 'eventos')})"


def _hold(event: EventFacts, names: Names) -> str:
    title, owner = names.conversation(event.target_id, event.details)
    reason = event.details.get("reason")
    return f"Puso la conversación {title} de {owner} en retención legal" + (
        f" (motivo: {reason})" if reason else ""
    )


def _hold_released(event: EventFacts, names: Names) -> str:
    title, owner = names.conversation(event.target_id, event.details)
    return f"Levantó la retención legal de la conversación {title} de {owner}"


def _on_role(text: str) -> Callable[[EventFacts, Names], str]:
    return lambda event, names: text.format(role=_role(event.target_id))


def _retention_run(event: EventFacts, names: Names) -> str:
    details = event.details
    conversations = _count(details.get("conversations", 0), "conversación", "conversaciones")
    messages = _count(details.get("messages", 0), "mensaje", "mensajes")
    return f"La política de retención eliminó {conversations} ({messages})"


def _zip_exported(event: EventFacts, names: Names) -> str:
    return f"Descargó todas sus conversaciones ({event.details.get('conversations', 0)})"


def _key(details: Mapping[str, Any]) -> str:
    # The name came with the creation event (and with revocations since it was added there).
    name, prefix = details.get("name"), f"{details.get('prefix', '')}…"
    return f"«{name}» ({prefix})" if name else prefix


def _key_created(event: EventFacts, names: Names) -> str:
    return f"Creó la clave de API {_key(event.details)}"


def _key_revoked(event: EventFacts, names: Names) -> str:
    owner = names.person(event.details.get("owner_id"))
    return f"Revocó la clave de API {_key(event.details)} de {owner}"


def _key_new_ip(event: EventFacts, names: Names) -> str:
    return f"Usó la clave de API {_key(event.details)} desde una dirección IP nueva"


def _on_announcement(text: str) -> Callable[[EventFacts, Names], str]:
    return lambda event, names: text.format(body=event.details.get("body", ""))


def _on_prompt(text: str) -> Callable[[EventFacts, Names], str]:
    return lambda event, names: text.format(title=event.details.get("title", ""))


_WORK_KINDS = {"chat": "del chat", "continuation": "continuada", "api": "de la API"}


def _work_stopped(event: EventFacts, names: Names) -> str:
    kind = _WORK_KINDS.get(str(event.details.get("kind")), "")
    state = "en espera" if event.details.get("state") == "waiting" else "mientras se escribía"
    return f"Detuvo una respuesta {kind} de {names.person(event.target_id)} ({state})".replace(
        "  ", " "
    )


def _on_user(text: str) -> Callable[[EventFacts, Names], str]:
    return lambda event, names: text.format(user=names.person(event.target_id))


_SENTENCES: dict[str, Callable[[EventFacts, Names], str]] = {
    "login_failed": _login_failed,
    "user.role_changed": _role_changed,
    "conversations.listed": _listed,
    "conversation.viewed": _viewed,
    "conversation.reassigned": _reassigned,
    "conversation.deleted": _deleted,
    "conversation.shared": _shared,
    "conversation.unshared": _unshared,
    "conversation.copied": _copied,
    "audit.exported": _exported,
    "user.activated": _on_user("Activó la cuenta de {user}"),
    "user.deactivated": _on_user("Desactivó la cuenta de {user}"),
    "user.email_verified": _on_user("Dio por confirmado el correo de {user}"),
    "2fa_reset": _on_user("Restableció la verificación en dos pasos de {user}"),
    "password_reset_link_created": _on_user(
        "Creó un enlace para restablecer la contraseña de {user}"
    ),
    "user.2fa_required": _on_user("Exigió la verificación en dos pasos a {user}"),
    "user.2fa_requirement_removed": _on_user(
        "Dejó de exigir la verificación en dos pasos a {user}"
    ),
    "role.2fa_required": _on_role("Exigió la verificación en dos pasos al rol {role}"),
    "role.2fa_requirement_removed": _on_role(
        "Dejó de exigir la verificación en dos pasos al rol {role}"
    ),
    "conversation.legal_hold": _hold,
    "conversation.legal_hold_released": _hold_released,
    "conversations.exported": _zip_exported,
    "retention.run": _retention_run,
    "api_key_created": _key_created,
    "api_key_revoked": _key_revoked,
    "api_key_new_ip": _key_new_ip,
    "api_keys_enabled": _on_user("Habilitó las claves de API de {user}"),
    "api_keys_disabled": _on_user("Deshabilitó las claves de API de {user}"),
    "announcement.created": _on_announcement("Publicó el aviso general «{body}»"),
    "announcement.updated": _on_announcement("Cambió el aviso general «{body}»"),
    "announcement.ended": _on_announcement("Terminó el aviso general «{body}»"),
    "announcement.deleted": _on_announcement("Eliminó el aviso general «{body}»"),
    "prompt.published": _on_prompt("Publicó para todos la indicación «{title}»"),
    "prompt.updated": _on_prompt("Cambió la indicación publicada «{title}»"),
    "prompt.unpublished": _on_prompt("Eliminó la indicación publicada «{title}»"),
    "work.stopped": _work_stopped,
}
_FIXED = {
    "login": "Inició sesión",
    "logout": "Cerró sesión",
    "logout_all": "Cerró todas sus sesiones",
    "refresh_token_reused": "Se reutilizó un token de sesión ya usado: la sesión se cerró",
    "refresh_token_retried": (
        "Repitió la renovación de su sesión (la respuesta anterior no llegó): se emitió un "
        "token nuevo y el anterior quedó anulado"
    ),
    "register": "Creó su cuenta",
    "profile_updated": "Actualizó su perfil",
    "password_changed": "Cambió su contraseña",
    "password_check_failed": "Falló la verificación de su contraseña actual",
    "password_reset": "Restableció su contraseña con un enlace de un solo uso",
    "email_verified": "Confirmó su correo con el enlace que recibió",
    "2fa_setup_started": "Comenzó a configurar la verificación en dos pasos",
    "2fa_enabled": "Activó la verificación en dos pasos",
    "2fa_disabled": "Desactivó la verificación en dos pasos",
    "2fa_code_failed": "Ingresó un código de verificación incorrecto",
    "audit.listed": "Revisó la auditoría",
    "usage.exported": "Exportó el reporte de uso",
}


def describe(event: EventFacts, names: Names) -> str:
    """The event as one Spanish sentence, the actor being its implicit subject (or the server's
    console, for what ``energyapp`` commands did)."""
    sentence = _SENTENCES.get(event.action)
    if sentence is not None:
        text = sentence(event, names)
    else:
        text = _FIXED.get(event.action, f"Acción «{event.action}»")
    if event.details.get("via") == "console":
        return f"{text} (desde la consola del servidor)"
    if event.details.get("via") == "email":
        return f"{text} (pedido por la persona, enviado por correo)"
    return text


def outcome(action: str) -> str:
    """``failure`` for the actions that record something refused, else ``success``."""
    return "failure" if action in FAILURE_ACTIONS else "success"


def user_ids_named(event: EventFacts, actor_id: Any) -> set[str]:
    """The user ids :func:`describe` may name for ``event`` (to resolve in one query)."""
    ids = {str(actor_id)} if actor_id else set()
    if event.target_type == "user" and event.target_id:
        ids.add(event.target_id)
    for key in ("owner_id", "from_user_id", "to_user_id"):
        value = event.details.get(key)
        if isinstance(value, str):
            ids.add(value)
    return ids
