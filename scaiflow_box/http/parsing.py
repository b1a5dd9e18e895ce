"""Reading requests into the models a route declares (SPEC §1): JSON bodies with their size,
depth, encoding and time limits; query parameters; `If-Match`.

Every refusal is a documented JSON error and never echoes the input.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import orjson
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError

from scaiflow_box.errors import InvalidFields
from scaiflow_box.http.errors import HttpError

MAX_JSON_DEPTH = 64
MAX_PAGE = 500
DEFAULT_BODY_TIMEOUT = 30.0
# Content-Encoding values the server decodes (aiohttp decompresses them while reading).
ACCEPTED_ENCODINGS = frozenset({"", "identity", "gzip", "x-gzip", "deflate"})

M = TypeVar("M", bound=BaseModel)


class ClientGone(Exception):
    """The client closed the connection while its body was being read: nobody to answer."""


def too_large(limit: int) -> HttpError:
    return HttpError(413, "payload_too_large",
                     f"request body exceeds the {limit // 1024} KiB limit of this endpoint",
                     close=True)


def json_depth_exceeds(value: Any, limit: int = MAX_JSON_DEPTH) -> bool:
    """True when containers nest deeper than `limit`. Level by level, containers only (no
    recursion on hostile input; scalars, most of a body, are never pushed anywhere)."""
    level = [value] if isinstance(value, dict | list) else []
    depth = 1
    while level:
        if depth > limit:
            return True
        below: list[Any] = []
        for item in level:
            children = item.values() if isinstance(item, dict) else item
            below += [child for child in children if isinstance(child, dict | list)]
        level = below
        depth += 1
    return False


def _check_headers(request: web.Request, limit: int) -> None:
    content_type = request.headers.get("Content-Type", "")
    if content_type.split(";")[0].strip().lower() != "application/json":
        raise HttpError(415, "unsupported_media_type",
                        "request body must be JSON (Content-Type: application/json)")
    encoding = request.headers.get("Content-Encoding", "").strip().lower()
    if encoding not in ACCEPTED_ENCODINGS:
        raise HttpError(415, "unsupported_content_encoding",
                        "Content-Encoding must be gzip or deflate, or absent",
                        fix="Send the body uncompressed, or gzip/deflate-compressed.")
    if request.content_length is not None and request.content_length > limit:
        raise too_large(limit)


def _stop_reading(request: web.Request) -> None:
    """Close right after the answer instead of lingering for the rest of the body (the
    appliance's protocol handler, http/protocol.py, offers this)."""
    stop = getattr(request.protocol, "stop_reading_body", None)
    if stop is not None:
        stop()


async def _read_all(request: web.Request, limit: int) -> bytearray:
    raw = bytearray()
    try:
        async for chunk in request.content.iter_chunked(65536):
            raw.extend(chunk)
            if len(raw) > limit:  # counted after decompression: a small gzip cannot blow up
                raise too_large(limit)
    except (web.RequestPayloadError, HttpProcessingError):
        # Compressed bytes that do not decode, or a body shorter than its Content-Length.
        _stop_reading(request)
        raise HttpError(400, "bad_request_body",
                        "the request body could not be decoded (Content-Encoding or length)",
                        fix="Send the body as declared by Content-Encoding and Content-Length.",
                        close=True) from None
    except (ConnectionError, asyncio.IncompleteReadError) as exc:
        raise ClientGone() from exc
    return raw


async def read_bytes(request: web.Request, *, limit: int,
                     body_timeout: float = DEFAULT_BODY_TIMEOUT) -> bytes:
    """The body as sent (decompressed), with the JSON routes' checks: Content-Type,
    Content-Encoding, the size limit (after decompression) and the arrival time limit."""
    _check_headers(request, limit)
    try:
        async with asyncio.timeout(body_timeout):
            raw = await _read_all(request, limit)
    except TimeoutError:
        _stop_reading(request)
        raise HttpError(408, "request_timeout",
                        f"the request body did not arrive within {body_timeout:g} s",
                        close=True) from None
    return bytes(raw)


def decode_json(raw: bytes | bytearray) -> Any:
    """JSON from body bytes: 422 when empty, unparseable or nested deeper than 64."""
    if not raw:
        raise InvalidFields([{"loc": ["body"], "msg": "Field required", "type": "missing"}])
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidFields([{"loc": ["body", exc.pos], "msg": "JSON decode error",
                              "type": "json_invalid"}]) from None
    # Every nesting level needs its own bracket: with fewer brackets than the limit the walk
    # cannot find too deep a value, and most bodies are answered by this count alone.
    if raw.count(b"{") + raw.count(b"[") > MAX_JSON_DEPTH and json_depth_exceeds(value):
        raise InvalidFields([{"loc": ["body"],
                              "msg": f"JSON nesting deeper than {MAX_JSON_DEPTH} levels",
                              "type": "json_too_deep"}])
    return value


async def read_json(request: web.Request, *, limit: int,
                    body_timeout: float = DEFAULT_BODY_TIMEOUT) -> Any:
    return decode_json(await read_bytes(request, limit=limit, body_timeout=body_timeout))


def validation_items(exc: PydanticValidationError, prefix: str) -> list[dict[str, Any]]:
    return [
        {"loc": [prefix, *err["loc"]], "msg": err["msg"], "type": err["type"]}
        for err in exc.errors(include_url=False, include_context=False, include_input=False)
    ]


def validate_body(value: Any, model: type[M]) -> M:
    try:
        return model.model_validate(value)
    except PydanticValidationError as exc:
        raise InvalidFields(validation_items(exc, "body")) from None


async def parse_body(request: web.Request, model: type[M], *, limit: int,
                     body_timeout: float = DEFAULT_BODY_TIMEOUT) -> M:
    return validate_body(await read_json(request, limit=limit, body_timeout=body_timeout),
                         model)


@dataclass(frozen=True, slots=True)
class RawBody(Generic[M]):
    """The body of a `raw_body` route (`http.route.Route`): its exact bytes, read with the
    route's limits, for a handler that must check them before parsing (a webhook's HMAC is
    over the bytes as sent, which re-serialized JSON would not reproduce). `parse()` gives
    the declared model with the same 422s a JSON route answers."""

    data: bytes
    model: type[M]

    def parse(self) -> M:
        return validate_body(decode_json(self.data), self.model)


def parse_query(request: web.Request, model: type[M]) -> M:
    known = model.model_fields
    values = {name: request.query.getone(name) for name in request.query.keys()
              if name in known}
    try:
        return model.model_validate(values)
    except PydanticValidationError as exc:
        raise InvalidFields(validation_items(exc, "query")) from None


def parse_if_match(raw: str | None) -> tuple[str, ...] | None:
    """The entity-tags `If-Match` names (quotes kept off), or None when absent or `*`.

    Comparison is whole-tag and strong: a weak tag (`W/"…"`) never matches (RFC 9110 §13.1.1).
    A bare value without quotes is read as the tag it would quote, for lenient clients."""
    if raw is None:
        return None
    tags: list[str] = []
    for part in raw.split(","):
        value = part.strip()
        if value == "*":
            return None
        if not value or value.startswith("W/"):
            continue
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        tags.append(value)
    return tuple(tags)
