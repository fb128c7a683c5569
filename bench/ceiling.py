"""The ceiling: the same HTTP calls through a bare Dramatiq + RabbitMQ + requests pipeline.

    python bench/ceiling.py [--jobs 10000] [--processes P] [--threads T] [--target-delay 0s]

No database and no scheduler: on a private vhost, a `dramatiq` worker (--processes x
--threads, by default the service's worker defaults) runs an actor
(bench/ceiling_actor.py) that makes one POST to a local target and nothing else,
with a requests.Session per thread. A producer process enqueues --jobs messages,
as many sends at once as the tick makes (SENDS_AT_ONCE), each with a publisher confirm.
Prints messages/s, from the first send and from the first arrival at the target to
the last, what reached the target, peak memory per worker process, and CPU per
message of the producer, the worker processes and the RabbitMQ node.
bench/burst.py runs it next to its burst (--no-ceiling skips it).
"""

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import harness

from actors.messages import SENDS_AT_ONCE
from testkit.polling import wait_for
from testkit.services import Services, private_vhost
from testkit.stack import kill_group
from testkit.target import Target

BENCH = Path(__file__).resolve().parent
DRAMATIQ = str(Path(sys.executable).parent / "dramatiq")
QUEUE = "ceiling"  # ceiling_actor.QUEUE; importing that module would connect to a broker


def figures(ceiling: harness.Measured, messages: int) -> list[list]:
    return [
        *ceiling.rate_rows("messages", "first send"),
        ["received", ceiling.got.received],
        ["distinct messages received", f"{ceiling.got.distinct}/{messages}"],
        ["duplicates", ceiling.got.duplicates],
        ["lost (never received)", ceiling.got.lost],
        *[[f"peak MB {label}", mb] for label, mb in ceiling.memory],
    ]


@contextlib.contextmanager
def _worker(broker_url: str, processes: int, threads: int, log: Path) -> Iterator:
    """The `dramatiq` worker, in a session of its own so that stopping it takes its
    forked processes too, and so that a Ctrl-C at the terminal reaches only us."""
    command = [DRAMATIQ, "ceiling_actor", "--path", str(BENCH)]
    command += ["--processes", str(processes), "--threads", str(threads)]
    with open(log, "ab") as out:
        process = subprocess.Popen(
            command,
            env={**os.environ, "CEILING_BROKER_URL": broker_url},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield process
    finally:
        process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=30)
        kill_group(process.pid)
        process.wait()


def _log_tail(log: Path) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-30:])


def measure(
    target: Target,
    messages: int,
    processes: int,
    threads: int,
    keep_logs: bool = False,
    timeout: float = 600,
) -> harness.Measured:
    """`messages` calls to `target` through the bare pipeline, on a vhost of its own
    removed at the end (also on Ctrl-C, or SIGTERM under harness.run)."""
    name = f"scheduler_bench_{uuid.uuid4().hex[:8]}"
    workdir = Path(tempfile.mkdtemp(prefix=f"{name}_ceiling_"))
    with contextlib.ExitStack() as cleanup:
        if keep_logs:
            cleanup.callback(print, f"ceiling logs kept in {workdir}", file=sys.stderr)
        else:
            cleanup.callback(shutil.rmtree, workdir, ignore_errors=True)
        broker_url = cleanup.enter_context(private_vhost(name))
        services = Services(name, workdir)  # for its consumer count, on the same vhost
        log = workdir / "worker.log"
        worker = cleanup.enter_context(_worker(broker_url, processes, threads, log))
        sampler = harness.ResourceSampler(
            {"worker": worker}, broker=harness.broker_pid(services.rabbit)
        )
        cleanup.callback(sampler.stop)  # before the worker stops: its last sample

        def consuming() -> bool:
            if worker.poll() is not None:
                raise RuntimeError(f"the ceiling's worker exited:\n{_log_tail(log)}")
            return services.consumers(QUEUE) >= processes

        if not wait_for(consuming, timeout=60, interval=0.5):
            raise RuntimeError(f"the ceiling's worker did not start consuming:\n{_log_tail(log)}")

        prefix = f"{name}-"
        sampler.mark()
        here = time.process_time()
        produced = subprocess.run(
            [sys.executable, str(BENCH / "ceiling_actor.py"), target.url, str(messages), prefix],
            env={**os.environ, "CEILING_BROKER_URL": broker_url},
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if produced.returncode:
            raise RuntimeError(f"the ceiling's producer failed:\n{produced.stderr[-3000:]}")
        sent = json.loads(produced.stdout)
        slots = {f"{prefix}{i}": sent["first"] for i in range(messages)}
        harness.wait_received(target, slots, sent["first"] + timeout)
        mine = [hit for hit in target.hits if hit.job_id in slots]
        # The window ends once the target has answered the last call it received.
        wait_for(lambda: all(hit.answered for hit in mine), timeout=target.delay + 10)
        sampler.end_window()
        here = time.process_time() - here
        return harness.Measured(
            got=harness.deliveries(mine, slots),
            started=sent["first"],
            in_flight=harness.peak_in_flight(mine),
            cpu=harness.cpu_components(sampler, here, sender=sent["cpu"]),
            memory=sampler.memory_rows(),
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    harness.add_pipeline_arguments(parser, "messages")
    harness.add_common_arguments(parser)
    args = parser.parse_args()
    processes, threads = harness.worker_counts(args)

    with Target(args.target_delay) as target:
        ceiling = measure(target, args.jobs, processes, threads, args.keep_logs)
    settings = {
        "messages": args.jobs,
        "workers": f"{processes}x{threads}",
        "senders": SENDS_AT_ONCE,
        "target_delay": f"{args.target_delay:g}s",
    }
    title = "Ceiling: bare Dramatiq + RabbitMQ + requests, no database"
    harness.print_table(title, settings, ["figure", "value"], figures(ceiling, args.jobs))
    print()
    rows = harness.cpu_rows([(ceiling.cpu, ceiling.got.distinct)])
    harness.print_table("CPU ms per message", {}, ["component", "ms"], rows)


if __name__ == "__main__":
    harness.run(main)
