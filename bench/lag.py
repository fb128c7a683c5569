"""Lateness of one-off HTTP jobs: target arrival minus the job's slot.

    python bench/lag.py [--jobs 200] [--spread 60] [--every-second 0]

Starts web, one tick (default interval, so API creations wake it but due slots
wait for its poll) and one worker process x 8 threads on a private database and
vhost; creates the jobs through the API with slots spread evenly over --spread
seconds, the first --lead seconds ahead; waits until each has reached a local
target. With --every-second K it also creates K recurring "* * * * * *" jobs and
counts their fires over the same window.
"""

import argparse
import time
from datetime import datetime

import harness

from testkit.jobs import http_job
from testkit.services import private_services
from testkit.target import Hit, Target


def recurring_fires(
    hits: list[Hit], created: dict[str, float], end: float
) -> tuple[int, int, int, list[float]]:
    """(fires, duplicates, slots in the window, lateness) of every-second jobs;
    `created`: job id -> creation time. Only slots up to `end` count."""
    first: dict[tuple[str, float], float] = {}
    received = 0
    for hit in hits:
        if hit.job_id not in created or hit.scheduled_for is None:
            continue
        slot = datetime.fromisoformat(hit.scheduled_for).timestamp()
        if slot > end:
            continue
        received += 1
        key = (hit.job_id, slot)
        first[key] = min(hit.at, first.get(key, hit.at))
    expected = sum(int(end) - int(start) for start in created.values())
    lateness = [at - slot for (_, slot), at in first.items()]
    return len(first), received - len(first), expected, lateness


def lateness_cells(values: list[float]) -> list[str]:
    return [harness.ms(harness.percentile(values, p)) for p in (50, 95, 99, 100)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=200, help="one-off jobs (default 200)")
    parser.add_argument(
        "--spread", type=float, default=60, help="seconds their slots cover (default 60)"
    )
    parser.add_argument(
        "--lead", type=float, default=5, help="seconds from now to the first slot (default 5)"
    )
    parser.add_argument("--processes", type=int, default=1, help="worker processes (default 1)")
    parser.add_argument("--threads", type=int, default=8, help="threads per worker (default 8)")
    parser.add_argument(
        "--every-second",
        type=int,
        default=0,
        metavar="K",
        help='also K recurring "* * * * * *" jobs (default 0)',
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=30,
        help="seconds to wait after the last slot for stragglers (default 30)",
    )
    harness.add_common_arguments(parser)
    args = parser.parse_args()

    with (
        private_services(args.keep_logs) as services,
        Target() as target,
        services.stack() as stack,
    ):
        api = stack.start_web()
        stack.start_tick()
        stack.start_worker(args.processes, args.threads)
        session = services.session()
        created = {}
        for _ in range(args.every_second):
            body = {
                "type": "HTTP",
                "cron_schedule": "* * * * * *",
                "http_job": http_job(target.url),
            }
            response = session.post(f"{api}/v1/jobs", json=body, timeout=30)
            response.raise_for_status()
            created[response.json()["id"]] = time.time()
        spread = harness.create_spread(session, api, target.url, args.jobs, args.spread, args.lead)
        end = max(spread.slots.values(), default=time.time())
        harness.wait_received(target, spread.slots, end + args.timeout)
        stack.stop()
        with services.connect() as connection:
            rows, _, failed = harness.execution_counts(connection)

        one_off = harness.deliveries(target.hits, spread.slots)
        table = [
            [
                "one-off",
                f"{one_off.distinct}/{args.jobs}",
                one_off.duplicates,
                *lateness_cells(one_off.lateness),
            ]
        ]
        if created:
            fires, duplicates, expected, lateness = recurring_fires(target.hits, created, end)
            table.append(
                ["every second", f"{fires}/{expected}", duplicates, *lateness_cells(lateness)]
            )
        settings = {
            "jobs": args.jobs,
            "spread": f"{args.spread:g}s",
            "lead": f"{args.lead:g}s",
            "every_second": args.every_second,
            "workers": f"{args.processes}x{args.threads}",
            "tick": "1 (default interval)",
        }
        header = ["jobs", "received/expected", "dups", "p50 ms", "p95 ms", "p99 ms", "max ms"]
        harness.print_table("Lateness: target arrival - slot", settings, header, table)
        print(
            f"executions recorded: {rows} (not SUCCESSFUL: {failed}); "
            f"API create p50 {harness.ms(harness.percentile(spread.create_seconds, 50))} ms; "
            f"creation ended {spread.margin:.1f} s before the first slot"
        )
        harness.print_problems(stack)


if __name__ == "__main__":
    harness.run(main)
