"""The SQL source against a real SQLite file, the running PostgreSQL and the running MariaDB:
filters are pushed into the WHERE clause as bound parameters and give exactly the slice a Polars
filter gives."""

from __future__ import annotations

import datetime as dt
import uuid

import polars as pl
import pytest
import sqlalchemy as sa
from polars.testing import assert_frame_equal

from dashboard.sources.sql import SqlFilters, SqlSource
from tests.conftest import reachable_engine

TABLES = ("customers", "orders", "deals", "stage_history", "tickets")
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
MARIADB_URL = "mysql+pymysql://root@127.0.0.1:3306/test"


def _write(engine: sa.Engine, schema: str | None, tables: dict[str, pl.DataFrame]) -> dict[str, str]:
    prefix = f"{schema}." if schema else ""
    for name in TABLES:
        tables[name].write_database(f"{prefix}{name}", engine, if_table_exists="replace")
    return {name: f"{prefix}{name}" for name in TABLES}


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def source(request, tmp_path, sample_tables):
    if request.param == "sqlite":
        engine = sa.create_engine(f"sqlite:///{tmp_path / 'crm.sqlite'}")
        src = SqlSource(str(engine.url), _write(engine, None, sample_tables))
        engine.dispose()
        yield src
        src.close()
        return
    url = PG_URL if request.param == "postgresql" else MARIADB_URL
    engine = reachable_engine(url)
    # a schema of its own per test (in MariaDB a schema is a database)
    schema = f"crm_test_{uuid.uuid4().hex[:8]}"
    quoted = engine.dialect.identifier_preparer.quote(schema)
    with engine.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {quoted}"))
    src = SqlSource(url, _write(engine, schema, sample_tables))
    try:
        yield src
    finally:
        src.close()
        with engine.begin() as conn:
            conn.execute(sa.text(f"DROP SCHEMA {quoted}" + (" CASCADE" if request.param == "postgresql" else "")))
        engine.dispose()


def _sorted(frame: pl.DataFrame, key: str) -> pl.DataFrame:
    return frame.sort(key).select(sorted(frame.columns))


def test_unfiltered_load_equals_the_tables(source, sample_tables):
    loaded = source.load()
    for name in TABLES:
        key = loaded[name].columns[0] if name != "stage_history" else "deal_id"
        expected = sample_tables[name]
        if name == "stage_history":
            assert loaded[name].height == expected.height
            continue
        assert_frame_equal(_sorted(loaded[name], key), _sorted(expected, key), check_dtypes=True)


def test_tier_and_date_filters_match_a_polars_filter(source, sample_tables):
    filters = SqlFilters(tiers=("Gold", "Platinum"), start=dt.date(2025, 1, 1), end=dt.date(2025, 6, 30))
    loaded = source.load(filters)
    customers = sample_tables["customers"].filter(pl.col("tier").is_in(["Gold", "Platinum"]))
    ids = customers.get_column("customer_id").implode()
    in_range = pl.col("order_date").is_between(dt.datetime(2025, 1, 1), dt.datetime(2025, 7, 1), closed="left")
    orders = sample_tables["orders"].filter(pl.col("customer_id").is_in(ids) & in_range)
    assert_frame_equal(_sorted(loaded["customers"], "customer_id"), _sorted(customers, "customer_id"))
    assert_frame_equal(_sorted(loaded["orders"], "order_id"), _sorted(orders, "order_id"))
    deals = sample_tables["deals"].filter(
        (pl.col("customer_id").is_in(ids) | (pl.col("customer_id").is_null() & pl.col("tier").is_in(["Gold", "Platinum"])))
        & pl.col("created_date").is_between(dt.datetime(2025, 1, 1), dt.datetime(2025, 7, 1), closed="left")
    )
    assert loaded["deals"].height == deals.height > 0


def test_filter_values_are_bound_parameters_not_sql(source):
    stmt, params = source.statement("orders", SqlFilters(tiers=("Gold'; DROP TABLE orders; --",)))
    assert "DROP" not in str(stmt) and params["tiers"] == ["Gold'; DROP TABLE orders; --"]
    assert source.load(SqlFilters(tiers=("Gold'; DROP TABLE orders; --",)))["orders"].height == 0
    assert source.load()["orders"].height > 0  # still there


def test_a_configured_query_is_wrapped_as_a_subquery(tmp_path, sample_tables):
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'q.sqlite'}")
    sample_tables["customers"].rename({"customer_id": "id", "tier": "level"}).write_database("clients", engine)
    src = SqlSource(str(engine.url), {"customers": "SELECT id AS customer_id, level AS tier FROM clients"})
    engine.dispose()
    loaded = src.load(SqlFilters(tiers=("Platinum",)))["customers"]
    src.close()
    assert loaded.height == sample_tables["customers"].filter(pl.col("tier") == "Platinum").height


def test_the_app_path_reads_through_arrow_and_validates(source, sample_tables):
    """What the dashboard loads (load_checked) equals the tables, read through connectorx; the
    same rules as for an upload report a duplicate id by table, column and row."""
    assert source._arrow_uri() is not None
    tables, problems = source.load_checked()
    assert [p for p in problems if p.severity == "error"] == []
    assert tables["customers"].height == sample_tables["customers"].height


def test_sql_rows_are_validated_like_an_upload(tmp_path, sample_tables):
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'bad.sqlite'}")
    customers = sample_tables["customers"].head(3)
    customers = pl.concat([customers, customers.head(1)])  # a repeated customer id
    orders = sample_tables["orders"].filter(pl.col("customer_id").is_in(customers["customer_id"].implode()))
    orders = pl.concat([orders, orders.head(1).with_columns(pl.lit("NOBODY").alias("customer_id"),
                                                            pl.lit("X1").alias("order_id"))])  # fmt: skip
    customers.write_database("customers", engine)
    orders.write_database("orders", engine)
    src = SqlSource(str(engine.url), {"customers": "customers", "orders": "orders"})
    tables, problems = src.load_checked()
    text = [str(p) for p in problems]
    assert any("SQL customers → customers.customer_id" in t and "duplicate" in t and "rows 1, 4" in t for t in text)
    assert any("SQL orders → orders.customer_id" in t and "'NOBODY'" in t for t in text)
    assert "NOBODY" not in tables["orders"].get_column("customer_id").to_list()
    src.close()
    engine.dispose()


def test_a_connection_failure_never_shows_the_password():
    src = SqlSource("postgresql+psycopg://reader:s3cret-pw@127.0.0.1:1/crm", {"customers": "customers"})
    with pytest.raises(Exception) as info:
        src.load()
    assert "s3cret-pw" not in str(info.value)
