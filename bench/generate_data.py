"""Fill a separate PostgreSQL database with an organisation-sized data set for the list benchmarks.

    .venv/bin/python -m bench.generate_data \
        --db-url postgresql://postgres@127.0.0.1:5432/energyapp_bench \
        --users 10000 --conversations 200000 --messages 5000000

The database is dropped and created again, migrated with Alembic, then loaded with COPY
(asyncpg ``copy_records_to_table``). The secondary indexes of ``messages`` and ``usage_events``
are dropped during the load and rebuilt afterwards, as any bulk load does; foreign keys are
consistent by construction, so their per-row triggers are skipped
(``session_replication_role = replica``) during COPY only.

Shape of the data (chosen so the benchmark can go deep in every list):
- users: a few admins, 1 % supervisors, the rest ``trabajador``; ``bench-heavy@...`` owns
  ``--heavy-conversations`` conversations (deep pages of ``GET /conversations``);
- conversations spread over the other users; one conversation of the heavy user has
  ``--heavy-messages`` messages (deep pages of ``GET /conversations/{id}/messages``);
- messages alternate user / assistant, with tokens and Spanish text from a word pool, each
  conversation one branch (no versions: ``parent_id`` the message before, ``current_leaf_id``
  the last one);
- the denormalised counters (``users.conversation_count``, ``users.message_count``,
  ``conversations.message_count``) match the rows;
- each answer has its row in the usage ledger (``usage_events``), as the app writes it when an
  answer to a new question ends (``usage/service.py``): its owner, ``web``, its model, status,
  tokens and first-token wait, 2 messages (the question and the answer), 1 answer, its message
  id, at its time; so the admin's "Uso" page and the daily quotas have figures to show.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg

from energyapp.auth.security import password_hash
from energyapp.core.migrate import upgrade

BENCH_PASSWORD = "Bench-contrasena-1"  # a bench-only account on a throwaway database
HEAVY_EMAIL = "bench-heavy@alvaradomazzei.cl"
ADMIN_EMAIL = "bench-admin-00000@alvaradomazzei.cl"
SUPERVISOR_EMAIL = "bench-supervisor-00000@alvaradomazzei.cl"
CHUNK = 50_000

WORDS = (  # noqa: SIM905 - a sentence reads better than 90 quoted words
    "energía contrato cliente factura potencia consumo medidor tarifa suministro red eléctrica "
    "subestación transformador licitación informe mantención turno planta solar eólica batería "
    "kilowatt demanda peak distribución transmisión regulación norma técnica plazo reclamo "
    "presupuesto proyecto ingeniería seguridad riesgo auditoría proveedor compra bodega inventario "
    "reunión gerencia análisis datos mensual anual resumen correo respuesta pregunta revisar "
    "preparar enviar calcular comparar explicar redactar traducir corregir ordenar listar buscar "
    "cuál cómo cuándo dónde por qué favor gracias ayuda urgente importante pendiente listo "
    "Santiago Valparaíso Antofagasta Concepción Temuco Copiapó Iquique Rancagua Talca Osorno"
).split()


def uuid7_at(moment: datetime, rng: random.Random) -> uuid.UUID:
    """A UUIDv7 for a given instant (the app's ids are v7, so id order follows time)."""
    ms = int(moment.timestamp() * 1000)
    value = (ms << 80) | (0x7 << 76) | (rng.getrandbits(12) << 64) | (0b10 << 62)
    return uuid.UUID(int=value | rng.getrandbits(62))


def text_pool(rng: random.Random, size: int) -> list[str]:
    pool = []
    for _ in range(size):
        words = rng.choices(WORDS, k=rng.randint(6, 60))
        pool.append(" ".join(words).capitalize() + ".")
    return pool


def split_counts(total: int, parts: int, rng: random.Random) -> list[int]:
    """``total`` spread over ``parts`` buckets, uneven like real usage (each at least 1)."""
    weights = [rng.paretovariate(1.5) for _ in range(parts)]
    scale = (total - parts) / sum(weights)
    counts = [1 + int(w * scale) for w in weights]
    counts[rng.randrange(parts)] += total - sum(counts)
    return counts


async def recreate_database(admin_url: str, name: str) -> None:
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def load(args: argparse.Namespace) -> None:
    rng = random.Random(args.seed)
    started = time.perf_counter()
    base, name = args.db_url.rsplit("/", 1)
    await recreate_database(f"{base}/postgres", name)
    await asyncio.to_thread(upgrade, args.db_url)
    print(f"migrated {name} in {time.perf_counter() - started:.1f}s", flush=True)

    conn = await asyncpg.connect(args.db_url)
    try:
        await conn.execute("SET maintenance_work_mem = '512MB'")
        await conn.execute("SET session_replication_role = replica")
        indexes = await conn.fetch(
            "SELECT indexname, indexdef FROM pg_indexes "
            "WHERE tablename IN ('messages', 'usage_events') "
            "AND indexname NOT IN ('pk_messages', 'pk_usage_events')"
        )
        for row in indexes:
            await conn.execute(f'DROP INDEX "{row["indexname"]}"')

        now = datetime.now(UTC)
        pwd = password_hash.hash(BENCH_PASSWORD)
        n_users = args.users
        roles = ["trabajador"] * n_users
        emails = [f"bench-user-{i:05d}@alvaradomazzei.cl" for i in range(n_users)]
        for i in range(3):
            roles[i] = "admin"
            emails[i] = f"bench-admin-{i:05d}@alvaradomazzei.cl"
        for i in range(3, 3 + max(1, n_users // 100)):
            roles[i] = "supervisor"
            emails[i] = f"bench-supervisor-{i - 3:05d}@alvaradomazzei.cl"
        heavy = n_users - 1
        emails[heavy] = HEAVY_EMAIL
        created = [now - timedelta(days=400, seconds=rng.randint(0, 86_400 * 30)) for _ in emails]
        user_ids = [uuid7_at(c, rng) for c in created]

        # Conversations per user: the heavy user gets its fixed share, the rest is spread.
        per_user = [0] * n_users
        rest = args.conversations - args.heavy_conversations
        others = [i for i in range(n_users) if i != heavy]
        for i, count in zip(others, split_counts(rest, len(others), rng), strict=True):
            per_user[i] = count
        per_user[heavy] = args.heavy_conversations
        conv_owner: list[int] = [u for u in range(n_users) for _ in range(per_user[u])]
        n_conv = len(conv_owner)
        msg_counts = split_counts(args.messages - args.heavy_messages, n_conv - 1, rng)
        heavy_conv = conv_owner.index(heavy)
        msg_counts.insert(heavy_conv, args.heavy_messages)

        texts = text_pool(rng, 20_000)
        user_msgs = [0] * n_users
        last_active = list(created)
        conv_rows = []
        msg_rows: list[tuple[object, ...]] = []
        usage_rows: list[tuple[object, ...]] = []
        total_msgs = total_answers = 0
        copy_s = 0.0

        async def flush_messages() -> None:
            nonlocal copy_s, msg_rows, usage_rows
            t = time.perf_counter()
            await conn.copy_records_to_table("messages", records=msg_rows, columns=MSG_COLUMNS)
            await conn.copy_records_to_table(
                "usage_events", records=usage_rows, columns=USAGE_COLUMNS
            )
            copy_s += time.perf_counter() - t
            msg_rows, usage_rows = [], []

        for c, owner in enumerate(conv_owner):
            count = msg_counts[c]
            # The heavy conversation spans longer (a long-lived thread); none ends in the future.
            step = 20 if count < 1000 else 600
            start = now - timedelta(seconds=rng.randint(3600, 360 * 86_400) + count * step * 6)
            conv_id = uuid7_at(start, rng)
            moment = start
            parent = None  # one branch: each message follows the one before
            for k in range(count):
                moment += timedelta(seconds=rng.randint(step, step * 6), microseconds=k)
                assistant = k % 2 == 1
                message_id = uuid7_at(moment, rng)
                row = (
                    message_id,
                    parent,
                    conv_id,
                    user_ids[owner],
                    "assistant" if assistant else "user",
                    texts[rng.randrange(len(texts))],
                    "complete",
                    *(answer_counts(rng) if assistant else (None,) * 5),
                    moment,
                    moment,
                )
                msg_rows.append(row)
                if assistant:
                    usage_rows.append(usage_event(row, uuid7_at(moment, rng)))
                    total_answers += 1
                parent = message_id
            updated = moment
            title = " ".join(rng.choices(WORDS, k=rng.randint(2, 7))).capitalize()[:200]
            conv_rows.append(
                (
                    conv_id,
                    user_ids[owner],
                    title,
                    "auto",
                    rng.random() < 0.02,
                    rng.random() < 0.05,
                    count,
                    parent,
                    start,
                    updated,
                )
            )
            user_msgs[owner] += count
            last_active[owner] = max(last_active[owner], updated)
            total_msgs += count
            if len(msg_rows) >= CHUNK:
                await flush_messages()
                if total_msgs % 500_000 < CHUNK:
                    elapsed = time.perf_counter() - started
                    print(f"  {total_msgs:>9,} messages  {elapsed:6.0f}s", flush=True)
        if msg_rows:
            await flush_messages()

        user_rows = [
            (
                user_ids[i],
                emails[i],
                f"Usuario de prueba {i:05d}",
                pwd,
                roles[i],
                True,
                False,
                created[i],
                created[i],
                last_active[i],
                per_user[i],
                user_msgs[i],
            )
            for i in range(n_users)
        ]
        await conn.copy_records_to_table("users", records=user_rows, columns=USER_COLUMNS)
        for i in range(0, len(conv_rows), CHUNK):
            await conn.copy_records_to_table(
                "conversations", records=conv_rows[i : i + CHUNK], columns=CONV_COLUMNS
            )
        print(
            f"copied {n_users:,} users, {n_conv:,} conversations, {total_msgs:,} messages, "
            f"{total_answers:,} usage events ({copy_s:.0f}s in COPY) at "
            f"{time.perf_counter() - started:.0f}s",
            flush=True,
        )
        await conn.execute("SET session_replication_role = origin")
        for row in indexes:
            t = time.perf_counter()
            await conn.execute(row["indexdef"])
            print(f"  index {row['indexname']} in {time.perf_counter() - t:.0f}s", flush=True)
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()
    print(f"done in {time.perf_counter() - started:.0f}s", flush=True)


def answer_counts(rng: random.Random) -> tuple[object, ...]:
    """An answer's model, tokens, duration and first-token wait (MSG_COLUMNS' order)."""
    duration = rng.randint(300, 30_000)
    return "llama3.1:8b", rng.randint(40, 4000), rng.randint(20, 800), duration, duration // 10


def usage_event(answer: tuple[object, ...], event_id: uuid.UUID) -> tuple[object, ...]:
    """The ledger row of ``answer`` (a row of MSG_COLUMNS), as the app writes it when an answer
    to a new question ends: its owner's, web, 2 messages (the question and the answer), 1
    answer, at the answer's time."""
    m = dict(zip(MSG_COLUMNS, answer, strict=True))
    return (
        event_id,
        m["user_id"],
        m["updated_at"],
        "web",
        m["model"],
        m["status"],
        m["prompt_tokens"],
        m["completion_tokens"],
        m["first_token_ms"],
        2,
        1,
        m["id"],
    )


MSG_COLUMNS = [
    "id",
    "parent_id",
    "conversation_id",
    "user_id",
    "role",
    "content",
    "status",
    "model",
    "prompt_tokens",
    "completion_tokens",
    "duration_ms",
    "first_token_ms",
    "created_at",
    "updated_at",
]
USAGE_COLUMNS = [
    "id",
    "user_id",
    "created_at",
    "source",
    "model",
    "status",
    "prompt_tokens",
    "completion_tokens",
    "first_token_ms",
    "messages",
    "answers",
    "message_id",
]
USER_COLUMNS = [
    "id",
    "email",
    "full_name",
    "password_hash",
    "role",
    "is_active",
    "totp_enabled",
    "created_at",
    "updated_at",
    "last_active_at",
    "conversation_count",
    "message_count",
]
CONV_COLUMNS = [
    "id",
    "user_id",
    "title",
    "title_source",
    "pinned",
    "archived",
    "message_count",
    "current_leaf_id",
    "created_at",
    "updated_at",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db-url", default="postgresql://postgres@127.0.0.1:5432/energyapp_bench")
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--conversations", type=int, default=200_000)
    parser.add_argument("--messages", type=int, default=5_000_000)
    parser.add_argument("--heavy-conversations", type=int, default=5_000)
    parser.add_argument("--heavy-messages", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=20261126)
    args = parser.parse_args()
    if not args.db_url.rsplit("/", 1)[1].startswith("energyapp_bench"):
        parser.error("por seguridad, la base de datos del benchmark debe llamarse energyapp_bench*")
    asyncio.run(load(args))


if __name__ == "__main__":
    main()
