"""The Dramatiq broker of a process: RabbitMQ, or in memory for `scheduler dev`."""

import dramatiq
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from dramatiq.brokers.stub import StubBroker

from app.config import Config


def rabbitmq_broker(config: Config) -> dramatiq.Broker:
    # confirm_delivery: a run message counts as sent only once RabbitMQ has it.
    broker = RabbitmqBroker(url=config.broker_url, confirm_delivery=True)
    return broker


def in_process_broker() -> StubBroker:
    """Dramatiq's in-memory broker, for `scheduler dev` when no broker URL is set.

    Messages live in this process only; if it dies, their claims expire and the
    next tick claims the jobs again (PostgreSQL is the source of truth).
    """
    broker = StubBroker()
    return broker


def drain_queued(broker: StubBroker) -> list[dramatiq.Message]:
    """Take every message still waiting in an in-process broker, delayed ones too."""
    messages = []
    for queue in broker.queues.values():
        while not queue.empty():
            messages.append(dramatiq.Message.decode(queue.get_nowait()))
    return messages
