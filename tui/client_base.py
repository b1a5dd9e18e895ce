"""`ClientBase`: one request to the appliance, its errors and its parsing; the calls
themselves are grouped by area in `tui.client`, `tui.flows_client` and `tui.catalog_client`."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, TypeVar
from urllib.parse import quote

import orjson

from tui.transport import (
    AiohttpTransport,
    Answer,
    ApiUnavailable,
    Request,
    TokenSource,
    Transport,
    TransportUnavailable,
    error_from,
)

T = TypeVar("T")


@dataclass(frozen=True)
class Reply:
    status: int
    body: Any  # parsed JSON, or None for an empty body
    headers: Mapping[str, str]


def segment(value: str) -> str:
    """A path segment, escaped (ids come from the appliance, but never trust a `/`)."""
    return quote(value, safe="")


def params_of(**values: str | int | bool | None) -> dict[str, str]:
    """Query parameters: the values that are set (booleans as `true`/`false`)."""
    params: dict[str, str] = {}
    for name, value in values.items():
        if value is None or value == "":
            continue
        params[name] = ("true" if value else "false") if isinstance(value, bool) else str(value)
    return params


class ClientBase:
    def __init__(self, base_url: str, tokens: TokenSource, *,
                 transport: Transport | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.tokens = tokens
        self.transport: Transport = transport or AiohttpTransport()

    async def close(self) -> None:
        await self.transport.close()

    async def _exchange(self, request: Request, *, auth: bool) -> Answer:
        if auth:
            bearer = await self.tokens.bearer()
            request = replace(request, headers={**request.headers,
                                                "Authorization": f"Bearer {bearer}"})
        try:
            return await self.transport.send(self.base_url, request)
        except TransportUnavailable as exc:
            raise ApiUnavailable(self.base_url, str(exc)) from None

    async def _request(self, method: str, path: str, *, json: Any = None,
                       params: Mapping[str, str] | None = None, auth: bool = True,
                       accept: Sequence[int] = (), timeout_seconds: float | None = None
                       ) -> Reply:
        """A JSON exchange. Statuses < 400 and those in `accept` are answers; the rest raise
        ApiError."""
        answer = await self._exchange(Request(method, path, params=params, json=json,
                                              timeout_seconds=timeout_seconds), auth=auth)
        return self._json_reply(answer, accept)

    def _json_reply(self, answer: Answer, accept: Sequence[int] = ()) -> Reply:
        body: Any = None
        if answer.body:
            if answer.content_type != "application/json":
                raise ApiUnavailable(self.base_url, f"HTTP {answer.status} with a non-JSON "
                                     "body: is this a scaiflow-box appliance?")
            try:
                body = orjson.loads(answer.body)
            except ValueError:
                raise ApiUnavailable(self.base_url, "the answer was not valid JSON") from None
        if answer.status >= 400 and answer.status not in accept:
            raise error_from(answer.status, body)
        return Reply(answer.status, body, answer.headers)

    async def _get(self, path: str, parse: Callable[[Any], T], **kw: Any) -> T:
        reply = await self._request("GET", path, **kw)
        return self._parsed(parse, reply.body)

    def _parsed(self, parse: Callable[[Any], T], body: Any) -> T:
        try:
            return parse(body)
        except (ValueError, TypeError, AttributeError, KeyError) as exc:
            raise ApiUnavailable(self.base_url, f"unexpected answer: {exc}") from None
