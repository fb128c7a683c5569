"""Lateness of HTTP jobs: target arrival minus the job's slot.

    python bench/lag.py [--jobs 200] [--spread 60] [--every-second 0]
    python bench/lag.py --steady 20m [--every-second 30] [--per-second 10]

Starts web, one tick (default interval, so API creations wake it but due slots
wait for its poll) and the service's default worker on a private database and
vhost. By default it creates --jobs one-off jobs through the API with slots spread
evenly over --spread seconds, the first --lead seconds ahead, and waits until each
has reached a local target. With --every-second K it first creates K recurring
"* * * * * *" jobs, and measures their fires over the same window as the one-off
slots; their fires before it (the warm-up: first calls of each worker thread,
while the one-off jobs are being created) get a row of their own.

With --steady DURATION: K every-second jobs (default 30) and --per-second one-off
jobs a second (default 10), each created through the API --lead seconds before
its slot, for DURATION; prints lateness p50/p99 and the tick's and workers'
resident memory each minute, then over the whole run.
"""

import argparse
import math
import threading
import time
from datetime import datetime

import harness

from testkit.jobs import http_job
from testkit.services import private_services
from testkit.target import Hit, Target

# Arrivals later than this after a minute's last slot count as lost in its row.
MINUTE_MARGIN = 2.0


def recurring_fires(
    hits: list[Hit], jobs: set[str], start: float, end: float
) -> tuple[int, int, int, list[float]]:
    """(fires, duplicates, slots expected, lateness) of the every-second `jobs`, all
    created before `start`, for the slots in [start, end)."""
    first: dict[tuple[str, float], float] = {}
    received = 0
    for hit in hits:
        if hit.job_id not in jobs or hit.scheduled_for is None:
            continue
        slot = datetime.fromisoformat(hit.scheduled_for).timestamp()
        if not start <= slot < end:
            continue
        received += 1
        key = (hit.job_id, slot)
        first[key] = min(hit.at, first.get(key, hit.at))
    expected = len(jobs) * (math.ceil(end) - math.ceil(start))  # whole seconds in [start, end)
    lateness = [at - slot for (_, slot), at in first.items()]
    return len(first), received - len(first), expected, lateness


def one_off_lateness(hits: list[Hit], slots: dict[str, float], start: float, end: float):
    """What the target received of the one-off jobs due in [start, end)."""
    return harness.deliveries(hits, {job: at for job, at in slots.items() if start <= at < end})


def lateness_cells(values: list[float]) -> list[str]:
    return [harness.ms(harness.percentile(values, p)) for p in (50, 95, 99, 100)]


def create_every_second(session, api: str, url: str, count: int) -> dict[str, float]:
    """`count` recurring every-second jobs; job id -> time just before its creation."""
    created = {}
    for _ in range(count):
        body = {"type": "HTTP", "cron_schedule": "* * * * * *", "http_job": http_job(url)}
        before = time.time()
        response = session.post(f"{api}/v1/jobs", json=body, timeout=30)
        response.raise_for_status()
        created[response.json()["id"]] = before
    return created


def light(args, api, session, target, stack) -> tuple[list[list], str]:
    """The default scenario: its table rows, and a line about the creations."""
    created = create_every_second(session, api, target.url, args.every_second)
    spread = harness.create_spread(session, api, target.url, args.jobs, args.spread, args.lead)
    # The window measured: the one-off slots, and the every-second ones among them.
    window = (spread.first, spread.first + args.spread)
    harness.wait_received(target, spread.slots, window[1] + args.timeout)
    time.sleep(max(0.0, window[1] + 1 - time.time()))  # the last second's fires
    stack.stop()

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
        jobs = set(created)
        fires, duplicates, expected, lateness = recurring_fires(target.hits, jobs, *window)
        table.append(["every second", f"{fires}/{expected}", duplicates, *lateness_cells(lateness)])
        # Not measured above: the slots from their creation to the window.
        fires, duplicates, _, lateness = recurring_fires(
            target.hits, jobs, min(created.values()), window[0]
        )
        warm_up = ["every second, warm-up", f"{fires}/-", duplicates, *lateness_cells(lateness)]
        table.append(warm_up)
    creation = (
        f"API create p50 {harness.ms(harness.percentile(spread.create_seconds, 50))} ms; "
        f"creation ended {spread.margin:.1f} s before the first slot"
    )
    return table, creation


STEADY_HEADER = [
    "minute",
    "one-off",
    "p50 ms",
    "p99 ms",
    "every-second",
    "p50 ms",
    "p99 ms",
    "all p50 ms",
    "all p99 ms",
    "MB tick",
    "MB worker",
]
# Wide enough for a whole run's counts (36000/36000) below each minute's.
WIDTHS = [max(len(head), 11 if "-" in head else 0) for head in STEADY_HEADER]


def steady_row(label: str, hits: list[Hit], slots, jobs: set[str], start, end, memory) -> str:
    """One line of the steady table: the slots in [start, end) and `memory` now."""
    one_off = one_off_lateness(hits, slots, start, end)
    fires, _, expected, lateness = recurring_fires(hits, jobs, start, end)
    both = one_off.lateness + lateness
    cells = [
        label,
        f"{one_off.distinct}/{one_off.distinct + one_off.lost}",
        *[harness.ms(harness.percentile(one_off.lateness, p)) for p in (50, 99)],
        f"{fires}/{expected}",
        *[harness.ms(harness.percentile(lateness, p)) for p in (50, 99)],
        *[harness.ms(harness.percentile(both, p)) for p in (50, 99)],
        *memory,
    ]
    return "  ".join(cell.rjust(width) for cell, width in zip(cells, WIDTHS, strict=True))


def steady(args, api, session, target, stack, settings) -> None:
    """The steady scenario, printed as it goes."""
    sampler = harness.ResourceSampler(stack.processes, interval=60)  # sampled each minute
    stack.stopping.append(sampler.stop)
    jobs = set(create_every_second(session, api, target.url, args.every_second or 30))
    count = round(args.per_second * args.steady)
    spread = harness.Spread()
    failed: list[Exception] = []

    def create() -> None:
        try:
            harness.create_spread(
                session, api, target.url, count, args.steady, args.lead, paced=True, result=spread
            )
        except Exception as error:  # raised in the main thread, at its next look
            failed.append(error)

    # A daemon: after a Ctrl-C the creations must not hold the exit for the rest of the run.
    creating = threading.Thread(target=create, name="create", daemon=True)
    creating.start()
    # create_spread sets the first slot at once; until it has, the window is unknown.
    while not spread.first:
        time.sleep(0.01)
    title = (
        f"Steady load: {len(jobs)} every-second jobs + {args.per_second:g} one-off jobs/s "
        "created through the API; lateness at the target (arrival - slot) by slot minute"
    )
    print(title)
    print("settings: " + " ".join(f"{key}={value}" for key, value in settings.items()))
    header = "  ".join(head.rjust(width) for head, width in zip(STEADY_HEADER, WIDTHS, strict=True))
    print(header)
    print("-" * len(header), flush=True)
    start, end = spread.first, spread.first + args.steady
    for minute in range(math.ceil(args.steady / 60)):
        low, high = start + 60 * minute, min(start + 60 * (minute + 1), end)
        while time.time() < high + MINUTE_MARGIN:
            if failed:
                raise failed[0]
            time.sleep(0.2)
        sampler.sample()
        memory = [
            "/".join(f"{u.now_kb / 1024:.0f}" for u in sampler.of(name))
            for name in ("tick", "worker")
        ]
        hits, slots = list(target.hits), dict(spread.slots)
        print(steady_row(str(minute + 1), hits, slots, jobs, low, high, memory), flush=True)
    creating.join()
    if failed:
        raise failed[0]
    stack.stop()
    peak = dict(sampler.memory_rows())
    memory = [
        peak.get("tick", "n/a"),
        "/".join(mb for label, mb in peak.items() if "worker" in label),
    ]
    print("-" * len(header))
    print(steady_row("all", target.hits, spread.slots, jobs, start, end, memory))
    print("(all: memory is each process's peak)")


EVERY_SECOND_HELP = 'also K recurring "* * * * * *" jobs (default 0; with --steady 30)'
STEADY_HELP = "a steady load for this long, e.g. 20m, instead of --jobs over --spread"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add = parser.add_argument
    add("--jobs", type=int, default=200, help="one-off jobs (default 200)")
    add("--every-second", type=int, default=0, metavar="K", help=EVERY_SECOND_HELP)
    add("--spread", type=float, default=60, help="seconds their slots cover (default 60)")
    add("--steady", type=harness.duration, metavar="DURATION", help=STEADY_HELP)
    add("--per-second", type=float, default=10, help="--steady's one-offs a second (default 10)")
    add("--lead", type=float, default=5, help="seconds from creation to the first slot (default 5)")
    harness.add_worker_arguments(parser)
    add("--timeout", type=float, default=30, help="seconds to wait for stragglers (default 30)")
    harness.add_common_arguments(parser)
    args = parser.parse_args()

    with (
        private_services(args.keep_logs) as services,
        Target() as target,
        services.stack() as stack,
    ):
        api = stack.start_web()
        stack.start_tick()
        processes, threads = harness.worker_counts(args)
        stack.start_worker(processes, threads)
        session = services.session()
        settings = {
            "lead": f"{args.lead:g}s",
            "workers": f"{processes}x{threads}",
            "tick": "1 (default interval)",
        }
        if args.steady:
            settings = {"duration": f"{args.steady:g}s", **settings}
            steady(args, api, session, target, stack, settings)
        else:
            table, creation = light(args, api, session, target, stack)
            settings = {
                "jobs": args.jobs,
                "spread": f"{args.spread:g}s",
                "every_second": args.every_second,
                **settings,
            }
            header = ["jobs", "received/expected", "dups", "p50 ms", "p95 ms", "p99 ms", "max ms"]
            harness.print_table("Lateness: target arrival - slot", settings, header, table)
            print(creation)
        with services.connect() as connection:
            rows, _, failed = harness.execution_counts(connection)
        print(f"executions recorded: {rows} (not SUCCESSFUL: {failed})")
        harness.print_problems(stack)


if __name__ == "__main__":
    harness.run(main)
