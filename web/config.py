"""Configuration from the environment (architecture.md, "Configuration")."""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Mapping

from web.mail import Mail

DEFAULT_DATABASE_URL = "sqlite:///var/koppel.sqlite"
DEFAULT_PUBLIC_URL = "http://127.0.0.1:8000"


@dataclass(frozen=True)
class Config:
    database_url: str = DEFAULT_DATABASE_URL
    broker_url: str = ""
    secret_key: str = ""
    public_url: str = DEFAULT_PUBLIC_URL
    eboekhouden_url: str = "https://api.e-boekhouden.nl"
    billit_url: str = "https://api.billit.be"
    billit_login_url: str = "https://my.billit.be"
    # koppel's own OAuth client at Billit (issued per installation), not a merchant's secret.
    billit_client_id: str = ""
    billit_client_secret: str = ""
    queue_prefix: str = "koppel"
    claim_lease: float = 120.0
    settle_window: float = 300.0  # see application.processing.DEFAULT_SETTLE_WINDOW
    worker_threads: int = 4
    # How many of a worker process's threads may work for one connection at once; 0: all but
    # one (workers/fairness.py, default_cap), so a slow or rate-limited ledger never takes
    # the threads the other connections' documents need.
    threads_per_connection: int = 0
    http_timeout: float = 15.0
    sweep_interval: float = 600.0  # seconds between sweeps of the shops' lists (I2)
    requeue_age: float = 120.0  # an open document nobody moved for this long is sent again
    # The daily digest goes out at this hour, Dutch and Belgian time (Europe/Amsterdam and
    # Europe/Brussels keep the same clock), not 24 hours after whenever the scheduler started.
    digest_hour: int = 7
    inbox_retention_days: float = 30.0  # handled webhook inbox rows are deleted after this
    # The web server (``koppel serve``, gunicorn): processes, threads each, and the seconds a
    # worker may stay silent before it is replaced (see README, "Configuration").
    web_workers: int = 2
    web_threads: int = 8
    web_timeout: int = 30
    # How many reverse proxies stand in front and set X-Forwarded-*; 0 trusts no such header.
    proxy_hops: int = 0
    # Calls per seconds to each connection's shop and ledger, across all processes. CCV Shop
    # allows 150 GETs a minute per endpoint and an unpublished total; neither ledger publishes
    # a limit (empty: none).
    shop_rate_limit: str = "120/60"
    ledger_rate_limit: str = ""
    # Who may read /metrics: a bearer token, or (empty) only clients on this machine.
    metrics_token: str = ""
    # The threads of this process that use the database at once (the command knows: a worker
    # process its worker threads, the scheduler two); each store's pool is at most this big,
    # so an operator can count connections (README, "Database connections"). 0: an embedded
    # process's own threads.
    database_threads: int = 0
    demo: bool = False  # the commands run on what `koppel demo` left in var/
    # koppel's App Secret Key in CCV's Developer App Center (empty: no App Store install).
    ccv_app_secret: str = ""

    @property
    def pool_size(self) -> int:
        # Embedded: the worker threads, the projector, and the scheduler or a web request.
        return self.database_threads or self.worker_threads + 2
    mail: Mail = field(default_factory=Mail)
    support_email: str = ""  # where "Report a problem" goes; empty: the button says so
    ratelimit_storage_url: str = ""  # empty: the broker's Redis, else each process counts alone

    @property
    def ratelimit_storage(self) -> str:
        """Where sign-in attempts are counted: shared by every web process in production."""
        if self.ratelimit_storage_url:
            return self.ratelimit_storage_url
        if self.broker_url.startswith(("redis://", "rediss://")):
            return self.broker_url
        return "memory://"

    @property
    def embedded(self) -> bool:
        return not self.broker_url

    @property
    def https(self) -> bool:
        """Served over TLS (directly or by the proxy): cookies are then sent over TLS only."""
        return self.public_url.startswith("https://")

    @property
    def time_limit_ms(self) -> int:
        # A worker is stopped well before its claim's lease ends, so a claim is only ever
        # taken over from a worker that is gone (I1).
        return int(self.claim_lease * 1000 * 0.75)

    def with_(self, **changes) -> "Config":
        return replace(self, **changes)


class ConfigError(ValueError):
    """The environment cannot run koppel; the message says what to set."""


def from_environment(environ: Mapping[str, str] = os.environ, var_dir: Path = Path("var")) -> Config:
    database_url = environ.get("KOPPEL_DATABASE_URL") or DEFAULT_DATABASE_URL
    broker_url = environ.get("KOPPEL_BROKER_URL", "")
    config = Config(
        database_url=database_url,
        broker_url=broker_url,
        secret_key=_secret_key(environ, database_url, broker_url, var_dir),
        public_url=(environ.get("KOPPEL_PUBLIC_URL") or DEFAULT_PUBLIC_URL).rstrip("/"),
        eboekhouden_url=environ.get("KOPPEL_EBOEKHOUDEN_URL") or "https://api.e-boekhouden.nl",
        billit_url=environ.get("KOPPEL_BILLIT_URL") or "https://api.billit.be",
        billit_login_url=environ.get("KOPPEL_BILLIT_LOGIN_URL") or "https://my.billit.be",
        billit_client_id=environ.get("KOPPEL_BILLIT_CLIENT_ID", ""),
        billit_client_secret=environ.get("KOPPEL_BILLIT_CLIENT_SECRET", ""),
        queue_prefix=environ.get("KOPPEL_QUEUE_PREFIX") or "koppel",
        claim_lease=_positive(environ, "KOPPEL_CLAIM_LEASE", 120),
        settle_window=float(environ.get("KOPPEL_SETTLE_WINDOW") or 300),
        worker_threads=_whole(environ, "KOPPEL_WORKER_THREADS", 4, least=1),
        threads_per_connection=_whole(environ, "KOPPEL_THREADS_PER_CONNECTION", 0, least=0),
        http_timeout=_positive(environ, "KOPPEL_HTTP_TIMEOUT", 15),
        sweep_interval=_positive(environ, "KOPPEL_SWEEP_INTERVAL", 600),
        requeue_age=_positive(environ, "KOPPEL_REQUEUE_AGE", 120),
        digest_hour=_hour(environ, "KOPPEL_DIGEST_HOUR", 7),
        inbox_retention_days=_positive(environ, "KOPPEL_INBOX_RETENTION_DAYS", 30),
        web_workers=_whole(environ, "KOPPEL_WEB_WORKERS", 2, least=1),
        web_threads=_whole(environ, "KOPPEL_WEB_THREADS", 8, least=1),
        web_timeout=_whole(environ, "KOPPEL_WEB_TIMEOUT", 30, least=1),
        proxy_hops=_whole(environ, "KOPPEL_PROXY_HOPS", 0, least=0),
        shop_rate_limit=environ.get("KOPPEL_SHOP_RATE_LIMIT", "120/60"),
        ledger_rate_limit=environ.get("KOPPEL_LEDGER_RATE_LIMIT", ""),
        mail=Mail.from_environment(environ),
        support_email=environ.get("KOPPEL_SUPPORT_EMAIL", ""),
        ratelimit_storage_url=environ.get("KOPPEL_RATELIMIT_STORAGE_URL", ""),
        ccv_app_secret=environ.get("KOPPEL_CCV_APP_SECRET", ""),
        metrics_token=environ.get("KOPPEL_METRICS_TOKEN", ""),
    )
    return _demo_if_left(config, environ, var_dir)


# `koppel demo` leaves this beside its database: where its sandboxes answer.
DEMO_MARKER = "demo.json"


def _demo_if_left(config: Config, environ: Mapping[str, str], var_dir: Path) -> Config:
    """After ``koppel demo`` in this folder, ``koppel audit 1005`` means the demo's order 1005,
    and ``koppel reprocess`` talks to the demo's sandbox ledger, never to the real one whose
    address is the default. Only when nothing else was chosen: no KOPPEL_DATABASE_URL and
    no koppel database of this folder's own (a real installation always wins)."""
    marker = var_dir / DEMO_MARKER
    if environ.get("KOPPEL_DATABASE_URL") or (var_dir / "koppel.sqlite").exists() or \
            not marker.exists():
        return config
    try:
        demo = json.loads(marker.read_text())
        return config.with_(database_url=demo["database_url"],
                            eboekhouden_url=demo["ledger_url"], billit_url=demo["ledger_url"],
                            billit_login_url=demo["ledger_url"], demo=True)
    except (OSError, ValueError, KeyError):
        return config  # a marker half written: the defaults, as without one


def leave_demo_marker(config: Config, var_dir: Path = Path("var")) -> Path:
    """Written by the demo: what ``_demo_if_left`` reads."""
    marker = var_dir / DEMO_MARKER
    marker.write_text(json.dumps({"database_url": config.database_url,
                                  "ledger_url": config.eboekhouden_url}))
    return marker


def _whole(environ: Mapping[str, str], name: str, default: int, least: int) -> int:
    raw = environ.get(name) or str(default)
    try:
        value = int(raw)
    except ValueError:
        value = least - 1
    if value < least:
        raise ConfigError(f"{name} must be a whole number of at least {least}, not {raw!r}")
    return value


def _hour(environ: Mapping[str, str], name: str, default: int) -> int:
    value = _whole(environ, name, default, least=0)
    if value > 23:
        raise ConfigError(f"{name} must be an hour of the day, 0 to 23, not {value}")
    return value


def _positive(environ: Mapping[str, str], name: str, default: float) -> float:
    text = environ.get(name) or ""
    if not text.strip():
        return float(default)
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value > 0 or value == float("inf"):
        raise ConfigError(f"{name} must be a positive number, got {text!r}")
    return value


def _secret_key(environ: Mapping[str, str], database_url: str, broker_url: str,
                var_dir: Path) -> str:
    if environ.get("KOPPEL_SECRET_KEY"):
        return environ["KOPPEL_SECRET_KEY"]
    if database_url.startswith("sqlite") and not broker_url:
        return _generated_secret_key(var_dir)
    # Outside the embedded mode several processes (web, workers, scheduler) share one key,
    # which encrypts every stored secret: a key made up here would seal secrets nobody else
    # can open, and change the webhook addresses.
    raise ConfigError("KOPPEL_SECRET_KEY is not set: koppel on PostgreSQL or with a broker "
                      "needs the installation's secret key (see README, Configuration)")


def _generated_secret_key(var_dir: Path) -> str:
    """Embedded only: a key made on first run and kept in var/, readable by its owner only."""
    path = var_dir / "secret_key"
    if path.exists():
        return path.read_text().strip()
    var_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(32)
    path.touch(mode=0o600)
    path.write_text(key)
    return key


def persistence_env(database_url: str, pool_size: int = 8,
                    create_tables: bool = True) -> dict[str, str]:
    """The eventsourcing library's environment for the event store behind the URL. Its pool
    keeps one connection and opens up to ``pool_size`` while that many threads need one.
    ``create_tables`` False: the tables are there already (a rebuild's part processes): on
    PostgreSQL, creating them replaces a function, and two processes doing that at once fail
    with "tuple concurrently updated"."""
    from projections.store import dialect_of, postgres_params, sqlite_path

    if dialect_of(database_url) == "sqlite":
        path = sqlite_path(database_url)
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        return {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": path,
                "SQLITE_LOCK_TIMEOUT": "30", "CREATE_TABLE": "yes" if create_tables else "no"}
    params = postgres_params(database_url)
    return {
        "CREATE_TABLE": "yes" if create_tables else "no",
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": params["dbname"], "POSTGRES_HOST": params["host"],
        "POSTGRES_PORT": params["port"], "POSTGRES_USER": params["user"],
        "POSTGRES_PASSWORD": params["password"], "POSTGRES_POOL_SIZE": "1",
        "POSTGRES_MAX_OVERFLOW": str(max(0, pool_size - 1)), "POSTGRES_LOCK_TIMEOUT": "10",
    }


@dataclass(frozen=True)
class LogChoice:
    json: bool
    level: int


def log_choice(environ: Mapping[str, str], verbose: bool = False) -> LogChoice:
    """KOPPEL_LOG_FORMAT (json or text) and KOPPEL_LOG_LEVEL; by default JSON lines wherever
    koppel runs as a service (PostgreSQL or a broker), readable text for the embedded demo."""
    import logging

    production = bool(environ.get("KOPPEL_BROKER_URL")) or not (
        environ.get("KOPPEL_DATABASE_URL") or DEFAULT_DATABASE_URL).startswith("sqlite")
    chosen = (environ.get("KOPPEL_LOG_FORMAT") or ("json" if production else "text")).lower()
    if chosen not in ("json", "text"):
        raise ConfigError(f"KOPPEL_LOG_FORMAT must be json or text, not {chosen!r}")
    raw = (environ.get("KOPPEL_LOG_LEVEL") or ("INFO" if verbose else "WARNING")).upper()
    level = logging.getLevelName(raw)
    if not isinstance(level, int):
        raise ConfigError(f"KOPPEL_LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR, not {raw!r}")
    return LogChoice(json=chosen == "json", level=level)
