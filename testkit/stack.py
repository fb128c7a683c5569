"""The `scheduler` processes of a test or a benchmark run: web, ticks and workers.

Each process starts in a session of its own, so that stopping it can take its whole
process group (a worker's forked children too), and so that a Ctrl-C at the
terminal reaches only the test or benchmark, which then stops them in order.
"""

import contextlib
import os
import random
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import requests

from testkit.polling import wait_for

# The console script of the interpreter running this, so the venv's own.
SCHEDULER = str(Path(sys.executable).parent / "scheduler")

_PROBLEM = re.compile(r"\b(WARNING|ERROR|CRITICAL)\b|Traceback")


def free_port() -> int:
    """A port of 127.0.0.1 nobody listens on, below the ephemeral range.

    A port of that range the kernel called free is also what it hands the next
    outgoing connection as its source, which may take it before the server binds
    it; and while a restarted server is down, its clients' reconnections can
    even connect to themselves on its port and hold it.
    """
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    for port in random.sample(range(10000, low), 200):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port between 10000 and {low}")


def process_environ(settings: dict[str, str] | None = None) -> dict[str, str]:
    """This process's environment without its SCHEDULER_* variables, plus `settings`:
    a child runs with the settings it is given, not with the caller's shell's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCHEDULER_")}
    env.update(settings or {})
    return env


def kill_group(pid: int) -> None:
    """SIGKILL what is left of the process group of `pid`, a process started in a
    session of its own: forked children outlive a parent killed with SIGKILL."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


class Stack:
    """`scheduler` processes sharing `environ` (SCHEDULER_* settings), each logging to
    <logs>/<name>.log, stopped together.

    With `consumers` (a count of the run queue's consumers), start_worker waits until
    every worker process consumes, so that a measurement leaves out their start-up.
    `stopping` holds callables that stop() runs first, while every process still lives
    (a last sample of their memory, which is gone once they exit).
    """

    def __init__(
        self,
        environ: dict[str, str],
        logs: Path,
        consumers: Callable[[], int] | None = None,
    ):
        self.environ = environ
        self.logs = logs
        self.consumers = consumers
        self.processes: dict[str, subprocess.Popen] = {}
        self.launches: dict[str, tuple[tuple[str, ...], dict[str, str]]] = {}
        self.stopping: list[Callable[[], None]] = []
        host = environ.get("SCHEDULER_WEB_API_HOST")
        self.api = f"http://{host}" if host else None
        self._worker_processes = 0

    def start(self, name: str, *args: str, **settings: str) -> subprocess.Popen:
        """`scheduler <args>` under `name`, with the stack's settings and `settings`."""
        previous = self.processes.get(name)
        if previous is not None and previous.poll() is not None:
            kill_group(previous.pid)  # what the one it replaces left behind
        with open(self.logs / f"{name}.log", "ab") as log:
            process = subprocess.Popen(
                [SCHEDULER, *args],
                env=process_environ({**self.environ, **settings}),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.processes[name] = process
        self.launches[name] = (args, settings)
        return process

    def restart(self, name: str) -> subprocess.Popen:
        """Start `name` again as it was first started (its log goes on)."""
        args, settings = self.launches[name]
        return self.start(name, *args, **settings)

    def start_web(self, **settings: str) -> str:
        """web, on a free port unless the settings name one; its URL, once healthy."""
        host = (
            settings.pop("SCHEDULER_WEB_API_HOST", None)
            or self.environ.get("SCHEDULER_WEB_API_HOST")
            or f"127.0.0.1:{free_port()}"
        )
        self.start("web", "web", SCHEDULER_WEB_API_HOST=host, **settings)
        self.api = f"http://{host}"
        self.wait_healthy()
        return self.api

    def start_tick(self, name: str = "tick", **settings: str) -> None:
        self.start(name, "tick", "--scheduler-id", name, **settings)

    def start_worker(
        self, processes: int, threads: int, name: str = "worker", **settings: str
    ) -> None:
        self.start(
            name,
            "worker",
            SCHEDULER_WORKER_PROCESSES=str(processes),
            SCHEDULER_WORKER_THREADS=str(threads),
            **settings,
        )
        self._worker_processes += processes
        if self.consumers is not None:
            self._wait_consumers(name)

    def wait_healthy(self, timeout: float = 30) -> None:
        def healthy() -> bool:
            self.check_alive()
            with contextlib.suppress(requests.RequestException):
                return requests.get(f"{self.api}/health", timeout=1).status_code == 200
            return False

        if not wait_for(healthy, timeout=timeout):
            raise RuntimeError(f"web did not become healthy:\n{self.log_tail('web')}")

    def _wait_consumers(self, name: str, timeout: float = 60) -> None:
        def consuming() -> bool:
            self.check_alive()
            return self.consumers() >= self._worker_processes

        # Each count is a rabbitmqctl call, a CPU second: hence the slow poll.
        if not wait_for(consuming, timeout=timeout, interval=0.5):
            raise RuntimeError(f"workers did not start consuming:\n{self.log_tail(name)}")

    def check_alive(self) -> None:
        for name, process in self.processes.items():
            if process.poll() is not None:
                raise RuntimeError(
                    f"{name} exited with {process.returncode}:\n{self.log_tail(name)}"
                )

    def log_tail(self, name: str, lines: int = 30) -> str:
        text = (self.logs / f"{name}.log").read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def problems(self) -> dict[str, list[str]]:
        """Warning, error and traceback lines of each process's log."""
        found = {}
        for name in self.processes:
            text = (self.logs / f"{name}.log").read_text(errors="replace")
            found[name] = [line for line in text.splitlines() if _PROBLEM.search(line)]
        return found

    def stop(self, timeout: float = 30) -> dict[str, int]:
        """SIGTERM to each process, SIGKILL to its process group after `timeout`, and
        to whatever is left of the group once it has exited; the exit codes."""
        for hook in self.stopping:
            hook()
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        codes = {}
        for name, process in self.processes.items():
            try:
                codes[name] = process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                kill_group(process.pid)
                codes[name] = process.wait()
            kill_group(process.pid)
        return codes

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

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
