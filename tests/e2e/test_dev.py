"""`scheduler dev` with nothing configured: embedded PostgreSQL, in-process broker."""

import base64
import signal
import subprocess
import time
import uuid
from datetime import UTC, datetime, timedelta

import pika
import psutil
import pytest
import requests

from testkit.polling import wait_for
from testkit.stack import SCHEDULER, free_port, process_environ

pytestmark = pytest.mark.e2e


class Dev:
    def __init__(self, data_dir, port: int):
        self.data_dir = data_dir
        self.api = f"http://127.0.0.1:{port}"
        env = process_environ(
            {"SCHEDULER_DEV_DATA_DIR": str(data_dir), "SCHEDULER_WEB_API_HOST": f"127.0.0.1:{port}"}
        )
        self.log_path = data_dir / f"dev-{port}.log"
        self.output = open(self.log_path, "w")  # noqa: SIM115 (closed in stop)
        self.process = subprocess.Popen(
            [SCHEDULER, "dev"], env=env, stdout=self.output, stderr=subprocess.STDOUT
        )

    def wait_ready(self, timeout: float = 60) -> None:
        def healthy():
            try:
                return requests.get(f"{self.api}/health", timeout=1).status_code == 200
            except requests.ConnectionError:
                assert self.process.poll() is None, self.log()
                return False

        assert wait_for(healthy, timeout=timeout, interval=0.1), self.log()

    def log(self) -> str:
        return self.log_path.read_text()

    def descendants(self) -> list[psutil.Process]:
        return psutil.Process(self.process.pid).children(recursive=True)

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=60)
        finally:
            self.output.close()


def postgres_of(data_dir) -> list[psutil.Process]:
    """Server processes running on `data_dir`'s embedded pgdata."""
    pgdata = str(data_dir / "pgdata")
    found = []
    for process in psutil.process_iter(["cmdline"]):
        if pgdata in " ".join(process.info["cmdline"] or []):
            found.append(process)
    return found


@pytest.fixture
def dev_data_dir(tmp_path):
    yield tmp_path
    for process in postgres_of(tmp_path):  # only if a test failed half way
        process.kill()


def test_dev_runs_http_and_amqp_jobs_keeps_them_and_leaves_nothing_behind(
    dev_data_dir, target, rabbit_vhost
):
    exchange, queue = f"dev-{uuid.uuid4().hex[:8]}", f"dev-{uuid.uuid4().hex[:8]}"
    connection = pika.BlockingConnection(pika.URLParameters(rabbit_vhost))
    channel = connection.channel()
    channel.exchange_declare(exchange, "direct")
    channel.queue_declare(queue)
    channel.queue_bind(queue, exchange, "dev")
    key = uuid.uuid4().hex
    soon = (datetime.now(UTC) + timedelta(seconds=4)).isoformat()
    try:
        dev = Dev(dev_data_dir, free_port())
        dev.wait_ready()
        assert "in-process" in dev.log() and str(dev_data_dir / "pgdata") in dev.log()
        http_job = requests.post(
            f"{dev.api}/v1/jobs",
            json={
                "type": "HTTP",
                "execute_at": soon,
                "http_job": {"url": f"{target.url}/dev/{key}", "method": "POST", "body": "hi"},
            },
            timeout=10,
        ).json()
        amqp_job = requests.post(
            f"{dev.api}/v1/jobs",
            json={
                "type": "AMQP",
                "execute_at": soon,
                "amqp_job": {
                    "connection": rabbit_vhost,
                    "exchange": exchange,
                    "routing_key": "dev",
                    "body": base64.b64encode(b"from dev").decode(),
                    "body_encoding": "base64",
                },
            },
            timeout=10,
        ).json()
        assert wait_for(lambda: target.received(f"/dev/{key}"), timeout=30)
        [hit] = target.received(f"/dev/{key}")
        assert hit.body == b"hi" and hit.header("X-Scheduler-Job-Id") == http_job["id"]
        delivered = []

        def take():
            method, _, body = channel.basic_get(queue, auto_ack=True)
            if method is not None:
                delivered.append(body)
            return delivered

        assert wait_for(take, timeout=30)
        assert delivered == [b"from dev"]

        def executions(api, job_id):
            return requests.get(f"{api}/v1/jobs/{job_id}/executions", timeout=10).json()[
                "executions"
            ]

        assert wait_for(lambda: executions(dev.api, amqp_job["id"]), timeout=10)
        children = dev.descendants()
        assert dev.stop() == 0
        assert "stopped" in dev.log()
        time.sleep(0.5)
        assert not [child for child in children if child.is_running()]
        assert postgres_of(dev_data_dir) == []

        again = Dev(dev_data_dir, free_port())
        again.wait_ready()
        jobs = requests.get(f"{again.api}/v1/jobs", timeout=10).json()
        assert {job["id"] for job in jobs} == {http_job["id"], amqp_job["id"]}
        for job_id in (http_job["id"], amqp_job["id"]):
            [execution] = executions(again.api, job_id)
            assert execution["success"] is True
        assert again.stop() == 0
        assert postgres_of(dev_data_dir) == []
    finally:
        connection.close()
