"""The settings table: every setting the appliance reads, declared once.

Each field of `Settings` is one row (`config_values.setting`): the environment variable, the
kind of value (which parses and validates it), the default, a help line and whether it is a
secret. From this one table come `load_settings`, `scaiflow-box config` (effective values,
secrets masked, with where each came from), the settings table in docs/operations.md and the
docs test. Adding a setting is one field here plus its line in the docs (docs/decisions.md,
"Settings table").

Every problem is reported as one line naming the variable, so an operator can fix them all in
one pass. The names of settings the ScaiFlow product already has are kept exactly.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scaiflow_box.config_env import (
    ConfigError,
    Environment,
    gather_environment,
    read_env_file,
    read_environment,
)
from scaiflow_box.config_values import (
    ASYMMETRIC_ALGORITHMS,
    KNOWN_PERMISSIONS,
    SETTING,
    Algorithms,
    Choice,
    DatabaseUrlText,
    Destinations,
    ExistingFile,
    FilePath,
    Flag,
    HttpUrl,
    Integer,
    Invalid,
    MasterKeyText,
    Names,
    Networks,
    Origins,
    Permissions,
    RedirectUri,
    Seconds,
    Setting,
    Text,
    setting,
)

if TYPE_CHECKING:
    from scaiflow_box.store.engine import DatabaseUrl
    from scaiflow_box.upstream.destinations import AllowedDestination

__all__ = ["ASYMMETRIC_ALGORITHMS", "KNOWN_PERMISSIONS", "ConfigError", "Settings",
           "gather_environment", "load_settings", "read_env_file", "settings_table"]

DEFAULT_CORS = "http://localhost:5173,http://127.0.0.1:5173"
DEFAULT_METRICS_ALLOW_FROM = "127.0.0.0/8,::1"
LOG_LEVELS = ("debug", "info", "warning", "error")


@dataclass(frozen=True)
class Settings:
    # -- listening and storage ---------------------------------------------------------
    api_host: str = setting("SCAIFLOW_API_HOST", Text(), "127.0.0.1", "listen address")
    api_port: int = setting("SCAIFLOW_API_PORT", Integer(1, 65535), "8001", "listen port")
    data_dir: Path = setting("SCAIFLOW_DATA_DIR", FilePath(), "./scaiflow-data",
                             "database and master key")
    master_key_file: Path | None = setting(
        "SCAIFLOW_MASTER_KEY_FILE", FilePath(), None,
        "32 random bytes, base64, mode 0600 (a key file open to group or others stops every "
        "command: `chmod 600`); retired keys are kept beside it",
        doc_default="`<data dir>/master.key`")
    master_key: str | None = setting(
        "SCAIFLOW_MASTER_KEY", MasterKeyText(), None,
        "the master key itself (base64 of 32 bytes); wins over the file, which is then "
        "neither read nor created; never logged", secret=True)
    database_url: DatabaseUrl | None = setting(
        "SCAIFLOW_DATABASE_URL", DatabaseUrlText(), None,
        "a MariaDB database instead of SQLite (`<data dir>/scaiflow.db`): "
        "`mariadb://user@host[:port]/database` or `mariadb://user@/database?unix_socket=/path` "
        "(utf8mb4/utf8mb4_bin; `init` creates its schema); the password is never shown; see "
        "[MariaDB](#several-processes--mariadb)")
    database_password_file: Path | None = setting(
        "SCAIFLOW_DATABASE_PASSWORD_FILE", ExistingFile(), None,
        "the password of `SCAIFLOW_DATABASE_URL`'s user, alone in a file of mode 0600 (a "
        "trailing newline is ignored); never logged")
    # -- ScaiKey: token validation ---------------------------------------------------------
    scaikey_base_url: str | None = setting(
        "SCAIKEY_BASE_URL", HttpUrl(), None,
        "ScaiKey; discovery at `/api/v1/platform/oauth/.well-known/openid-configuration`")
    scaikey_issuer: str | None = setting(
        "SCAIKEY_ISSUER", Text(), None, "expected `iss`; discovery under it when set")
    scaikey_jwks_url: str | None = setting(
        "SCAIKEY_JWKS_URL", HttpUrl(), None, "JWKS URL (skips discovery)")
    scaikey_jwks_file: Path | None = setting(
        "SCAIKEY_JWKS_FILE", ExistingFile(), None, "static JWKS for fully disconnected sites")
    scaikey_audience: str | None = setting(
        "SCAIKEY_AUDIENCE", Text(), None, "expected `aud`", doc_default="client id")
    scaikey_algorithms: tuple[str, ...] = setting(
        "SCAIKEY_ALGORITHMS", Algorithms(), "RS256", "comma-separated; asymmetric only")
    # -- ScaiKey: sign-in, sync, webhooks ----------------------------------------------------
    scaikey_client_id: str | None = setting(
        "SCAIFLOW_SCAIKEY_CLIENT_ID", Text(), None, "the ScaiFlow client id (default audience)")
    scaikey_client_secret: str | None = setting(
        "SCAIFLOW_SCAIKEY_CLIENT_SECRET", Text(), None,
        "for the auth router and sync; never logged or returned", secret=True)
    scaikey_redirect_uri: str | None = setting(
        "SCAIFLOW_SCAIKEY_REDIRECT_URI", RedirectUri(), None,
        "the canvas's sign-in redirect URI (http(s), no fragment, kept exactly); reported by "
        "`/auth/config`, and the only one `/auth/exchange` accepts when set")
    scaikey_application_id: str = setting(
        "SCAIFLOW_SCAIKEY_APPLICATION_ID", Text(), "me", "application for effective-users sync")
    scaikey_webhook_secret: str | None = setting(
        "SCAIFLOW_SCAIKEY_WEBHOOK_SECRET", Text(), None, "HMAC secret of ScaiKey webhooks",
        secret=True)
    sync_interval_minutes: int = setting(
        "SCAIFLOW_SYNC_INTERVAL_MINUTES", Integer(0, 10_080), "60",
        "directory sync period; `0` turns the background sync off")
    super_admin_groups: tuple[str, ...] = setting(
        "SCAIFLOW_SUPER_ADMIN_GROUPS", Names(), "",
        "groups (ids or names, comma-separated) whose members become super admins")
    # -- deploying and ScaiGrid --------------------------------------------------------
    deploy_auth: str | None = setting(
        "SCAIFLOW_DEPLOY_AUTH", Choice("user_jwt", "api_key"), None, "`user_jwt` or `api_key`")
    api_token: str | None = setting(
        "SCAIFLOW_API_TOKEN", Text(), None, "the dev token (only `/api/v1/dev/deploy`)",
        secret=True)
    scaigrid_base_url: str | None = setting(
        "SCAIGRID_BASE_URL", HttpUrl(), None, "ScaiGrid for tenants that stored no base URL")
    scaigrid_api_key: str | None = setting(
        "SCAIGRID_API_KEY", Text(), None,
        "ScaiGrid key for tenants that stored none (dev); never logged", secret=True)
    # -- access ------------------------------------------------------------------------
    auth_disabled: bool = setting(
        "SCAIFLOW_AUTH_DISABLED", Flag(), "false", "dev only; refused unless the host is loopback")
    cors_origins: tuple[str, ...] = setting(
        "SCAIFLOW_CORS_ORIGINS", Origins(), DEFAULT_CORS, "no wildcard, ever")
    default_permissions: frozenset[str] = setting(
        "SCAIFLOW_DEFAULT_PERMISSIONS", Permissions(), "scaicore:view scaicore:manage",
        "for tokens with no `scaicore:*` scope")
    # -- limits and timeouts --------------------------------------------------------------
    upstream_timeout_seconds: float = setting(
        "SCAIFLOW_UPSTREAM_TIMEOUT_SECONDS", Seconds(600), "10", "every upstream call")
    body_timeout_seconds: float = setting(
        "SCAIFLOW_BODY_TIMEOUT_SECONDS", Seconds(3600), "30",
        "a request body must arrive within this, else 408")
    event_poll_seconds: float = setting(
        "SCAIFLOW_EVENT_POLL_SECONDS", Seconds(300), "2",
        "how often a live event stream asks ScaiGrid for new events (one poll per tenant, "
        "credential and filter)")
    header_timeout_seconds: float = setting(
        "SCAIFLOW_HEADER_TIMEOUT_SECONDS", Seconds(300), "10",
        "a request's line and headers must arrive within this from their first byte, else "
        "408 and the connection closes (slow clients, slowloris); see "
        "[Connection limits](#connection-limits)")
    keepalive_timeout_seconds: float = setting(
        "SCAIFLOW_KEEPALIVE_TIMEOUT_SECONDS", Seconds(3600), "75",
        "a connection that sends no request for this long (after connecting or after its last "
        "answer) is closed")
    max_connections: int = setting(
        "SCAIFLOW_MAX_CONNECTIONS", Integer(16, 1_000_000), "1024",
        "open client connections at most (lowered at start to what the open-file limit "
        "allows); at the cap a new connection takes the place of the one that has waited "
        "longest for its next request, or is answered 503 when every connection is busy")
    # -- upstream destinations -----------------------------------------------------------
    # Hosts/networks ScaiGrid calls may reach besides SCAIGRID_BASE_URL's.
    upstream_allow: tuple[AllowedDestination, ...] = setting(
        "SCAIFLOW_UPSTREAM_ALLOW", Destinations(), "",
        "comma-separated hosts (`grid.lan`), subdomain wildcards (`*.grid.example`), IP "
        "addresses and CIDR networks, a name or address optionally with `:port`, that ScaiGrid "
        "calls may reach besides the host and port of `SCAIGRID_BASE_URL`; a tenant's "
        "`base_url` must fall inside; see [Upstream destinations](#upstream-destinations)")
    upstream_allow_private: str | None = setting(
        "SCAIFLOW_UPSTREAM_ALLOW_PRIVATE", Text(), None,
        "removed (see [Upstream destinations](#upstream-destinations)): `false` still "
        "starts, with a warning, and does nothing; `true` stops start-up naming "
        "`SCAIFLOW_UPSTREAM_ALLOW`")
    # -- observing -----------------------------------------------------------------------
    metrics: bool = setting(
        "SCAIFLOW_METRICS", Flag(), "false",
        "serve `GET /metrics` (Prometheus text format; see [Metrics](#metrics))")
    # Who may read /metrics (the TCP peer's address, never a forwarded header).
    metrics_allow_from: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = setting(
        "SCAIFLOW_METRICS_ALLOW_FROM", Networks(), DEFAULT_METRICS_ALLOW_FROM,
        "comma-separated addresses or networks whose connections may read `/metrics`")
    log_format: str = setting(
        "SCAIFLOW_LOG_FORMAT", Choice("text", "json"), "text", "`text` or `json`")
    log_level: str = setting(
        "SCAIFLOW_LOG_LEVEL", Choice(*LOG_LEVELS), "info",
        "`debug`, `info`, `warning` or `error`: the least severe lines the server logs")
    access_log: bool = setting(
        "SCAIFLOW_ACCESS_LOG", Flag(), "false",
        "log one line per request: method, path (never the query string), status, duration "
        "and request id")
    # -- retention -----------------------------------------------------------------------
    audit_retention_days: int = setting(
        "SCAIFLOW_AUDIT_RETENTION_DAYS", Integer(0, 36_500), "0",
        "delete audit entries older than this many days; `0` keeps them forever")
    webhook_dedupe_hours: int = setting(
        "SCAIFLOW_WEBHOOK_DEDUPE_HOURS", Integer(1, 8_760), "24",
        "how long a ScaiKey webhook event id is remembered to refuse a replay")
    # -- live editing (docs/api.md, "Live editing") -----------------------------------------
    live_max_clients_per_flow: int = setting(
        "SCAIFLOW_LIVE_MAX_CLIENTS_PER_FLOW", Integer(1, 10_000), "100",
        "live-editing sockets one flow may have at once; one more is closed with 4429")
    live_max_message_bytes: int = setting(
        "SCAIFLOW_LIVE_MAX_MESSAGE_BYTES", Integer(1024, 64 * 1024 * 1024), "8388608",
        "the largest message (bytes; 8 MiB) a live-editing client may send; a larger one "
        "closes its socket with 1009")
    live_send_queue_bytes: int = setting(
        "SCAIFLOW_LIVE_SEND_QUEUE_BYTES", Integer(64 * 1024, 256 * 1024 * 1024), "4194304",
        "bytes (4 MiB) a live-editing client may have waiting to be sent to it; a client that "
        "falls further behind is disconnected (slow consumer)")
    live_max_document_bytes: int = setting(
        "SCAIFLOW_LIVE_MAX_DOCUMENT_BYTES", Integer(64 * 1024, 1024 * 1024 * 1024), "67108864",
        "the largest a flow's live document may grow (bytes, 64 MiB: stored snapshot and "
        "updates); updates beyond it close the sender with 4413")
    live_idle_seconds: float = setting(
        "SCAIFLOW_LIVE_IDLE_SECONDS", Seconds(86_400), "600",
        "a live-editing client that sends nothing for this long is closed with 4408 "
        "(y-websocket renews its awareness every 15 s)")
    live_ping_seconds: float = setting(
        "SCAIFLOW_LIVE_PING_SECONDS", Seconds(3600), "30",
        "WebSocket ping interval of live-editing sockets; a client that does not answer within "
        "half of it is dropped")
    presence_expiry_seconds: float = setting(
        "SCAIFLOW_PRESENCE_EXPIRY_SECONDS", Seconds(3600), "30",
        "a presence viewer disappears this long after its last heartbeat")
    lease_seconds: float = setting(
        "SCAIFLOW_LEASE_SECONDS", Seconds(3600), "30",
        "how long a process holds the leases of work one process of a site runs (scheduled "
        "directory sync, retention): renewed every third of it; another process takes over "
        "within it after the holder dies")

    @property
    def master_key_path(self) -> Path:
        return self.master_key_file or self.data_dir / "master.key"

    @property
    def db_path(self) -> Path:
        return self.data_dir / "scaiflow.db"

    @property
    def expected_audience(self) -> str | None:
        """`aud` of ScaiKey tokens: SCAIKEY_AUDIENCE, else the ScaiFlow client id."""
        return self.scaikey_audience or self.scaikey_client_id

    @property
    def notices(self) -> tuple[str, ...]:
        """Lines `serve` logs as warnings at start-up (deprecated settings that still parse)."""
        if _says_false(self.upstream_allow_private):
            return ("SCAIFLOW_UPSTREAM_ALLOW_PRIVATE is deprecated and has no effect: ScaiGrid "
                    "calls reach only the host of SCAIGRID_BASE_URL and SCAIFLOW_UPSTREAM_ALLOW;"
                    " remove the line",)
        return ()

    @property
    def scaikey_configured(self) -> bool:
        return bool(self.scaikey_jwks_url or self.scaikey_jwks_file or self.scaikey_issuer
                    or self.scaikey_base_url)


@cache
def settings_table() -> tuple[Setting[Any], ...]:
    """Every setting, in the order of the table (and of the docs)."""
    return tuple(replace(f.metadata[SETTING], field_name=f.name) for f in fields(Settings)
                 if SETTING in f.metadata)


def check_serving(settings: Settings) -> None:
    """What `serve` (and every app built to serve) needs beyond what each command does: with
    ScaiKey tokens accepted, a known audience. Without one, any token ScaiKey issued for any
    client would be taken. ConfigError (one line) otherwise."""
    if settings.scaikey_configured and settings.expected_audience is None:
        raise ConfigError([
            "SCAIKEY_AUDIENCE: ScaiKey tokens are accepted but their audience is unknown; set "
            "SCAIKEY_AUDIENCE or SCAIFLOW_SCAIKEY_CLIENT_ID (the `aud` of this appliance's "
            "ScaiKey tokens)"])


# -- rules that involve more than one setting ----------------------------------------------
def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _issuer_named(values: Mapping[str, Any], given: Mapping[str, str]) -> str | None:
    if (given.get("SCAIKEY_JWKS_URL") or given.get("SCAIKEY_JWKS_FILE")) and not (
            given.get("SCAIKEY_ISSUER") or given.get("SCAIKEY_BASE_URL")):
        return ("SCAIKEY_ISSUER: required with SCAIKEY_JWKS_URL or SCAIKEY_JWKS_FILE "
                "(the `iss` every ScaiKey token must carry)")
    return None


def _auth_disabled_only_on_loopback(values: Mapping[str, Any], given: Mapping[str, str]
                                    ) -> str | None:
    if values["auth_disabled"] and not _is_loopback(str(values["api_host"])):
        return ("SCAIFLOW_AUTH_DISABLED: refused unless SCAIFLOW_API_HOST is a loopback "
                "address (dev only)")
    return None


def _says_false(text: str | None) -> bool:
    return text is not None and text.strip().lower() in ("0", "false", "no", "off")


def _allow_private_removed(values: Mapping[str, Any], given: Mapping[str, str]
                           ) -> str | None:
    # `false` asked for the stricter behaviour, which the allow-list now gives by default
    # (accepted, with a notice); `true` asked tenants to reach the whole LAN, which no longer
    # exists: refused, saying what to set instead.
    given_text = values["upstream_allow_private"]
    if given_text is not None and not _says_false(given_text):
        return ("SCAIFLOW_UPSTREAM_ALLOW_PRIVATE: removed; a tenant's base_url may name only "
                "the host of SCAIGRID_BASE_URL or one listed in SCAIFLOW_UPSTREAM_ALLOW (hosts, "
                "host:port, CIDR networks): list your ScaiGrid hosts there and remove this line")
    return None


def _database_password_once(values: Mapping[str, Any], given: Mapping[str, str]
                            ) -> str | None:
    url = values["database_url"]
    if values["database_password_file"] is not None and url is None:
        return ("SCAIFLOW_DATABASE_PASSWORD_FILE: set only with SCAIFLOW_DATABASE_URL (SQLite "
                "needs no password)")
    if values["database_password_file"] is not None and url.password is not None:
        return ("SCAIFLOW_DATABASE_URL: holds a password and SCAIFLOW_DATABASE_PASSWORD_FILE "
                "names one too: keep the password in the file only")
    return None


# Each takes the values (after command-line overrides) and the texts given, and returns a
# problem line or None.
CrossCheck = Callable[[Mapping[str, Any], Mapping[str, str]], str | None]
CROSS_CHECKS: tuple[CrossCheck, ...] = (_issuer_named, _auth_disabled_only_on_loopback,
                                        _allow_private_removed, _database_password_once)


# -- loading -------------------------------------------------------------------------------
COMMAND_LINE = "command line"
DEFAULT = "default"


@dataclass(frozen=True)
class Evaluation:
    """What the environment makes of the table: a value per field (the default where the text
    was missing or wrong), where each came from, the texts given and every problem."""

    environment: Environment
    values: dict[str, Any]
    sources: dict[str, str]  # field name -> "default" | "environment" | "env file P" | ...
    given: dict[str, str]  # variable -> its (stripped, non-blank) text
    invalid: set[str]  # variables whose text is not a value of their kind
    problems: list[str]


def _blank_to_none(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    return value or None


def evaluate(environ: Mapping[str, str] | None = None,
             overrides: Mapping[str, object] | None = None) -> Evaluation:
    """Read every setting; collects problems instead of raising (ConfigError only for a
    missing SCAIFLOW_ENV_FILE, which makes every other value unknowable)."""
    env = read_environment(environ)
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    given: dict[str, str] = {}
    invalid: set[str] = set()
    problems: list[str] = []
    for row in settings_table():
        text = _blank_to_none(env.values.get(row.env))
        values[row.field_name] = row.default_value()
        sources[row.field_name] = DEFAULT
        if text is None:
            continue
        given[row.env] = text
        sources[row.field_name] = env.origins.get(row.env, "environment")
        try:
            values[row.field_name] = row.kind.parse(text)
        except Invalid as exc:
            invalid.add(row.env)
            problems.extend(f"{row.env}: {problem}" for problem in exc.problems)
    for name, value in (overrides or {}).items():
        if value is not None:
            values[name] = value
            sources[name] = COMMAND_LINE
    for check in CROSS_CHECKS:
        problem = check(values, given)
        if problem is not None:
            problems.append(problem)
    return Evaluation(env, values, sources, given, invalid, problems)


def load_settings(
    environ: Mapping[str, str] | None = None, overrides: Mapping[str, object] | None = None
) -> Settings:
    """Build Settings from the environment; raise ConfigError listing every problem."""
    evaluation = evaluate(environ, overrides)
    if evaluation.problems:
        raise ConfigError(evaluation.problems)
    return Settings(**evaluation.values)


def settings_markdown() -> str:
    """The settings table of docs/operations.md, as the table says it."""
    lines = ["| variable | default | meaning |", "|---|---|---|"]
    lines += [f"| `{row.env}` | {row.docs_default()} | {row.help} |" for row in settings_table()]
    return "\n".join(lines) + "\n"
