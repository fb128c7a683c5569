"""The chaos run of bench/chaos.py, short: one worker and one tick killed with
SIGKILL, RabbitMQ and PostgreSQL each restarted once, while 300 one-off jobs fall
due over 20 s, 30 more fail (each with a dead letter and a callback to deliver)
and 5 jobs fire every second. It runs on a PostgreSQL instance and a
RabbitMQ node of its own, so it needs their server binaries, not the test services."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from testkit.services import unavailable

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
UNAVAILABLE = 77  # chaos.py: the private servers cannot run here


def test_no_job_lost_none_run_twice_at_once_and_repeats_keep_their_delivery_id(tmp_path):
    report = tmp_path / "chaos.json"
    command = [
        *(sys.executable, str(ROOT / "bench" / "chaos.py")),
        *("--jobs", "300", "--spread", "20", "--recurring", "5", "--failing", "30"),
        *("--kills", "worker,tick", "--kill-every", "3", "--settle", "60"),
        *("--json", str(report)),
    ]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=170)
    if done.returncode == UNAVAILABLE:
        unavailable(done.stderr.strip())
    output = f"exit {done.returncode}\n{done.stdout}\n{done.stderr[-3000:]}"
    assert report.exists(), output
    figures = json.loads(report.read_text())["figures"]

    # The faults happened.
    assert figures["kills"]["worker-parent"] + figures["kills"]["worker-child"] == 1, output
    assert figures["kills"]["tick"] == 1, output
    assert figures["broker_restarts"] == 1, output
    assert figures["database_restarts"] == 1, output
    assert figures["restarts"] >= 2, output  # the supervisor brought both back
    assert figures["faults_failed"] == 0, output
    # And the guarantees held.
    assert figures["settled_after_s"] is not None, output
    assert figures["one_off_received"] == figures["one_off_jobs"] == 300, output
    assert figures["lost"] == 0, output
    assert figures["overlapping"] == 0, output
    assert figures["duplicates_different_id"] == 0, output
    assert figures["delivery_ids_shared"] == 0, output
    assert figures["missing_records"] == 0, output
    assert figures["executions_not_successful"] == 0, output
    # Every failure left its dead letter, and its callback came and is recorded.
    assert figures["failed_executions"] >= figures["failing_jobs"] == 30, output
    assert figures["failing_jobs_never_failed"] == 0, output
    assert figures["dead_letters_lost"] == 0, output
    assert figures["callbacks_lost"] == 0, output
    assert figures["callbacks_not_delivered"] == 0, output
    assert done.returncode == 0, output
