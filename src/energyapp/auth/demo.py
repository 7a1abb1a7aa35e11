"""Demo accounts for development and demos (idempotent): `energyapp seed-demo` and `dev`."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from energyapp.auth import service as auth_service

DEMO_ACCOUNTS = (
    ("admin@example.com", "admin123", "Administradora Demo", "admin"),
    ("trabajador@example.com", "worker123", "Trabajador Demo", "trabajador"),
    ("supervisor@example.com", "supervisor123", "Supervisora Demo", "supervisor"),
)


async def seed_demo(session: AsyncSession) -> list[str]:
    """Create the demo accounts that are missing; return the emails created."""
    created = []
    for email, password, name, role in DEMO_ACCOUNTS:
        if await auth_service.get_user_by_email(session, email) is None:
            await auth_service.create_user(
                session, email=email, password=password, full_name=name, role=role
            )
            created.append(email)
    return created
