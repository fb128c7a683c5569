"""Claims, lateness and API latency with a big jobs table, beside a small baseline.

    python bench/scale.py [--stored 1000000] [--baseline 1000]

For each size, in a private database of its own, inserts that many one-off jobs
due a year or more ahead (one SQL statement, then VACUUM ANALYZE) and measures:
(a) app.claims.claim_due called from here, with nothing due and with --due jobs
due (claimed, timed, given back, again), and EXPLAIN (ANALYZE, BUFFERS) of its
statement in a rolled-back transaction; then with web, one tick (default
interval) and one worker process running: (b) lateness of --lag-jobs one-off
jobs created through the API over --lag-spread seconds, as bench/lag.py; (c)
list latency of GET /v1/jobs at a deep offset and with keyset `after=<job id>`,
and create latency at a steady --rate requests/s.
"""

import argparse
import itertools
import re
import threading
import time
from datetime import UTC, datetime, timedelta

import harness

from app import claims
from app.claims import statements
from app.config import load_config
from app.db.database import open_database
from testkit.jobs import http_job, insert_jobs
from testkit.services import private_services
from testkit.target import Target

OWNER = "bench-claim"
LOCK_SECONDS = 60.0
MAX_JOBS = 100  # the tick's default scheduler-max-concurrent-jobs
PAGE = 100
# A plan node of EXPLAIN ANALYZE: its indentation and name, then its time and rows.
_NODE = re.compile(
    r"^(?P<indent>\s*(?:->\s+)?)(?P<node>.+?)\s+\(cost=[^)]*\)\s+"
    r"\((?:actual time=[\d.]+\.\.(?P<ms>[\d.]+) rows=(?P<rows>\d+) loops=(?P<loops>\d+)"
    r"|never executed)\)"
)


def time_claims(db, calls: int, due: int) -> list[float]:
    """Seconds of each claim_due call; claims made are given back between calls
    (untimed) so that every call finds the same `due` jobs."""
    seconds = []
    for _ in range(calls):
        started = time.perf_counter()
        made = claims.claim_due(db, OWNER, max(due, MAX_JOBS), LOCK_SECONDS).claims
        seconds.append(time.perf_counter() - started)
        if len(made) != due:
            raise RuntimeError(f"claim_due claimed {len(made)} jobs, {due} were due")
        claims.release(db, made)
    return seconds


def explain_claim(connection, due: int) -> list[str]:
    """Summary of EXPLAIN (ANALYZE, BUFFERS) of the claim, whose changes are rolled back."""
    params = {"owner": OWNER, "max_jobs": max(due, MAX_JOBS), "lock_seconds": LOCK_SECONDS}
    connection.autocommit = False
    try:
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + statements.CLAIM_DUE, params)
            plan = [row[0] for row in cursor.fetchall()]
    finally:
        connection.rollback()
        connection.autocommit = True
    return summary(plan)


def summary(plan: list[str]) -> list[str]:
    """One line per plan node (total ms, rows, loops), the statement's buffers, its times."""
    lines = []
    for line in plan:
        node = _NODE.match(line)
        if node and node["ms"] is None:
            lines.append(f"{node['indent']}{node['node']}: never executed")
        elif node:
            loops = f" x{node['loops']} loops" if node["loops"] != "1" else ""
            lines.append(
                f"{node['indent']}{node['node']}: {node['ms']} ms, {node['rows']} rows{loops}"
            )
    buffers = next((line.strip() for line in plan if "Buffers:" in line), "Buffers: none")
    times = [line.strip() for line in plan if line.strip().endswith(" ms") and "Time:" in line]
    return [*lines, f"{buffers}; {'; '.join(times)}"]


def paced_creates(services, api: str, url: str, rate: float, seconds: float, clients: int):
    """POST /v1/jobs at a steady `rate` from `clients` threads: (latencies, errors,
    achieved rate). Request i is sent at start + i/rate, or at once if behind."""
    total = int(rate * seconds)
    numbers = itertools.count()  # next() of a count is atomic under the GIL
    latencies, errors = [], []
    far = datetime.now(UTC) + timedelta(days=400)
    start = time.perf_counter() + 0.2

    def client():
        session = services.session()
        while (i := next(numbers)) < total:
            time.sleep(max(0.0, start + i / rate - time.perf_counter()))
            body = {
                "type": "HTTP",
                "execute_at": (far + timedelta(seconds=i)).isoformat(),
                "http_job": http_job(url),
            }
            sent = time.perf_counter()
            response = session.post(f"{api}/v1/jobs", json=body, timeout=30)
            latencies.append(time.perf_counter() - sent)
            if response.status_code != 201:
                errors.append(response.status_code)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, errors, total / (time.perf_counter() - start)


def timed_gets(session, url: str, params: dict, count: int) -> tuple[list[float], list[dict]]:
    """Seconds of `count` identical GETs, and the last answer's jobs."""
    seconds, jobs = [], []
    for _ in range(count):
        started = time.perf_counter()
        response = session.get(url, params=params, timeout=120)
        seconds.append(time.perf_counter() - started)
        response.raise_for_status()
        jobs = response.json()
    return seconds, jobs


def list_latency(session, api: str, connection, size: int, args) -> dict[str, str]:
    """p50/p99 of a deep offset page, and of a page as deep by keyset (`after`)."""
    offset = max(0, size - args.list_from_end)
    with connection.cursor() as cursor:
        # The page after `before` starts with `first`, by the API's order.
        cursor.execute(
            "SELECT id::text FROM jobs ORDER BY created_at, id OFFSET %s LIMIT 2",
            (max(offset - 1, 0),),
        )
        before, first = (row[0] for row in cursor.fetchall())
    url = f"{api}/v1/jobs"
    seconds, _ = timed_gets(session, url, {"limit": PAGE, "offset": offset}, args.list_requests)
    figures = {
        "list deep offset": str(offset),
        "list offset p50 ms": harness.ms(harness.percentile(seconds, 50)),
        "list offset p99 ms": harness.ms(harness.percentile(seconds, 99)),
    }
    keyset = {"limit": PAGE, "after": before}
    probe = session.get(url, params=keyset, timeout=120)
    if probe.status_code != 200:
        verdict = f"n/a ({probe.status_code})"
    elif not probe.json() or probe.json()[0]["id"] != first:
        verdict = "n/a (after ignored)"
    else:
        seconds, _ = timed_gets(session, url, keyset, args.list_requests)
        figures["list after=<id> p50 ms"] = harness.ms(harness.percentile(seconds, 50))
        figures["list after=<id> p99 ms"] = harness.ms(harness.percentile(seconds, 99))
        return figures
    figures["list after=<id> p50 ms"] = figures["list after=<id> p99 ms"] = verdict
    return figures


def measure(size: int, args) -> tuple[dict[str, str], list[str], list[str]]:
    """Figures, EXPLAIN summaries and log problems with `size` jobs stored."""
    figures: dict[str, str] = {}
    with (
        private_services(args.keep_logs) as services,
        Target() as target,
        services.connect() as connection,
        connection.cursor() as cursor,
    ):
        started = time.perf_counter()
        year = datetime.now(UTC) + timedelta(days=365)
        insert_jobs(connection, size, target.url, year, step=1.0)
        # As autovacuum would have left a table that old: statistics and visibility map.
        cursor.execute("VACUUM ANALYZE jobs")
        figures["insert + VACUUM ANALYZE s"] = f"{time.perf_counter() - started:.1f}"

        db = open_database(load_config(environ=services.environ()))
        try:
            idle = time_claims(db, args.claims, 0)
            explained = ["nothing due:", *explain_claim(connection, 0)]
            past = datetime.now(UTC) - timedelta(seconds=1)
            insert_jobs(connection, args.due, target.url, past)
            busy = time_claims(db, args.claims, args.due)
            explained += [f"{args.due} due:", *explain_claim(connection, args.due)]
            cursor.execute("DELETE FROM jobs WHERE next_run <= now()")
        finally:
            db.close_all()
        for name, seconds in (("nothing due", idle), (f"{args.due} due", busy)):
            for p in (50, 99):
                figures[f"claim_due {name} p{p} ms"] = harness.ms(harness.percentile(seconds, p))

        with services.stack() as stack:
            api = stack.start_web()
            stack.start_tick()
            stack.start_worker(1, 8)
            session = services.session()
            spread = harness.create_spread(
                session, api, target.url, args.lag_jobs, args.lag_spread, args.lead
            )
            end = max(spread.slots.values())
            harness.wait_received(target, spread.slots, end + args.lag_timeout)
            got = harness.deliveries(target.hits, spread.slots)
            figures["lag received/expected"] = f"{got.distinct}/{args.lag_jobs}"
            for p in (50, 95, 99, 100):
                name = "max" if p == 100 else f"p{p}"
                figures[f"lag {name} ms"] = harness.ms(harness.percentile(got.lateness, p))

            figures.update(list_latency(session, api, connection, size, args))
            latencies, errors, achieved = paced_creates(
                services, api, target.url, args.rate, args.seconds, args.clients
            )
            figures["create achieved req/s"] = f"{achieved:.0f}"
            figures["create p50 ms"] = harness.ms(harness.percentile(latencies, 50))
            figures["create p99 ms"] = harness.ms(harness.percentile(latencies, 99))
            figures["create errors"] = str(len(errors))
            stack.stop()
            problems = [
                f"{name}: {line[:300]}"
                for name, lines in stack.problems().items()
                for line in lines[:5]
            ]
    return figures, explained, problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add = parser.add_argument
    add("--stored", type=int, default=1_000_000, help="jobs stored (default 1000000)")
    add("--baseline", type=int, default=1000, help="jobs stored in the baseline (default 1000)")
    add("--claims", type=int, default=200, help="timed claim_due calls per case (default 200)")
    add("--due", type=int, default=100, help="jobs due in the second claim case (default 100)")
    add("--lag-jobs", type=int, default=100, help="one-off jobs of the lag test (default 100)")
    add("--lag-spread", type=float, default=30, help="seconds their slots cover (default 30)")
    add("--lead", type=float, default=5, help="seconds from now to the first slot (default 5)")
    add("--lag-timeout", type=float, default=30, help="wait after the last slot (default 30)")
    add("--list-requests", type=int, default=20, help="timed GETs per list case (default 20)")
    add(
        "--list-from-end",
        type=int,
        default=1000,
        help="the deep page starts this many jobs before the end (default 1000)",
    )
    add("--rate", type=float, default=100, help="creates per second (default 100)")
    add("--seconds", type=float, default=10, help="seconds of creating (default 10)")
    add("--clients", type=int, default=4, help="client threads creating (default 4)")
    harness.add_common_arguments(parser)
    args = parser.parse_args()

    sizes = [args.baseline, args.stored]
    results = [measure(size, args) for size in sizes]
    settings = {
        "stored": sizes,
        "claims": args.claims,
        "due": args.due,
        "lag": f"{args.lag_jobs}/{args.lag_spread:g}s",
        "list_requests": args.list_requests,
        "create": f"{args.rate:g}/s x {args.seconds:g}s, {args.clients} clients",
        "workers": "1x8",
        "tick": "1 (default interval)",
    }
    header = ["figure", *(f"{size} stored" for size in sizes)]
    names = list(dict.fromkeys(name for figures, _, _ in results for name in figures))
    rows = [[name, *(figures.get(name, "") for figures, _, _ in results)] for name in names]
    harness.print_table("Scale: a big jobs table", settings, header, rows)
    for size, (_, explained, problems) in zip(sizes, results, strict=True):
        print(f"\nEXPLAIN (ANALYZE, BUFFERS) of the claim, {size} stored, nodes only:")
        print("\n".join(f"  {line}" for line in explained))
        if problems:
            print(f"warning/error lines with {size} stored:")
            print("\n".join(f"  {line}" for line in problems))


if __name__ == "__main__":
    harness.run(main)
