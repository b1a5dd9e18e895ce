"""From route descriptions to aiohttp handlers: parse what the route declares, call the
handler, check its reply against the declared responses, serialize.

Registration also gives every path a catch-all that answers `OPTIONS` (204 with the path's
own `Allow`) and any undeclared method (405 with the same `Allow`), so a literal path such as
`/flows/compile` never falls through to `/flows/{flow_id}`, and `HEAD` is answered wherever
`GET` is.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from aiohttp import web
from aiohttp.web_urldispatcher import DynamicResource
from pydantic import BaseModel

from scaiflow_box.errors import DomainError, InvalidFields, NotFound
from scaiflow_box.http.acting_tenant import act_in_named_tenant
from scaiflow_box.http.call import Blob, Call, RawJson, Reply, Streamed
from scaiflow_box.http.edge import Edge
from scaiflow_box.http.errors import HttpError, error_response, status_of, undeclared_answer
from scaiflow_box.http.metrics import UNMATCHED
from scaiflow_box.http.parsing import (
    RawBody,
    parse_body,
    parse_query,
    read_binary,
    read_bytes,
    refuse_query,
)
from scaiflow_box.http.route import (
    PUBLIC_ALLOW_LIST,
    REQUEST_HEADER_KEYWORDS,
    Header,
    Route,
)
from scaiflow_box.http.route_table import ROUTES, AiohttpHandler, RouteTable
from scaiflow_box.http.state import SETTINGS

log = logging.getLogger("scaiflow_box.http")

class UndeclaredResponse(RuntimeError):
    """A handler answered with a status or model its route does not declare (a bug)."""


def render(route: Route, reply: Reply) -> web.StreamResponse:
    spec = route.response_by_status.get(reply.status)
    if spec is None:
        raise UndeclaredResponse(f"{route.name} answered undeclared status {reply.status}")
    body = reply.body
    headers = reply.headers or None  # web.Response copies them into its own headers
    if isinstance(body, RawJson):
        if body.model is not spec.model:
            raise UndeclaredResponse(f"{route.name} answered {body.model.__name__}, "
                                     f"declared {spec.model}")
        return web.Response(body=body.data, status=reply.status, headers=headers,
                            content_type="application/json")
    if isinstance(body, BaseModel):
        if spec.model is None or not isinstance(body, spec.model):
            raise UndeclaredResponse(f"{route.name} answered {type(body).__name__}, "
                                     f"declared {spec.model}")
        data = body.__pydantic_serializer__.to_json(body)
        return web.Response(body=data, status=reply.status, headers=headers,
                            content_type="application/json")
    if isinstance(body, Blob):
        return web.Response(body=body.data, status=reply.status, headers=headers,
                            content_type=body.content_type)
    if isinstance(body, Streamed):
        return body.response
    if spec.model is not None:
        raise UndeclaredResponse(f"{route.name} answered no body, declared {spec.model}")
    return web.Response(status=reply.status, headers=headers)


def _note_undeclared(route: Route, exc: DomainError) -> None:
    # Tests fail on these lines (tests/conftest.py): the document must list every status,
    # every error code and every field of a code's detail that a route answers.
    status = status_of(exc)
    if status not in route.statuses:
        log.warning("undeclared status %d (%s) from %s", status, exc.code, route.name)
        return
    problem = undeclared_answer(route.codes, exc)
    if problem is not None:
        log.warning("undeclared %s from %s", problem, route.name)


def checked_headers(route: Route) -> tuple[Header, ...]:
    """The request headers of `route` that need a check (required or bounded); refuses a
    declaration the dispatcher could not enforce."""
    for header in route.headers:
        unsupported = set(header.schema) - REQUEST_HEADER_KEYWORDS
        if unsupported or header.schema.get("type") != "string":
            raise ValueError(f"{route.name}: header {header.name} declares "
                             f"{sorted(unsupported) or header.schema}, which is not enforced")
    return tuple(h for h in route.headers if h.required or "maxLength" in h.schema)


def check_headers(request: web.Request, headers: tuple[Header, ...]) -> None:
    """Hold declared request headers to their declaration (422, FastAPI's shape)."""
    items: list[dict[str, Any]] = []
    for header in headers:
        loc = ["header", header.name]
        value = request.headers.get(header.name)
        if value is None:
            if header.required:
                items.append({"loc": loc, "msg": "Field required", "type": "missing"})
            continue
        limit = header.schema.get("maxLength")
        if limit is not None and len(value) > limit:
            items.append({"loc": loc, "msg": f"String should have at most {limit} characters",
                          "type": "string_too_long"})
    if items:
        raise InvalidFields(items)


def make_endpoint(route: Route) -> AiohttpHandler:
    handler = route.handler
    body_model = route.body
    query_model = route.query
    limit = route.body_limit
    headers = checked_headers(route)
    path_params = tuple(route.path_param_specs.items())
    # What the request edge reads from the query (an event stream's `token`) is no
    # unknown parameter; a query model that declares it (to document it) gets it as usual.
    consumed = route.consumed_query - set(query_model.model_fields if query_model else ())
    if route.raw_body and body_model is None:
        raise ValueError(f"{route.name}: a raw body route must declare its body model")
    acting = route.acting_tenant
    if acting and (route.auth != "token" or "forbidden" not in route.codes):
        raise ValueError(f"{route.name}: a route that takes tenant_id must need a token and "
                         "declare 403 forbidden")
    binary = route.binary_body
    if binary is not None and (body_model is not None or route.raw_body):
        raise ValueError(f"{route.name}: a binary body is the route's only body")

    async def endpoint(request: web.Request) -> web.StreamResponse:
        try:
            arguments: dict[str, str] = {}
            for name, spec in path_params:
                value = request.match_info[name]
                if not spec.accepts(value):
                    raise NotFound("Not Found")
                arguments[name] = value
            if headers:
                check_headers(request, headers)
            if acting:
                act_in_named_tenant(request)
            query = None
            if query_model is not None:
                query = parse_query(request, query_model, consumed)
            elif request.query_string:
                refuse_query(request, consumed)
            body: Any = None
            if binary is not None:
                body = await read_binary(request, limit=limit, media_type=binary.media_type,
                                         body_timeout=request.app[SETTINGS].body_timeout_seconds)
            elif body_model is not None:
                timeout = request.app[SETTINGS].body_timeout_seconds
                if route.raw_body:
                    body = RawBody(await read_bytes(request, limit=limit, body_timeout=timeout),
                                   body_model)
                else:
                    body = await parse_body(request, body_model, limit=limit,
                                            body_timeout=timeout)
            reply = await handler(Call(request, route, body, query), **arguments)
        except DomainError as exc:
            _note_undeclared(route, exc)
            raise
        return render(route, reply)

    endpoint.__name__ = route.name
    return endpoint


def _other_methods(table: RouteTable, path: str) -> AiohttpHandler:
    async def other_method(request: web.Request) -> web.StreamResponse:
        allow = table.allow_header(path)
        if request.method == "OPTIONS":
            return web.Response(status=204, headers={"Allow": allow})
        response = error_response(HttpError(405, "method_not_allowed",
                                            f"{request.method} is not allowed here"))
        response.headers["Allow"] = allow
        return response

    return other_method


class _EveryPath(DynamicResource):
    """Registered last, in the index's `/` bucket that aiohttp searches after every longer
    prefix: matches every path no route declares, `OPTIONS *` included, so those too are
    answered behind the edge (404 in the documented shape, CORS, request id)."""

    def _match(self, path: str) -> dict[str, str] | None:
        return {}


async def _not_found(request: web.Request) -> web.StreamResponse:
    raise NotFound("Not Found")


def register_routes(app: web.Application, routes: Iterable[Route],
                    edge: Edge | None = None) -> RouteTable:
    """Register every route; routes of one path are registered together, each path followed
    by its catch-all.

    aiohttp looks a path up by its literal prefix (`/api/v1/flows` for every
    `/api/v1/flows/{flow_id}/...`), then tries that prefix's resources in registration order,
    a regular expression and a coroutine each. Paths are registered shortest first (fewest
    segments; ties keep their order of appearance), so `GET /flows/{flow_id}`, the read every
    canvas polls, is the second candidate of its prefix instead of the fourth (measured:
    ~3 us a request). Order cannot change which path matches: a literal path is found by its
    own full prefix before any template, and two templates with different segment counts
    never match the same path.

    Every handler is registered behind `edge` (`http/edge.py`); None registers them bare,
    for tests of the registration rules alone."""
    table = RouteTable()
    seen_names: set[str] = set()
    by_path: dict[str, list[Route]] = {}
    for route in routes:
        if route.auth != "token" and route.path not in PUBLIC_ALLOW_LIST:
            raise ValueError(f"{route.path} is public but not on the public allow-list")
        if route.name in seen_names:
            raise ValueError(f"operationId {route.name} is used twice")
        seen_names.add(route.name)
        group = by_path.setdefault(route.path, [])
        if any(r.method == route.method for r in group):
            raise ValueError(f"{route.method} {route.path} is declared twice")
        group.append(route)
    for path, group in sorted(by_path.items(), key=lambda item: item[0].count("/")):
        for route in group:
            endpoint = make_endpoint(route)
            if edge is not None:
                endpoint = edge.wrap(route, endpoint, path)
            if route.kind == "websocket":
                app.router.add_get(path, endpoint, allow_head=False)
            elif route.method == "GET":
                app.router.add_get(path, endpoint)
            else:
                app.router.add_route(route.method, path, endpoint)
            table.routes.append(route)
        table.methods_by_path[path] = [r.method for r in group]
        other = _other_methods(table, path)
        app.router.add_route("*", path, other if edge is None else edge.wrap(None, other, path))
    if edge is not None:
        every_path = _EveryPath("/{path:.*}")
        every_path.add_route("*", edge.wrap(None, _not_found, UNMATCHED))
        app.router.register_resource(every_path)
    app[ROUTES] = table
    return table
