"""Operating the real processes: the tick's and the worker's /metrics (the worker
serving what all its processes recorded), JSON logs, and `scheduler status`."""

import json
import re
import subprocess

import pytest
import requests

from testkit.e2e import running_stack, stack_environ
from testkit.jobs import one_off, soon
from testkit.polling import wait_for
from testkit.services import database_copy
from testkit.stack import SCHEDULER, free_port
from tests.prometheus import samples

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def operated(template_database, rabbit_vhost, target, tmp_path_factory):
    """A stack with metrics on free ports and JSON logs, after one job ran."""
    with database_copy(template_database) as name:
        environ = stack_environ(
            name,
            rabbit_vhost,
            SCHEDULER_TICK_METRICS_HOST=f"127.0.0.1:{free_port()}",
            SCHEDULER_WORKER_METRICS_HOST=f"127.0.0.1:{free_port()}",
            SCHEDULER_LOG_FORMAT="json",
        )
        with running_stack(environ, tmp_path_factory.mktemp("logs"), ticks=("tick-a",)) as stack:
            job = stack.post_job(one_off(f"{target.url}/operated", execute_at=soon(0.3)))
            assert wait_for(lambda: stack.executions(job["id"]), timeout=20)
            yield stack, job["id"]


def scrape(address: str) -> dict[tuple, float]:
    return samples(requests.get(f"http://{address}/metrics", timeout=5).text)


def test_the_worker_serves_the_executions_its_processes_recorded(operated):
    stack, _ = operated
    got = wait_for(
        lambda: scrape(stack.environ["SCHEDULER_WORKER_METRICS_HOST"]).get(
            ("scheduler_executions_total", (("status", "SUCCESSFUL"), ("type", "HTTP")))
        ),
        timeout=10,
    )
    assert got == 1
    seen = scrape(stack.environ["SCHEDULER_WORKER_METRICS_HOST"])
    assert seen[("scheduler_fire_lag_seconds_count", (("type", "HTTP"),))] == 1
    assert seen[("scheduler_attempts_total", (("result", "success"), ("type", "HTTP")))] == 1


def test_the_tick_serves_its_claims(operated):
    stack, _ = operated
    seen = scrape(stack.environ["SCHEDULER_TICK_METRICS_HOST"])
    assert seen[("scheduler_claimed_jobs_sum", ())] >= 1
    assert seen[("scheduler_claim_duration_seconds_count", ())] >= 1


def test_worker_logs_are_json_lines_with_the_job_and_delivery_ids(operated):
    stack, job_id = operated
    events = [
        json.loads(line)
        for line in (stack.logs / "worker.log").read_text().splitlines()
        if line.startswith("{")
    ]
    [done] = [e for e in events if e["message"] == "execution successful"]
    assert done["job_id"] == job_id
    assert done["attempt"] == 1 and len(done["delivery_id"]) == 36


def test_status_summarises_jobs_and_the_last_hour(operated):
    stack, _ = operated
    result = subprocess.run(
        [SCHEDULER, "status"],
        env={**stack.environ, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    assert "1 running" in result.stdout
    assert re.search(r"^executions, last hour +1$", result.stdout, re.MULTILINE)
