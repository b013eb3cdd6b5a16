"""Shared fixtures. In CI (CI=true) nothing skips: a missing browser, database or real-data folder
is a failure, not a skip."""

from __future__ import annotations

import os
from pathlib import Path

import polars as pl
import pytest

from dashboard.store import Store
from sample_data import load_tables

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "dashboard" / "app.py")
DATA_PAGE = "../pages/data.py"  # relative to the main script
REALDATA = ROOT.parent / "shared" / "realdata"
IN_CI = os.environ.get("CI", "").lower() == "true"


def kpi_fields(kpi, approx: bool = False) -> list:
    """A KPI's fields, its floats compared to 12 significant digits with approx=True: the same
    figure summed over a parallel group-by may differ in its last bits from run to run."""
    import dataclasses

    return [pytest.approx(v, rel=1e-12) if approx and isinstance(v, float) else v for v in dataclasses.astuple(kpi)]


def require(condition: bool, reason: str) -> None:
    """Skip on a developer machine without the thing; fail in CI, where it must be there."""
    if not condition:
        if IN_CI or os.environ.get("CRM_REQUIRE_ALL") == "1":
            pytest.fail(f"required in CI: {reason}")
        pytest.skip(reason)


@pytest.fixture
def realdata() -> Path:
    require(REALDATA.is_dir(), f"{REALDATA} is absent")
    return REALDATA


@pytest.fixture
def store(tmp_path) -> Store:
    return Store(f"sqlite:///{tmp_path / 'store.sqlite'}")


@pytest.fixture(scope="session")
def sample_tables() -> dict[str, pl.DataFrame]:
    return load_tables()


@pytest.fixture
def app(tmp_path, monkeypatch):
    """The app in AppTest on its Data page, with a store and secrets of its own."""
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("CRM_STORE_URL", f"sqlite:///{tmp_path / 'store.sqlite'}")
    monkeypatch.setenv("CRM_SECRETS_FILE", str(tmp_path / "none.toml"))
    from dashboard import data

    data.store.clear()
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.switch_page(DATA_PAGE).run()
    return at


@pytest.fixture
def downloads(monkeypatch):
    """The file behind a download button of the last AppTest run: `downloads(button)` → bytes.
    A button made with a callable (a deferred download: the page's CSVs and reports) has its file
    made here as a click would make it, through the run's own media file manager."""
    from streamlit.runtime.media_file_manager import MediaFileManager
    from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage

    managers, storages = [], []
    for cls, made in ((MediaFileManager, managers), (MemoryMediaFileStorage, storages)):
        monkeypatch.setattr(cls, "__init__", _keeping(cls.__init__, made))

    def content(button) -> bytes:
        url = managers[-1].execute_deferred(button.proto.deferred_file_id) if button.proto.deferred_file_id else button.proto.url
        return storages[-1].get_file(url.rsplit("/", 1)[1].split(".")[0]).content

    return content


def _keeping(init, made: list):
    def keep(self, *args, **kwargs):
        init(self, *args, **kwargs)
        made.append(self)

    return keep


def reachable_engine(url: str, **kwargs):
    """A SQLAlchemy engine on a running database (PostgreSQL, MariaDB): skipped on a developer
    machine without it, a failure in CI (require)."""
    import sqlalchemy as sa

    engine = sa.create_engine(url, **kwargs)
    try:
        with engine.connect():
            pass
    except sa.exc.OperationalError:
        engine.dispose()
        require(False, f"{engine.url.get_backend_name()} at {engine.url.host}:{engine.url.port} is not reachable")
    return engine


def _categorical(frame: pl.DataFrame) -> pl.DataFrame:
    """Ids as Categorical, as the dashboard casts a loaded dataset's keys."""
    from metrics.schema import with_categorical_keys

    return with_categorical_keys({"t": frame})["t"]


INPUT_KINDS = {"eager": lambda f: f, "lazy": lambda f: f.lazy(), "categorical": _categorical}


@pytest.fixture(params=list(INPUT_KINDS))
def as_input(request):
    """Each metric test's frames as eager, lazy and Categorical-id input (as narwhals parametrises
    its constructors): a metric must give the same answer for all three."""
    return INPUT_KINDS[request.param]
