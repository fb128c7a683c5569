"""The Dramatiq broker of a process: RabbitMQ, with the middleware the actor relies on."""

import dramatiq
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from dramatiq.middleware import CurrentMessage

from app.config import Config


def rabbitmq_broker(config: Config) -> dramatiq.Broker:
    # confirm_delivery: a run message counts as sent only once RabbitMQ has it.
    broker = RabbitmqBroker(url=config.broker_url, confirm_delivery=True)
    broker.add_middleware(CurrentMessage())
    return broker
