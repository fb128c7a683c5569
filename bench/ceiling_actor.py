"""The bare pipeline of bench/ceiling.py: its Dramatiq actor, and its producer.

`dramatiq ceiling_actor` imports this module in each worker process, where the actor
makes one POST to the target and nothing else. `python bench/ceiling_actor.py URL
COUNT PREFIX` is the producer: it enqueues COUNT messages for URL, ids PREFIX0,
PREFIX1, ..., then prints as JSON when the first send began, when the last ended
and the CPU seconds in between. Both reach RabbitMQ at CEILING_BROKER_URL.
"""

import json
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor, wait

import dramatiq
import requests
from dramatiq.brokers.rabbitmq import RabbitmqBroker

from actors.messages import SENDS_AT_ONCE

QUEUE = "ceiling"

# confirm_delivery: a message counts as sent once RabbitMQ has it, as the tick's do.
broker = RabbitmqBroker(url=os.environ["CEILING_BROKER_URL"], confirm_delivery=True)
dramatiq.set_broker(broker)
_local = threading.local()


# No retries: a failed call shows as lost rather than as a late arrival.
@dramatiq.actor(queue_name=QUEUE, max_retries=0)
def call(url: str, message_id: str) -> None:
    # A session per thread, as the service's HTTP executor keeps one.
    session = getattr(_local, "session", None)
    if session is None:
        session = _local.session = requests.Session()
    # The header under which the recording target files the request (testkit/target.py).
    response = session.post(url, headers={"X-Scheduler-Job-Id": message_id}, timeout=30)
    response.raise_for_status()


def produce(url: str, count: int, prefix: str) -> dict:
    pool = ThreadPoolExecutor(SENDS_AT_ONCE, thread_name_prefix="send")
    cpu, first = time.process_time(), time.time()
    futures = [pool.submit(broker.enqueue, call.message(url, f"{prefix}{i}")) for i in range(count)]
    wait(futures)
    last = time.time()
    for future in futures:
        future.result()
    return {"first": first, "last": last, "cpu": time.process_time() - cpu}


if __name__ == "__main__":
    url, count, prefix = sys.argv[1:]
    print(json.dumps(produce(url, int(count), prefix)))
