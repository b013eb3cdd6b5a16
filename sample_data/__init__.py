"""The bundled sample CRM dataset and its generator (python -m sample_data.generate)."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from metrics.schema import TABLES, DatasetSettings

DEFAULT_DIR = Path(__file__).parent / "default"
SAMPLE_AS_OF = "2026-06-30"  # the generator's fixed as-of date


def load_tables(folder: Path = DEFAULT_DIR) -> dict[str, pl.DataFrame]:
    """Every canonical table present in `folder` as <table>.parquet."""
    return {
        name: pl.read_parquet(folder / f"{name}.parquet")
        for name in TABLES
        if (folder / f"{name}.parquet").exists()
    }


def sample_settings() -> DatasetSettings:
    # the generator's own cost assumptions for serving a customer
    return DatasetSettings.from_json({"as_of": SAMPLE_AS_OF, "cost_per_ticket": 25.0, "cost_per_interaction": 5.0})
