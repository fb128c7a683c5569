"""Dramatiq side: the broker, the run actor, the HTTP and AMQP executors, retries."""
