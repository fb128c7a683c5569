"""The README's deploy-time registration, run as a deploy script would run it:
three starts leave one job, at version 1, against a real `scheduler web`."""

import re
import subprocess
import threading
from pathlib import Path

import pytest
import requests

from testkit.e2e import running_web

pytestmark = pytest.mark.e2e

README = Path(__file__).resolve().parents[2] / "README.md"


def registration_script(api: str) -> str:
    """The README's upsert example, pointed at `api`."""
    [snippet] = [
        block
        for block in re.findall(r"```sh\n(.*?)```", README.read_text(), re.DOTALL)
        if "/v1/jobs/by-name/" in block
    ]
    return snippet.replace("localhost:8000", api.removeprefix("http://"))


def test_the_readme_registration_run_at_three_deploys_leaves_one_job_at_version_1(
    database_name, tmp_path
):
    with running_web(database_name, tmp_path, api_key="") as web:
        script = registration_script(web.api)
        answers = [
            subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=True)
            for _ in range(3)
        ]
        jobs = requests.get(f"{web.api}/v1/jobs", timeout=5).json()
    [job] = jobs
    assert (job["name"], job["version"]) == ("billing/nightly-invoices", 1)
    assert job["cron_schedule"] == "30 2 * * *"
    assert {answer.stdout.count('"version": 1') for answer in answers} == {1}


def test_a_create_sent_by_eight_clients_at_once_with_one_key_makes_one_job(database_name, tmp_path):
    body = {
        "type": "HTTP",
        "cron_schedule": "0 * * * *",
        "http_job": {"url": "http://127.0.0.1:9/hook", "method": "POST"},
    }
    start, answers = threading.Barrier(8), []

    def send(api: str) -> None:
        start.wait()
        headers = {"Idempotency-Key": "deploy-2026-12-01"}
        answers.append(requests.post(f"{api}/v1/jobs", json=body, headers=headers, timeout=10))

    with running_web(database_name, tmp_path, api_key="") as web:
        clients = [threading.Thread(target=send, args=(web.api,)) for _ in range(8)]
        for client in clients:
            client.start()
        for client in clients:
            client.join()
        jobs = requests.get(f"{web.api}/v1/jobs", timeout=5).json()
    [job] = jobs
    assert {answer.status_code for answer in answers} <= {201, 409}
    created = [answer.json() for answer in answers if answer.status_code == 201]
    assert created and {answer["id"] for answer in created} == {job["id"]}
