"""Locked links: a link whose signed token fixes a slice of one dataset for whoever opens it.

The token (itsdangerous, signed with the server's key) carries the dataset, the page it opens on,
the locked tiers and segments, the locked period and an expiry. The app applies the lock where the
data are loaded (data.active_dataset), so every page, chart, table and download of the session
holds only the slice's rows; the filters left free can narrow it, never widen it.

Keys: [share] keys in secrets.toml or CRM_SHARE_KEYS, newest last (links signed with any listed key
open; new links are signed with the newest; a key taken off the list closes its links). With
neither, a key generated once is kept in the dataset store, so the command line and the server
agree without setup.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from dataclasses import dataclass
from urllib.parse import urlencode

from dashboard import config
from dashboard.page_list import SHAREABLE
from dashboard.store import Store

SALT = "crm-dashboard locked link v1"
STATE_KEY = "share_signing_key"
MAX_TOKEN = 4096  # characters a token may have (a link may carry anything, at any length)
MAX_VALUES = 50  # locked values per dimension
DURATION = re.compile(r"(\d{1,4})([hdw])")
PAGES = {name: page.url_path for name, page in SHAREABLE.items()}  # page name → its URL path


class LinkRefused(ValueError):
    """A token that does not open: the message says why, in words a visitor understands."""


@dataclass(frozen=True)
class Lock:
    dataset: str
    page: str
    tiers: tuple[str, ...]
    segments: tuple[str, ...]
    start: dt.date | None
    end: dt.date | None
    expires: dt.datetime  # UTC, naive

    def describe(self) -> str:
        parts = [f"tier {', '.join(self.tiers)}" if self.tiers else "", f"segment {', '.join(self.segments)}" if self.segments else ""]
        if self.start or self.end:
            parts.append(f"{self.start or 'the start'} – {self.end or 'the as-of date'}")
        return "; ".join(p for p in parts if p) or "the whole dataset"

    def to_json(self) -> dict:
        return {"d": self.dataset, "p": self.page, "t": list(self.tiers), "s": list(self.segments),
                "from": self.start.isoformat() if self.start else None, "to": self.end.isoformat() if self.end else None,
                "exp": int(self.expires.replace(tzinfo=dt.UTC).timestamp())}  # fmt: skip

    @classmethod
    def from_json(cls, raw: dict) -> Lock:
        day = lambda v: dt.date.fromisoformat(v) if v else None  # noqa: E731
        return cls(str(raw["d"]), str(raw["p"]), tuple(map(str, raw["t"])), tuple(map(str, raw["s"])), day(raw["from"]),
                   day(raw["to"]), dt.datetime.fromtimestamp(int(raw["exp"]), dt.UTC).replace(tzinfo=None))  # fmt: skip


def parse_duration(text: str) -> dt.timedelta:
    """"12h", "7d", "2w" → a duration (at most ten years)."""
    match = DURATION.fullmatch(text.strip())
    if not match:
        raise ValueError(f"a duration is a number and h, d or w (7d, 12h, 2w), not {text!r}")
    number, unit = int(match[1]), match[2]
    if number < 1:
        raise ValueError("a link must stay open for some time")
    days = {"h": number / 24, "d": number, "w": 7 * number}[unit]
    if days > 3650:
        raise ValueError("a link stays open for at most ten years")
    return dt.timedelta(days=days)


def _keys(store: Store) -> list[str]:
    return config.share_keys() or [store.state_once(STATE_KEY, lambda: secrets.token_urlsafe(32))]


def _serializer(store: Store):
    from itsdangerous import URLSafeSerializer

    return URLSafeSerializer(_keys(store), salt=SALT)  # signs with the last key, checks with all


def make_token(store: Store, lock: Lock) -> str:
    if lock.page not in PAGES:
        raise ValueError(f"the page is one of {', '.join(PAGES)}, not {lock.page!r}")
    if len(lock.tiers) > MAX_VALUES or len(lock.segments) > MAX_VALUES:
        raise ValueError(f"a link locks at most {MAX_VALUES} values per filter")
    if lock.start and lock.end and lock.start > lock.end:
        raise ValueError("the period starts after it ends")
    token = _serializer(store).dumps(lock.to_json())
    if len(token) > MAX_TOKEN:
        raise ValueError("the link would be too long: lock fewer values")
    return token


def link(base_url: str, token: str, page: str) -> str:
    return f"{base_url.rstrip('/')}/{PAGES[page]}?{urlencode({'share': token})}"


def read_token(store: Store, token: str, *, now: dt.datetime | None = None) -> Lock:
    """The lock a token carries, or LinkRefused: altered, signed with a key no longer in use,
    too long, or expired."""
    from itsdangerous import BadSignature

    if len(token) > MAX_TOKEN:
        raise LinkRefused("This shared link is not valid (it is too long): ask for a new one.")
    try:
        lock = Lock.from_json(_serializer(store).loads(token))
    except BadSignature:
        raise LinkRefused("This shared link is not valid (it was altered, or its key was retired): ask for a new one.") from None
    except (KeyError, TypeError, ValueError):
        raise LinkRefused("This shared link is not valid: ask for a new one.") from None
    if (now or dt.datetime.now(dt.UTC).replace(tzinfo=None)) >= lock.expires:
        raise LinkRefused(f"This shared link expired on {lock.expires:%d %b %Y %H:%M} UTC: ask for a new one.")
    return lock
