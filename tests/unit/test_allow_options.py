"""The overlap policy 'allow' and its max_concurrent: pure validation."""

from datetime import UTC, datetime

import pytest

from app.errors import InvalidJob
from app.jobs.spec import apply_update, parse_create

NOW = datetime(2030, 1, 1, tzinfo=UTC)
JOB = {
    "type": "HTTP",
    "cron_schedule": "* * * * * *",
    "http_job": {"url": "https://example.com/", "method": "GET"},
}


def test_allow_takes_a_max_concurrent_from_1_to_100_or_the_default():
    spec = parse_create({**JOB, "overlap_policy": "allow", "max_concurrent": 3}, NOW)
    assert (spec.schedule.overlap, spec.max_concurrent) == ("allow", 3)
    assert parse_create({**JOB, "overlap_policy": "allow"}, NOW).max_concurrent is None
    for bad in (0, 101, 2.5, "3", True):
        with pytest.raises(InvalidJob, match="max_concurrent must be an integer from 1 to 100"):
            parse_create({**JOB, "overlap_policy": "allow", "max_concurrent": bad}, NOW)


@pytest.mark.parametrize("policy", [None, "skip", "buffer_one"])
def test_max_concurrent_without_allow_is_refused(policy):
    with pytest.raises(InvalidJob, match='max_concurrent applies with overlap_policy "allow"'):
        parse_create({**JOB, "overlap_policy": policy, "max_concurrent": 2}, NOW)


def test_leaving_allow_needs_max_concurrent_cleared_too():
    spec = parse_create({**JOB, "overlap_policy": "allow", "max_concurrent": 2}, NOW)
    with pytest.raises(InvalidJob, match="max_concurrent applies"):
        apply_update(spec, {"overlap_policy": "skip"}, NOW)
    cleared = apply_update(spec, {"overlap_policy": "skip", "max_concurrent": None}, NOW)
    assert (cleared.schedule.overlap, cleared.max_concurrent) == ("skip", None)
