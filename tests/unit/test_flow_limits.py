"""Flow keys on jobs and the limits set on them: pure validation."""

import re
from datetime import UTC, datetime

import pytest

from app.errors import InvalidJob
from app.flow_controls import Limits, parse_limits
from app.jobs.spec import apply_update, parse_create

NOW = datetime(2030, 1, 1, tzinfo=UTC)


def job(**fields) -> dict:
    return {
        "type": "HTTP",
        "cron_schedule": "* * * * *",
        "http_job": {"url": "https://API.example.com:8443/hook", "method": "POST"},
        **fields,
    }


@pytest.mark.parametrize(
    ("body", "limits"),
    [
        ({"rate": 10}, Limits(rate=10, period=1.0)),
        ({"rate": 10, "period": "1m"}, Limits(rate=10, period=60.0)),
        ({"parallelism": 3}, Limits(parallelism=3)),
        ({"rate": 1, "period": "24h", "parallelism": 1000}, Limits(1, 86400.0, 1000)),
        ({"rate": 2, "period": None, "parallelism": None}, Limits(rate=2)),
    ],
)
def test_limits_are_read_with_a_period_of_one_second_by_default(body, limits):
    assert parse_limits(body) == limits


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([], "request body must be a JSON object"),
        ({"rate": None, "parallelism": None}, "give rate (with period), parallelism, or both"),
        ({"period": "1s"}, "give rate"),
        ({"parallelism": 1, "period": "1s"}, "period applies to a rate"),
        ({"rate": 1.5}, "rate must be an integer"),
        ({"rate": 2, "period": "25h"}, "period must be from 100ms to 24h"),
        ({"parallelism": 0}, "parallelism must be an integer from 1 to 1000"),
    ],
)
def test_bad_limits_say_what_is_wrong(body, message):
    with pytest.raises(InvalidJob, match=re.escape(message)):
        parse_limits(body)


def test_a_flow_key_is_kept_as_given():
    assert parse_create(job(flow_key="billing-api:v2"), NOW).flow_key == "billing-api:v2"
    assert parse_create(job(), NOW).flow_key is None


@pytest.mark.parametrize("key", ["", "a" * 201, "with space", "slash/in", "ключ", 3, True])
def test_a_flow_key_outside_its_alphabet_or_length_is_refused(key):
    with pytest.raises(InvalidJob, match="flow_key must be 1 to 200 characters"):
        parse_create(job(flow_key=key), NOW)


def test_host_keys_on_the_target_host_of_either_type():
    assert parse_create(job(flow_key="host:"), NOW).flow_key == "host:api.example.com"
    amqp = {
        "type": "AMQP",
        "execute_at": "2031-01-01T00:00:00Z",
        "amqp_job": {
            "connection": "amqps://u:p@broker.internal:5671/v",
            "exchange": "x",
            "routing_key": "r",
        },
        "flow_key": "host:",
    }
    assert parse_create(amqp, NOW).flow_key == "host:broker.internal"


def test_a_host_key_naming_another_host_is_refused_and_follows_a_new_target_when_asked():
    with pytest.raises(InvalidJob, match="names another host than the job's target"):
        parse_create(job(flow_key="host:other.example.com"), NOW)
    spec = parse_create(job(flow_key="host:"), NOW)
    moved = {"http": {"url": "https://new.example.com/", "method": "GET"}}
    with pytest.raises(InvalidJob, match='send "host:" to key on the target\'s host'):
        apply_update(spec, moved, NOW)
    assert (
        apply_update(spec, {**moved, "flow_key": "host:"}, NOW).flow_key == "host:new.example.com"
    )
    assert apply_update(spec, {"tags": ["a"]}, NOW).flow_key == "host:api.example.com"
