"""Every option of the service: its flag, its environment variable, its default.

`load_config()` is the only place options are read. A value comes from the flag if
one was given, else from the environment, else from the default; it is parsed
once (with environs) into a frozen `Config`. A bad value raises `ConfigError`
with a one-line message naming the option.
"""

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from cryptography.fernet import Fernet
from environs import Env, EnvError

from app.secrets.redaction import REDACTED, redact_url
from app.timing.durations import format_duration, parse_duration

# Link-local (which holds the cloud metadata address 169.254.169.254), the AWS IPv6
# metadata address, Alibaba's metadata address, and "this network" / unspecified.
DEFAULT_DENY_NETWORKS = (
    "169.254.0.0/16,fe80::/10,fd00:ec2::254/128,100.100.100.200/32,0.0.0.0/8,::/128"
)


class ConfigError(Exception):
    """A startup option has a bad value; the message names the option."""


@dataclass(frozen=True)
class Option:
    flag: str
    kind: str  # "str", "int", "bool", "duration", "host_port", "listen" (host_port or off), ...
    default: str
    meaning: str
    secret: bool = False
    minimum: float | None = None

    @property
    def env(self) -> str:
        return "SCHEDULER_" + self.flag.upper().replace("-", "_")

    @property
    def attr(self) -> str:
        return self.flag.replace("-", "_")


OPTIONS: tuple[Option, ...] = (
    Option(
        "web-read-timeout",
        "duration",
        "5s",
        "waitress has no separate read deadline; kept for compatibility with the "
        "reference and validated (the connection deadline is web-idle-timeout)",
    ),
    Option(
        "web-write-timeout",
        "duration",
        "10s",
        "waitress has no separate write deadline; kept for compatibility with the "
        "reference and validated (the connection deadline is web-idle-timeout)",
    ),
    Option(
        "web-idle-timeout",
        "duration",
        "120s",
        "close a connection inactive this long, reading, writing or between requests "
        "(waitress channel_timeout)",
        minimum=1,
    ),
    Option(
        "web-shutdown-timeout",
        "duration",
        "20s",
        "on SIGTERM/SIGINT, how long web waits for in-flight requests",
    ),
    Option("web-api-host", "host_port", "0.0.0.0:8000", "address the API listens on"),
    Option("web-threads", "int", "8", "request threads of the web process", minimum=1),
    Option("db-user", "str", "scheduler", "PostgreSQL user"),
    Option("db-password", "str", "", "PostgreSQL password", secret=True),
    Option("db-host", "host_port", "localhost:5436", "PostgreSQL host:port"),
    Option("db-name", "str", "scheduler", "PostgreSQL database"),
    Option(
        "db-max-idle-conns",
        "int",
        "3",
        "idle connections kept per process; peewee's pool keeps every returned "
        "connection, so effectively min(idle, open) as in Go's database/sql",
        minimum=0,
    ),
    Option(
        "db-max-open-conns",
        "int",
        "2",
        "connections per process; a thread that needs one more waits for a free one",
        minimum=1,
    ),
    Option("db-disable-tls", "bool", "true", "connect without TLS (false: sslmode=require)"),
    Option(
        "scheduler-id",
        "str",
        "instance1",
        "this tick's name, recorded as locked_by; give each tick its own",
    ),
    Option(
        "scheduler-interval",
        "duration",
        "10s",
        "how often the tick looks for due jobs; API changes wake it sooner (NOTIFY)",
        minimum=0.001,
    ),
    Option(
        "scheduler-max-concurrent-jobs",
        "int",
        "250",
        "most jobs one tick keeps claimed and unfinished at once",
        minimum=1,
    ),
    Option(
        "scheduler-max-job-lock-time",
        "duration",
        "1m",
        "how long a claim lasts; a worker renews it while the job runs, so it only "
        "expires when its holder is gone",
        minimum=1,
    ),
    Option(
        "broker-url",
        "str",
        "amqp://guest:guest@localhost:5672/",
        "RabbitMQ URL that carries run messages from tick to workers",
        secret=True,
    ),
    Option(
        "worker-processes",
        "int",
        "2",
        "worker processes started by `scheduler worker`",
        minimum=1,
    ),
    Option(
        "worker-threads",
        "int",
        "100",
        "threads per worker process: attempts it runs at once (a waiting one costs a thread, "
        "not a connection)",
        minimum=1,
    ),
    Option(
        "worker-shutdown-timeout",
        "duration",
        "40s",
        "on SIGTERM, how long a worker lets running attempts finish (and records them); "
        "the claims of attempts still running then are given back, to run elsewhere at once",
        minimum=0.001,
    ),
    Option(
        "job-timeout",
        "duration",
        "30s",
        "default limit of one attempt: HTTP connect and read, AMQP connect and confirm",
        minimum=0.001,
    ),
    Option(
        "execution-retention",
        "duration",
        "0",
        "delete executions that ended longer ago than this (e.g. 30d); 0 keeps all",
    ),
    Option(
        "dead-letter-retention",
        "duration",
        "14d",
        "delete dead letters that failed longer ago than this; 0 keeps all",
    ),
    Option(
        "audit-retention",
        "duration",
        "90d",
        "delete audit log entries older than this; 0 keeps all",
    ),
    Option(
        "api-keys",
        "csv",
        "",
        "keys the API accepts as `Authorization: Bearer <key>`, comma-separated; "
        "none (and no read keys): the API is open (a warning is logged)",
        secret=True,
    ),
    Option(
        "api-read-keys",
        "csv",
        "",
        "keys that may only read (GET): any other method answers 403; comma-separated",
        secret=True,
    ),
    Option(
        "secret-key",
        "fernet",
        "",
        "Fernet keys sealing job secrets at rest, newest first, comma-separated "
        "(`scheduler keygen` prints one; `scheduler rotate-secrets` re-seals with the newest)",
        secret=True,
    ),
    Option(
        "signing-key",
        "str",
        "",
        "HMAC-SHA256 key signing every HTTP delivery (X-Scheduler-Signature); empty: unsigned",
        secret=True,
    ),
    Option(
        "http-deny-networks",
        "networks",
        DEFAULT_DENY_NETWORKS,
        "HTTP and AMQP targets resolving into these networks are refused (link-local and "
        "cloud metadata by default)",
    ),
    Option(
        "http-allow-networks",
        "networks",
        "",
        "if set, HTTP and AMQP targets must resolve into one of these networks",
    ),
    Option(
        "max-body-bytes",
        "int",
        "1048576",
        "largest API request body; larger ones get 413",
        minimum=1024,
    ),
    Option("log-level", "str", "INFO", "DEBUG, INFO, WARNING or ERROR"),
    Option("log-format", "str", "text", "text (one readable line per event) or json"),
    Option(
        "tick-metrics-host",
        "listen",
        "0.0.0.0:9101",
        "where `scheduler tick` serves Prometheus metrics at /metrics; off: nowhere",
    ),
    Option(
        "worker-metrics-host",
        "listen",
        "0.0.0.0:9102",
        "where `scheduler worker` serves the Prometheus metrics of all its processes; off: nowhere",
    ),
    Option(
        "dev-data-dir",
        "str",
        ".scheduler",
        "`scheduler dev` only: where the embedded PostgreSQL keeps its data (pgdata/ inside)",
    ),
)

_BY_ENV = {option.env: option for option in OPTIONS}
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
_LOG_FORMATS = ("text", "json")


@dataclass(frozen=True)
class Config:
    web_read_timeout: float
    web_write_timeout: float
    web_idle_timeout: float
    web_shutdown_timeout: float
    web_api_host: tuple[str, int]
    web_threads: int
    db_user: str
    db_password: str
    db_host: tuple[str, int]
    db_name: str
    db_max_idle_conns: int
    db_max_open_conns: int
    db_disable_tls: bool
    scheduler_id: str
    scheduler_interval: float
    scheduler_max_concurrent_jobs: int
    scheduler_max_job_lock_time: float
    broker_url: str
    worker_processes: int
    worker_threads: int
    worker_shutdown_timeout: float
    job_timeout: float
    execution_retention: float
    dead_letter_retention: float
    audit_retention: float
    api_keys: tuple[str, ...]
    api_read_keys: tuple[str, ...]
    secret_key: tuple[str, ...]
    signing_key: str
    http_deny_networks: tuple
    http_allow_networks: tuple
    max_body_bytes: int
    log_level: str
    log_format: str
    tick_metrics_host: tuple[str, int] | None
    worker_metrics_host: tuple[str, int] | None
    dev_data_dir: str
    # Options set by a flag or a variable rather than left at their default.
    given: frozenset[str] = field(default=frozenset(), compare=False)

    def environ(self) -> dict[str, str]:
        """The SCHEDULER_* variables that reproduce this config in a child process."""
        return {option.env: _render(option, getattr(self, option.attr)) for option in OPTIONS}


def _host_port(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if sep and not host:  # Go's ":8000": every interface
        host = "0.0.0.0"
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"expected host:port, got {text!r}")
    return host.strip("[]"), int(port)


def _listen(text: str) -> tuple[str, int] | None:
    return None if text.strip().lower() in ("", "off") else _host_port(text)


def _csv(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _networks(text: str) -> tuple:
    networks = []
    for part in _csv(text):
        try:
            networks.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            raise ValueError(f"{part!r} is not a network such as 10.0.0.0/8") from None
    return tuple(networks)


def _fernet_keys(text: str) -> tuple[str, ...]:
    keys = _csv(text)
    for key in keys:
        try:
            Fernet(key)
        except (ValueError, TypeError):
            raise ValueError(
                "not a Fernet key (32 url-safe base64 bytes; see `scheduler keygen`)"
            ) from None
    return keys


def _render(option: Option, value: Any) -> str:
    if option.kind in ("csv", "fernet", "networks"):
        return ",".join(str(item) for item in value)
    if option.kind == "duration":
        return format_duration(value)
    if option.kind in ("host_port", "listen"):
        return f"{value[0]}:{value[1]}" if value else "off"
    if option.kind == "bool":
        return "true" if value else "false"
    return str(value)


class _SourceEnv(Env):
    """environs reading from a given mapping instead of os.environ only."""

    def __init__(self, source: Mapping[str, str]):
        super().__init__(eager=True)
        self._source = source

    def _get_value(self, env_key, default):
        return self._source.get(env_key, default)


_PARSERS = {
    "duration": parse_duration,
    "host_port": _host_port,
    "listen": _listen,
    "csv": _csv,
    "fernet": _fernet_keys,
    "networks": _networks,
}


def load_config(
    overrides: Mapping[str, str] | None = None, environ: Mapping[str, str] | None = None
) -> Config:
    """Parse every option once.

    overrides: values from command-line flags, keyed by flag name ("db-host").
    environ: the environment to read (default os.environ).
    """
    # Defaults go into the source too, so that they are parsed like any given value.
    source = {option.env: option.default for option in OPTIONS}
    source.update(os.environ if environ is None else environ)
    for flag, value in (overrides or {}).items():
        source[_option_by_flag(flag).env] = value
    given_envs = {
        *(os.environ if environ is None else environ),
        *(_option_by_flag(flag).env for flag in overrides or {}),
    }
    env = _SourceEnv(source)
    for kind, parse in _PARSERS.items():
        env.add_parser(kind, _strict(parse))
    values = {}
    for option in OPTIONS:
        try:
            value = getattr(env, option.kind)(option.env)
        except EnvError as error:
            raise ConfigError(_bad(option, source[option.env], _reason(error))) from None
        if option.minimum is not None and value < option.minimum:
            raise ConfigError(
                _bad(option, source[option.env], f"must be at least {option.minimum}")
            )
        values[option.attr] = value
    values["log_level"] = values["log_level"].upper()
    values["log_format"] = values["log_format"].lower()
    if values["log_format"] not in _LOG_FORMATS:
        raise ConfigError(
            _bad(_option_by_flag("log-format"), values["log_format"], f"one of {_LOG_FORMATS}")
        )
    both = set(values["api_keys"]) & set(values["api_read_keys"])
    if both:
        raise ConfigError(
            _bad(_option_by_flag("api-read-keys"), "***", "a key may not also be in api-keys")
        )
    values["given"] = frozenset(o.flag for o in OPTIONS if o.env in given_envs)
    if values["log_level"] not in _LOG_LEVELS:
        raise ConfigError(
            _bad(_option_by_flag("log-level"), values["log_level"], f"one of {_LOG_LEVELS}")
        )
    return Config(**values)


def _strict(parse):
    def parser(value):
        try:
            return parse(value)
        except ValueError as error:
            raise EnvError(str(error)) from None

    return parser


def _reason(error: EnvError) -> str:
    messages = getattr(error, "error_messages", None) or [str(error)]
    return "; ".join(str(m) for m in messages).rstrip(".")


def _bad(option: Option, raw: str, reason: str) -> str:
    shown = REDACTED if option.secret else repr(raw)
    return f"invalid value {shown} for --{option.flag} ({option.env}): {reason}"


def _option_by_flag(flag: str) -> Option:
    for option in OPTIONS:
        if option.flag == flag:
            return option
    raise ConfigError(f"unknown option --{flag}")


def describe_options() -> list[tuple[str, str, str, str]]:
    """(flag, variable, default, meaning) of every option, secrets' defaults hidden."""
    return [(f"--{o.flag}", o.env, _shown_default(o), o.meaning) for o in OPTIONS]


def _shown_default(option: Option) -> str:
    if not option.secret or not option.default:
        return option.default
    return redact_url(option.default) if "://" in option.default else REDACTED


assert {f.name for f in fields(Config)} == {o.attr for o in OPTIONS} | {"given"}
assert len(_BY_ENV) == len(OPTIONS)
