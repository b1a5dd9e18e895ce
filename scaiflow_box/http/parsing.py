"""Request parsing shared by every handler: JSON bodies into pydantic models with the body
limits of SPEC §1, query parameters, cursors and `If-Match`."""

from __future__ import annotations

import base64
import binascii
from typing import Any, TypeVar

import orjson
from aiohttp import web
from pydantic import BaseModel, ConfigDict
from pydantic import ValidationError as PydanticValidationError

from scaiflow_box.http.errors import ApiError, ValidationFailed

DEFAULT_BODY_LIMIT = 1024 * 1024
FLOW_BODY_LIMIT = 8 * 1024 * 1024
MAX_JSON_DEPTH = 64
MAX_PAGE = 500

M = TypeVar("M", bound=BaseModel)


class RequestModel(BaseModel):
    """Base of every request body: unknown fields are a 422, never silently applied."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


def too_large(limit: int) -> ApiError:
    return ApiError(413, "payload_too_large",
                    f"request body exceeds the {limit // 1024} KiB limit of this endpoint")


def json_depth_exceeds(value: Any, limit: int = MAX_JSON_DEPTH) -> bool:
    """True when containers nest deeper than `limit` (iterative: no recursion on hostile input)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            if depth > limit:
                return True
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            if depth > limit:
                return True
            stack.extend((v, depth + 1) for v in item)
    return False


async def read_json(request: web.Request, *, limit: int = DEFAULT_BODY_LIMIT) -> Any:
    content_type = request.headers.get("Content-Type", "")
    if content_type.split(";")[0].strip().lower() != "application/json":
        raise ApiError(415, "unsupported_media_type",
                       "request body must be JSON (Content-Type: application/json)")
    if request.content_length is not None and request.content_length > limit:
        raise too_large(limit)
    raw = bytearray()
    async for chunk in request.content.iter_chunked(65536):
        raw.extend(chunk)
        if len(raw) > limit:
            raise too_large(limit)
    if not raw:
        raise ValidationFailed([{"loc": ["body"], "msg": "Field required", "type": "missing"}])
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ValidationFailed([{"loc": ["body", exc.pos], "msg": "JSON decode error",
                                 "type": "json_invalid"}]) from exc
    # Every nesting level needs its own bracket: with fewer brackets than the limit the walk
    # cannot find too deep a value, and most bodies are answered by this count alone.
    if raw.count(b"{") + raw.count(b"[") > MAX_JSON_DEPTH and json_depth_exceeds(value):
        raise ValidationFailed([{"loc": ["body"],
                                 "msg": f"JSON nesting deeper than {MAX_JSON_DEPTH} levels",
                                 "type": "json_too_deep"}])
    return value


def validation_items(exc: PydanticValidationError, prefix: str = "body") -> list[dict[str, Any]]:
    return [
        {"loc": [prefix, *err["loc"]], "msg": err["msg"], "type": err["type"]}
        for err in exc.errors(include_url=False, include_context=False, include_input=False)
    ]


async def parse_body(request: web.Request, model: type[M], *,
                     limit: int = DEFAULT_BODY_LIMIT) -> M:
    value = await read_json(request, limit=limit)
    try:
        return model.model_validate(value)
    except PydanticValidationError as exc:
        raise ValidationFailed(validation_items(exc)) from exc


def query_limit(request: web.Request, default: int) -> int:
    raw = request.query.get("limit")
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if not 1 <= value <= MAX_PAGE:
        raise ValidationFailed([{"loc": ["query", "limit"],
                                 "msg": f"Input should be a whole number from 1 to {MAX_PAGE}",
                                 "type": "int_range"}])
    return value


def encode_cursor(*values: Any) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(list(values))).decode().rstrip("=")


def decode_cursor(request: web.Request, arity: int) -> list[Any] | None:
    raw = request.query.get("cursor")
    if not raw:
        return None
    try:
        values = orjson.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    except (binascii.Error, ValueError, orjson.JSONDecodeError):
        values = None
    if not isinstance(values, list) or len(values) != arity:
        raise ApiError(400, "invalid_cursor", "the cursor is not one this endpoint issued",
                       fix="Pass the next_cursor of the previous page unchanged.")
    return values


def if_match(request: web.Request) -> str | None:
    """The version named by `If-Match` (quotes and W/ stripped); None when absent or `*`."""
    raw = request.headers.get("If-Match")
    if raw is None:
        return None
    value = raw.strip()
    if value == "*":
        return None
    if value.startswith("W/"):
        value = value[2:]
    return value.strip('"')
