"""Throughput of a burst: N one-off HTTP jobs all due at the same instant.

    python bench/burst.py [--jobs 10000] [--processes 2] [--threads 8]

Starts one tick and a worker (--processes x --threads) on a private database and
vhost, inserts the jobs with one SQL statement, all due --lead seconds later, and
NOTIFYs the tick as the API does when it creates a job (--no-wake leaves the slot
to the tick's poll). Waits until every job has an execution row, or --timeout
seconds after the slot. Prints throughput, lateness, what reached the local
target (duplicates, lost), and the peak memory and CPU time of each process.
"""

import argparse
import time
from datetime import UTC, datetime

import harness

from testkit.jobs import insert_jobs
from testkit.services import private_services
from testkit.target import Target

SERVICE_LAG = """
SELECT percentile_cont(ARRAY[0.5, 0.99]) WITHIN GROUP (ORDER BY lag_ms), max(lag_ms)
FROM executions
"""
LEFT_OVER = """
SELECT count(*) FILTER (WHERE lock_token IS NOT NULL),
       count(*) FILTER (WHERE next_run IS NOT NULL)
FROM jobs
"""


def wait_recorded(connection, jobs: int, until: float) -> None:
    """Until every job has an execution row, or the Unix time `until`."""
    while time.time() < until:
        if harness.execution_counts(connection)[1] >= jobs:
            return
        time.sleep(0.5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=10000, help="jobs due at once (default 10000)")
    parser.add_argument("--processes", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument("--threads", type=int, default=8, help="threads per worker (default 8)")
    parser.add_argument(
        "--max-concurrent",
        type=int,
        help="the tick's scheduler-max-concurrent-jobs (default: the service's)",
    )
    parser.add_argument(
        "--interval", help="the tick's scheduler-interval, e.g. 1s (default: the service's)"
    )
    parser.add_argument(
        "--lead", type=float, default=5, help="seconds from the insert to the slot (default 5)"
    )
    parser.add_argument(
        "--timeout", type=float, default=600, help="seconds after the slot to give up (default 600)"
    )
    parser.add_argument("--no-wake", action="store_true", help="do not NOTIFY the tick")
    parser.add_argument("--web", action="store_true", help="also run web, for its memory")
    harness.add_common_arguments(parser)
    args = parser.parse_args()
    tick_settings = {}
    if args.max_concurrent is not None:
        tick_settings["SCHEDULER_SCHEDULER_MAX_CONCURRENT_JOBS"] = str(args.max_concurrent)
    if args.interval is not None:
        tick_settings["SCHEDULER_SCHEDULER_INTERVAL"] = args.interval

    with (
        private_services(args.keep_logs) as services,
        Target() as target,
        services.stack() as stack,
        services.connect() as connection,
        connection.cursor() as cursor,
    ):
        resources = harness.ResourceSampler(stack)
        if args.web:
            stack.start_web()
        stack.start_tick(**tick_settings)
        stack.start_worker(args.processes, args.threads)
        cpu_start = time.process_time()
        slot = time.time() + args.lead
        first = datetime.fromtimestamp(slot, UTC)
        insert_jobs(connection, args.jobs, target.url, first, wake=not args.no_wake)
        cursor.execute("SELECT id::text FROM jobs")
        slots = {job_id: slot for (job_id,) in cursor.fetchall()}
        harness.wait_received(target, slots, slot + args.timeout)
        wait_recorded(connection, args.jobs, slot + args.timeout)
        # Before the stop, while the service's pooled sessions are still open.
        database_cpu = harness.backend_cpu_seconds(connection, services.name)
        stack.stop()

        rows, recorded, failed = harness.execution_counts(connection)
        cursor.execute(SERVICE_LAG)
        (lag_p50, lag_p99), lag_max = cursor.fetchone()
        cursor.execute(LEFT_OVER)
        held, unfinished = cursor.fetchone()
        got = harness.deliveries(target.hits, slots)
        first_at = slot + min(got.lateness, default=0)
        span = (got.last_at or slot) - slot
        figures = [
            ["executions/s, slot to last receipt", f"{got.distinct / span:.0f}" if span else "n/a"],
            [
                "executions/s, first to last receipt",
                f"{(got.distinct - 1) / (got.last_at - first_at):.0f}"
                if got.distinct > 1
                else "n/a",
            ],
            ["seconds, slot to last receipt", f"{span:.2f}"],
            ["received", got.received],
            ["distinct jobs received", f"{got.distinct}/{args.jobs}"],
            ["duplicates", got.duplicates],
            ["lost (never received)", got.lost],
            ["execution rows", rows],
            ["jobs with an execution row", recorded],
            ["rows not SUCCESSFUL", failed],
            ["claims still held at the end", held],
            ["jobs not finished (next_run set)", unfinished],
            ["lateness p50 ms (arrival - slot)", harness.ms(harness.percentile(got.lateness, 50))],
            ["lateness p99 ms", harness.ms(harness.percentile(got.lateness, 99))],
            ["lateness max ms", harness.ms(max(got.lateness, default=None))],
            ["service lag_ms p50 / p99 / max", f"{lag_p50:.0f} / {lag_p99:.0f} / {lag_max}"]
            if rows
            else ["service lag_ms", "n/a"],
        ]
        figures += [
            [f"peak MB / CPU s {label}", f"{mb} / {cpu}"] for label, mb, cpu in resources.rows()
        ]
        figures.append(["CPU s PostgreSQL sessions", f"{database_cpu:.1f}"])
        figures.append(["CPU s this process (target)", f"{time.process_time() - cpu_start:.1f}"])
        settings = {
            "jobs": args.jobs,
            "workers": f"{args.processes}x{args.threads}",
            "max_concurrent": args.max_concurrent or "default",
            "interval": args.interval or "default",
            "lead": f"{args.lead:g}s",
            "wake": not args.no_wake,
            "web": args.web,
        }
        title = "Burst: jobs due at one instant"
        harness.print_table(title, settings, ["figure", "value"], figures)
        harness.print_problems(stack)


if __name__ == "__main__":
    harness.run(main)
