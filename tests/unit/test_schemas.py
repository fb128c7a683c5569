"""The request schemas of app/jobs/schemas.py, which /openapi.json publishes and the API
enforces."""

import pytest

from app.errors import InvalidJob
from app.jobs.schemas import JOB_CREATE, JOB_UPDATE, PREVIEW, enforce


@pytest.mark.parametrize("schema", [JOB_CREATE, JOB_UPDATE, PREVIEW])
def test_every_example_satisfies_its_schema(schema):
    for example in schema["examples"]:
        enforce(schema, example)


def test_a_body_outside_the_schema_is_refused_with_the_path_of_the_problem():
    with pytest.raises(InvalidJob, match=r"^http_job\.follow_redirects: 'yes' is not of type"):
        enforce(JOB_CREATE, {"http_job": {"url": "x", "method": "GET", "follow_redirects": "yes"}})


def test_unknown_fields_are_allowed_as_the_api_ignores_them():
    enforce(JOB_CREATE, {"type": "HTTP", "something": 1})
