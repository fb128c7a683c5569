"""The commands themselves: startup errors, flags, and stopping on SIGTERM."""

import signal
import subprocess
import time

import pytest
import requests

from app.config import OPTIONS, load_config
from testkit.services import scheduler_environ
from testkit.stack import SCHEDULER, free_port, process_environ

pytestmark = pytest.mark.e2e


def run(*args: str, environ: dict | None = None, timeout: float = 30):
    return subprocess.run(
        [SCHEDULER, *args],
        env=process_environ(environ),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_flags_prints_every_option_with_variable_and_default():
    result = run("flags")
    assert result.returncode == 0
    for option in OPTIONS:
        line = next(line for line in result.stdout.splitlines() if f"--{option.flag} " in line)
        assert option.env in line
        if not option.secret:
            assert option.default in line
    assert "guest:guest" not in result.stdout


def test_a_bad_value_stops_startup_with_one_line_naming_the_option():
    result = run("tick", environ={"SCHEDULER_SCHEDULER_INTERVAL": "often"})
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "--scheduler-interval" in lines[0] and "SCHEDULER_SCHEDULER_INTERVAL" in lines[0]
    assert "Traceback" not in result.stderr


def test_a_bad_flag_value_is_reported_the_same_way():
    result = run("web", "--db-max-open-conns", "lots")
    assert result.returncode == 2
    assert "--db-max-open-conns" in result.stderr and "Traceback" not in result.stderr


def _start(environ: dict, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [SCHEDULER, *args],
        env=process_environ(environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_web_and_tick_stop_cleanly_on_sigterm(database_name, rabbit_vhost):
    address = f"127.0.0.1:{free_port()}"
    environ = scheduler_environ(
        SCHEDULER_DB_NAME=database_name,
        SCHEDULER_BROKER_URL=rabbit_vhost,
        SCHEDULER_WEB_API_HOST=address,
        SCHEDULER_SCHEDULER_INTERVAL="10s",
    )
    web, tick = _start(environ, "web"), _start(environ, "tick")
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if requests.get(f"http://{address}/health", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                time.sleep(0.1)
        time.sleep(0.5)  # let tick enter its wait
        started = time.monotonic()
        for process in (web, tick):
            process.send_signal(signal.SIGTERM)
        assert web.wait(timeout=15) == 0
        assert tick.wait(timeout=15) == 0
        # The tick does not sit out its 10 s interval.
        assert time.monotonic() - started < 5
        assert "tick instance1 stopped" in tick.stdout.read()
    finally:
        for process in (web, tick):
            if process.poll() is None:
                process.kill()
                process.wait()


def test_dev_without_api_keys_refuses_to_listen_beyond_loopback(tmp_path):
    result = run(
        "dev",
        "--web-api-host",
        f"0.0.0.0:{free_port()}",
        environ={"SCHEDULER_DEV_DATA_DIR": str(tmp_path)},
    )
    assert result.returncode == 2
    assert "SCHEDULER_API_KEYS" in result.stderr and "loopback" in result.stderr
    assert not (tmp_path / "pgdata").exists()  # refused before starting anything


def test_keygen_prints_a_usable_secret_key():
    result = run("keygen")
    assert result.returncode == 0
    key = result.stdout.strip()
    assert load_config(environ={"SCHEDULER_SECRET_KEY": key}).secret_key == (key,)
