"""Importing CRM exports: reading, column mapping, parsing, validation. See pipeline.py."""

from dashboard.importer.pipeline import (
    ImportOptions,
    ImportPlan,
    SourceFile,
    commit_import,
    import_paths,
    plan_import,
)
from dashboard.importer.problems import ImportFailed, Problem

__all__ = [
    "ImportFailed",
    "ImportOptions",
    "ImportPlan",
    "Problem",
    "SourceFile",
    "commit_import",
    "import_paths",
    "plan_import",
]
