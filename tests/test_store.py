"""The embedded store: round trips, atomic replacement (also when the process dies), deletion."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from dashboard.store import Dataset, DatasetNotFound, Store
from metrics.schema import DatasetSettings


def _dataset(name: str, tables: dict, **kw) -> Dataset:
    return Dataset(name, tables, DatasetSettings(currency="EUR"), **kw)


def test_round_trip_keeps_types_settings_and_report(store, sample_tables):
    store.save(_dataset("s", sample_tables, report=[{"severity": "warning", "message": "x"}]))
    back = store.load("s")
    for name, frame in sample_tables.items():
        assert_frame_equal(back.tables[name], frame)
    assert back.settings.currency == "EUR"
    assert back.report == [{"severity": "warning", "message": "x"}]


def test_empty_table_keeps_its_schema(store):
    empty = pl.DataFrame(schema={"customer_id": pl.String, "tier": pl.String})
    store.save(_dataset("e", {"customers": empty}))
    assert store.load("e").tables["customers"].schema == empty.schema


def test_replacement_swaps_every_table_and_keeps_the_replaced_versions_restorable(store, sample_tables):
    store.save(_dataset("s", sample_tables))
    small = {"customers": sample_tables["customers"].head(3)}
    store.save(_dataset("s", small), actor="ana")
    back = store.load("s")
    assert set(back.tables) == {"customers"} and back.tables["customers"].height == 3
    versions = store.versions("s")
    assert [(v.version, v.current, v.saved_by) for v in versions] == [(2, True, "ana"), (1, False, "command line")]
    store.restore("s", 1, actor="admin")
    assert store.load("s").tables["orders"].height == sample_tables["orders"].height
    # two more saves: only KEPT_VERSIONS (3) stay, in the store's chunks too
    store.save(_dataset("s", small))
    store.save(_dataset("s", small))
    assert [v.version for v in store.versions("s")] == [4, 3, 2]
    with store.engine.connect() as conn:
        chunks = {v for (v,) in conn.exec_driver_sql("SELECT DISTINCT version FROM crm_table_chunks").all()}
    assert chunks == {2, 3, 4}
    assert [(e.actor, e.action) for e in store.audit_log()][:3] == [("command line", "replace")] * 2 + [("admin", "restore")]


@pytest.mark.parametrize(
    "name, reason",
    [("", "needs a name"), ("x" * 5000, "at most 100 characters"), ("a\nb", "control characters"),
     ("Sample CRM (bundled)", "built-in source"), ("sql DATABASE", "built-in source")],
)  # fmt: skip
def test_a_dataset_name_that_cannot_be_used_is_refused_in_words(store, name, reason):
    from dashboard.naming import BadName

    with pytest.raises(BadName, match=reason):
        store.save(_dataset(name, {"customers": pl.DataFrame({"customer_id": ["1"]})}))
    assert store.list() == []


def test_concurrent_saves_of_one_name_all_land_one_after_the_other(store, sample_tables):
    """Eight threads save the same new name at once (each its own Store, as sessions and the
    command line would): none fails, the last one stands, and the log holds all eight."""
    from concurrent.futures import ThreadPoolExecutor

    url = store.url

    def save(i: int) -> None:
        Store(url).save(_dataset("same", {"customers": sample_tables["customers"].head(i + 1)}), actor=f"u{i}")

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(save, range(8)))
    assert len([e for e in store.audit_log() if e.detail.startswith("dataset 'same'")]) == 8
    assert store.load("same").tables["customers"].height in range(1, 9)


def test_two_processes_writing_at_once_both_succeed(tmp_path, sample_tables):
    """SQLite has one writer at a time: a second process waits and retries instead of failing."""
    url = f"sqlite:///{tmp_path / 'two.sqlite'}"
    Store(url)
    script = textwrap.dedent(f"""
        import sys
        from dashboard.store import Dataset, Store
        from sample_data import load_tables
        tables = load_tables()
        store = Store({url!r})
        for i in range(3):
            store.save(Dataset(sys.argv[1], tables), actor=sys.argv[1])
    """)
    procs = [subprocess.Popen([sys.executable, "-c", script, name], stderr=subprocess.PIPE) for name in ("p1", "p2", "p1")]
    errors = [p.communicate(timeout=300)[1].decode() for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], errors
    assert {e.actor for e in Store(url).audit_log()} == {"p1", "p2"}


def test_large_tables_are_split_into_chunks(store, monkeypatch):
    monkeypatch.setattr("dashboard.store.CHUNK_ROWS", 10)
    frame = pl.DataFrame({"customer_id": [str(i) for i in range(25)]})
    store.save(_dataset("c", {"customers": frame}))
    assert_frame_equal(store.load("c").tables["customers"], frame)


def test_a_failure_midway_leaves_the_previous_dataset_intact(store, sample_tables, monkeypatch):
    store.save(_dataset("s", sample_tables))
    calls = {"n": 0}
    real = Store._write_table

    def failing(self, *args):
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError("disk full")
        return real(self, *args)

    monkeypatch.setattr(Store, "_write_table", failing)
    with pytest.raises(OSError):
        store.save(_dataset("s", {n: f.head(1) for n, f in sample_tables.items()}))
    back = store.load("s")
    assert back.tables["orders"].height == sample_tables["orders"].height


def test_a_process_killed_midway_leaves_the_previous_dataset_intact(tmp_path, sample_tables):
    """The process dies (os._exit, no cleanup) after writing two of seven tables."""
    url = f"sqlite:///{tmp_path / 'crash.sqlite'}"
    Store(url).save(_dataset("s", sample_tables))
    script = textwrap.dedent(f"""
        import os
        from dashboard.store import Dataset, Store
        from sample_data import load_tables
        calls = []
        real = Store._write_table
        def dying(self, *args):
            calls.append(1)
            if len(calls) == 3:
                os._exit(9)
            return real(self, *args)
        Store._write_table = dying
        tables = {{n: f.head(2) for n, f in load_tables().items()}}
        Store({url!r}).save(Dataset("s", tables))
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=120)
    assert result.returncode == 9
    back = Store(url).load("s")
    for name, frame in sample_tables.items():
        assert back.tables[name].height == frame.height


def test_list_delete_and_active(store, sample_tables):
    store.save(_dataset("a", {"customers": sample_tables["customers"]}))
    store.save(_dataset("b", {"customers": sample_tables["customers"].head(5)}))
    store.set_active("b")
    assert {i.name for i in store.list()} == {"a", "b"}
    assert store.active_name() == "b"
    store.delete("b")
    assert store.active_name() is None
    assert [i.name for i in store.list()] == ["a"]
    with pytest.raises(DatasetNotFound):
        store.load("b")


def test_saved_mapping_round_trip(store):
    store.save_mapping("shape1", "orders", {"order_id": "Invoice"})
    assert store.saved_mapping("shape1") == ("orders", {"order_id": "Invoice"})
    assert store.saved_mapping("other") is None


def test_the_store_on_postgresql_keeps_versions_audit_and_refuses_a_long_name(sample_tables):
    """The same store on the running PostgreSQL (a database of its own): a 5,000-character name is
    refused in words (it was a traceback there), a replaced version is kept, the log is written."""
    import uuid

    import sqlalchemy as sa

    from dashboard.accounts import Accounts
    from dashboard.naming import BadName
    from tests.conftest import reachable_engine

    server = reachable_engine("postgresql+psycopg://postgres@127.0.0.1:5432/postgres", isolation_level="AUTOCOMMIT")
    name = f"crm_store_{uuid.uuid4().hex[:8]}"
    with server.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    store = Store(f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}")
    try:
        with pytest.raises(BadName, match="at most 100 characters"):
            store.save(_dataset("x" * 5000, {"customers": sample_tables["customers"].head(2)}))
        store.save(_dataset("pg", {"customers": sample_tables["customers"].head(2)}), actor="ana@example.com")
        store.save(_dataset("pg", {"customers": sample_tables["customers"].head(3)}), actor="bo")
        assert [v.version for v in store.versions("pg")] == [2, 1]
        Accounts(store).add("ana", "correct horse battery", "admin")
        assert [e.action for e in store.audit_log()] == ["account", "replace", "import"]
    finally:
        store.engine.dispose()
        with server.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE "{name}"'))
        server.dispose()
