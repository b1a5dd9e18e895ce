"""Requests that never reach the application: answered as JSON, never echoed, never logged
with their bytes.

aiohttp's HTTP parser refuses a request line or header over its limits, too many headers, and
bodies whose Content-Encoding it cannot decode, before any middleware runs; its default answer
is a plain-text 400 that quotes the offending bytes (a bearer token, say) and an ERROR log
line with a traceback. `ApplianceRunner` serves with a request handler that answers those as
414 (request line over 8 KB), 431 (a header over 8 KB, or too many), 415 (an encoding this
server does not decode: br, zstd) or 400 (anything else malformed), in the documented JSON
shape, and logs one line without the request's bytes.
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web, web_protocol, web_server
from aiohttp.http_exceptions import BadHttpMessage, ContentEncodingError, LineTooLong

from scaiflow_box.http.errors import HttpError, error_response

log = logging.getLogger("scaiflow_box.http")

MAX_REQUEST_LINE = 8192  # 8 KB, SPEC §1 (the parser's own default is 8190)
MAX_HEADER_FIELD = 8190
MAX_HEADERS = 128


def refusal_for(exc: BaseException | None, status: int) -> HttpError:
    """The JSON error for a request the parser refused. The two line limits differ by design,
    so the limit a LineTooLong names tells whether the request line or a header overflowed."""
    if isinstance(exc, LineTooLong):
        limit = exc.args[1] if len(exc.args) > 1 else None
        if limit == MAX_REQUEST_LINE:
            return HttpError(414, "uri_too_long", "the request line is longer than 8 KB",
                             close=True)
        return HttpError(431, "request_header_fields_too_large",
                         "a request header is longer than 8 KB", close=True)
    if isinstance(exc, BadHttpMessage) and "Too many headers" in str(exc.message):
        return HttpError(431, "request_header_fields_too_large",
                         f"more than {MAX_HEADERS} request headers", close=True)
    if isinstance(exc, ContentEncodingError):
        return HttpError(415, "unsupported_content_encoding",
                         "Content-Encoding must be gzip or deflate, or absent", close=True)
    if status >= 500:
        return HttpError(status, "internal_error", "internal error", close=True)
    return HttpError(400, "bad_request", "the request is not valid HTTP", close=True)


class _RequestHandler(web_protocol.RequestHandler):
    def stop_reading_body(self) -> None:
        """The answer is final and the connection closes after it: do not linger reading the
        rest of a body that is not coming (408) or cannot be decoded (400)."""
        self._lingering_time = 0.0

    def log_exception(self, *args: Any, **kw: Any) -> None:
        exc = kw.get("exc_info")
        if isinstance(exc, (web.RequestPayloadError, ConnectionError)):
            # The rest of a refused body, read while lingering: the client's problem, and
            # already answered.
            log.debug("discarded the rest of a request body (%s)", type(exc).__name__)
            return
        super().log_exception(*args, **kw)

    def handle_error(self, request: Any, status: int = 500, exc: BaseException | None = None,
                     message: str | None = None) -> web.StreamResponse:
        refusal = refusal_for(exc, status)
        if refusal.status >= 500:
            log.error("error handling a request (%s)", type(exc).__name__ if exc else status)
        else:
            log.info("refused a malformed request: %s (%s)", refusal.code,
                     type(exc).__name__ if exc else status)
        if request.writer.output_size > 0:
            raise ConnectionError("response already started")
        response = error_response(refusal)
        response.headers["Vary"] = "Origin"
        response.force_close()
        return response


class _Server(web_server.Server):
    def __call__(self) -> web_protocol.RequestHandler:
        return _RequestHandler(self, loop=self._loop, **self._kwargs)


class ApplianceRunner(web.AppRunner):
    """`web.AppRunner` whose connections answer malformed requests as JSON (see above)."""

    def __init__(self, app: web.Application, **kwargs: Any) -> None:
        kwargs.setdefault("max_line_size", MAX_REQUEST_LINE)
        kwargs.setdefault("max_field_size", MAX_HEADER_FIELD)
        kwargs.setdefault("max_headers", MAX_HEADERS)
        super().__init__(app, **kwargs)

    async def _make_server(self) -> web_server.Server:
        server = await super()._make_server()
        # Same server, same settings; only the protocol class it instantiates differs.
        server.__class__ = _Server
        return server
