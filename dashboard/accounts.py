"""Built-in accounts, for a hosted dashboard without an identity provider: a name, a role and a
password hash (pwdlib's Argon2id), kept in the dataset store; managed with
`python -m dashboard users …` or by an admin on the Data page.

Roles, each allowing what the one before it does and more:
- viewer: reads every page and downloads;
- editor: also imports, edits a dataset's settings, chooses the default dataset, makes locked links;
- admin: also deletes datasets, restores replaced versions, manages accounts, reads the audit log.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from dataclasses import dataclass
from functools import cache

import sqlalchemy as sa

from dashboard.store import LOCAL, Store, users_table

ROLES = ("viewer", "editor", "admin")
MIN_PASSWORD = 10
MAX_PASSWORD = 1024  # Argon2 takes any length; a megabyte "password" is an attack on the CPU


class AccountError(ValueError):
    """An account change that cannot be made; the message says why in words."""


@dataclass(frozen=True)
class Account:
    name: str
    role: str
    created_at: dt.datetime


def allows(role: str | None, needed: str) -> bool:
    """Whether `role` may do what `needed` may (admin ⊃ editor ⊃ viewer)."""
    return role in ROLES and ROLES.index(role) >= ROLES.index(needed)


@cache
def _hasher():
    from pwdlib import PasswordHash

    return PasswordHash.recommended()  # Argon2id with the library's current parameters


def _check_name(name: str) -> str:
    cleaned = name.strip()
    if not 1 <= len(cleaned) <= 100 or any(unicodedata.category(c)[0] in "CZ" and c != " " for c in cleaned):
        raise AccountError("An account name has 1 to 100 characters: letters, digits, punctuation, spaces.")
    return cleaned


def _check_role(role: str) -> str:
    if role not in ROLES:
        raise AccountError(f"The role is one of {', '.join(ROLES)}, not {role!r}.")
    return role


def _check_password(password: str) -> str:
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise AccountError(f"A password has at least {MIN_PASSWORD} characters (and at most {MAX_PASSWORD}).")
    return password


class Accounts:
    def __init__(self, store: Store):
        self.store = store

    def exist(self) -> bool:
        with self.store.engine.connect() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(users_table)).scalar() > 0

    def list(self) -> list[Account]:
        with self.store.engine.connect() as conn:
            rows = conn.execute(sa.select(users_table).order_by(users_table.c.name)).all()
        return [Account(r.name, r.role, r.created_at) for r in rows]

    def get(self, name: str) -> Account | None:
        with self.store.engine.connect() as conn:
            row = conn.execute(sa.select(users_table).where(users_table.c.name == name)).first()
        return Account(row.name, row.role, row.created_at) if row else None

    def add(self, name: str, password: str, role: str, *, actor: str = LOCAL) -> Account:
        name, role = _check_name(name), _check_role(role)
        hashed = _hasher().hash(_check_password(password))

        def change(conn) -> None:
            if conn.execute(sa.select(users_table.c.name).where(users_table.c.name == name)).first():
                raise AccountError(f"There is already an account named {name!r}.")
            now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
            conn.execute(users_table.insert().values(name=name, role=role, password_hash=hashed, created_at=now))
            self.store._audit(conn, actor, "account", f"added {name!r} as {role}")

        self.store._write(change)
        return self.get(name)

    def set_role(self, name: str, role: str, *, actor: str = LOCAL) -> None:
        role = _check_role(role)
        self._change(name, actor, f"{name!r} is now {role}", users_table.update().values(role=role), role=role)

    def set_password(self, name: str, password: str, *, actor: str = LOCAL) -> None:
        hashed = _hasher().hash(_check_password(password))
        self._change(name, actor, f"new password for {name!r}", users_table.update().values(password_hash=hashed))

    def remove(self, name: str, *, actor: str = LOCAL) -> None:
        self._change(name, actor, f"removed {name!r}", users_table.delete(), role=None)

    def _change(self, name: str, actor: str, what: str, statement, role: str | None = "keep") -> None:
        def change(conn) -> None:
            current = conn.execute(sa.select(users_table.c.role).where(users_table.c.name == name)).scalar()
            if current is None:
                raise AccountError(f"There is no account named {name!r}.")
            admins = conn.execute(sa.select(sa.func.count()).select_from(users_table).where(users_table.c.role == "admin")).scalar()
            if current == "admin" and role != "keep" and role != "admin" and admins == 1:
                raise AccountError(f"{name!r} is the only admin: make another admin first, or nobody could manage accounts.")
            conn.execute(statement.where(users_table.c.name == name))
            self.store._audit(conn, actor, "account", what)

        self.store._write(change)

    def verify(self, name: str, password: str) -> Account | None:
        """The account when the password is its own, else None. An unknown name costs a hash
        check too, so the time taken does not tell which names exist."""
        with self.store.engine.connect() as conn:
            row = conn.execute(sa.select(users_table).where(users_table.c.name == name.strip())).first()
        hasher = _hasher()
        if row is None or len(password) > MAX_PASSWORD:
            hasher.verify(password[:MAX_PASSWORD], _dummy_hash())
            return None
        return Account(row.name, row.role, row.created_at) if hasher.verify(password, row.password_hash) else None


@cache
def _dummy_hash() -> str:
    return _hasher().hash("not a password of anyone")
