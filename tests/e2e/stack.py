"""Helpers of the end-to-end tests: a recording HTTP target and the process stack."""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import psycopg2
import requests

from app.secrets.sealing import generate_key
from tests.services import admin_connection, scheduler_environ

SCHEDULER = str(Path(sys.executable).parent / "scheduler")


@dataclass
class Hit:
    path: str
    method: str
    headers: dict
    body: bytes
    at: float


@dataclass
class Target:
    """A local HTTP server recording every request. /status/<code> answers <code>;
    /fail/<n>/<key> fails n times per key, then answers 200; /retry-after/<s>/<key>
    answers 429 with Retry-After: <s> once per key, then 200; /sleep/<s>/... waits
    <s> seconds before answering 200; /redirect/<code>?to=<url-encoded URL> answers
    <code> with Location: <URL>; /echo/<code>/... answers <code> with the request's
    headers and body as its body; anything else answers 200."""

    server: ThreadingHTTPServer
    hits: list[Hit] = field(default_factory=list)
    failures: dict = field(default_factory=lambda: defaultdict(int))
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def received(self, prefix: str) -> list[Hit]:
        with self.lock:
            return [hit for hit in self.hits if hit.path.startswith(prefix)]


def handler_for(target: Target):
    class Handler(BaseHTTPRequestHandler):
        def _serve(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            with target.lock:
                target.hits.append(
                    Hit(self.path, self.command, dict(self.headers), body, time.time())
                )
                url = urlsplit(self.path)
                parts = url.path.strip("/").split("/")
                status, headers, answer = 200, {}, b"answer!"
                if parts[0] in ("status", "echo"):
                    status = int(parts[1])
                if parts[0] == "echo":
                    lines = [f"{name}: {value}" for name, value in self.headers.items()]
                    answer = "\n".join(lines).encode() + b"\n\n" + body
                elif parts[0] == "redirect":
                    status = int(parts[1])
                    headers["Location"] = parse_qs(url.query)["to"][0]
                elif parts[0] in ("fail", "retry-after"):
                    key = parts[2]
                    allowed = int(parts[1]) if parts[0] == "fail" else 1
                    if target.failures[key] < allowed:
                        target.failures[key] += 1
                        status = 500 if parts[0] == "fail" else 429
                        if parts[0] == "retry-after":
                            headers["Retry-After"] = parts[1]
            if parts[0] == "sleep":
                time.sleep(float(parts[1]))
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve

        def log_message(self, *args):
            pass

    return Handler


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Stack:
    def __init__(self, environ: dict, logs: Path):
        self.environ = environ
        self.logs = logs
        self.processes: dict[str, subprocess.Popen] = {}
        self.api = f"http://{environ['SCHEDULER_WEB_API_HOST']}"

    def start(self, name: str, *args: str) -> None:
        log = open(self.logs / f"{name}.log", "wb")  # noqa: SIM115 (closed with the process)
        env = {k: v for k, v in os.environ.items() if not k.startswith("SCHEDULER_")}
        env.update(self.environ)
        self.processes[name] = subprocess.Popen(
            [SCHEDULER, *args], env=env, stdout=log, stderr=subprocess.STDOUT
        )

    def wait_healthy(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{self.api}/health", timeout=1).status_code == 200:
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"web did not become healthy:\n{self.log_tail('web')}")

    def log_tail(self, name: str, lines: int = 30) -> str:
        text = (self.logs / f"{name}.log").read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> dict[str, int]:
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        codes = {}
        for name, process in self.processes.items():
            try:
                codes[name] = process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                codes[name] = process.wait()
        return codes

    def post_job(self, body: dict) -> dict:
        response = requests.post(f"{self.api}/v1/jobs", json=body, timeout=10)
        assert response.status_code == 201, response.text
        return response.json()

    def executions(self, job_id: str) -> list[dict]:
        response = requests.get(
            f"{self.api}/v1/jobs/{job_id}/executions", params={"limit": 1000}, timeout=10
        )
        assert response.status_code == 200, response.text
        return response.json()["executions"]


def wait_for(condition, timeout: float = 30, interval: float = 0.1):
    """Poll `condition` until it returns something truthy; that value."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


def run_sql(stack: Stack, statement: str, *params) -> list[tuple]:
    """A statement on the stack's own database (to simulate downtime, or to look
    at what the API does not show); its rows, if it returns any."""
    admin = admin_connection()
    dsn = admin.get_dsn_parameters()
    admin.close()
    connection = psycopg2.connect(
        host=dsn["host"],
        port=dsn["port"],
        user=dsn["user"],
        dbname=stack.environ["SCHEDULER_DB_NAME"],
    )
    try:
        with connection, connection.cursor() as cursor:
            cursor.execute(statement, params)
            return cursor.fetchall() if cursor.description else []
    finally:
        connection.close()


def header(hit: Hit, name: str) -> str | None:
    lowered = {key.lower(): value for key, value in hit.headers.items()}
    return lowered.get(name.lower())


def stack_environ(database: str, broker_url: str, **extra: str) -> dict[str, str]:
    """SCHEDULER_* settings of a test stack: fast ticks, short locks and timeouts."""
    defaults = {
        "SCHEDULER_DB_NAME": database,
        "SCHEDULER_BROKER_URL": broker_url,
        "SCHEDULER_WEB_API_HOST": f"127.0.0.1:{free_port()}",
        "SCHEDULER_SCHEDULER_INTERVAL": "100ms",
        "SCHEDULER_SCHEDULER_MAX_JOB_LOCK_TIME": "10s",
        "SCHEDULER_WORKER_PROCESSES": "2",
        "SCHEDULER_WORKER_THREADS": "8",
        "SCHEDULER_JOB_TIMEOUT": "5s",
        "SCHEDULER_SECRET_KEY": generate_key(),
        # Several ticks and workers share this host: a test that scrapes gives ports.
        "SCHEDULER_TICK_METRICS_HOST": "off",
        "SCHEDULER_WORKER_METRICS_HOST": "off",
    }

    return scheduler_environ(**{**defaults, **extra})


@contextlib.contextmanager
def running_web(database: str, logs: Path, api_key: str):
    """`scheduler web` alone over `database`, wanting `api_key`, until the block ends."""
    web = Stack(
        scheduler_environ(
            SCHEDULER_DB_NAME=database,
            SCHEDULER_WEB_API_HOST=f"127.0.0.1:{free_port()}",
            SCHEDULER_API_KEYS=api_key,
            SCHEDULER_SECRET_KEY=generate_key(),
        ),
        logs,
    )
    web.start("web", "web")
    try:
        web.wait_healthy()
        yield web
    finally:
        web.stop()


@contextlib.contextmanager
def running_stack(environ: dict, logs: Path, ticks=("tick-a", "tick-b"), worker_args=()):
    """web, the given ticks and a worker, until the block ends; their logs are
    printed when they stop, for a failing test to show."""
    running = Stack(environ, logs)
    running.start("web", "web")
    for tick in ticks:
        running.start(tick, "tick", "--scheduler-id", tick)
    running.start("worker", "worker", *worker_args)
    try:
        running.wait_healthy()
        yield running
    finally:
        codes = running.stop()
        for name in running.processes:
            sys.stderr.write(f"--- {name} (exit {codes[name]})\n{running.log_tail(name)}\n")
