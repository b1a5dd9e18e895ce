"""The ScaiKey JWKS cache (SPEC §19.3): the keys that verify ScaiKey access tokens offline.

Where keys come from
- **Remote** (`source` "url" or "discovery"): `SCAIKEY_JWKS_URL` if set; otherwise the
  `jwks_uri` of the discovery document, fetched from
  `{SCAIKEY_ISSUER}/.well-known/openid-configuration` when SCAIKEY_ISSUER is an http(s) URL,
  else from `{SCAIKEY_BASE_URL}/api/v1/platform/oauth/.well-known/openid-configuration`. The
  discovered `jwks_uri` is reused until a fetch fails, then discovery runs again.
- **Persisted** (table `jwks_cache`): every successful fetch is saved, so a restarted
  appliance validates tokens while ScaiKey is down. `scaiflow-box jwks import FILE` writes the
  same table (`source` "import"); a later successful fetch for that issuer replaces it.
- **Static file** (`SCAIKEY_JWKS_FILE`, `source` "file"): read at start, never refreshed;
  consulted after the remote/persisted set. With the file set and neither
  `SCAIKEY_BASE_URL` nor `SCAIKEY_JWKS_URL`, nothing is fetched (a disconnected site: no
  discovery from `SCAIKEY_ISSUER` alone, no retry noise in the logs).

Which issuer ScaiKey tokens must carry (`issuer`), first match wins
1. `SCAIKEY_ISSUER`;
2. the `issuer` of the discovery document fetched by this process (discovery also runs, for
   this purpose only, when `SCAIKEY_JWKS_URL` is set without `SCAIKEY_ISSUER`);
3. the issuer of the most recently saved persisted set (what an earlier run learned, or what
   an operator imported) — this keeps a restarted appliance working while ScaiKey is down;
4. `{SCAIKEY_BASE_URL}/api/v1/platform/oauth` (the platform issuer whose discovery document
   lives at the path above);
5. none: every ScaiKey token is refused ("wrong issuer").

Refresh: in the background before expiry (90 % of `Cache-Control: max-age`, default 600 s,
clamped to [60 s, 24 h]); after a failure, retried after 5 s doubling to at most 5 min. A
failed fetch keeps the last good set. An unknown `kid` triggers at most one refresh per
cooldown (30 s), single-flight (concurrent callers await the same fetch); a kid still missing
after a refresh is remembered (negative cache) and answered None without fetching until the
cooldown has passed.

Keys: vetted by `auth.jwk_set` (asymmetric signature keys only, each bound to one
algorithm).

The HTTP side (where the discovery document lives, what it must contain, status rules and
size caps of both fetches) is `upstream.scaikey`; this module decides what to do with the
answers: which set is active, how long it is good for, and what is persisted.

`kid` values come from tokens, i.e. from attackers: they are only used as dictionary keys,
never put in a URL or SQL, and logged with `%r`, truncated to 64 characters.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp
from jwt import PyJWK

from scaiflow_box.auth.jwk_set import (
    MAX_KID_LENGTH,
    import_jwks_file,
    parse_jwks,
    printable_kid,
    read_jwks_file,
)
from scaiflow_box.config import ConfigError, Settings
from scaiflow_box.store import keys as key_rows
from scaiflow_box.store.database import Database
from scaiflow_box.timestamps import iso, parse_iso
from scaiflow_box.upstream.client import UpstreamError
from scaiflow_box.upstream.scaikey import ScaiKeyClient, discovery_url, platform_issuer

__all__ = ["JwksCache", "KeySet", "cache_max_age", "import_jwks_file", "parse_jwks"]

log = logging.getLogger(__name__)

DEFAULT_MAX_AGE = 600.0
MIN_MAX_AGE = 60.0
MAX_MAX_AGE = 86_400.0
REFRESH_AT_FRACTION = 0.9
RETRY_MIN_SECONDS = 5.0
RETRY_MAX_SECONDS = 300.0
DEFAULT_COOLDOWN_SECONDS = 30.0
NEGATIVE_CACHE_LIMIT = 4096

SOURCE_URL = "url"
SOURCE_DISCOVERY = "discovery"
SOURCE_FILE = "file"

def cache_max_age(cache_control: str | None) -> float:
    """Seconds the JWKS may be cached: `max-age` (or `s-maxage`) clamped to [60 s, 24 h];
    600 s when absent or unparsable; the minimum for `no-cache`/`no-store`."""
    if not cache_control:
        return DEFAULT_MAX_AGE
    found: float | None = None
    for raw in cache_control.split(","):
        directive = raw.strip().lower()
        if directive in ("no-cache", "no-store"):
            return MIN_MAX_AGE
        name, _, value = directive.partition("=")
        if name.strip() in ("max-age", "s-maxage") and found is None:
            try:
                found = float(int(value.strip().strip('"')))
            except ValueError:
                continue
    if found is None:
        return DEFAULT_MAX_AGE
    return min(max(found, MIN_MAX_AGE), MAX_MAX_AGE)


# -- the cache ----------------------------------------------------------------------------
class _FetchFailed(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class KeySet:
    issuer: str | None
    source: str
    keys: dict[str, PyJWK]
    fetched_at: float | None  # unix time
    last_error: str | None = None
    skipped: list[str] = field(default_factory=list)


def _epoch(text: str) -> float | None:
    try:
        return parse_iso(text).timestamp()
    except ValueError:
        return None


class JwksCache:
    """Implements `auth.tokens.SigningKeys` for ScaiKey tokens. See the module docstring."""

    def __init__(
        self,
        settings: Settings,
        db: Database,
        session_factory: Callable[[], aiohttp.ClientSession],
        *,
        unknown_kid_cooldown: float = DEFAULT_COOLDOWN_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._settings = settings
        self._db = db
        self._scaikey = ScaiKeyClient(session_factory)
        self._cooldown = unknown_kid_cooldown
        self._clock = clock
        self._wall = wall_clock
        self._algorithms: tuple[str, ...] = tuple(settings.scaikey_algorithms)

        self._remote: KeySet | None = None
        self._static: KeySet | None = None
        self._persisted: dict[str, KeySet] = {}
        self._persisted_issuer: str | None = None
        self._discovered_issuer: str | None = None
        self._jwks_uri: str | None = None
        self._last_error: str | None = None
        self._issuer_mismatch_logged = False

        self._inflight: asyncio.Task[bool] | None = None
        self._refresher: asyncio.Task[None] | None = None
        self._first_fetch = asyncio.Event()
        self._last_kid_refresh: float | None = None
        self._negative: OrderedDict[str, float] = OrderedDict()
        self._refresh_delay = DEFAULT_MAX_AGE * REFRESH_AT_FRACTION
        self._failures = 0

    # -- configuration -----------------------------------------------------------------
    @property
    def remote_configured(self) -> bool:
        """True when keys can be fetched (a JWKS URL or a discovery document is configured)."""
        return self._discovery_url() is not None or self._settings.scaikey_jwks_url is not None

    @property
    def _remote_source(self) -> str:
        return SOURCE_URL if self._settings.scaikey_jwks_url else SOURCE_DISCOVERY

    def _discovery_url(self) -> str | None:
        settings = self._settings
        if settings.scaikey_base_url is None and settings.scaikey_jwks_file is not None:
            return None  # a disconnected site: the static file is the only source
        return discovery_url(issuer=settings.scaikey_issuer, base_url=settings.scaikey_base_url)

    @property
    def issuer(self) -> str | None:
        """The `iss` ScaiKey tokens must carry (rules in the module docstring)."""
        if self._settings.scaikey_issuer:
            return self._settings.scaikey_issuer
        if self._discovered_issuer:
            return self._discovered_issuer
        if self._persisted_issuer:
            return self._persisted_issuer
        if self._settings.scaikey_base_url:
            return platform_issuer(self._settings.scaikey_base_url)
        return None

    # -- lifecycle ---------------------------------------------------------------------
    async def start(self) -> None:
        """Load persisted and static keys, then fetch in the background (never blocks on the
        network). Raises ConfigError when SCAIKEY_JWKS_FILE is unusable."""
        loop = asyncio.get_running_loop()
        rows = await self._db.read(key_rows.all_jwks)
        stored = [(str(r["issuer"]), str(r["jwks"]), str(r["source"]), str(r["fetched_at"]))
                  for r in rows]
        persisted = await loop.run_in_executor(None, self._parse_persisted, stored)
        self._persisted = persisted
        newest = max(persisted.values(), key=lambda s: s.fetched_at or 0.0, default=None)
        self._persisted_issuer = newest.issuer if newest is not None else None
        issuer = self.issuer
        if issuer is not None and issuer in persisted:
            self._remote = persisted[issuer]

        jwks_file = self._settings.scaikey_jwks_file
        if jwks_file is not None:
            try:
                parsed = await loop.run_in_executor(
                    None, read_jwks_file, jwks_file, self._algorithms
                )
            except ValueError as exc:
                raise ConfigError([f"SCAIKEY_JWKS_FILE: {exc}"]) from exc
            self._static = KeySet(issuer=None, source=SOURCE_FILE, keys=parsed.keys,
                                  fetched_at=self._wall(), skipped=parsed.skipped)
            self._log_skipped("SCAIKEY_JWKS_FILE", parsed.skipped)

        if issuer is None and jwks_file is not None and not self.remote_configured:
            log.warning("SCAIKEY_JWKS_FILE is set but no issuer is known: set "
                        "SCAIKEY_ISSUER, or ScaiKey tokens are refused")
        if self.remote_configured:
            # The first fetch is in flight as soon as start() returns, so tokens arriving
            # meanwhile share it instead of spending the unknown-kid refresh.
            first = asyncio.create_task(self._fetch_and_store(), name="jwks-fetch")
            self._inflight = first
            self._refresher = asyncio.create_task(self._refresh_loop(first),
                                                  name="jwks-refresh")
        else:
            self._first_fetch.set()

    def _parse_persisted(self, rows: list[tuple[str, str, str, str]]) -> dict[str, KeySet]:
        sets: dict[str, KeySet] = {}
        for issuer, text, source, fetched_at in rows:
            try:
                parsed = parse_jwks(json.loads(text), self._algorithms)
            except (ValueError, RecursionError):
                log.warning("persisted JWKS for issuer %r is unreadable; ignored", issuer[:200])
                continue
            sets[issuer] = KeySet(issuer=issuer, source=source, keys=parsed.keys,
                                  fetched_at=_epoch(fetched_at), skipped=parsed.skipped)
        return sets

    async def close(self) -> None:
        for task in (self._refresher, self._inflight):
            if task is not None and not task.done():
                task.cancel()
        for task in (self._refresher, self._inflight):
            if task is not None:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        self._refresher = None
        self._inflight = None

    async def wait_first_fetch(self) -> None:
        """Return once the first background fetch has finished (succeeded or failed)."""
        await self._first_fetch.wait()

    # -- lookup --------------------------------------------------------------------------
    def has_key(self, kid: str) -> bool:
        """Whether `kid` is in the current key set (no fetch): cached verifications of tokens
        signed by a key that ScaiKey has since withdrawn are dropped on this answer."""
        return self._lookup(kid) is not None

    def _lookup(self, kid: str) -> PyJWK | None:
        for key_set in (self._remote, self._static):
            if key_set is not None:
                key = key_set.keys.get(kid)
                if key is not None:
                    return key
        return None

    @property
    def refresh_delay(self) -> float:
        """Seconds between a successful fetch and the next scheduled one (from max-age)."""
        return self._refresh_delay

    def has_keys(self) -> bool:
        """True when at least one ScaiKey verification key is loaded."""
        return any(s is not None and s.keys for s in (self._remote, self._static))

    def _remember_missing(self, kid: str, until: float) -> None:
        self._negative[kid] = until
        self._negative.move_to_end(kid)
        while len(self._negative) > NEGATIVE_CACHE_LIMIT:
            self._negative.popitem(last=False)

    async def get_key(self, kid: str) -> PyJWK | None:
        """The key for `kid`; an unknown kid may trigger one rate-limited refresh."""
        key = self._lookup(kid)
        if key is not None:
            return key
        if not self.remote_configured or not kid or len(kid) > MAX_KID_LENGTH:
            return None
        now = self._clock()
        until = self._negative.get(kid)
        if until is not None:
            if now < until:
                return None
            del self._negative[kid]
        inflight = self._inflight
        if inflight is not None and not inflight.done():
            # A fetch is already running (start-up, schedule or another kid): share it.
            await asyncio.shield(inflight)
        elif self._last_kid_refresh is not None and now - self._last_kid_refresh < self._cooldown:
            self._remember_missing(kid, self._last_kid_refresh + self._cooldown)
            return None
        else:
            self._last_kid_refresh = now
            log.info("unknown key id %s: refreshing the JWKS", printable_kid(kid))
            await self._refresh_shared()
        key = self._lookup(kid)
        if key is None:
            self._remember_missing(kid, self._clock() + self._cooldown)
            log.info("key id %s is not in the JWKS; refused until %.0f s have passed",
                     printable_kid(kid), self._cooldown)
        return key

    # -- fetching ------------------------------------------------------------------------
    async def refresh(self) -> bool:
        """Fetch now (joining a fetch already in flight); True when the set was replaced."""
        if not self.remote_configured:
            return False
        return await self._refresh_shared()

    async def _refresh_shared(self) -> bool:
        if self._inflight is None or self._inflight.done():
            self._inflight = asyncio.create_task(self._fetch_and_store(), name="jwks-fetch")
        return await asyncio.shield(self._inflight)

    async def _refresh_loop(self, first: asyncio.Task[bool]) -> None:
        ok = await asyncio.shield(first)
        self._first_fetch.set()
        while True:
            if ok:
                self._failures = 0
                delay = self._refresh_delay
            else:
                delay = min(RETRY_MIN_SECONDS * (2 ** self._failures), RETRY_MAX_SECONDS)
                self._failures = min(self._failures + 1, 16)
            await asyncio.sleep(delay)
            ok = await self._refresh_shared()

    async def _fetch_and_store(self) -> bool:
        try:
            return await self._fetch()
        except (_FetchFailed, UpstreamError) as exc:
            self._last_error = exc.reason
            log.warning("JWKS fetch failed (%s); keeping the last good key set", exc.reason)
        except asyncio.CancelledError:
            raise
        except Exception:
            self._last_error = "internal error"
            log.exception("JWKS fetch failed unexpectedly; keeping the last good key set")
        return False

    def _note_discovered_issuer(self, issuer: str | None) -> None:
        if issuer is None:
            return
        configured = self._settings.scaikey_issuer
        if configured and configured != issuer and not self._issuer_mismatch_logged:
            self._issuer_mismatch_logged = True
            log.warning("the discovery document names issuer %r but SCAIKEY_ISSUER is %r; "
                        "tokens must carry SCAIKEY_ISSUER", issuer[:200], configured[:200])
        self._discovered_issuer = issuer

    async def _fetch(self) -> bool:
        settings = self._settings
        discovery = self._discovery_url()
        if settings.scaikey_jwks_url:
            jwks_url = settings.scaikey_jwks_url
            if (not settings.scaikey_issuer and self._discovered_issuer is None
                    and discovery is not None):
                # Only to learn the issuer; the keys come from SCAIKEY_JWKS_URL regardless.
                try:
                    discovered = await self._scaikey.discover(discovery)
                    self._note_discovered_issuer(discovered.issuer)
                except UpstreamError as exc:
                    log.info("discovery for the issuer name failed (%s)", exc.reason)
        else:
            if discovery is None:
                raise _FetchFailed("no JWKS URL or discovery document configured")
            if self._jwks_uri is None:
                discovered = await self._scaikey.discover(discovery)
                self._note_discovered_issuer(discovered.issuer)
                self._jwks_uri = discovered.jwks_uri
            jwks_url = self._jwks_uri

        try:
            fetched = await self._scaikey.fetch_jwks(jwks_url)
            try:
                parsed = await asyncio.get_running_loop().run_in_executor(
                    None, parse_jwks, fetched.document, self._algorithms
                )
            except ValueError as exc:
                raise _FetchFailed(str(exc)) from exc
            if not parsed.keys:
                raise _FetchFailed("JWKS has no usable signing key")
        except (_FetchFailed, UpstreamError):
            self._jwks_uri = None  # discover again next time: the jwks_uri may have moved
            raise

        issuer = self.issuer
        fetched_at = self._wall()
        self._remote = KeySet(issuer=issuer, source=self._remote_source, keys=parsed.keys,
                              fetched_at=fetched_at, skipped=parsed.skipped)
        self._last_error = None
        self._refresh_delay = cache_max_age(fetched.cache_control) * REFRESH_AT_FRACTION
        self._log_skipped("JWKS", parsed.skipped)
        log.info("JWKS loaded: %d key(s) for issuer %r", len(parsed.keys), (issuer or "")[:200])
        if issuer is None:
            log.warning("JWKS fetched but no issuer is known: set SCAIKEY_ISSUER; the keys "
                        "are not persisted and ScaiKey tokens are refused")
            return True
        document = json.dumps(parsed.document, sort_keys=True)
        source = self._remote_source
        try:
            await self._db.write(lambda conn: key_rows.save_jwks(conn, issuer, document, source))
        except Exception:  # the keys are still good in memory; persistence is best effort
            log.warning("could not persist the JWKS; it is used from memory", exc_info=True)
        else:
            self._persisted[issuer] = self._remote
        return True

    @staticmethod
    def _log_skipped(what: str, skipped: list[str]) -> None:
        if skipped:
            log.warning("%s: %d key(s) skipped: %s", what, len(skipped), "; ".join(skipped[:10]))

    # -- reporting -----------------------------------------------------------------------
    def status(self) -> list[dict[str, Any]]:
        """Per issuer and source: {issuer, source, key_ids, fetched_at, age_seconds,
        last_error}. The active remote set comes first; no secrets, no URLs."""
        now = self._wall()

        def entry(key_set: KeySet | None, issuer: str | None, source: str,
                  last_error: str | None) -> dict[str, Any]:
            fetched = key_set.fetched_at if key_set is not None else None
            return {
                "issuer": issuer,
                "source": key_set.source if key_set is not None else source,
                "key_ids": sorted(key_set.keys) if key_set is not None else [],
                "fetched_at": (iso(datetime.fromtimestamp(fetched, UTC))
                               if fetched is not None else None),
                "age_seconds": round(max(0.0, now - fetched), 1) if fetched is not None else None,
                "last_error": last_error,
            }

        active = self.issuer
        result: list[dict[str, Any]] = []
        if self.remote_configured or self._remote is not None:
            result.append(entry(self._remote, active, self._remote_source,
                                self._last_error if self.remote_configured else None))
        if self._static is not None:
            result.append(entry(self._static, active, SOURCE_FILE, None))
        for issuer, key_set in sorted(self._persisted.items()):
            if key_set is self._remote or (issuer == active and self._remote is not None):
                continue
            result.append(entry(key_set, issuer, key_set.source, None))
        return result

