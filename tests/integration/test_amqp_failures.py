"""The AMQP executor against the real RabbitMQ (a vhost of this session's own): each
way a publish fails gets its kind and its sentence, and a publish says who sent it."""

import uuid
from datetime import UTC, datetime

import pika

from actors.amqp import AmqpExecutor
from actors.delivery import USER_AGENT, Delivery


def delivery() -> Delivery:
    return Delivery(uuid.uuid4(), uuid.uuid4(), datetime.now(UTC), 1)


def publish(url: str, exchange: str, routing_key: str):
    job = {"connection": url, "exchange": exchange, "routing_key": routing_key, "body": "hi"}
    return AmqpExecutor().execute(job, delivery(), 5)


def test_a_missing_exchange_is_amqp_no_exchange_and_not_retried(rabbit_vhost):
    result = publish(rabbit_vhost, "nowhere-" + uuid.uuid4().hex[:6], "key")
    assert result.failure.kind == "amqp_no_exchange"
    assert result.failure.message.startswith("no exchange 'nowhere-")
    assert "404" in result.failure.detail
    assert result.retryable is False


def test_a_message_no_queue_takes_is_amqp_unroutable_and_not_retried(rabbit_vhost):
    result = publish(rabbit_vhost, "amq.direct", "nobody-listens")
    assert result.failure.kind == "amqp_unroutable"
    assert result.failure.message == (
        "no queue bound to exchange 'amq.direct' for routing key 'nobody-listens'"
    )
    assert result.retryable is False


def test_a_closed_port_is_connection_refused_with_the_redacted_url_in_the_detail():
    result = publish("amqp://guest:pw-Zq81@127.0.0.1:1/x", "e", "k")
    assert result.failure.kind == "connection_refused"
    assert result.failure.message == "connection refused by 127.0.0.1:1"
    assert "amqp://guest:***@127.0.0.1:1/x" in result.failure.detail
    assert "pw-Zq81" not in result.failure.detail


def test_a_publish_names_the_scheduler_as_its_app_id(rabbit_vhost):
    queue = "app-id-" + uuid.uuid4().hex[:8]
    connection = pika.BlockingConnection(pika.URLParameters(rabbit_vhost))
    try:
        channel = connection.channel()
        channel.queue_declare(queue, auto_delete=True)
        channel.queue_bind(queue, "amq.direct", routing_key=queue)
        assert publish(rabbit_vhost, "amq.direct", queue).success
        _, properties, body = channel.basic_get(queue, auto_ack=True)
        assert (properties.app_id, body) == (USER_AGENT, b"hi")
    finally:
        connection.close()
