"""The ScaiGrid HTTP contract (SPEC §18.1): every ScaiGrid URL the appliance calls, how it
authenticates, and what it accepts as an answer.

Every call goes through `upstream.client` (the one shared session with its total timeout and
destination guard, no redirects, answers capped at `max_response_bytes`) with
`Authorization: Bearer <ScaiGridAuth.bearer>`. Which credential that is (the caller's JWT,
the tenant's key, `SCAIGRID_API_KEY`) is decided by the credentials service, not here.

Answers: `{"status": "ok", "data": …}` or `{"data": …}` succeed with `data`. Everything else
raises `ScaiGridError`, whose `kind` is what callers branch on (SPEC §9):
- "unreachable": no answer (connection failed, timed out, body broke off) or a destination
  the guard refuses; `status` is None;
- "auth": 401 or 403;
- "rate_limited": 429, with the upstream `Retry-After` header in `retry_after`;
- "error": any other status (a 3xx too: redirects are never followed), a 2xx carrying the
  error envelope, or an answer in an unexpected shape, too large or not JSON.
`code` is the upstream `error.code`; `message` is ours, names neither a URL nor the bearer
(upstream text is quoted only after the bearer and URLs are cut out of it), and so is safe to
store in a deployment record or show a user.

Ids given by callers are percent-encoded as single path segments (`/`, `?`, `#`, `..` cannot
change the path), and the URL is sent as built (`yarl.URL(..., encoded=True)`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import quote

import aiohttp
from yarl import URL

from scaiflow_box.upstream.client import (
    DestinationNotAllowed,
    UpstreamBadAnswer,
    UpstreamError,
    UpstreamResponse,
    UpstreamUnreachable,
    request_json,
    session_factory,
    url_destination,
)
from scaiflow_box.upstream.destinations import UpstreamAllowList

__all__ = [
    "DEFAULT_MAX_RESPONSE_BYTES",
    "ScaiGridAuth",
    "ScaiGridAuthSource",
    "ScaiGridClient",
    "ScaiGridError",
    "ScaiGridErrorKind",
    "normalize_model",
]

ScaiGridAuthSource = Literal["user_jwt", "tenant_key", "env_key"]
ScaiGridErrorKind = Literal["unreachable", "auth", "rate_limited", "error"]

DEFAULT_MAX_RESPONSE_BYTES = 4 * 1024 * 1024
SCAICORE = "/v1/modules/scaicore"
SCAIQUEUE = "/v1/modules/scaiqueue"
SCAIBUNKER = "/v1/modules/scaibunker"
MANIFEST_CONTENT_TYPE = "application/yaml"

_MAX_QUOTED = 200
_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://\S*")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]+")
_CODE = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
_RETRY_AFTER = re.compile(r"[ -~]{1,64}")  # printable ASCII: seconds or an HTTP date


@dataclass(frozen=True)
class ScaiGridAuth:
    """Where ScaiGrid is and the bearer to send it (resolved by the credentials service).
    The bearer is left out of `repr` so the object can be logged."""

    base_url: str  # no trailing slash
    bearer: str = field(repr=False)  # sent as Authorization: Bearer <bearer>
    source: ScaiGridAuthSource


class ScaiGridError(UpstreamError):
    """A ScaiGrid call failed; see the module docstring for `kind`. `message` (also the
    exception's text and `reason`) is safe to show; `upstream_message` is ScaiGrid's own
    `error.message`, cleaned the same way, or None."""

    def __init__(
        self,
        kind: ScaiGridErrorKind,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        retry_after: str | None = None,
        upstream_message: str | None = None,
    ) -> None:
        super().__init__(message)
        self.kind: ScaiGridErrorKind = kind
        self.status = status
        self.code = code
        self.message = message
        self.retry_after = retry_after
        self.upstream_message = upstream_message

    def __repr__(self) -> str:
        return (f"ScaiGridError(kind={self.kind!r}, status={self.status!r}, "
                f"code={self.code!r}, message={self.message!r})")


# -- helpers ----------------------------------------------------------------------------------
def _segment(value: str) -> str:
    """`value` as one percent-encoded path segment."""
    if not isinstance(value, str) or not value:
        raise ValueError("an id must be a non-empty string")
    quoted = quote(value, safe="")
    if quoted in (".", ".."):  # unreserved, so quote() leaves them: they would move up a level
        quoted = quoted.replace(".", "%2E")
    return quoted


def _clean(text: str, bearer: str | None = None) -> str:
    """Upstream text made safe to quote: no bearer, no URLs, no control characters, short."""
    if bearer:
        text = text.replace(bearer, "[redacted]")
    text = _URL_IN_TEXT.sub("[url]", text)
    text = _CONTROL.sub(" ", text).strip()
    return text[:_MAX_QUOTED] + ("…" if len(text) > _MAX_QUOTED else "")


def _error_fields(body: Any, bearer: str) -> tuple[str | None, str | None, str | None]:
    """(code, message, retry_after) of an error envelope; Nones where absent or malformed."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return None, None, None
    code = error.get("code")
    code = code if isinstance(code, str) and _CODE.fullmatch(code) else None
    raw_message = error.get("message")
    message = (_clean(raw_message, bearer) or None) if isinstance(raw_message, str) else None
    retry = error.get("retry_after")
    retry_after = str(retry) if isinstance(retry, int) and not isinstance(retry, bool) \
        and retry >= 0 else None
    return code, message, retry_after


def _items(data: Any) -> list[dict[str, Any]] | None:
    """The objects of a list answer: `data` is the list, or `{"items": [...]}`. Entries that
    are not objects are dropped. None when `data` is neither."""
    if isinstance(data, dict):
        data = data.get("items")
    if not isinstance(data, list):
        return None
    return [item for item in data if isinstance(item, dict)]


def _find_slug(items: list[dict[str, Any]], slug: str) -> dict[str, Any] | None:
    return next((item for item in items if item.get("slug") == slug), None)


def _published_slug_of(core: Mapping[str, Any]) -> str | None:
    metadata = core.get("metadata")
    slug = metadata.get("published_slug") if isinstance(metadata, dict) else None
    if slug is None:
        slug = core.get("published_slug")
    return slug if isinstance(slug, str) and slug else None


def _is_already_published(exc: ScaiGridError) -> bool:
    return (exc.status == 400 and exc.code == "VALIDATION_ERROR"
            and "already published" in (exc.upstream_message or "").lower())


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def normalize_model(item: Mapping[str, Any]) -> dict[str, Any] | None:
    """One entry of `GET /v1/models` (native or OpenAI-style) as `{"slug", "display_name",
    "modality", "context_window", "max_output_tokens"?}`; None without a usable slug/id.
    Unknown values are None (an OpenAI-style entry says nothing of modality or context)."""
    slug = item.get("slug")
    if not isinstance(slug, str) or not slug:
        slug = item.get("id")
    if not isinstance(slug, str) or not slug:
        return None
    display_name = item.get("display_name")
    if not isinstance(display_name, str) or not display_name:
        name = item.get("name")
        display_name = name if isinstance(name, str) and name else slug
    modality = item.get("modality")
    if not isinstance(modality, str):
        modalities = item.get("modalities")
        modality = modalities[0] if isinstance(modalities, list) and modalities \
            and isinstance(modalities[0], str) else None
    context_window = _int_or_none(item.get("context_window"))
    if context_window is None:
        context_window = _int_or_none(item.get("context_length"))
    model: dict[str, Any] = {"slug": slug, "display_name": display_name, "modality": modality,
                             "context_window": context_window}
    max_output_tokens = _int_or_none(item.get("max_output_tokens"))
    if max_output_tokens is not None:
        model["max_output_tokens"] = max_output_tokens
    return model


# -- the client -------------------------------------------------------------------------------
class ScaiGridClient:
    """Calls ScaiGrid over the shared upstream session.

    `session` is that session or a callable returning it (for owners built before the session
    exists); it is looked up on every call and never closed here. With `allowed` (the
    appliance passes `scaigrid_allow_list(settings)`), a base URL outside it is refused before
    anything is sent, whoever resolved it.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession | Callable[[], aiohttp.ClientSession],
        *,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        allowed: UpstreamAllowList | None = None,
    ) -> None:
        self._session = session_factory(session)
        self._max_bytes = max_response_bytes
        self._allowed = allowed

    # -- ScaiCore -------------------------------------------------------------------------
    async def create_core(self, auth: ScaiGridAuth, manifest_yaml: str) -> dict[str, Any]:
        """`POST /v1/modules/scaicore/cores` with the YAML manifest as the body; the created
        core (`data`, with at least `id`).

        The one place that sends the manifest: an installation whose ScaiGrid wants JSON is
        changed here (SPEC §18.1)."""
        response = await self._request(
            auth, "POST", f"{SCAICORE}/cores", data=manifest_yaml.encode("utf-8"),
            content_type=MANIFEST_CONTENT_TYPE)
        core = self._data(response, auth)
        if not isinstance(core, dict) or not isinstance(core.get("id"), str) or not core["id"]:
            raise self._shape_error(response, "the created core has no id")
        return core

    async def publish_core(self, auth: ScaiGridAuth, core_id: str,
                           group_ids: list[str]) -> str | None:
        """Publish a core as a model; its `published_slug`. Idempotent: ScaiGrid's 400
        VALIDATION_ERROR "already published" is answered from `GET /cores/{id}`
        (`metadata.published_slug`)."""
        try:
            response = await self._request(
                auth, "POST", f"{SCAICORE}/cores/{_segment(core_id)}/publish",
                json_body={"group_ids": list(group_ids)})
            data = self._data(response, auth)
        except ScaiGridError as exc:
            if not _is_already_published(exc):
                raise
            return _published_slug_of(await self.get_core(auth, core_id))
        if not isinstance(data, dict):
            raise self._shape_error(response, "the publish answer is not an object")
        return _published_slug_of(data)

    async def get_core(self, auth: ScaiGridAuth, core_id: str) -> dict[str, Any]:
        response = await self._request(auth, "GET", f"{SCAICORE}/cores/{_segment(core_id)}")
        return self._object(response, auth, "core")

    async def list_events(
        self, auth: ScaiGridAuth, *, core_id: str | None, limit: int, cursor: str | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """One page of ScaiCore events (objects passed through as ScaiGrid sent them) and the
        upstream `next_cursor`."""
        response = await self._request(
            auth, "GET", f"{SCAICORE}/events",
            query={"core_id": core_id, "limit": limit, "cursor": cursor})
        return self._page(response, auth, "events")

    async def list_checkpoints(
        self, auth: ScaiGridAuth, *, core_id: str | None, status: str | None, limit: int,
        cursor: str | None,
    ) -> tuple[list[dict[str, Any]], str | None]:
        """One page of checkpoints and the upstream `next_cursor`."""
        response = await self._request(
            auth, "GET", f"{SCAICORE}/checkpoints",
            query={"core_id": core_id, "status": status, "limit": limit, "cursor": cursor})
        return self._page(response, auth, "checkpoints")

    async def resolve_checkpoint(self, auth: ScaiGridAuth, checkpoint_id: str,
                                 body: dict[str, Any]) -> Any:
        """Resolve a checkpoint; ScaiGrid's answer as it came (parsed JSON, None if empty)."""
        response = await self._request(
            auth, "POST", f"{SCAICORE}/checkpoints/{_segment(checkpoint_id)}/resolve",
            json_body=body)
        return self._verbatim(response, auth)

    async def invoke_core(self, auth: ScaiGridAuth, core_id: str,
                          input: dict[str, Any]) -> Any:
        """Invoke a core with `{"input": input}`; ScaiGrid's answer as it came."""
        response = await self._request(
            auth, "POST", f"{SCAICORE}/cores/{_segment(core_id)}/invoke",
            json_body={"input": input})
        return self._verbatim(response, auth)

    # -- ScaiQueue ------------------------------------------------------------------------
    async def list_scopes(self, auth: ScaiGridAuth) -> list[dict[str, Any]]:
        response = await self._request(auth, "GET", f"{SCAIQUEUE}/scopes")
        return self._list(response, auth, "scopes")

    async def list_queues(self, auth: ScaiGridAuth, scope_id: str) -> list[dict[str, Any]]:
        response = await self._request(
            auth, "GET", f"{SCAIQUEUE}/scopes/{_segment(scope_id)}/queues")
        return self._list(response, auth, "queues")

    async def ensure_scope(self, auth: ScaiGridAuth, slug: str,
                           display_name: str) -> dict[str, Any]:
        """The scope with `slug`, created when missing. A 409 on create (someone created it
        between our list and our create) is success: list again and take it."""
        found = _find_slug(await self.list_scopes(auth), slug)
        if found is not None:
            return found
        try:
            response = await self._request(
                auth, "POST", f"{SCAIQUEUE}/scopes",
                json_body={"slug": slug, "display_name": display_name})
            return self._object(response, auth, "scope")
        except ScaiGridError as exc:
            if exc.status != 409:
                raise
            conflict = exc
        found = _find_slug(await self.list_scopes(auth), slug)
        if found is None:
            raise ScaiGridError("error", "ScaiGrid answered 409 to creating a scope it does "
                                "not list", status=409, code=conflict.code,
                                upstream_message=conflict.upstream_message)
        return found

    async def ensure_queue(
        self, auth: ScaiGridAuth, scope_id: str, *, slug: str, display_name: str,
        ordering: str, max_retries: int,
    ) -> dict[str, Any]:
        """The queue `slug` of scope `scope_id`, created when missing (409 tolerated as in
        `ensure_scope`). An existing queue is returned as it is, not updated."""
        found = _find_slug(await self.list_queues(auth, scope_id), slug)
        if found is not None:
            return found
        try:
            response = await self._request(
                auth, "POST", f"{SCAIQUEUE}/scopes/{_segment(scope_id)}/queues",
                json_body={"slug": slug, "display_name": display_name, "ordering": ordering,
                           "max_retries": max_retries})
            return self._object(response, auth, "queue")
        except ScaiGridError as exc:
            if exc.status != 409:
                raise
            conflict = exc
        found = _find_slug(await self.list_queues(auth, scope_id), slug)
        if found is None:
            raise ScaiGridError("error", "ScaiGrid answered 409 to creating a queue it does "
                                "not list", status=409, code=conflict.code,
                                upstream_message=conflict.upstream_message)
        return found

    # -- ScaiBunker and models ------------------------------------------------------------
    async def list_bunkers(self, auth: ScaiGridAuth,
                           status: str | None = "active") -> list[dict[str, Any]]:
        """Bunkers with `status` (all when None). Entries with another status are dropped
        even if ScaiGrid ignored the filter."""
        response = await self._request(auth, "GET", f"{SCAIBUNKER}/bunkers",
                                       query={"status": status})
        bunkers = self._list(response, auth, "bunkers")
        if status is None:
            return bunkers
        return [b for b in bunkers if b.get("status", status) == status]

    async def list_models(self, auth: ScaiGridAuth) -> list[dict[str, Any]]:
        """`GET /v1/models` normalized (see `normalize_model`) from the native envelope
        (`{"status":"ok","data":{"items":[…]}}`), `{"data":[…]}` and the OpenAI list
        (`{"object":"list","data":[{"id":…}]}`). Entries without a slug/id are dropped."""
        response = await self._request(auth, "GET", "/v1/models")
        models = (normalize_model(item) for item in self._list(response, auth, "models"))
        return [m for m in models if m is not None]

    # -- plumbing -------------------------------------------------------------------------
    async def _request(
        self,
        auth: ScaiGridAuth,
        method: str,
        path: str,
        *,
        query: Mapping[str, str | int | None] | None = None,
        json_body: Any = None,
        data: bytes | None = None,
        content_type: str | None = None,
    ) -> UpstreamResponse:
        if not auth.bearer or _CONTROL.search(auth.bearer) or " " in auth.bearer.strip():
            raise ScaiGridError("auth", "the ScaiGrid credential is not usable")
        try:
            base = URL(auth.base_url.rstrip("/"))
            # credentials in the URL would clash with (or replace) the bearer
            if base.user is not None or base.password is not None or base.raw_query_string \
                    or base.raw_fragment:
                raise ValueError("base URL with userinfo, query or fragment")
            url = base.with_path(base.raw_path.rstrip("/") + path, encoded=True)
        except (TypeError, ValueError):
            raise ScaiGridError("unreachable", "the ScaiGrid base URL is not valid") from None
        if self._allowed is not None and not self._permitted(base):
            raise ScaiGridError("unreachable", "ScaiGrid destination refused: the host is not "
                                "in SCAIFLOW_UPSTREAM_ALLOW")
        params = {k: v for k, v in (query or {}).items() if v is not None}
        if params:
            url = url.with_query(params)
        headers = {"Authorization": f"Bearer {auth.bearer}"}
        if content_type is not None:
            headers["Content-Type"] = content_type
        # `from None`: the causes are aiohttp exceptions, which can carry the request (and
        # its Authorization header) and the URL; the reason alone is what callers need.
        try:
            return await request_json(self._session(), method, url, json_body=json_body,
                                      data=data, headers=headers, max_bytes=self._max_bytes)
        except DestinationNotAllowed as exc:
            raise ScaiGridError("unreachable", f"ScaiGrid destination refused: {exc.reason}") \
                from None
        except UpstreamUnreachable as exc:
            raise ScaiGridError("unreachable", f"ScaiGrid unreachable: {exc.reason}") from None
        except UpstreamBadAnswer as exc:
            raise ScaiGridError("error", f"ScaiGrid answer unusable: {exc.reason}",
                                status=exc.status) from None
        except UpstreamError as exc:
            raise ScaiGridError("error", f"ScaiGrid call failed: {exc.reason}") from None

    def _permitted(self, base: URL) -> bool:
        try:
            host, port = url_destination(base)
        except ValueError:
            return True  # no host or port: the request is refused with its own reason
        return self._allowed is None or self._allowed.permits(host, port)

    def _failure(self, response: UpstreamResponse, auth: ScaiGridAuth) -> ScaiGridError:
        status = response.status
        code, upstream_message, envelope_retry_after = _error_fields(response.body,
                                                                      auth.bearer)
        kind: ScaiGridErrorKind = "error"
        retry_after: str | None = None
        if status in (401, 403):
            kind = "auth"
        elif status == 429:
            kind = "rate_limited"
            header = response.headers.get("Retry-After")
            retry_after = header if header and _RETRY_AFTER.fullmatch(header) \
                else envelope_retry_after
        message = f"ScaiGrid answered HTTP {status}"
        if 300 <= status < 400:
            message += " (a redirect, not followed)"
        if code:
            message += f" {code}"
        if upstream_message:
            message += f": {upstream_message}"
        return ScaiGridError(kind, message, status=status, code=code, retry_after=retry_after,
                             upstream_message=upstream_message)

    @staticmethod
    def _shape_error(response: UpstreamResponse, what: str) -> ScaiGridError:
        return ScaiGridError("error", f"ScaiGrid answer not understood: {what}",
                             status=response.status)

    def _verbatim(self, response: UpstreamResponse, auth: ScaiGridAuth) -> Any:
        """A 2xx answer as it came; a non-2xx or an error envelope raises."""
        body = response.body
        if not response.ok or (isinstance(body, dict) and body.get("status") == "error"):
            raise self._failure(response, auth)
        return body

    def _data(self, response: UpstreamResponse, auth: ScaiGridAuth) -> Any:
        """`data` of a success envelope; anything else raises."""
        body = self._verbatim(response, auth)
        if not isinstance(body, dict) or "data" not in body:
            raise self._shape_error(response, "no data in the answer")
        return body["data"]

    def _object(self, response: UpstreamResponse, auth: ScaiGridAuth,
                what: str) -> dict[str, Any]:
        data = self._data(response, auth)
        if not isinstance(data, dict):
            raise self._shape_error(response, f"the {what} is not an object")
        return data

    def _list(self, response: UpstreamResponse, auth: ScaiGridAuth,
              what: str) -> list[dict[str, Any]]:
        items = _items(self._data(response, auth))
        if items is None:
            raise self._shape_error(response, f"the {what} are not a list")
        return items

    def _page(self, response: UpstreamResponse, auth: ScaiGridAuth,
              key: str) -> tuple[list[dict[str, Any]], str | None]:
        data = self._data(response, auth)
        entries = data.get(key) if isinstance(data, dict) else None
        if not isinstance(entries, list):
            raise self._shape_error(response, f"no {key} list in the answer")
        next_cursor = data.get("next_cursor")
        if next_cursor is not None and not isinstance(next_cursor, str):
            raise self._shape_error(response, "next_cursor is not a string")
        return [e for e in entries if isinstance(e, dict)], next_cursor
