"""Settings from the environment (and an optional env file), validated once at start-up.

Every problem is reported as one line naming the variable, so an operator can fix them all in
one pass. Names marked [upstream] in SPEC §17 are kept exactly.
"""

from __future__ import annotations

import base64
import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

ASYMMETRIC_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
KNOWN_PERMISSIONS = frozenset({"scaicore:view", "scaicore:manage"})
DEFAULT_CORS = "http://localhost:5173,http://127.0.0.1:5173"
DEFAULT_METRICS_ALLOW_FROM = "127.0.0.0/8,::1"


class ConfigError(Exception):
    """Raised with every configuration problem found, one per line."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Settings:
    api_host: str = "127.0.0.1"
    api_port: int = 8001
    data_dir: Path = Path("./scaiflow-data")
    master_key_file: Path | None = None
    master_key: str | None = field(default=None, repr=False)  # base64; wins over the file
    scaikey_base_url: str | None = None
    scaikey_issuer: str | None = None
    scaikey_jwks_url: str | None = None
    scaikey_jwks_file: Path | None = None
    scaikey_audience: str | None = None
    scaikey_algorithms: tuple[str, ...] = ("RS256",)
    scaikey_client_id: str | None = None
    scaikey_client_secret: str | None = field(default=None, repr=False)
    scaikey_redirect_uri: str | None = None
    scaikey_application_id: str = "me"
    scaikey_webhook_secret: str | None = field(default=None, repr=False)
    sync_interval_minutes: int = 60
    super_admin_groups: tuple[str, ...] = ()
    deploy_auth: str | None = None
    api_token: str | None = field(default=None, repr=False)
    scaigrid_base_url: str | None = None
    scaigrid_api_key: str | None = field(default=None, repr=False)
    auth_disabled: bool = False
    cors_origins: tuple[str, ...] = tuple(DEFAULT_CORS.split(","))
    default_permissions: frozenset[str] = KNOWN_PERMISSIONS
    upstream_timeout_seconds: float = 10.0
    body_timeout_seconds: float = 30.0
    event_poll_seconds: float = 2.0
    upstream_allow_private: bool = True
    metrics: bool = False
    # Who may read /metrics (the TCP peer's address, never a forwarded header).
    metrics_allow_from: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = (
        ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))
    audit_retention_days: int = 0  # 0 = keep audit rows forever
    webhook_dedupe_hours: int = 24
    log_format: str = "text"
    # Live editing (SPEC §15, docs/api.md "Live editing")
    live_max_clients_per_flow: int = 100
    live_max_message_bytes: int = 8 * 1024 * 1024
    live_send_queue_bytes: int = 4 * 1024 * 1024
    live_max_document_bytes: int = 64 * 1024 * 1024
    live_idle_seconds: float = 600.0
    live_ping_seconds: float = 30.0
    presence_expiry_seconds: float = 30.0

    @property
    def master_key_path(self) -> Path:
        return self.master_key_file or self.data_dir / "master.key"

    @property
    def db_path(self) -> Path:
        return self.data_dir / "scaiflow.db"

    @property
    def expected_audience(self) -> str | None:
        """`aud` of ScaiKey tokens: SCAIKEY_AUDIENCE, else the ScaiFlow client id (SPEC §2.1)."""
        return self.scaikey_audience or self.scaikey_client_id

    @property
    def scaikey_configured(self) -> bool:
        return bool(self.scaikey_jwks_url or self.scaikey_jwks_file or self.scaikey_issuer
                    or self.scaikey_base_url)


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines; `#` comments, optional `export `, optional matching quotes."""
    values: dict[str, str] = {}
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export "):].lstrip()
        key, sep, value = line.partition("=")
        if not sep:
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key.strip()] = value
    return values


def gather_environment(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The env file (SCAIFLOW_ENV_FILE, else ./.env) under the real environment, which wins."""
    env = dict(os.environ if environ is None else environ)
    env_file = env.get("SCAIFLOW_ENV_FILE")
    merged: dict[str, str] = {}
    if env_file == "":  # explicitly none (tests, hermetic runs)
        merged.update(env)
        return merged
    candidate = Path(env_file) if env_file else Path(".env")
    if candidate.is_file():
        merged.update(read_env_file(candidate))
    elif env_file:
        raise ConfigError([f"SCAIFLOW_ENV_FILE: file not found: {env_file}"])
    merged.update(env)
    return merged


def _blank_to_none(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    return value or None


def _is_http_url(value: str) -> bool:
    parsed = urlparse(value)
    return parsed.scheme in ("http", "https") and bool(parsed.hostname)


def _redirect_uri_problem(value: str) -> str | None:
    """Why `value` cannot be the canvas's OAuth redirect URI, None when it can: an absolute
    http(s) URL with a host, printable ASCII, no fragment (RFC 6749 §3.1.2)."""
    if not all("!" <= c <= "~" for c in value):
        return "must be printable ASCII without spaces"
    try:
        parsed = urlparse(value)
        _ = parsed.port  # raises ValueError for a bad port
    except ValueError:
        return "is not a valid URL"
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        return "must be an http(s) URL with a host"
    if parsed.username is not None or parsed.password is not None:
        return "must not carry a user or password"
    if parsed.fragment or "#" in value:
        return "must not have a fragment"
    return None


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _is_key_base64(value: str) -> bool:
    try:
        return len(base64.b64decode(value, validate=True)) == 32
    except ValueError:
        return False


def _parse_bool(name: str, value: str | None, default: bool, problems: list[str]) -> bool:
    if value is None or not value.strip():
        return default
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    problems.append(f"{name}: expected true or false, got {value!r}")
    return default


def _networks(name: str, value: str | None, default: str, problems: list[str],
              ) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """Comma-separated addresses or CIDR networks (`10.0.0.5`, `10.0.0.0/24`, `::1`)."""
    networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
    for item in (value or default).split(","):
        item = item.strip()
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            problems.append(f"{name}: not an IP address or network: {item!r}")
    return tuple(networks)


def load_settings(
    environ: Mapping[str, str] | None = None, overrides: Mapping[str, object] | None = None
) -> Settings:
    """Build Settings from the environment; raise ConfigError listing every problem."""
    env = gather_environment(environ)
    problems: list[str] = []

    def get(name: str) -> str | None:
        return _blank_to_none(env.get(name))

    def url(name: str) -> str | None:
        value = get(name)
        if value is not None and not _is_http_url(value):
            problems.append(f"{name}: must be an http(s) URL with a host, got {value!r}")
            return None
        return value.rstrip("/") if value else None

    def integer(name: str, default: int, low: int, high: int) -> int:
        value = get(name)
        if value is None:
            return default
        try:
            number = int(value)
        except ValueError:
            problems.append(f"{name}: expected a whole number, got {value!r}")
            return default
        if not low <= number <= high:
            problems.append(f"{name}: must be between {low} and {high}, got {number}")
            return default
        return number

    port = integer("SCAIFLOW_API_PORT", 8001, 1, 65535)
    host = get("SCAIFLOW_API_HOST") or "127.0.0.1"

    def seconds(name: str, default: float, high: float) -> float:
        value = get(name)
        if value is None:
            return default
        try:
            number = float(value)
        except ValueError:
            number = float("nan")
        if not 0 < number <= high:  # NaN fails too
            problems.append(f"{name}: expected seconds in (0, {high:g}], got {value!r}")
            return default
        return number

    timeout = seconds("SCAIFLOW_UPSTREAM_TIMEOUT_SECONDS", 10.0, 600)
    body_timeout = seconds("SCAIFLOW_BODY_TIMEOUT_SECONDS", 30.0, 3600)
    event_poll = seconds("SCAIFLOW_EVENT_POLL_SECONDS", 2.0, 300)

    algorithms = tuple(
        a.strip() for a in (get("SCAIKEY_ALGORITHMS") or "RS256").split(",") if a.strip()
    )
    bad_algs = [a for a in algorithms if a not in ASYMMETRIC_ALGORITHMS]
    if bad_algs or not algorithms:
        problems.append(
            "SCAIKEY_ALGORITHMS: only asymmetric algorithms are accepted "
            f"({', '.join(sorted(ASYMMETRIC_ALGORITHMS))}), got {', '.join(bad_algs) or 'none'}"
        )

    permissions_raw = get("SCAIFLOW_DEFAULT_PERMISSIONS")
    permissions = KNOWN_PERMISSIONS
    if permissions_raw is not None:
        requested = frozenset(permissions_raw.replace(",", " ").split())
        unknown = requested - KNOWN_PERMISSIONS
        if unknown:
            problems.append(
                "SCAIFLOW_DEFAULT_PERMISSIONS: unknown permission(s) "
                f"{', '.join(sorted(unknown))}; known: scaicore:view scaicore:manage"
            )
        else:
            permissions = requested

    deploy_auth = get("SCAIFLOW_DEPLOY_AUTH")
    if deploy_auth is not None and deploy_auth not in ("user_jwt", "api_key"):
        problems.append(f"SCAIFLOW_DEPLOY_AUTH: expected user_jwt or api_key, got {deploy_auth!r}")

    cors = tuple(o.strip().rstrip("/") for o in (get("SCAIFLOW_CORS_ORIGINS") or DEFAULT_CORS)
                 .split(",") if o.strip())
    for origin in cors:
        if origin == "*":
            problems.append("SCAIFLOW_CORS_ORIGINS: a wildcard origin is never allowed; "
                            "list the canvas origins")
        elif not _is_http_url(origin):
            problems.append(f"SCAIFLOW_CORS_ORIGINS: not an http(s) origin: {origin!r}")

    log_format = get("SCAIFLOW_LOG_FORMAT") or "text"
    if log_format not in ("text", "json"):
        problems.append(f"SCAIFLOW_LOG_FORMAT: expected text or json, got {log_format!r}")

    auth_disabled = _parse_bool("SCAIFLOW_AUTH_DISABLED", get("SCAIFLOW_AUTH_DISABLED"), False,
                                problems)
    if auth_disabled and not _is_loopback(str((overrides or {}).get("api_host") or host)):
        problems.append("SCAIFLOW_AUTH_DISABLED: refused unless SCAIFLOW_API_HOST is a "
                        "loopback address (dev only)")

    redirect_uri = get("SCAIFLOW_SCAIKEY_REDIRECT_URI")
    if redirect_uri is not None:
        # Kept exactly as given (no trailing-slash trimming): ScaiKey compares it as a string.
        problem = _redirect_uri_problem(redirect_uri)
        if problem is not None:
            problems.append(f"SCAIFLOW_SCAIKEY_REDIRECT_URI: {problem}, got {redirect_uri!r}")
            redirect_uri = None

    jwks_file = get("SCAIKEY_JWKS_FILE")
    if jwks_file is not None and not Path(jwks_file).is_file():
        problems.append(f"SCAIKEY_JWKS_FILE: file not found: {jwks_file}")

    if (get("SCAIKEY_JWKS_URL") or jwks_file) and not (get("SCAIKEY_ISSUER")
                                                       or get("SCAIKEY_BASE_URL")):
        problems.append("SCAIKEY_ISSUER: required with SCAIKEY_JWKS_URL or SCAIKEY_JWKS_FILE "
                        "(the `iss` every ScaiKey token must carry)")

    metrics_allow_from = _networks("SCAIFLOW_METRICS_ALLOW_FROM",
                                   get("SCAIFLOW_METRICS_ALLOW_FROM"),
                                   DEFAULT_METRICS_ALLOW_FROM, problems)

    data_dir = Path(get("SCAIFLOW_DATA_DIR") or "./scaiflow-data")
    master_key = get("SCAIFLOW_MASTER_KEY_FILE")
    master_key_value = get("SCAIFLOW_MASTER_KEY")
    if master_key_value is not None and not _is_key_base64(master_key_value):
        # Never echo the value: it may be a real key with a typo.
        problems.append("SCAIFLOW_MASTER_KEY: must be the base64 encoding of 32 bytes "
                        "(e.g. the output of `head -c 32 /dev/urandom | base64`)")
        master_key_value = None

    values: dict[str, object] = {
        "api_host": host,
        "api_port": port,
        "data_dir": data_dir,
        "master_key_file": Path(master_key) if master_key else None,
        "master_key": master_key_value,
        "scaikey_base_url": url("SCAIKEY_BASE_URL"),
        "scaikey_issuer": get("SCAIKEY_ISSUER"),
        "scaikey_jwks_url": url("SCAIKEY_JWKS_URL"),
        "scaikey_jwks_file": Path(jwks_file) if jwks_file else None,
        "scaikey_audience": get("SCAIKEY_AUDIENCE"),
        "scaikey_algorithms": algorithms,
        "scaikey_client_id": get("SCAIFLOW_SCAIKEY_CLIENT_ID"),
        "scaikey_client_secret": get("SCAIFLOW_SCAIKEY_CLIENT_SECRET"),
        "scaikey_redirect_uri": redirect_uri,
        "scaikey_application_id": get("SCAIFLOW_SCAIKEY_APPLICATION_ID") or "me",
        "scaikey_webhook_secret": get("SCAIFLOW_SCAIKEY_WEBHOOK_SECRET"),
        "sync_interval_minutes": integer("SCAIFLOW_SYNC_INTERVAL_MINUTES", 60, 0, 10_080),
        "super_admin_groups": tuple(
            g.strip() for g in (get("SCAIFLOW_SUPER_ADMIN_GROUPS") or "").split(",") if g.strip()
        ),
        "deploy_auth": deploy_auth,
        "api_token": get("SCAIFLOW_API_TOKEN"),
        "scaigrid_base_url": url("SCAIGRID_BASE_URL"),
        "scaigrid_api_key": get("SCAIGRID_API_KEY"),
        "auth_disabled": auth_disabled,
        "cors_origins": cors,
        "default_permissions": permissions,
        "upstream_timeout_seconds": timeout,
        "body_timeout_seconds": body_timeout,
        "event_poll_seconds": event_poll,
        "upstream_allow_private": _parse_bool(
            "SCAIFLOW_UPSTREAM_ALLOW_PRIVATE", get("SCAIFLOW_UPSTREAM_ALLOW_PRIVATE"), True,
            problems),
        "metrics": _parse_bool("SCAIFLOW_METRICS", get("SCAIFLOW_METRICS"), False, problems),
        "metrics_allow_from": metrics_allow_from,
        "audit_retention_days": integer("SCAIFLOW_AUDIT_RETENTION_DAYS", 0, 0, 36_500),
        "webhook_dedupe_hours": integer("SCAIFLOW_WEBHOOK_DEDUPE_HOURS", 24, 1, 8_760),
        "log_format": log_format,
        "live_max_clients_per_flow": integer("SCAIFLOW_LIVE_MAX_CLIENTS_PER_FLOW", 100, 1,
                                             10_000),
        "live_max_message_bytes": integer("SCAIFLOW_LIVE_MAX_MESSAGE_BYTES", 8 * 1024 * 1024,
                                          1024, 64 * 1024 * 1024),
        "live_send_queue_bytes": integer("SCAIFLOW_LIVE_SEND_QUEUE_BYTES", 4 * 1024 * 1024,
                                         64 * 1024, 256 * 1024 * 1024),
        "live_max_document_bytes": integer("SCAIFLOW_LIVE_MAX_DOCUMENT_BYTES",
                                           64 * 1024 * 1024, 64 * 1024, 1024 * 1024 * 1024),
        "live_idle_seconds": seconds("SCAIFLOW_LIVE_IDLE_SECONDS", 600.0, 86_400),
        "live_ping_seconds": seconds("SCAIFLOW_LIVE_PING_SECONDS", 30.0, 3600),
        "presence_expiry_seconds": seconds("SCAIFLOW_PRESENCE_EXPIRY_SECONDS", 30.0, 3600),
    }
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    if problems:
        raise ConfigError(problems)
    return Settings(**values)  # type: ignore[arg-type]
