"""Schemathesis against a live `scheduler web`, from its own /openapi.json, with an API key.

A bounded run (FUZZ_EXAMPLES per operation, default 10) keeps CI fast; the longer
run is the documented command in docs/security.md.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from app.secrets.sealing import generate_key
from testkit.e2e import running_web

pytestmark = pytest.mark.e2e

CHECKS = ",".join(
    (
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_schema_conformance",
    )
)
SCHEMATHESIS = str(Path(sys.executable).parent / "st")


def test_fuzzing_the_api_finds_no_server_error_and_no_answer_outside_its_schema(
    database_name, tmp_path
):
    key = "fuzz-" + generate_key()[:12]
    with running_web(database_name, tmp_path, key) as stack:
        spec = requests.get(f"{stack.api}/openapi.json", timeout=5).json()
        assert {
            "/v1/jobs",
            "/v1/jobs/{id}",
            "/v1/schedules/preview",
            "/v1/dead-letters",
            "/v1/dead-letters/redrive",
            "/v1/dead-letters/{id}/redrive",
            "/v1/flow-controls",
            "/v1/flow-controls/{key}",
            "/v1/jobs/by-name/{name}",
        } <= set(spec["paths"])
        result = subprocess.run(
            [
                SCHEMATHESIS,
                "run",
                f"{stack.api}/openapi.json",
                "--header",
                f"Authorization: Bearer {key}",
                "--max-examples",
                os.environ.get("FUZZ_EXAMPLES", "10"),
                "--checks",
                CHECKS,
                "--generation-deterministic",
            ],
            capture_output=True,
            text=True,
            timeout=600,
            cwd=tmp_path,
        )
        summary = result.stdout[-3000:]
        assert result.returncode == 0, summary
        assert "passed" in summary and "failed" not in summary.split("Test cases:")[-1], summary
    assert "Traceback" not in stack.log_tail("web", lines=10_000)
