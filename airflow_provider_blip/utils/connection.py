"""Read a Blip connection into a typed, validated config (no I/O).

Connection fields (docs/connection.md):

- ``password``: the bot key, as copied from the portal, with or without the ``Key `` prefix;
- ``login``: optional organization / contract id, giving ``https://{id}.http.msging.net``;
- ``host``: optional full base URL (scheme, host, port), e.g. the emulator's
  ``http://127.0.0.1:8080``; it wins over ``login``;
- extras: ``timeout``, ``proxy``, ``max_retries``, ``concurrency`` and the plan's rates
  ``messages_per_second``, ``commands_per_second``, ``notifications_per_second``,
  ``parallel_tasks`` (how many tasks share those rates at once), ``rate_margin`` (the
  fraction of the plan to pace at) and ``status_read_share`` (the part of the commands
  rate that status reads may use).
"""

from __future__ import annotations

import dataclasses
import hashlib
import ipaddress
import re
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from airflow_provider_blip.exceptions import BlipConfigError
from airflow_provider_blip.utils.ratelimit import DEFAULT_MARGIN, MAX_MARGIN, MIN_MARGIN, PAID_PLAN_RATES

if TYPE_CHECKING:
    from airflow.sdk import Connection

DEFAULT_BASE_URL = "https://http.msging.net"
DEFAULT_TIMEOUT = 30.0
DEFAULT_MAX_RETRIES = 5
DEFAULT_CONCURRENCY = 16
DEFAULT_STATUS_READ_SHARE = 0.5

# An organization id becomes the first label of a host name: allow nothing that could
# point the request anywhere else (dots, slashes, `@`, ports).
_DNS_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$", re.IGNORECASE)
_KEY_PREFIX = re.compile(r"^\s*key\s+", re.IGNORECASE)

EXTRA_FIELDS = (
    "timeout",
    "proxy",
    "max_retries",
    "concurrency",
    "messages_per_second",
    "commands_per_second",
    "notifications_per_second",
    "parallel_tasks",
    "rate_margin",
    "status_read_share",
)


@dataclasses.dataclass(frozen=True)
class BlipConnectionConfig:
    """Everything the hook needs from a Blip connection. The key and proxy stay out of the repr."""

    base_url: str
    key: str = dataclasses.field(repr=False)
    timeout: float = DEFAULT_TIMEOUT
    max_retries: int = DEFAULT_MAX_RETRIES
    concurrency: int = DEFAULT_CONCURRENCY
    rates: dict[str, float] = dataclasses.field(default_factory=lambda: dict(PAID_PLAN_RATES))
    proxy: str | None = dataclasses.field(default=None, repr=False)
    rate_margin: float = DEFAULT_MARGIN
    status_read_share: float = DEFAULT_STATUS_READ_SHARE
    conn_id: str | None = None

    @property
    def status_read_rate(self) -> float:
        """Status reads per second: the commands rate times ``status_read_share`` (0: no limit)."""
        return self.rates.get("commands", 0.0) * self.status_read_share

    @property
    def scope(self) -> str:
        """Identify this bot without revealing its key (base URL plus a short key digest)."""
        digest = hashlib.sha256(self.key.encode()).hexdigest()[:12]
        return f"{self.base_url}#{digest}"


def normalize_key(raw: str | None, conn_id: str) -> str:
    """Strip whitespace and an optional ``Key `` prefix from the pasted bot key."""
    key = _KEY_PREFIX.sub("", raw or "").strip()
    if not key:
        raise BlipConfigError(
            f"Blip connection {conn_id!r} has no bot key: put it in the connection's password field"
        )
    return key


def _is_loopback(hostname: str) -> bool:
    if hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(hostname).is_loopback
    except ValueError:
        return False


def base_url_from_host(host: str, port: int | None, conn_id: str) -> str:
    """Validate the connection host as a base URL; plain http only for loopback."""
    url = host.strip() if "://" in host else f"https://{host.strip()}"
    parts = urlsplit(url)
    hostname = parts.hostname or ""
    if parts.scheme not in ("http", "https") or not hostname:
        raise BlipConfigError(f"Blip connection {conn_id!r}: host {host!r} is not an http(s) base URL")
    if parts.scheme == "http" and not _is_loopback(hostname):
        raise BlipConfigError(
            f"Blip connection {conn_id!r}: plain http is only allowed for loopback (the emulator); "
            f"use https for {hostname!r}"
        )
    if parts.username or parts.password or parts.query or parts.fragment:
        raise BlipConfigError(f"Blip connection {conn_id!r}: the host must be a bare base URL")
    netloc = parts.netloc
    if port and parts.port is None:
        netloc = f"{netloc}:{port}"
    return f"{parts.scheme}://{netloc}{parts.path.rstrip('/')}"


def base_url_from_organization(org_id: str, conn_id: str) -> str:
    """Build ``https://{id}.http.msging.net``, refusing ids that are not one DNS label."""
    org = org_id.strip()
    if not _DNS_LABEL.match(org):
        raise BlipConfigError(
            f"Blip connection {conn_id!r}: organization id {org_id!r} must be a single DNS label "
            "(letters, digits and hyphens)"
        )
    return f"https://{org.lower()}.http.msging.net"


def _extra(extras: dict[str, Any], name: str) -> Any:
    # Airflow 2 style forms stored `extra__blip__<name>`; accept both, the plain key first.
    value = extras.get(name)
    if value in (None, ""):
        value = extras.get(f"extra__blip__{name}")
    return None if value in (None, "") else value


def _number(extras: dict[str, Any], name: str, conn_id: str, *, integer: bool = False) -> float | None:
    value = _extra(extras, name)
    if value is None:
        return None
    try:
        number = int(value) if integer else float(value)
    except (TypeError, ValueError):
        raise BlipConfigError(
            f"Blip connection {conn_id!r}: extra {name!r} must be a number, got {value!r}"
        ) from None
    if number < 0:
        raise BlipConfigError(f"Blip connection {conn_id!r}: extra {name!r} must not be negative")
    return number


def _rates(extras: dict[str, Any], conn_id: str) -> dict[str, float]:
    """Each task's share of the plan: the channel rates divided by ``parallel_tasks``.

    Tasks in several worker processes cannot share one in-memory limiter; each paces itself
    at its share instead, and an Airflow pool with ``parallel_tasks`` slots makes sure no
    more tasks than that use the bot at once (docs/performance.md).
    """
    tasks = _number(extras, "parallel_tasks", conn_id, integer=True)
    tasks = 1 if tasks is None else tasks
    if tasks < 1:
        raise BlipConfigError(f"Blip connection {conn_id!r}: parallel_tasks must be at least 1")
    rates = dict(PAID_PLAN_RATES)
    for channel in PAID_PLAN_RATES:
        rate = _number(extras, f"{channel}_per_second", conn_id)
        if rate is not None:
            rates[channel] = rate
    return {channel: rate / tasks for channel, rate in rates.items()}


def _fraction(
    extras: dict[str, Any], name: str, conn_id: str, *, low: float, high: float, default: float
) -> float:
    value = _number(extras, name, conn_id)
    if value is None:
        return default
    if not low <= value <= high:
        raise BlipConfigError(
            f"Blip connection {conn_id!r}: extra {name!r} must be between {low} and {high}, got {value}"
        )
    return value


def parse_connection(conn: Connection, **overrides: Any) -> BlipConnectionConfig:
    """Turn an Airflow connection into a :class:`BlipConnectionConfig`.

    :param conn: the Airflow connection (``conn_type`` ``blip``).
    :param overrides: hook arguments (``timeout``, ``max_retries``, ``concurrency``) that win
        over the connection's extras; ``None`` values are ignored.
    """
    conn_id = conn.conn_id
    extras = conn.extra_dejson or {}
    unknown = sorted(k for k in extras if k.removeprefix("extra__blip__") not in EXTRA_FIELDS)
    if unknown:
        raise BlipConfigError(
            f"Blip connection {conn_id!r}: unknown extra field(s) {unknown}; known: {list(EXTRA_FIELDS)}"
        )
    if conn.host:
        base_url = base_url_from_host(conn.host, conn.port, conn_id)
    elif conn.login:
        base_url = base_url_from_organization(conn.login, conn_id)
    else:
        base_url = DEFAULT_BASE_URL
    values: dict[str, Any] = {
        "timeout": _number(extras, "timeout", conn_id),
        "max_retries": _number(extras, "max_retries", conn_id, integer=True),
        "concurrency": _number(extras, "concurrency", conn_id, integer=True),
    }
    values.update({k: v for k, v in overrides.items() if v is not None})
    rates = _rates(extras, conn_id)
    if values.get("concurrency") == 0:
        raise BlipConfigError(f"Blip connection {conn_id!r}: concurrency must be at least 1")
    return BlipConnectionConfig(
        base_url=base_url,
        key=normalize_key(conn.password, conn_id),
        rates=rates,
        proxy=_extra(extras, "proxy"),
        rate_margin=_fraction(
            extras, "rate_margin", conn_id, low=MIN_MARGIN, high=MAX_MARGIN, default=DEFAULT_MARGIN
        ),
        # Above 0: a share of 0 would read as "no limit", the opposite of what it says.
        status_read_share=_fraction(
            extras, "status_read_share", conn_id, low=0.01, high=1.0, default=DEFAULT_STATUS_READ_SHARE
        ),
        conn_id=conn_id,
        **{k: v for k, v in values.items() if v is not None},
    )
