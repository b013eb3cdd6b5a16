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


def test_replacement_swaps_every_table_and_old_versions_are_gone(store, sample_tables):
    store.save(_dataset("s", sample_tables))
    small = {"customers": sample_tables["customers"].head(3)}
    store.save(_dataset("s", small))
    back = store.load("s")
    assert set(back.tables) == {"customers"} and back.tables["customers"].height == 3
    with store.engine.connect() as conn:
        versions = conn.exec_driver_sql("SELECT DISTINCT version FROM crm_table_chunks").all()
    assert len(versions) == 1


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
