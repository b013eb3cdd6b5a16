"""Where settings come from: environment variables first, then .streamlit/secrets.toml.

Read with tomllib rather than st.secrets so that the command line (python -m dashboard …) and the
app see exactly the same configuration. Secrets are returned to the code that connects and are
never rendered, logged or put in a URL; see `describe_url` for the safe form to show a person.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_STORE_PATH = PROJECT_ROOT / "data" / "crm.sqlite"
DEFAULT_MAX_UPLOAD_MB = 200


def secrets_path() -> Path:
    """CRM_SECRETS_FILE, else .streamlit/secrets.toml in the working directory or the project."""
    if env := os.environ.get("CRM_SECRETS_FILE"):
        return Path(env)
    local = Path.cwd() / ".streamlit" / "secrets.toml"
    return local if local.exists() else PROJECT_ROOT / ".streamlit" / "secrets.toml"


def load_secrets() -> dict[str, Any]:
    path = secrets_path()
    if not path.exists():
        return {}
    with path.open("rb") as fh:
        return tomllib.load(fh)


def store_url() -> str:
    """The dataset store: CRM_STORE_URL, else [store] url in secrets.toml, else a SQLite file."""
    if env := os.environ.get("CRM_STORE_URL"):
        return env
    if url := load_secrets().get("store", {}).get("url"):
        return str(url)
    return f"sqlite:///{DEFAULT_STORE_PATH}"


def sql_source_config() -> dict[str, Any] | None:
    """The SQL source: [sql_source] in secrets.toml; CRM_SQL_URL overrides its url.

    Shape: url = "postgresql+psycopg://…", and [sql_source.tables] with, per canonical table,
    a table name or a SELECT that returns the canonical column names."""
    config = dict(load_secrets().get("sql_source", {}))
    if env := os.environ.get("CRM_SQL_URL"):
        config["url"] = env
    return config if config.get("url") else None


def max_upload_mb() -> int:
    """The upload limit, the same number .streamlit/config.toml gives the uploader."""
    if env := os.environ.get("CRM_MAX_UPLOAD_MB"):
        return int(env)
    return DEFAULT_MAX_UPLOAD_MB


def describe_url(url: str) -> str:
    """A database URL as it may be shown to a person: dialect, host and database, no password."""
    parsed = make_url(url)
    where = parsed.host or ""
    if parsed.port:
        where += f":{parsed.port}"
    database = (
        Path(parsed.database).name if parsed.drivername.startswith("sqlite") else parsed.database
    )
    return f"{parsed.get_backend_name()} {where}/{database or ''}".replace(" /", " ").strip()


def auth_configured() -> bool:
    """An identity provider is configured for st.login: an [auth] section in secrets.toml."""
    return bool(load_secrets().get("auth"))


def access_settings() -> dict[str, Any]:
    """The [access] table of secrets.toml: `anonymous` ("viewer" lets people view without
    signing in), `roles` (an e-mail address or a domain → a role, for accounts from the identity
    provider), `links_need_sign_in` (whether opening a locked link needs a signed-in user)."""
    return dict(load_secrets().get("access", {}))


def share_keys() -> list[str]:
    """The keys that sign locked links, newest last: CRM_SHARE_KEYS (comma-separated), else
    [share] keys in secrets.toml; empty when neither is set (the store then keeps a generated one)."""
    if env := os.environ.get("CRM_SHARE_KEYS"):
        return [k.strip() for k in env.split(",") if k.strip()]
    return [str(k) for k in load_secrets().get("share", {}).get("keys", [])]
