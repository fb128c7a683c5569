"""The outbound guard on AMQP targets, against the real RabbitMQ: a broker whose
address the guard refuses is never connected to and the publish fails at once,
as an HTTP call does; an allowed one is connected to at the address checked."""

import ipaddress
import uuid
from datetime import UTC, datetime

import pika
import pytest

from actors.amqp import AmqpExecutor
from actors.delivery import Delivery
from app.config import DEFAULT_DENY_NETWORKS
from testkit.jobs import with_host


def networks(text: str) -> tuple:
    return tuple(ipaddress.ip_network(part) for part in text.split(","))


DEFAULT_DENY = networks(DEFAULT_DENY_NETWORKS)


def publish(executor: AmqpExecutor, url: str, queue: str = "nobody"):
    job = {"connection": url, "exchange": "amq.direct", "routing_key": queue, "body": "hi"}
    delivery = Delivery(uuid.uuid4(), uuid.uuid4(), datetime.now(UTC), 1)
    return executor.execute(job, delivery, 5)


@pytest.mark.parametrize(
    ("host", "network"), [("169.254.169.254", "169.254.0.0/16"), ("0.0.0.0", "0.0.0.0/8")]
)
def test_a_broker_in_a_denied_network_is_refused_once_and_sent_nothing(
    rabbit_vhost, bound_queue, host, network
):
    name, channel = bound_queue
    # 0.0.0.0 reaches this host's RabbitMQ on Linux: were the guard skipped, it would land.
    result = publish(AmqpExecutor(deny=DEFAULT_DENY), with_host(rabbit_vhost, host), name)
    assert result.success is False and result.retryable is False
    assert result.failure.kind == "refused_by_guard"
    assert result.failure.message == (
        f"refused by the outbound guard: {host}: {host} is in the denied network {network}"
    )
    assert channel.basic_get(name, auto_ack=True) == (None, None, None)


def test_an_allow_list_refuses_a_broker_outside_it(rabbit_vhost, bound_queue):
    name, channel = bound_queue
    executor = AmqpExecutor(allow=networks("10.0.0.0/8"), deny=DEFAULT_DENY)
    result = publish(executor, rabbit_vhost, name)
    assert result.failure.kind == "refused_by_guard" and result.retryable is False
    assert "127.0.0.1 is outside the allowed networks" in result.failure.message
    assert channel.basic_get(name, auto_ack=True) == (None, None, None)


def test_an_allowed_broker_named_by_host_is_reached_at_the_address_checked(
    rabbit_vhost, bound_queue
):
    name, channel = bound_queue
    executor = AmqpExecutor(allow=networks("127.0.0.0/8"), deny=DEFAULT_DENY)
    assert publish(executor, with_host(rabbit_vhost, "localhost"), name).success
    assert channel.basic_get(name, auto_ack=True)[2] == b"hi"
    [opened] = executor._channels().values()
    assert opened.connection._impl.params.host == "127.0.0.1"  # pinned, not "localhost"


def test_tls_still_checks_the_name_the_job_gave():
    parameters = pika.URLParameters("amqps://user:pw@localhost:5671/vhost")
    AmqpExecutor(allow=networks("127.0.0.0/8"))._pin(parameters)
    assert parameters.host == "127.0.0.1"
    assert parameters.ssl_options.server_hostname == "localhost"


def test_a_name_that_does_not_resolve_is_a_dns_failure_and_retried():
    result = publish(AmqpExecutor(deny=DEFAULT_DENY), "amqp://u:p@no-such-host.invalid:5672/")
    assert result.failure.kind == "dns" and result.retryable is True
    assert "no-such-host.invalid" in result.failure.message
