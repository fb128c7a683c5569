"""The module `dramatiq` imports in each worker process to find its broker.

Kept tiny on purpose (Dramatiq's own pattern): build the broker from the
configuration the `scheduler worker` command passed down, and declare the actor.
"""

import dramatiq

from actors.broker import rabbitmq_broker
from actors.run import Runner, declare
from app.config import load_config
from app.db.database import open_database
from app.logs import configure_logging

config = load_config()
configure_logging(config.log_level, config.log_format)
broker = rabbitmq_broker(config)
dramatiq.set_broker(broker)
declare(Runner.from_config(open_database(config), broker, config), config.worker_shutdown_timeout)
