"""Every Prometheus metric of the service, in one place (docs/operations.md, Metrics).

Each process records what it does: web its API requests, tick its claims, worker
processes their executions. The processes of one `scheduler worker` share a
directory (prometheus-client's multiprocess mode) so that their parent serves
them together. Gauges of the jobs table are read at scrape time by web
(`TableCollector`), not kept by anyone.
"""

import logging
from collections.abc import Callable, Iterator

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)

# Seconds: from a few milliseconds (an on-time fire) to an hour (a long outage).
_SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)

EXECUTIONS = Counter(
    "scheduler_executions_total", "Executions finished, by job type and outcome", ["type", "status"]
)
ATTEMPTS = Counter(
    "scheduler_attempts_total",
    "Attempts made at targets, by job type and result",
    ["type", "result"],
)
ATTEMPT_FAILURES = Counter(
    "scheduler_attempt_failures_total",
    "Failed attempts, by job type and kind of failure (docs/api.md, Failures)",
    ["type", "error_kind"],
)
CALLBACKS = Counter(
    "scheduler_callbacks_total",
    "Callback attempts, by event and result (delivered or failed)",
    ["event", "result"],
)
EXECUTION_DURATION = Histogram(
    "scheduler_execution_duration_seconds",
    "From the start of an execution's first attempt to its end, retries included",
    ["type"],
    buckets=_SECONDS,
)
FIRE_LAG = Histogram(
    "scheduler_fire_lag_seconds",
    "Start of an execution's first attempt minus its slot",
    ["type"],
    buckets=_SECONDS,
)
CLAIMED = Histogram(
    "scheduler_claimed_jobs",
    "Jobs claimed by one claim of a tick",
    buckets=(0, 1, 5, 10, 50, 100, 500, 1000, 5000),
)
CLAIM_DURATION = Histogram(
    "scheduler_claim_duration_seconds", "Time of one claim statement", buckets=_SECONDS
)
API_REQUESTS = Counter(
    "scheduler_api_requests_total",
    "API requests by route, method and status",
    ["route", "method", "status"],
)
API_DURATION = Histogram(
    "scheduler_api_request_duration_seconds",
    "API request latency by route and method",
    ["route", "method"],
    buckets=_SECONDS,
)


class TableCollector(Collector):
    """The jobs table's backlog, read when scraped: due but unclaimed, and claimed
    but past their lock time (a holder gone; claimed again soon); the dead
    letters not redriven; and, by flow key, the jobs its limits hold back."""

    def __init__(
        self,
        read: Callable[[], tuple[int, int, int]],
        flows: Callable[[], dict[str, int]] = dict,
    ):
        self.read = read  # () -> (due_unclaimed, locked_past_lock_time, dead_letters)
        self.flows = flows  # () -> {flow key: jobs waiting}

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            due, expired, dead = self.read()
            waiting = self.flows()
        except Exception as error:  # the scrape still answers, without these
            log.warning("cannot read the backlog for /metrics: %s", str(error).strip())
            return
        yield GaugeMetricFamily(
            "scheduler_due_jobs", "Jobs due now and not claimed (the backlog)", value=due
        )
        yield GaugeMetricFamily(
            "scheduler_expired_claims",
            "Claims past their lock time, not yet claimed again",
            value=expired,
        )
        yield GaugeMetricFamily(
            "scheduler_dead_letters", "Dead letters not redriven (GET /v1/dead-letters)", value=dead
        )
        by_key = GaugeMetricFamily(
            "scheduler_flow_waiting",
            "Jobs due and held back by their flow key's limits (GET /v1/flow-controls)",
            labels=["key"],
        )
        for key, count in sorted(waiting.items()):
            by_key.add_metric([key], count)
        yield by_key


def all_processes() -> CollectorRegistry:
    """A registry of what every process recording into PROMETHEUS_MULTIPROC_DIR
    recorded. The variable has to be set before this module is first imported,
    so that the metrics above are made in multiprocess mode."""
    from prometheus_client import multiprocess

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    return registry


def serve(where: tuple[str, int] | None, registry=None) -> None:
    """Serve /metrics at `where` (host, port) from a background thread; None: don't."""
    if where is None:
        return
    host, port = where
    try:
        start_http_server(port, addr=host, registry=registry or REGISTRY)
    except OSError as error:  # scheduling matters more than its metrics: go on without
        log.error("metrics not served on %s:%d: %s", host, port, error)
        return
    log.info("metrics on http://%s:%d/metrics", host, port)
