"""A small blocking JSON client for the appliance's API, for tests that drive several real
processes from threads (urllib: one connection per request, as HAProxy's `http-server-close`
has it anyway)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from tests.conftest import hello_content

FLOWS = "/api/v1/flows"


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]  # lower-case names
    body: Any  # parsed JSON, or None

    def __str__(self) -> str:
        return f"{self.status} {self.body!r}"


def call(method: str, url: str, token: str | None = None, body: Any = None,
         headers: dict[str, str] | None = None, timeout_s: float = 10.0) -> Answer:
    """One request; an error status is an answer too (a refused connection raises OSError)."""
    sent = dict(headers or {})
    if token is not None:
        sent["Authorization"] = f"Bearer {token}"
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        sent["Content-Type"] = "application/json"
    request = urllib.request.Request(url, data=data, method=method, headers=sent)
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return _answer(response.status, response.headers.items(), response.read())
    except urllib.error.HTTPError as exc:
        return _answer(exc.code, exc.headers.items(), exc.read())


def _answer(status: int, headers: Any, raw: bytes) -> Answer:
    try:
        body = json.loads(raw) if raw else None
    except ValueError:
        body = raw.decode(errors="replace")
    return Answer(status, {k.lower(): v for k, v in headers}, body)


def content(**metadata: Any) -> dict[str, Any]:
    """A small structurally valid FlowGraph; `metadata` tells saves apart."""
    return {**hello_content(), "metadata": metadata}


def new_flow(base_url: str, token: str, name: str = "shared") -> Answer:
    created = call("POST", base_url + FLOWS, token, {"name": name, "content": content()})
    assert created.status == 201, created
    return created
