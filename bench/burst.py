"""Throughput of a burst: N one-off HTTP jobs all due at the same instant.

    python bench/burst.py [--jobs 10000] [--processes P] [--threads T] [--target-delay 0s]

Starts one tick and a worker (--processes x --threads, by default the service's
own defaults, nothing set) on a private database and vhost, inserts the jobs with
one SQL statement, all due --lead seconds later, and NOTIFYs the tick as the API
does when it creates a job (--no-wake leaves the slot to the tick's poll). Waits
until every job has an execution row, or --timeout seconds after the slot. Prints
throughput, drain time, lateness, what reached the local target (duplicates, lost,
peak calls in flight), peak memory of each process, and CPU ms per execution by
component: tick, worker processes, PostgreSQL, RabbitMQ.

First it runs the ceiling (bench/ceiling.py: a bare Dramatiq + RabbitMQ + requests
pipeline, the same processes x threads and calls, no database) and then prints
both side by side; --no-ceiling skips it, as does --target-delay unless --ceiling.
"""

import argparse
import time
from datetime import UTC, datetime

import ceiling
import harness

from testkit.jobs import insert_jobs
from testkit.services import private_services
from testkit.target import Target

SERVICE_LAG = """
SELECT percentile_cont(ARRAY[0.5, 0.99]) WITHIN GROUP (ORDER BY lag_ms), max(lag_ms),
       max(end_time)
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


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    harness.add_pipeline_arguments(parser, "jobs due at once")
    parser.add_argument(
        "--ceiling",
        action=argparse.BooleanOptionalAction,
        help="also run bench/ceiling.py with the same workers and calls (default: "
        "unless --target-delay)",
    )
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
    if args.ceiling is None:
        args.ceiling = not args.target_delay
    return args


def run_burst(
    services, target: Target, args: argparse.Namespace, settings: dict
) -> harness.Measured:
    """The burst, and its table (`settings` gets the workers used)."""
    tick_settings = {}
    if args.max_concurrent is not None:
        tick_settings["SCHEDULER_SCHEDULER_MAX_CONCURRENT_JOBS"] = str(args.max_concurrent)
    if args.interval is not None:
        tick_settings["SCHEDULER_SCHEDULER_INTERVAL"] = args.interval
    with (
        services.stack() as stack,
        services.connect() as connection,
        services.connect() as watch,
        connection.cursor() as cursor,
    ):
        sampler = harness.ResourceSampler(
            stack.processes,
            sessions=harness.database_sessions(watch, services.name, connection),
            broker=harness.broker_pid(services.rabbit),
        )
        stack.stopping.append(sampler.stop)  # a last sample while every process lives
        if args.web:
            stack.start_web()
        stack.start_tick(**tick_settings)
        settings["workers"] = harness.start_worker(stack, services, args)
        slot = time.time() + args.lead
        first = datetime.fromtimestamp(slot, UTC)
        insert_jobs(connection, args.jobs, target.url, first, wake=not args.no_wake)
        sampler.mark()  # after the insert: the CPU of the burst, not of its set-up
        here = time.process_time()
        cursor.execute("SELECT id::text FROM jobs")
        slots = {job_id: slot for (job_id,) in cursor.fetchall()}
        harness.wait_received(target, slots, slot + args.timeout)
        wait_recorded(connection, args.jobs, slot + args.timeout)
        sampler.end_window()
        here = time.process_time() - here
        stack.stop()

        rows, recorded, failed = harness.execution_counts(connection)
        cursor.execute(SERVICE_LAG)
        (lag_p50, lag_p99), lag_max, last_end = cursor.fetchone()
        cursor.execute(LEFT_OVER)
        held, unfinished = cursor.fetchone()
        mine = [hit for hit in target.hits if hit.job_id in slots]
        got = harness.deliveries(mine, slots)
        burst = harness.Measured(
            got=got,
            started=slot,
            in_flight=harness.peak_in_flight(mine),
            cpu=harness.cpu_components(sampler, here),
            memory=sampler.memory_rows(),
        )
        drain = f"{last_end.timestamp() - slot:.2f}" if last_end else "n/a"
        figures = [
            *burst.rate_rows("executions", "slot"),
            ["seconds, slot to last execution end (drain)", drain],
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
            *[[f"peak MB {label}", mb] for label, mb in burst.memory],
            [
                "PostgreSQL sessions seen / closed early",
                f"{len(sampler.of(harness.DATABASE))} / {sampler.closed_early(harness.DATABASE)}",
            ],
            ["PostgreSQL autovacuum workers seen", len(sampler.of(harness.VACUUM))],
        ]
        harness.print_table(
            "Burst: jobs due at one instant", settings, ["figure", "value"], figures
        )
        harness.print_problems(stack)
        return burst


def compare(burst: harness.Measured, ceiling_run: harness.Measured) -> None:
    """Rates, calls in flight and peak memory side by side, and the ratio of the rates."""
    ours = burst.rate_rows("executions", "start")
    theirs = ceiling_run.rate_rows("executions", "start")
    rates = zip(
        burst.got.rates(burst.started), ceiling_run.got.rates(ceiling_run.started), strict=True
    )
    ratios = [f"{a / b:.2f}" if a and b else "n/a" for a, b in rates]
    rows = [
        [label, value, other, ratio]
        for (label, value), (_, other), ratio in zip(ours, theirs, [*ratios, "", ""], strict=True)
    ]
    memory = dict(ceiling_run.memory)
    rows += [
        [f"peak MB {label}", mb, memory[label], ""] for label, mb in burst.memory if label in memory
    ]
    title = "Burst vs ceiling (start: the burst's slot, the ceiling's first send)"
    harness.print_table(title, {}, ["figure", "burst", "ceiling", "ratio"], rows)


def main() -> None:
    args = parse_arguments()
    settings = {
        "jobs": args.jobs,
        "workers": None,  # set once started
        "target_delay": f"{args.target_delay:g}s",
        "max_concurrent": args.max_concurrent or "default",
        "interval": args.interval or "default",
        "lead": f"{args.lead:g}s",
        "wake": not args.no_wake,
        "web": args.web,
        "ceiling": args.ceiling,
    }
    with private_services(args.keep_logs) as services, Target(args.target_delay) as target:
        # The ceiling first: after the burst, autovacuum of its rows would compete with it.
        if args.ceiling:
            processes, threads = harness.worker_counts(args)
            ceiling_run = ceiling.measure(
                target, args.jobs, processes, threads, args.keep_logs, args.timeout
            )
        burst = run_burst(services, target, args, settings)
    columns = [(burst.cpu, burst.got.distinct)]
    header = ["component", "burst"]
    title = "CPU ms per execution (burst: from the insert to the last execution recorded"
    if args.ceiling:
        print()
        compare(burst, ceiling_run)
        columns.append((ceiling_run.cpu, ceiling_run.got.distinct))
        header.append("ceiling")
        title += "; ceiling: from the first send to the last answer"
    print()
    harness.print_table(title + ")", {}, header, harness.cpu_rows(columns))


if __name__ == "__main__":
    harness.run(main)
