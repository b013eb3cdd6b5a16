"""The embedded dataset store: SQLite through SQLAlchemy by default, any SQLAlchemy URL works.

A dataset is its canonical tables, its settings, its column mappings and its import report.
Each table is kept as Parquet chunks in a BLOB column: types survive exactly (dates stay dates,
ids stay text), a million rows store in well under a second, and the same code runs on SQLite and
PostgreSQL. Saving writes a new version of every table and switches the dataset to it inside one
transaction, so an import replaces a dataset atomically: all tables or none, also when the process
dies midway (the database rolls the unfinished transaction back).
"""

from __future__ import annotations

import datetime as dt
import io
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from metrics.domain import Dataset
from metrics.schema import TABLES, DatasetSettings

CHUNK_ROWS = 500_000  # rows per Parquet blob: keeps each blob far below database size limits

metadata = sa.MetaData()
datasets_table = sa.Table(
    "crm_datasets",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(200), nullable=False, unique=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
    sa.Column("settings", sa.Text, nullable=False),
    sa.Column("mapping", sa.Text, nullable=False),
    sa.Column("report", sa.Text, nullable=False),
    sa.Column("row_counts", sa.Text, nullable=False),
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


class DatasetNotFound(KeyError):
    pass


def _to_parquet(frame: pl.DataFrame) -> bytes:
    buf = io.BytesIO()
    frame.write_parquet(buf, compression="lz4")
    return buf.getvalue()


class Store:
    def __init__(self, url: str):
        self.url = url
        if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        self.engine: Engine = sa.create_engine(url)
        metadata.create_all(self.engine)

    # --- datasets -----------------------------------------------------------------------------
    def save(self, dataset: Dataset) -> None:
        """Replace (or create) the dataset atomically: every table and the metadata, or nothing."""
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        with self.engine.begin() as conn:  # one transaction; an exception or a crash rolls back
            row = conn.execute(
                sa.select(datasets_table.c.id, datasets_table.c.version).where(
                    datasets_table.c.name == dataset.name
                )
            ).first()
            if row is None:
                dataset_id = conn.execute(
                    datasets_table.insert().values(
                        name=dataset.name,
                        version=0,
                        created_at=now,
                        updated_at=now,
                        settings="{}",
                        mapping="{}",
                        report="[]",
                        row_counts="{}",
                    )
                ).inserted_primary_key[0]
                version = 1
            else:
                dataset_id, version = row.id, row.version + 1
            for table_name, frame in dataset.tables.items():
                self._write_table(conn, dataset_id, version, table_name, frame)
            conn.execute(
                datasets_table.update()
                .where(datasets_table.c.id == dataset_id)
                .values(
                    version=version,
                    updated_at=now,
                    settings=json.dumps(dataset.settings.to_json()),
                    mapping=json.dumps(dataset.mapping, default=str),
                    report=json.dumps(dataset.report, default=str),
                    row_counts=json.dumps({t: f.height for t, f in dataset.tables.items()}),
                )
            )
            conn.execute(
                chunks_table.delete().where(
                    (chunks_table.c.dataset_id == dataset_id) & (chunks_table.c.version != version)
                )
            )

    def update_settings(self, name: str, settings: DatasetSettings) -> None:
        """Change a stored dataset's settings only (its tables stay as they are). The update
        time moves, so every cached result of the dataset is recomputed with the new settings."""
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        with self.engine.begin() as conn:
            changed = conn.execute(
                datasets_table.update()
                .where(datasets_table.c.name == name)
                .values(settings=json.dumps(settings.to_json()), updated_at=now)
            ).rowcount
        if not changed:
            raise KeyError(f"no stored dataset named {name!r}")

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

    def delete(self, name: str) -> None:
        with self.engine.begin() as conn:
            row = conn.execute(
                sa.select(datasets_table.c.id).where(datasets_table.c.name == name)
            ).first()
            if row is None:
                raise DatasetNotFound(name)
            conn.execute(chunks_table.delete().where(chunks_table.c.dataset_id == row.id))
            conn.execute(datasets_table.delete().where(datasets_table.c.id == row.id))
            conn.execute(
                state_table.delete().where(
                    (state_table.c.key == "active_dataset") & (state_table.c.value == name)
                )
            )

    # --- the dataset a new session opens on -----------------------------------------------------
    def active_name(self) -> str | None:
        with self.engine.connect() as conn:
            return conn.execute(
                sa.select(state_table.c.value).where(state_table.c.key == "active_dataset")
            ).scalar()

    def set_active(self, name: str | None) -> None:
        with self.engine.begin() as conn:
            conn.execute(state_table.delete().where(state_table.c.key == "active_dataset"))
            if name is not None:
                conn.execute(state_table.insert().values(key="active_dataset", value=name))

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
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        with self.engine.begin() as conn:
            conn.execute(mappings_table.delete().where(mappings_table.c.shape == shape))
            conn.execute(
                mappings_table.insert().values(
                    shape=shape, table_name=table_name, mapping=json.dumps(mapping), updated_at=now
                )
            )
