"""SQLite on a full disk or a read-only data directory: a clear JSON error, no corruption, and
the app recovers by itself once space is back. Real filesystems: a small tmpfs (needs root to
mount; skipped elsewhere)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager

from energyapp.core.migrate import upgrade
from energyapp.main import create_app
from tests.conftest import TEST_DB, HeadersFactory, UserFactory, make_settings

pytestmark = pytest.mark.skipif(
    TEST_DB != "sqlite", reason="SQLite storage faults (PostgreSQL has its restart test)"
)


@contextlib.contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], check=False
    )
    if done.returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def fill(directory: Path) -> Path:
    """Write a file until the filesystem refuses: the disk is then full."""
    filler = directory / "relleno.bin"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (65536, 512, 1):
            with contextlib.suppress(OSError):
                while True:
                    os.write(fd, b"\0" * size)
    finally:
        os.close(fd)
    return filler


def integrity(db_file: Path) -> str:
    with contextlib.closing(sqlite3.connect(db_file)) as conn:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])


@contextlib.asynccontextmanager
async def app_client(db_url: str) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(make_settings(db_url))
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            yield client


async def test_disk_full_is_507_then_recovers(
    tmp_path: Path, make_user: UserFactory, auth_headers: HeadersFactory
) -> None:
    with tmpfs(tmp_path / "datos", "6m") as data:
        db_file = data / "energyapp.db"
        url = f"sqlite:///{db_file}"
        await asyncio.to_thread(upgrade, url)
        async with app_client(url) as client:
            # The account lives in this database: register it through the API.
            email = f"lleno-{uuid.uuid4().hex[:6]}@alvaradomazzei.cl"
            password = "Clave-muy-segura-2026"
            document = {"email": email, "password": password, "full_name": "Disco Lleno"}
            assert (await client.post("/auth/register", json=document)).status_code == 201
            login = await client.post("/auth/login", json={"email": email, "password": password})
            headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
            created: list[str] = []
            filler = fill(data)
            refused = None
            for i in range(400):
                response = await client.post(
                    "/conversations",
                    json={"title": f"Conversación {i} " + "x" * 150},
                    headers=headers,
                )
                if response.status_code == 201:
                    created.append(response.json()["id"])
                    continue
                refused = response
                break
            assert refused is not None, "the disk never filled"
            assert refused.status_code == 507, refused.text
            assert refused.json()["code"] == "storage_full"
            assert "espacio" in refused.json()["detail"]
            # Space is back: the same app writes again, without a restart.
            filler.unlink()
            response = await client.post(
                "/conversations", json={"title": "Después"}, headers=headers
            )
            assert response.status_code == 201, response.text
            created.append(response.json()["id"])
            listed = await client.get("/conversations", params={"limit": 200}, headers=headers)
            ids = {c["id"] for c in listed.json()["items"]}
            assert set(created) <= ids
        assert integrity(db_file) == "ok"


async def test_read_only_data_directory_is_a_clean_503(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "datos", "8m") as data:
        db_file = data / "energyapp.db"
        url = f"sqlite:///{db_file}"
        await asyncio.to_thread(upgrade, url)
        subprocess.run(["mount", "-o", "remount,ro", str(data)], check=True)
        try:
            async with app_client(url) as client:
                document = {
                    "email": "ro@alvaradomazzei.cl",
                    "password": "Clave-muy-segura-2026",
                    "full_name": "Solo Lectura",
                }
                for method, path, body in (
                    ("POST", "/auth/register", document),
                    ("POST", "/auth/login", {"email": "ro@alvaradomazzei.cl", "password": "x"}),
                ):
                    response = await client.request(method, path, json=body)
                    assert response.status_code == 503, response.text
                    assert response.json()["code"] in ("db_unavailable", "storage_read_only")
                    assert response.headers["retry-after"]
                health = await client.get("/health")
                assert health.status_code == 503 and health.json()["db"] == "error"
        finally:
            subprocess.run(["mount", "-o", "remount,rw", str(data)], check=True)
        assert integrity(db_file) == "ok"
