"""What `/metrics` counts (SPEC §16), and the Prometheus text format it is written in.

Written by hand rather than with `prometheus-client` (docs/decisions.md): the appliance
exposes a handful of families from one process, and the text format (version 0.0.4) is a
few lines of escaping. Everything here runs on the event loop thread, so plain counters
need no locks.

- `RequestMetrics`: one latency histogram per (method, route template, status), fed by the
  request edge (`http/edge.py`) only when `SCAIFLOW_METRICS` is on, so a box
  that does not export metrics does not pay for them.
- `TrafficWindow`: every request's status and latency, kept cheaply for the last minute and
  since start, for the operator's dashboard (`GET /api/v1/admin/system`): requests per
  second, errors, latency percentiles.
- `upstream_trace_config`: counts failed upstream calls (timeouts, connection failures,
  5xx answers) per destination host, from aiohttp's client tracing.
"""

from __future__ import annotations

import math
import time
from bisect import bisect_left
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from types import SimpleNamespace

import aiohttp

CONTENT_TYPE = "text/plain; version=0.0.4"
# Seconds; the appliance's budgets are a few ms (GET) to ~100 ms (compile a big flow).
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# Any other method (a scanner's `FOO`) is counted as OTHER, so labels stay bounded.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "unmatched"

SeriesKey = tuple[str, str, str]


def estimate_quantile(q: float, buckets: tuple[float, ...], counts: list[float]) -> float | None:
    """The q-quantile of observations counted per bucket (`counts[i]` in `(buckets[i-1],
    buckets[i]]`, then the +Inf count), interpolated linearly inside its bucket as
    Prometheus's `histogram_quantile` does; in the +Inf bucket, the highest finite bound.
    None without observations."""
    total = sum(counts)
    if total <= 0:
        return None
    rank = q * total
    seen = 0.0
    lower = 0.0
    for bound, count in zip(buckets, counts, strict=False):
        if count and seen + count >= rank:
            return lower + (bound - lower) * (rank - seen) / count
        seen += count
        lower = bound
    return buckets[-1]


class TrafficWindow:
    """Every request since start, and those of the last minute in six 10-second slots (the
    oldest slot is reused when time moves on): how many, how many failed (4xx, 5xx) and a
    latency histogram. Streams (WebSocket, server-sent events) are counted but kept out of the
    latency: their duration is how long a client watched.

    Fed for every request, whatever `SCAIFLOW_METRICS` says, so it is kept to a few list
    increments (about 0.5 us; the per-route histograms cost about 2.5 us more)."""

    SLOT_SECONDS = 10
    SLOTS = 6

    def __init__(self, buckets: tuple[float, ...] = LATENCY_BUCKETS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.buckets = buckets
        self._clock = clock
        self._started = clock()
        # per slot: requests, 4xx, 5xx, then latency counts per bucket and +Inf
        self._slots = [[0] * (len(buckets) + 4) for _ in range(self.SLOTS)]
        self._numbers = [-1] * self.SLOTS  # which 10-second period each slot holds
        self._number = -1
        self._current = self._slots[0]
        self.requests = self.client_errors = self.server_errors = 0  # since start

    def observe(self, status: int, seconds: float, streamed: bool) -> None:
        number = int(self._clock() // self.SLOT_SECONDS)
        if number != self._number:
            self._move_to(number)
        slot = self._current
        slot[0] += 1
        self.requests += 1
        if status >= 400:
            if status >= 500:
                slot[2] += 1
                self.server_errors += 1
            else:
                slot[1] += 1
                self.client_errors += 1
        if not streamed:
            slot[3 + bisect_left(self.buckets, seconds)] += 1

    def _move_to(self, number: int) -> None:
        index = number % self.SLOTS
        if self._numbers[index] != number:
            self._numbers[index] = number
            self._slots[index] = [0] * (len(self.buckets) + 4)
        self._number = number
        self._current = self._slots[index]

    def summary(self) -> dict[str, float | int | None]:
        """The last minute: requests, their rate, errors and latency percentiles."""
        now = self._clock()
        current = int(now // self.SLOT_SECONDS)
        live = [slot for slot, number in zip(self._slots, self._numbers, strict=True)
                if current - self.SLOTS < number <= current]
        requests = sum(slot[0] for slot in live)
        server_errors = sum(slot[2] for slot in live)
        latency = [float(sum(slot[3 + i] for slot in live))
                   for i in range(len(self.buckets) + 1)]
        # The window: five whole slots and the current one so far, or less since start.
        covered = min((self.SLOTS - 1) * self.SLOT_SECONDS + now % self.SLOT_SECONDS,
                      now - self._started)
        return {
            "window_seconds": self.SLOTS * self.SLOT_SECONDS,
            "requests": requests,
            "requests_per_second": round(requests / covered, 3) if covered > 0 else 0.0,
            "client_errors": sum(slot[1] for slot in live),
            "server_errors": server_errors,
            "error_rate": round(server_errors / requests, 4) if requests else 0.0,
            "latency_p50_seconds": estimate_quantile(0.5, self.buckets, latency),
            "latency_p99_seconds": estimate_quantile(0.99, self.buckets, latency),
        }

    def totals(self) -> dict[str, int]:
        """Since start: requests, and those answered 4xx and 5xx."""
        return {"requests": self.requests, "client_errors": self.client_errors,
                "server_errors": self.server_errors}


class RequestMetrics:
    """Latency histograms of answered requests, by method, route template and status (what
    `/metrics` exposes; fed only when `SCAIFLOW_METRICS` is on)."""

    def __init__(self, buckets: tuple[float, ...] = LATENCY_BUCKETS) -> None:
        self.buckets = buckets
        # per series: one count per bucket, then the +Inf count, then the sum of seconds
        self._series: dict[SeriesKey, list[float]] = {}

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method if method in METHODS else "OTHER", route, str(status))
        series = self._series.get(key)
        if series is None:
            series = self._series[key] = [0.0] * (len(self.buckets) + 2)
        series[bisect_left(self.buckets, seconds)] += 1
        series[-1] += seconds

    def write(self, out: Exposition) -> None:
        name = "scaiflow_http_request_duration_seconds"
        out.family(name, "histogram",
                   "Time from a request's arrival to its answer, by route template and status")
        totals: list[tuple[dict[str, str], float]] = []
        for (method, route, status), series in sorted(self._series.items()):
            labels = {"method": method, "route": route, "status": status}
            running = 0.0
            for bound, count in zip(self.buckets, series, strict=False):
                running += count
                out.sample(f"{name}_bucket", {**labels, "le": _number(bound)}, running)
            running += series[len(self.buckets)]
            out.sample(f"{name}_bucket", {**labels, "le": "+Inf"}, running)
            out.sample(f"{name}_sum", labels, series[-1])
            out.sample(f"{name}_count", labels, running)
            totals.append((labels, running))
        out.family("scaiflow_http_requests_total", "counter",
                   "Requests answered, by route template and status")
        for labels, count in totals:
            out.sample("scaiflow_http_requests_total", labels, count)


# -- upstream calls ------------------------------------------------------------------------
UpstreamKey = tuple[str, str]  # (host, reason)


def _failure_reason(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timeout"
    if isinstance(exc, aiohttp.ClientError | OSError):
        return "connection"
    return "other"


def upstream_trace_config(failures: Counter[UpstreamKey]) -> aiohttp.TraceConfig:
    """Client tracing that counts, per destination host, calls that failed in transport
    (`timeout`, `connection`, `other`) or were answered with a 5xx (`status_5xx`)."""

    async def on_end(session: aiohttp.ClientSession, context: SimpleNamespace,
                     params: aiohttp.TraceRequestEndParams) -> None:
        if params.response.status >= 500:
            failures[(params.url.host or "-", "status_5xx")] += 1

    async def on_exception(session: aiohttp.ClientSession, context: SimpleNamespace,
                           params: aiohttp.TraceRequestExceptionParams) -> None:
        failures[(params.url.host or "-", _failure_reason(params.exception))] += 1

    trace = aiohttp.TraceConfig()
    trace.on_request_end.append(on_end)
    trace.on_request_exception.append(on_exception)
    trace.freeze()
    return trace


def write_upstream_failures(out: Exposition, failures: Mapping[UpstreamKey, int]) -> None:
    name = "scaiflow_upstream_errors_total"
    out.family(name, "counter", "Upstream calls (ScaiKey, ScaiGrid) that failed, by host and "
               "reason: timeout, connection, status_5xx, other")
    for (host, reason), count in sorted(failures.items()):
        out.sample(name, {"host": host, "reason": reason}, count)


# -- the text format -------------------------------------------------------------------------
def _escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if math.isnan(value):
        return "NaN"
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


class Exposition:
    """Builds a Prometheus text-format (0.0.4) document."""

    def __init__(self) -> None:
        self._lines: list[str] = []

    def family(self, name: str, kind: str, help_text: str) -> None:
        help_line = help_text.replace("\\", "\\\\").replace("\n", "\\n")
        self._lines.append(f"# HELP {name} {help_line}")
        self._lines.append(f"# TYPE {name} {kind}")

    def sample(self, name: str, labels: Mapping[str, str], value: float) -> None:
        if labels:
            text = ",".join(f'{key}="{_escape_label(str(val))}"' for key, val in labels.items())
            self._lines.append(f"{name}{{{text}}} {_number(value)}")
        else:
            self._lines.append(f"{name} {_number(value)}")

    def gauge(self, name: str, help_text: str,
              samples: Iterable[tuple[Mapping[str, str], float]]) -> None:
        self.family(name, "gauge", help_text)
        for labels, value in samples:
            self.sample(name, labels, value)

    def render(self) -> bytes:
        return ("\n".join(self._lines) + "\n").encode()


class ApplianceMetrics:
    """The counters one serving process keeps (AppKey METRICS)."""

    def __init__(self) -> None:
        self.requests = RequestMetrics()
        self.traffic = TrafficWindow()
        self.upstream_failures: Counter[UpstreamKey] = Counter()
        self.started_at = time.time()
