"""Reading requests into the models a route declares (SPEC §1): JSON bodies with their size,
depth, encoding and time limits and what they may hold (`http/json_checks.py`); query
parameters; `If-Match` and `If-None-Match`.

Every refusal is a documented JSON error and never echoes the input.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import orjson
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError

from scaiflow_box.errors import InvalidFields
from scaiflow_box.http.errors import HttpError
from scaiflow_box.http.json_checks import (
    LINE_CONTROL_CHARACTERS,
    MAX_JSON_DEPTH,
    control_character_items,
    control_item,
    json_depth_exceeds,
    may_nest_too_deep,
    number_out_of_range,
)

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


JSON = "application/json"


def _check_headers(request: web.Request, limit: int, media_type: str) -> None:
    content_type = request.headers.get("Content-Type", "")
    if content_type.split(";")[0].strip().lower() != media_type:
        what = "JSON" if media_type == JSON else f"`{media_type}` bytes"
        raise HttpError(415, "unsupported_media_type",
                        f"request body must be {what} (Content-Type: {media_type})")
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


@contextmanager
def _body_errors(request: web.Request) -> Iterator[None]:
    """The answers to a body that breaks off while it is read."""
    try:
        yield
    except (web.RequestPayloadError, HttpProcessingError):
        # Compressed bytes that do not decode, or a body shorter than its Content-Length.
        _stop_reading(request)
        raise HttpError(400, "bad_request_body",
                        "the request body could not be decoded (Content-Encoding or length)",
                        fix="Send the body as declared by Content-Encoding and Content-Length.",
                        close=True) from None
    except (ConnectionError, asyncio.IncompleteReadError) as exc:
        raise ClientGone() from exc


async def _read_all(request: web.Request, limit: int) -> bytearray:
    raw = bytearray()
    with _body_errors(request):
        async for chunk in request.content.iter_chunked(65536):
            raw.extend(chunk)
            if len(raw) > limit:  # counted after decompression: a small gzip cannot blow up
                raise too_large(limit)
    return raw


def _read_arrived(request: web.Request, limit: int) -> bytes:
    """The body already received whole, with _read_all's checks and errors."""
    with _body_errors(request):
        raw = request.content.read_nowait()
    if len(raw) > limit:
        raise too_large(limit)
    return raw


async def read_bytes(request: web.Request, *, limit: int,
                     body_timeout: float = DEFAULT_BODY_TIMEOUT,
                     media_type: str = JSON) -> bytes:
    """The body as sent (decompressed), with the JSON routes' checks: Content-Type (415
    unless `media_type`), Content-Encoding, the size limit (after decompression) and the
    arrival time limit."""
    _check_headers(request, limit, media_type)
    content = request.content
    if content.is_eof():  # the whole body came with the head (most bodies): no wait, no timer
        return _read_arrived(request, limit)
    try:
        async with asyncio.timeout(body_timeout):
            raw = await _read_all(request, limit)
    except TimeoutError:
        _stop_reading(request)
        raise HttpError(408, "request_timeout",
                        f"the request body did not arrive within {body_timeout:g} s",
                        close=True) from None
    return bytes(raw)


async def read_binary(request: web.Request, *, limit: int, media_type: str,
                      body_timeout: float = DEFAULT_BODY_TIMEOUT) -> bytes:
    """A body of raw `media_type` bytes (`http.route.BinaryBody`), read as a JSON body is;
    an empty one is the 422 an empty JSON body gets."""
    raw = await read_bytes(request, limit=limit, body_timeout=body_timeout,
                           media_type=media_type)
    if not raw:
        raise InvalidFields([{"loc": ["body"], "msg": "Field required", "type": "missing"}])
    return raw


def _too_deep() -> InvalidFields:
    return InvalidFields([{"loc": ["body"],
                           "msg": f"JSON nesting deeper than {MAX_JSON_DEPTH} levels",
                           "type": "json_too_deep"}])


def decode_json(raw: bytes | bytearray) -> Any:
    """JSON from body bytes: 422 when empty, unparseable, nested deeper than 64, holding a
    number outside the 64-bit integer range or a string with a control character (other than
    tab, line feed, carriage return)."""
    if not raw:
        raise InvalidFields([{"loc": ["body"], "msg": "Field required", "type": "missing"}])
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        # orjson stops at its own nesting limit (1024) before our 64 can be checked: the
        # answer is the same as for 65 levels.
        if "depth limit" in str(exc):
            raise _too_deep() from None
        raise InvalidFields([{"loc": ["body", exc.pos], "msg": "JSON decode error",
                              "type": "json_invalid"}]) from None
    if may_nest_too_deep(raw) and json_depth_exceeds(value):
        raise _too_deep()
    position = number_out_of_range(raw)
    if position is not None:
        raise InvalidFields([{"loc": ["body", position],
                              "msg": "JSON decode error: number out of the 64-bit range "
                                     "(-2**63 to 2**64-1)",
                              "type": "json_invalid"}])
    items = control_character_items(raw, value)
    if items:
        raise InvalidFields(items)
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


def query_values(request: web.Request, consumed: frozenset[str] = frozenset()
                 ) -> dict[str, str]:
    """The query parameters as one value each, without those the request edge consumed
    (`token` of an event stream). 422 for a parameter given more than once (every query
    parameter takes one value: a second one was a mistake, never silently dropped) and for a
    value holding a control character."""
    values: dict[str, str] = {}
    items: list[dict[str, Any]] = []
    for name, value in request.query.items():
        if name in consumed:
            continue
        if name in values:
            if not any(item["loc"] == ["query", name] for item in items):
                items.append({"loc": ["query", name],
                              "msg": "Query parameter given more than once; it takes one value",
                              "type": "repeated_parameter"})
            continue
        if LINE_CONTROL_CHARACTERS.search(value):  # one line: no tab or line break either
            items.append(control_item(["query", name]))
        values[name] = value
    if items:
        raise InvalidFields(items)
    return values


def parse_query(request: web.Request, model: type[M],
                consumed: frozenset[str] = frozenset()) -> M:
    """The query as `model` (which forbids parameters it does not declare: a typo such as
    `serach=` is a 422 naming it, not an unfiltered answer)."""
    values = query_values(request, consumed)
    try:
        return model.model_validate(values)
    except PydanticValidationError as exc:
        raise InvalidFields(validation_items(exc, "query")) from None


def refuse_query(request: web.Request, consumed: frozenset[str] = frozenset()) -> None:
    """For a route without query parameters: any parameter is unknown (422)."""
    values = query_values(request, consumed)
    if values:
        raise InvalidFields([{"loc": ["query", name], "msg": "Extra inputs are not permitted",
                              "type": "extra_forbidden"} for name in values])


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


def _opaque_tags(raw: str) -> list[str]:
    """The entity-tags of an `If-None-Match` list with their quotes and without `W/` (weak
    comparison, RFC 9110 §13.1.2); a bare unquoted value is read as the tag it would quote."""
    tags: list[str] = []
    for part in raw.split(","):
        value = part.strip()
        if value[:2] in ("W/", "w/"):
            value = value[2:]
        if not value:
            continue
        if not (len(value) >= 2 and value[0] == value[-1] == '"'):
            value = f'"{value}"'
        tags.append(value)
    return tags


def none_match_fails(raw: str | None, etag: str) -> bool:
    """True when `If-None-Match` names the current `etag` (or is `*`): a GET is then answered
    304 Not Modified. Comparison is weak: `W/"1.0.3"` matches `"1.0.3"`."""
    if raw is None:
        return False
    if raw.strip() == "*":
        return True
    return etag in _opaque_tags(raw)
