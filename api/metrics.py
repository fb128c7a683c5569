"""GET /metrics for Prometheus, and the API's own request metrics."""

import time

import falcon
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from app import flow_controls, metrics, report


class MetricsResource:
    """This process's metrics and the jobs table's backlog, read at scrape time."""

    def __init__(self, db):
        self.table = CollectorRegistry()
        self.table.register(
            metrics.TableCollector(lambda: report.backlog(db), lambda: flow_controls.waiting(db))
        )

    def on_get(self, req, resp):
        resp.content_type = CONTENT_TYPE_LATEST
        resp.data = generate_latest(REGISTRY) + generate_latest(self.table)


class CountRequests:
    """Every API request, by route template (not path: ids would make a series
    per job), method and status, with its latency."""

    def process_request(self, req, resp):
        req.context.started = time.perf_counter()

    def process_response(self, req, resp, resource, req_succeeded):
        route = req.uri_template or "unmatched"
        status_code = falcon.http_status_to_code(resp.status)
        metrics.API_REQUESTS.labels(route, req.method, str(status_code)).inc()
        metrics.API_DURATION.labels(route, req.method).observe(
            time.perf_counter() - req.context.started
        )
