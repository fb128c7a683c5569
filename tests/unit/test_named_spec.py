"""Names and whole-definition replacement (the upsert): pure validation."""

from datetime import UTC, datetime, timedelta

import pytest

from app.errors import InvalidJob
from app.jobs.spec import parse_create, parse_name, parse_replacement

NOW = datetime(2030, 1, 1, tzinfo=UTC)


def job(**fields) -> dict:
    return {
        "type": "HTTP",
        "cron_schedule": "0 * * * *",
        "http_job": {
            "url": "https://example.com/hook",
            "method": "POST",
            "auth": {"type": "bearer", "bearer_token": "tok-Ks20"},
        },
        **fields,
    }


@pytest.mark.parametrize("name", ["nightly", "billing/nightly-invoices", "a.b_c:d-e", "x" * 200])
def test_a_name_of_its_alphabet_is_kept(name):
    assert parse_name(name) == name
    assert parse_create(job(name=name), NOW).name == name


@pytest.mark.parametrize("name", ["", "x" * 201, "with space", "ünï", "a?b", 7, None])
def test_any_other_name_is_refused(name):
    with pytest.raises(InvalidJob, match="name must be 1 to 200 characters"):
        parse_name(name)


def test_a_replacement_sent_as_the_api_shows_it_keeps_the_stored_secrets():
    current = parse_create(job(), NOW)
    shown = job()
    shown["http_job"]["auth"]["bearer_token"] = "***"
    assert parse_replacement(shown, NOW, current) == current


def test_a_replacement_is_whole_what_it_leaves_out_goes_back_to_its_default():
    current = parse_create(job(tags=["a"], timeout="5s"), NOW)
    replaced = parse_replacement(job(), NOW, current)
    assert (replaced.tags, replaced.timeout) == ([], None)


def test_a_past_execute_at_is_accepted_only_unchanged():
    at = NOW + timedelta(hours=1)
    body = {**job(), "cron_schedule": None, "execute_at": at.isoformat()}
    current = parse_create(body, NOW)
    later = NOW + timedelta(hours=2)  # the time has passed
    assert parse_replacement(body, later, current) == current
    moved = {**body, "execute_at": (at + timedelta(minutes=1)).isoformat()}
    with pytest.raises(InvalidJob, match="execute_at must be in the future"):
        parse_replacement(moved, later, current)
