"""The AMQP executor: persistent publishes with publisher confirms.

Connections are kept per worker thread and per target URL (pika's blocking
connection is not thread-safe) and reopened once when the broker closed them.
Each connection goes to the address the outbound guard checked
(actors/netguard.py), as an HTTP call does; TLS still checks the name.
"""

import base64
import contextlib
import threading

import pika
import pika.exceptions

from actors.delivery import USER_AGENT, AttemptResult, Delivery
from actors.netguard import TargetRefused, checked_address
from app import failures
from app.failures import Failure
from app.secrets.redaction import redact_url

# Refusals that another attempt will not change: the exchange is missing (404) or
# the user may not publish there (403).
_NOT_FOUND = 404
_PERMANENT_REPLY_CODES = (403, _NOT_FOUND)


class AmqpExecutor:
    def __init__(self, allow: tuple = (), deny: tuple = ()):
        self.allow = allow  # the outbound guard's networks
        self.deny = deny
        self._local = threading.local()

    def _channels(self) -> dict:
        channels = getattr(self._local, "channels", None)
        if channels is None:
            channels = self._local.channels = {}
        return channels

    def _channel(self, url: str, timeout: float):
        channels = self._channels()
        channel = channels.get(url)
        if channel is None or channel.is_closed or channel.connection.is_closed:
            parameters = pika.URLParameters(url)
            self._pin(parameters)
            parameters.socket_timeout = timeout
            parameters.blocked_connection_timeout = timeout
            parameters.stack_timeout = timeout
            parameters.connection_attempts = 1
            connection = pika.BlockingConnection(parameters)
            channel = connection.channel()
            channel.confirm_delivery()
            channels[url] = channel
        return channel

    def _pin(self, parameters: pika.URLParameters) -> None:
        """Point `parameters` at the address the guard allows for its host; over
        TLS, the certificate is still checked for the host's name."""
        name = parameters.host
        if parameters.ssl_options is not None and parameters.ssl_options.server_hostname is None:
            parameters.ssl_options = pika.SSLOptions(parameters.ssl_options.context, name)
        parameters.host = checked_address(name, parameters.port, self.allow, self.deny)

    def _forget(self, url: str) -> None:
        channel = self._channels().pop(url, None)
        if channel is not None and channel.connection.is_open:
            with contextlib.suppress(pika.exceptions.AMQPError, OSError):
                channel.connection.close()

    def execute(self, amqp_job: dict, delivery: Delivery, timeout: float) -> AttemptResult:
        """One publish; `timeout` (seconds) bounds connecting and the broker's confirm.

        A connection cached for the URL keeps the timeout it was opened with.
        """
        url = amqp_job["connection"]
        body = amqp_job.get("body") or ""
        payload = base64.b64decode(body) if amqp_job.get("body_encoding") == "base64" else body
        properties = pika.BasicProperties(
            delivery_mode=pika.DeliveryMode.Persistent,
            app_id=USER_AGENT,
            content_type=amqp_job.get("content_type") or None,
            message_id=str(delivery.delivery_id),
            headers={**(amqp_job.get("headers") or {}), **delivery.headers()},
        )
        publish = (url, timeout, amqp_job, payload, properties)
        # A cached connection may have been closed by the broker since its last use
        # (heartbeat, restart): one fresh connection is tried before giving up.
        try:
            return self._publish(*publish)
        except (pika.exceptions.AMQPError, OSError):
            self._forget(url)
        try:
            return self._publish(*publish)
        except (pika.exceptions.AMQPError, OSError) as error:  # NameNotResolved too
            self._forget(url)
            failure = failures.unreachable(
                error,
                *failures.address(url, 5671 if url.startswith("amqps:") else 5672),
                timeout,
            )
            detail = f"publish to {redact_url(url)} failed: {failure.detail}"
            return AttemptResult(False, Failure(failure.kind, failure.message, detail))

    def _publish(self, url, timeout, amqp_job, payload, properties) -> AttemptResult:
        try:
            channel = self._channel(url, timeout)
        except TargetRefused as error:  # nothing was sent, and nothing will be
            return AttemptResult(False, failures.refused_by_guard(str(error)), retryable=False)
        try:
            channel.basic_publish(
                amqp_job["exchange"],
                amqp_job["routing_key"],
                payload.encode() if isinstance(payload, str) else payload,
                properties=properties,
                mandatory=True,
            )
        except pika.exceptions.UnroutableError:
            message = (
                f"no queue bound to exchange {amqp_job['exchange']!r} "
                f"for routing key {amqp_job['routing_key']!r}"
            )
            return AttemptResult(False, Failure("amqp_unroutable", message), retryable=False)
        except pika.exceptions.ChannelClosedByBroker as error:
            self._forget(url)
            detail = f"the broker closed the channel: {error.reply_code} {error.reply_text}"
            if error.reply_code == _NOT_FOUND and "exchange" in error.reply_text:
                failure = Failure(
                    "amqp_no_exchange", f"no exchange {amqp_job['exchange']!r}", detail
                )
            else:
                failure = Failure("other", f"the broker refused: {error.reply_text}", detail)
            return AttemptResult(
                False, failure, retryable=error.reply_code not in _PERMANENT_REPLY_CODES
            )
        except pika.exceptions.NackError:
            return AttemptResult(False, Failure("amqp_nack", "the broker refused the message"))
        return AttemptResult(True)
