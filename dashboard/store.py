"""The embedded dataset store: SQLite through SQLAlchemy by default, any SQLAlchemy URL works.

A dataset is its canonical tables, its settings, its column mappings and its import report.
Each table is kept as Parquet chunks in a BLOB column: types survive exactly (dates stay dates,
ids stay text), a million rows store in well under a second, and the same code runs on SQLite and
PostgreSQL. Saving writes a new version of every table and switches the dataset to it inside one
transaction, so an import replaces a dataset atomically: all tables or none, also when the process
dies midway (the database rolls the unfinished transaction back). The versions it replaces are
kept (KEPT_VERSIONS in all) so that an admin can restore one.

Writers are serialised: one at a time per store in this process, and a write that meets another
process's lock (SQLite allows one writer) or loses a race to create the same name is retried; one
still blocked after the retries raises StoreBusy, whose message says so in words. Every change is
written to the audit log (who, when, what) in the same transaction as the change itself.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import polars as pl
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from dashboard.naming import check_dataset_name
from metrics.domain import Dataset
from metrics.schema import TABLES, DatasetSettings

CHUNK_ROWS = 500_000  # rows per Parquet blob: keeps each blob far below database size limits
KEPT_VERSIONS = 3  # the current version of a dataset and the two it replaced
WRITE_ATTEMPTS = 6  # a blocked write is tried again after 0.1, 0.2, 0.4, 0.8 and 1.6 s
SQLITE_BUSY_SECONDS = 10  # how long SQLite itself waits for another process's write lock
ACTOR_LENGTH = 200  # who made a change, as the audit log keeps it (an account name, an e-mail address)

metadata = sa.MetaData()


def _content_columns() -> list[sa.Column]:
    """What a dataset holds besides its tables, as JSON texts: the live row and every kept version
    have these (a column belongs to one table, hence fresh ones for each)."""
    return [sa.Column(name, sa.Text, nullable=False) for name in ("settings", "mapping", "report", "row_counts")]


datasets_table = sa.Table(
    "crm_datasets",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(200), nullable=False, unique=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
    *_content_columns(),
)
chunks_table = sa.Table(
    "crm_table_chunks",
    metadata,
    sa.Column("dataset_id", sa.Integer, primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("table_name", sa.String(50), primary_key=True),
    sa.Column("chunk_no", sa.Integer, primary_key=True),
    sa.Column("row_count", sa.Integer, nullable=False),
    sa.Column("data", sa.LargeBinary, nullable=False),
)
mappings_table = sa.Table(
    "crm_saved_mappings",
    metadata,
    sa.Column("shape", sa.String(64), primary_key=True),
    sa.Column("table_name", sa.String(50), nullable=False),
    sa.Column("mapping", sa.Text, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
)
versions_table = sa.Table(
    "crm_dataset_versions",
    metadata,
    sa.Column("dataset_id", sa.Integer, primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("saved_at", sa.DateTime, nullable=False),
    sa.Column("saved_by", sa.String(ACTOR_LENGTH), nullable=False),
    *_content_columns(),
)
audit_table = sa.Table(
    "crm_audit_log",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.DateTime, nullable=False),
    sa.Column("actor", sa.String(ACTOR_LENGTH), nullable=False),
    sa.Column("action", sa.String(50), nullable=False),
    sa.Column("detail", sa.Text, nullable=False),
)
users_table = sa.Table(  # built-in accounts (dashboard/accounts.py)
    "crm_users",
    metadata,
    sa.Column("name", sa.String(100), primary_key=True),
    sa.Column("role", sa.String(20), nullable=False),
    sa.Column("password_hash", sa.String(300), nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
)
state_table = sa.Table(
    "crm_state",
    metadata,
    sa.Column("key", sa.String(50), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    updated_at: dt.datetime
    row_counts: dict[str, int]
    warnings: int


@dataclass(frozen=True)
class VersionInfo:
    version: int
    saved_at: dt.datetime
    saved_by: str
    row_counts: dict[str, int]
    current: bool


@dataclass(frozen=True)
class AuditEntry:
    at: dt.datetime
    actor: str
    action: str
    detail: str


class DatasetNotFound(KeyError):
    pass


class StoreBusy(RuntimeError):
    """A change that could not be written because other changes held the store; nothing changed."""


LOCAL = "command line"  # the actor of changes made outside the app (python -m dashboard …)
T = TypeVar("T")
_WRITE_LOCKS: dict[str, threading.Lock] = {}
_WRITE_LOCKS_GUARD = threading.Lock()


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _transient(exc: Exception) -> bool:
    """A write that may succeed when tried again: another writer held SQLite's lock, or created
    the same dataset name a moment before (the retry then replaces it)."""
    if isinstance(exc, sa.exc.IntegrityError):
        return True
    text = str(exc).lower()
    return isinstance(exc, sa.exc.OperationalError) and ("locked" in text or "busy" in text or "deadlock" in text)


def _to_parquet(frame: pl.DataFrame) -> bytes:
    buf = io.BytesIO()
    frame.write_parquet(buf, compression="lz4")
    return buf.getvalue()


class Store:
    def __init__(self, url: str):
        self.url = url
        if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        sqlite = url.startswith("sqlite")
        self.engine: Engine = sa.create_engine(url, connect_args={"timeout": SQLITE_BUSY_SECONDS} if sqlite else {})
        with _WRITE_LOCKS_GUARD:
            self._lock = _WRITE_LOCKS.setdefault(url, threading.Lock())
        self._write(lambda conn: metadata.create_all(conn))

    def _write(self, change: Callable[[sa.Connection], T]) -> T:
        """Run `change` in one transaction, one writer at a time, retrying a blocked write."""
        delay = 0.1
        with self._lock:
            for attempt in range(WRITE_ATTEMPTS):
                try:
                    with self.engine.begin() as conn:  # an exception or a crash rolls it all back
                        return change(conn)
                except (sa.exc.OperationalError, sa.exc.IntegrityError) as exc:
                    if not _transient(exc):
                        raise
                    if attempt == WRITE_ATTEMPTS - 1:
                        raise StoreBusy(
                            "The dataset store stayed busy with other changes, so this one was not made "
                            "(nothing changed). Try again in a moment."
                        ) from None
                    time.sleep(delay)
                    delay *= 2
        raise AssertionError("unreachable")

    @staticmethod
    def _audit(conn, actor: str, action: str, detail: str) -> None:
        conn.execute(audit_table.insert().values(at=_now(), actor=actor[:ACTOR_LENGTH], action=action, detail=detail))

    # --- datasets -----------------------------------------------------------------------------
    def save(self, dataset: Dataset, *, actor: str = LOCAL) -> None:
        """Replace (or create) the dataset atomically: every table and the metadata, or nothing.
        The dataset's name must pass check_dataset_name (BadName otherwise)."""
        if check_dataset_name(dataset.name) != dataset.name:
            raise ValueError(f"dataset names are stored as checked: {check_dataset_name(dataset.name)!r}")
        self._write(lambda conn: self._save(conn, dataset, actor))

    def _save(self, conn, dataset: Dataset, actor: str) -> None:
        now = _now()
        counts = {t: f.height for t, f in dataset.tables.items()}
        meta = {
            "settings": json.dumps(dataset.settings.to_json()),
            "mapping": json.dumps(dataset.mapping, default=str),
            "report": json.dumps(dataset.report, default=str),
            "row_counts": json.dumps(counts),
        }
        row = conn.execute(sa.select(datasets_table.c.id).where(datasets_table.c.name == dataset.name)).first()
        if row is None:
            dataset_id = conn.execute(
                datasets_table.insert().values(name=dataset.name, version=0, created_at=now, updated_at=now, **meta)
            ).inserted_primary_key[0]
        else:
            dataset_id = row.id
        # the next number after every version ever kept (a restored older one is current then)
        version = 1 + max(
            conn.execute(sa.select(sa.func.max(datasets_table.c.version)).where(datasets_table.c.id == dataset_id)).scalar() or 0,
            conn.execute(sa.select(sa.func.max(versions_table.c.version)).where(versions_table.c.dataset_id == dataset_id)).scalar() or 0,
        )  # fmt: skip
        for table_name, frame in dataset.tables.items():
            self._write_table(conn, dataset_id, version, table_name, frame)
        conn.execute(datasets_table.update().where(datasets_table.c.id == dataset_id).values(version=version, updated_at=now, **meta))
        conn.execute(versions_table.insert().values(dataset_id=dataset_id, version=version, saved_at=now,
                                                    saved_by=actor[:ACTOR_LENGTH], **meta))  # fmt: skip
        kept = [v for (v,) in conn.execute(
            sa.select(versions_table.c.version).where(versions_table.c.dataset_id == dataset_id)
            .order_by(versions_table.c.version.desc()).limit(KEPT_VERSIONS)
        )]  # fmt: skip
        for table in (chunks_table, versions_table):
            conn.execute(table.delete().where((table.c.dataset_id == dataset_id) & table.c.version.not_in(kept)))
        rows = ", ".join(f"{t} {n:,}" for t, n in counts.items())
        self._audit(conn, actor, "import" if row is None else "replace", f"dataset {dataset.name!r} version {version}: {rows}")

    def update_settings(self, name: str, settings: DatasetSettings, *, actor: str = LOCAL) -> None:
        """Change a stored dataset's settings only (its tables stay as they are). The update
        time moves, so every cached result of the dataset is recomputed with the new settings."""

        def change(conn) -> None:
            changed = conn.execute(
                datasets_table.update().where(datasets_table.c.name == name)
                .values(settings=json.dumps(settings.to_json()), updated_at=_now())
            ).rowcount  # fmt: skip
            if not changed:
                raise KeyError(f"no stored dataset named {name!r}")
            self._audit(conn, actor, "settings", f"dataset {name!r}: {json.dumps(settings.to_json(), default=str)}")

        self._write(change)

    # --- earlier versions -------------------------------------------------------------------
    def versions(self, name: str) -> list[VersionInfo]:
        """The kept versions of a dataset, newest first."""
        with self.engine.connect() as conn:
            meta = conn.execute(sa.select(datasets_table.c.id, datasets_table.c.version).where(datasets_table.c.name == name)).first()
            if meta is None:
                raise DatasetNotFound(name)
            rows = conn.execute(
                sa.select(versions_table).where(versions_table.c.dataset_id == meta.id).order_by(versions_table.c.version.desc())
            ).all()  # fmt: skip
        return [VersionInfo(r.version, r.saved_at, r.saved_by, json.loads(r.row_counts), r.version == meta.version) for r in rows]

    def restore(self, name: str, version: int, *, actor: str = LOCAL) -> None:
        """Make a kept version the current one again (the version it replaces stays kept)."""

        def change(conn) -> None:
            meta = conn.execute(sa.select(datasets_table.c.id).where(datasets_table.c.name == name)).first()
            if meta is None:
                raise DatasetNotFound(name)
            kept = conn.execute(
                sa.select(versions_table).where((versions_table.c.dataset_id == meta.id) & (versions_table.c.version == version))
            ).first()  # fmt: skip
            if kept is None:
                raise KeyError(f"dataset {name!r} keeps no version {version}")
            conn.execute(datasets_table.update().where(datasets_table.c.id == meta.id).values(
                version=version, updated_at=_now(), settings=kept.settings, mapping=kept.mapping, report=kept.report,
                row_counts=kept.row_counts,
            ))  # fmt: skip
            self._audit(conn, actor, "restore", f"dataset {name!r} back to version {version}")

        self._write(change)

    # --- the audit log ----------------------------------------------------------------------
    def record(self, actor: str, action: str, detail: str) -> None:
        """An audit entry for a change made elsewhere (an account, a locked link)."""
        self._write(lambda conn: self._audit(conn, actor, action, detail))

    def audit_log(self, limit: int = 500) -> list[AuditEntry]:
        """The latest entries, newest first."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(audit_table).order_by(audit_table.c.id.desc()).limit(limit)).all()
        return [AuditEntry(r.at, r.actor, r.action, r.detail) for r in rows]

    def _write_table(self, conn, dataset_id: int, version: int, name: str, frame: pl.DataFrame):
        if name not in TABLES:
            raise ValueError(f"{name!r} is not a canonical table")
        starts: Iterable[int] = range(0, max(frame.height, 1), CHUNK_ROWS)
        for chunk_no, start in enumerate(starts):
            part = frame.slice(start, CHUNK_ROWS)
            conn.execute(
                chunks_table.insert().values(
                    dataset_id=dataset_id,
                    version=version,
                    table_name=name,
                    chunk_no=chunk_no,
                    row_count=part.height,
                    data=_to_parquet(part),
                )
            )

    def load(self, name: str) -> Dataset:
        with self.engine.connect() as conn:
            meta = conn.execute(
                sa.select(datasets_table).where(datasets_table.c.name == name)
            ).first()
            if meta is None:
                raise DatasetNotFound(name)
            rows = conn.execute(
                sa.select(chunks_table.c.table_name, chunks_table.c.data)
                .where(
                    (chunks_table.c.dataset_id == meta.id)
                    & (chunks_table.c.version == meta.version)
                )
                .order_by(chunks_table.c.table_name, chunks_table.c.chunk_no)
            ).all()
        parts: dict[str, list[pl.DataFrame]] = {}
        for table_name, data in rows:
            parts.setdefault(table_name, []).append(pl.read_parquet(io.BytesIO(data)))
        return Dataset(
            name=meta.name,
            tables={t: pl.concat(p) for t, p in parts.items()},
            settings=DatasetSettings.from_json(json.loads(meta.settings)),
            report=json.loads(meta.report),
            mapping=json.loads(meta.mapping),
            updated_at=meta.updated_at,
        )

    def list(self) -> list[DatasetInfo]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(
                    datasets_table.c.name,
                    datasets_table.c.updated_at,
                    datasets_table.c.row_counts,
                    datasets_table.c.report,
                ).order_by(datasets_table.c.updated_at.desc())
            ).all()
        return [
            DatasetInfo(r.name, r.updated_at, json.loads(r.row_counts), len(json.loads(r.report)))
            for r in rows
        ]

    def delete(self, name: str, *, actor: str = LOCAL) -> None:
        """Delete a dataset with every kept version (there is no undo)."""

        def change(conn) -> None:
            row = conn.execute(sa.select(datasets_table.c.id).where(datasets_table.c.name == name)).first()
            if row is None:
                raise DatasetNotFound(name)
            for table in (chunks_table, versions_table):
                conn.execute(table.delete().where(table.c.dataset_id == row.id))
            conn.execute(datasets_table.delete().where(datasets_table.c.id == row.id))
            conn.execute(state_table.delete().where((state_table.c.key == "active_dataset") & (state_table.c.value == name)))
            self._audit(conn, actor, "delete", f"dataset {name!r}")

        self._write(change)

    # --- the dataset a new session opens on -----------------------------------------------------
    def active_name(self) -> str | None:
        with self.engine.connect() as conn:
            return conn.execute(
                sa.select(state_table.c.value).where(state_table.c.key == "active_dataset")
            ).scalar()

    def set_active(self, name: str | None, *, actor: str = LOCAL) -> None:
        def change(conn) -> None:
            conn.execute(state_table.delete().where(state_table.c.key == "active_dataset"))
            if name is not None:
                conn.execute(state_table.insert().values(key="active_dataset", value=name))
            self._audit(conn, actor, "default", f"dataset {name!r} opens by default" if name else "no default dataset")

        self._write(change)

    # --- saved column mappings, reused for the next upload of the same shape ----------------
    def saved_mapping(self, shape: str) -> tuple[str, dict[str, str]] | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(mappings_table.c.table_name, mappings_table.c.mapping).where(
                    mappings_table.c.shape == shape
                )
            ).first()
        return (row.table_name, json.loads(row.mapping)) if row else None

    def save_mapping(self, shape: str, table_name: str, mapping: dict[str, str]) -> None:
        def change(conn) -> None:
            conn.execute(mappings_table.delete().where(mappings_table.c.shape == shape))
            conn.execute(mappings_table.insert().values(
                shape=shape, table_name=table_name, mapping=json.dumps(mapping), updated_at=_now()
            ))  # fmt: skip

        self._write(change)

    # --- small values the app keeps (the link-signing key) ------------------------------------
    def state(self, key: str) -> str | None:
        with self.engine.connect() as conn:
            return conn.execute(sa.select(state_table.c.value).where(state_table.c.key == key)).scalar()

    def state_once(self, key: str, make: Callable[[], str]) -> str:
        """The stored value of `key`, made and stored by the first caller (of any process) that
        finds none: every later caller reads that same value."""

        def change(conn) -> str:
            found = conn.execute(sa.select(state_table.c.value).where(state_table.c.key == key)).scalar()
            if found is None:
                found = make()
                conn.execute(state_table.insert().values(key=key, value=found))
            return found

        return self.state(key) or self._write(change)
