"""Seconds from starting a command to the first answered API request.

    python bench/first_request.py [--cwd DIR] [--url URL] [--] COMMAND...

Default: `make run` in the current directory, polling http://127.0.0.1:8000/health
every 50 ms. Prints the time to the first HTTP answer and to the first 200, then
stops the command with SIGTERM and prints how long it took to exit. Run it in a
fresh clone to include creating the virtual environment and installing.
"""

import argparse
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request

from testkit.stack import process_environ


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cwd", default=".")
    parser.add_argument("--url", default="http://127.0.0.1:8000/health")
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("command", nargs="*", default=["make", "run"])
    args = parser.parse_args()
    started = time.monotonic()
    process = subprocess.Popen(
        args.command,
        cwd=args.cwd,
        env=process_environ(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    first_answer = None
    try:
        while time.monotonic() - started < args.timeout:
            try:
                with urllib.request.urlopen(args.url, timeout=1) as response:
                    status = response.status
            except urllib.error.HTTPError as error:
                status = error.code
            except OSError:
                status = None
            if status is not None and first_answer is None:
                first_answer = time.monotonic() - started
            if status == 200:
                break
            if process.poll() is not None:
                raise SystemExit(f"command exited with {process.returncode} before answering")
            time.sleep(0.05)
        else:
            raise SystemExit("no answer within the timeout")
        ready = time.monotonic() - started
        print(f"first answer: {first_answer:.2f} s")
        print(f"first 200:    {ready:.2f} s")
    finally:
        stopping = time.monotonic()
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=60)
        print(f"stopped in:   {time.monotonic() - stopping:.2f} s (exit {process.returncode})")


if __name__ == "__main__":
    main()
