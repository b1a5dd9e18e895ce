"""The ScaiKey discovery document, cached for the callers of the token endpoint.

Where the document lives is `upstream.scaikey.discovery_url` (one rule everywhere: under
`SCAIKEY_ISSUER` when it is an http(s) URL, else under the platform issuer of
`SCAIKEY_BASE_URL`). It is fetched on first use, by one caller at a time (concurrent callers
wait for the same fetch), and kept for an hour; a failed fetch is not cached, and a caller
whose call through the document failed (`invalidate`) makes the next one fetch it again, so an
endpoint that moved is found without a restart.

`auth.jwks` keeps its own discovery state: it is driven by its refresh schedule and the
persisted key sets, not by requests.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from scaiflow_box.upstream.scaikey import Discovery, ScaiKeyClient

__all__ = ["DEFAULT_MAX_AGE_SECONDS", "DiscoveryCache"]

DEFAULT_MAX_AGE_SECONDS = 3600.0


class DiscoveryCache:
    """The discovery document at `url` (None: ScaiKey is not configured)."""

    def __init__(self, client: ScaiKeyClient, url: str | None, *,
                 max_age: float = DEFAULT_MAX_AGE_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._client = client
        self._url = url
        self._max_age = max_age
        self._clock = clock
        self._document: Discovery | None = None
        self._fetched_at = 0.0
        self._lock = asyncio.Lock()

    @property
    def url(self) -> str | None:
        return self._url

    def _fresh(self) -> Discovery | None:
        if self._document is not None and self._clock() - self._fetched_at < self._max_age:
            return self._document
        return None

    async def get(self) -> Discovery:
        """The document, fetched when there is none or it is older than `max_age`.

        Raises ValueError when no URL is configured, and what `ScaiKeyClient.discover` raises
        (`UpstreamError`, `ScaiKeyError`) when the fetch fails.
        """
        if self._url is None:
            raise ValueError("ScaiKey discovery is not configured")
        document = self._fresh()
        if document is not None:
            return document
        async with self._lock:
            document = self._fresh()  # another caller may have fetched it meanwhile
            if document is None:
                document = await self._client.discover(self._url)
                self._document = document
                self._fetched_at = self._clock()
            return document

    def invalidate(self) -> None:
        """Forget the document: a call made with it failed, and what it names may have moved."""
        self._document = None
