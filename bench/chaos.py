"""Chaos: SIGKILL ticks and workers, restart RabbitMQ and PostgreSQL, while jobs run.

Then checks that no job was lost, no job ran twice at once, every repeat was an
at-least-once redelivery carrying the same delivery id, and every failure left its
dead letter and had its callback delivered.

    python bench/chaos.py [--jobs 3000] [--spread 60] [--recurring 20] [--kill-every 3]

Runs on a PostgreSQL instance and a RabbitMQ node of its own (started here, on
free ports of 127.0.0.1, removed at the end), so that restarting them harms
nobody. Starts web, two ticks and two `scheduler worker` commands (--processes x
--threads each) under a supervisor that restarts whatever exits; creates the
one-off jobs through the API, due over --spread seconds, and --recurring every-second
jobs ending with the spread, all calling a target in this process that holds each
request 20-300 ms and notes whether another delivery of the same job was in
flight. Over the spread it SIGKILLs a random tick, worker command or forked worker
process every --kill-every seconds, restarts RabbitMQ at a third (a clean node stop,
then a start on the same data) and PostgreSQL at two thirds (`pg_ctl stop -m
immediate`, a crash, then a start that recovers from the WAL). Then it waits until
every job is done (or --settle seconds) and prints the report. Locks last 10 s and
an attempt at most 5 s, so that a claim lost with its holder comes back within the
run; the ticks keep the service's scheduler-interval (10 s) unless --interval says
otherwise. --failing one-off jobs, due over the spread too, call a route that
answers 500, with no retry and an `on_failure` callback to the target: each must
end with a FAILED execution, its dead letter, and its callback received. Exit
status 1 when a job was lost, two deliveries of one job overlapped, a repeat
carried another delivery id, or a dead letter or a callback was lost; 77 when the
private servers cannot run on this machine.
"""

import argparse
import contextlib
import json
import os
import random
import select
import signal
import socket
import sys
import threading
import time
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from datetime import datetime

import harness
import psycopg2

from testkit.jobs import http_job, rfc3339
from testkit.services import Unavailable, private_services
from testkit.stack import Stack, kill_group
from testkit.target import Hit, Target

KINDS = ("worker-parent", "worker-child", "tick")
TICKS = ("tick-a", "tick-b")
WORKERS = ("worker-a", "worker-b")
# Short enough that a claim lost with its holder comes back within the run.
SETTINGS = {
    "SCHEDULER_SCHEDULER_MAX_JOB_LOCK_TIME": "10s",
    "SCHEDULER_JOB_TIMEOUT": "5s",
    "SCHEDULER_LOG_LEVEL": "INFO",  # with --keep-logs, the evidence for each finding
    # Two ticks and two worker commands on one host would contend for the fixed ports.
    "SCHEDULER_TICK_METRICS_HOST": "off",
    "SCHEDULER_WORKER_METRICS_HOST": "off",
}
FAILING = "failing"  # the tag of the jobs whose target always fails
# A one-off job is done once it has the execution it is meant to end with, and a
# recurring one once it is past its end; the outbox, once nothing is pending.
UNFINISHED = f"""
SELECT count(*) FILTER (WHERE execute_at IS NOT NULL AND (next_run IS NOT NULL
           OR NOT EXISTS (SELECT 1 FROM executions e
                          WHERE e.job_id = j.id AND e.status = CASE
                              WHEN '{FAILING}' = ANY(j.tags) THEN 'FAILED'
                              ELSE 'SUCCESSFUL' END))),
       count(*) FILTER (WHERE cron_schedule IS NOT NULL
           AND (next_run IS NOT NULL OR lock_token IS NOT NULL)),
       (SELECT count(*) FROM callbacks WHERE status = 'PENDING')
FROM jobs j
"""
# A slot skipped because the job's previous execution still ran (its overlap
# policy): what a recurring job held up by a fault does, not a failure.
OVERLAPPED = "previous execution still running"
EXECUTIONS = f"""
SELECT job_id::text, delivery_id::text, scheduled_for,
       CASE WHEN status = 'SKIPPED' AND error_message = '{OVERLAPPED}' THEN 'OVERLAPPED'
            ELSE status END
FROM executions
"""
# Each FAILED execution with its dead letter and its callback, if it has them.
FAILURES = """
SELECT e.id, e.job_id::text, d.id, c.status
FROM executions e
LEFT JOIN dead_letters d ON d.execution_id = e.id
LEFT JOIN callbacks c ON c.execution_id = e.id
WHERE e.status = 'FAILED'
"""
CALLBACK_PATH = "/callback"
SHOWN = 20  # details of each kind of finding in the report; all of them go to --json


def caller_gone(connection: socket.socket, seconds: float) -> bool:
    """Whether the caller closes `connection` within `seconds`; as soon as it does."""
    if not select.select([connection], [], [], seconds)[0]:
        return False
    try:
        return connection.recv(1, socket.MSG_PEEK) == b""
    except OSError:  # reset
        return True


@dataclass(eq=False)  # each one its own, however alike
class Visit:
    """One request at the target."""

    hit: Hit
    slot: datetime | None
    gone_at: float | None = None  # its caller closed the connection while it was held
    # Deliveries of the same job in flight when this one arrived.
    overlapped: list["Visit"] = field(default_factory=list)


class HoldingTarget(Target):
    """The recording target, holding each request 20-300 ms so that two deliveries
    of one job in flight at once would meet here."""

    def __init__(self, seed: int):
        super().__init__()
        self.visits: list[Visit] = []
        self.callbacks: list[Hit] = []  # answered at once, apart from the deliveries
        self.in_flight: dict[str, list[Visit]] = defaultdict(list)
        self.lock = threading.Lock()
        self.random = random.Random(seed)

    def receive(self, hit, connection) -> None:
        if hit.path.startswith(CALLBACK_PATH):
            self.callbacks.append(hit)
            super().receive(hit, connection)
            return
        slot = hit.scheduled_for and datetime.fromisoformat(hit.scheduled_for)
        visit = Visit(hit, slot)
        with self.lock:
            others = self.in_flight[hit.job_id]
            visit.overlapped = list(others)
            others.append(visit)
            self.visits.append(visit)
            seconds = self.random.uniform(0.02, 0.3)
        super().receive(hit, connection)
        deadline = time.monotonic() + seconds
        try:
            if caller_gone(connection, seconds):
                visit.gone_at = time.time()
            # A target does not notice that its caller died: the work runs its course.
            time.sleep(max(0.0, deadline - time.monotonic()))
        finally:
            with self.lock:
                others.remove(visit)

    def busy(self) -> bool:
        with self.lock:
            return any(self.in_flight.values())


@dataclass
class Event:
    at: float
    what: str  # a kill kind, "broker restart" or "database restart"
    detail: str
    until: float | None = None  # the end of an outage


class Supervisor:
    """Restarts any process of the stack that exits, after `delay`, polling every
    `poll` seconds, as systemd or a container runtime would. A worker's forked
    processes go with its main process (what is left of the process group is
    killed), as they would with its container or cgroup."""

    def __init__(self, stack: Stack, delay: float = 0.5, poll: float = 0.2):
        self.stack, self.delay, self.poll = stack, delay, poll
        self.restarts: Counter[str] = Counter()
        self.exits: list[dict] = []
        self.killed: set[str] = set()  # names whose next exit a kill of ours caused
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="supervisor", daemon=True)

    def start(self) -> "Supervisor":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        due: dict[str, float] = {}
        while not self._stop.wait(self.poll):
            for name, process in list(self.stack.processes.items()):
                if name in due:
                    if time.monotonic() >= due[name]:
                        del due[name]
                        self.stack.restart(name)
                        self.restarts[name] += 1
                elif process.poll() is not None:
                    kill_group(process.pid)
                    prompted = name in self.killed
                    self.killed.discard(name)
                    self.exits.append(
                        {
                            "at": time.time(),
                            "name": name,
                            "code": process.returncode,
                            "killed": prompted,
                        }
                    )
                    due[name] = time.monotonic() + self.delay


class Chaos:
    """The faults, on a timeline from `start` (the first slot): kills every
    `kill_every` seconds until `end`, or the listed kinds one per `kill_every`;
    a broker restart and a database restart at the given times."""

    def __init__(self, services, stack, supervisor, rng: random.Random, down: float = 0.0):
        self.services, self.stack, self.supervisor, self.rng = services, stack, supervisor, rng
        self.down = down  # seconds a restarted server stays stopped
        self.events: list[Event] = []
        self.stop = threading.Event()
        self.threads: list[threading.Thread] = []

    def _victims(self, kind: str) -> list[tuple[str, str, int]]:
        """(kind, process name, pid) of each live process of `kind`."""
        found = []
        for name, process in list(self.stack.processes.items()):
            if process.poll() is not None:
                continue
            if name in TICKS and kind in ("tick", "any"):
                found.append(("tick", name, process.pid))
            if name in WORKERS and kind in ("worker", "worker-parent", "any"):
                found.append(("worker-parent", name, process.pid))
            if name in WORKERS and kind in ("worker", "worker-child", "any"):
                found += [("worker-child", name, pid) for pid in harness.descendants(process.pid)]
        return found

    def kill(self, kind: str) -> None:
        """SIGKILL one random process of `kind`, waiting (a little) for one to exist:
        a worker restarted a moment ago has not forked yet."""
        deadline = time.monotonic() + 10
        while not (victims := self._victims(kind)):
            if time.monotonic() > deadline or self.stop.wait(0.2):
                self.events.append(Event(time.time(), "kill skipped", f"no live {kind}"))
                return
        what, name, pid = self.rng.choice(victims)
        self.supervisor.killed.add(name)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        self.events.append(Event(time.time(), what, f"{name} pid {pid}"))

    def _at(self, when: float) -> bool:
        """Sleep until the Unix time `when`; False if stopped meanwhile."""
        return not self.stop.wait(max(0.0, when - time.time()))

    def kills(self, start: float, end: float, every: float, kinds: list[str] | None) -> None:
        plan = kinds if kinds is not None else ["any"] * int((end - start) // every)
        for index, kind in enumerate(plan, 1):
            if not self._at(start + index * every):
                return
            self.kill(kind)

    def restart_broker(self, when: float) -> None:
        if self._at(when):
            self._outage("broker restart", self.services.rabbit.stop, self.services.rabbit.start)

    def restart_database(self, when: float, created: threading.Event) -> None:
        # Only once the jobs exist: the API answers 503 while the database is down.
        while not created.wait(0.2):
            if self.stop.is_set():
                return
        if self._at(when):
            postgres = self.services.postgres
            self._outage("database restart", lambda: postgres.stop("immediate"), postgres.start)

    def _outage(self, what: str, stop, start) -> None:
        began = time.time()
        try:
            stop()
            down = time.time()
            time.sleep(self.down)
            start()
        except Exception as error:  # reported, and the run goes on as far as it can
            self.events.append(Event(began, f"{what} failed", str(error)[-500:]))
            return
        detail = f"down {time.time() - down:.1f} s (stopping took {down - began:.1f} s)"
        self.events.append(Event(began, what, detail, time.time()))

    def run(self, target, *args) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        thread.start()
        self.threads.append(thread)

    def join(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join()


def unfinished(services) -> int | None:
    """Jobs not done yet (see settle); None while the database does not answer."""
    try:
        with services.connect() as connection, connection.cursor() as cursor:
            cursor.execute(UNFINISHED)
            return sum(cursor.fetchone())
    except psycopg2.Error:
        return None


def settle(services, target: HoldingTarget, until: float) -> float | None:
    """Until every one-off job has a SUCCESSFUL execution and no next run, every
    recurring job has passed its end and holds no claim, and the target has been
    idle for a second; the Unix time it happened, None if `until` came first."""
    quiet_since = None
    while time.time() < until:
        if unfinished(services) != 0 or target.busy():
            quiet_since = None
        elif quiet_since is None:
            quiet_since = time.time()
        elif time.time() - quiet_since >= 1:
            return quiet_since
        time.sleep(0.5)
    return None


def circumstances(events: list[Event], at: float) -> str | None:
    """The outage under way at `at` and the last fault before it, as evidence."""
    during = [e for e in events if e.at <= at <= (e.until or 0)]
    parts = [f"during {e.what} ({e.detail})" for e in during]
    before = [event for event in events if event.at <= at and event not in during]
    if before:
        event = max(before, key=lambda e: e.at)
        parts.append(f"{at - event.at:.2f} s after {event.what} ({event.detail})")
    return "; ".join(parts) or None


def analyse(target, slots, recurring, failing, executions, failures, events) -> tuple[dict, dict]:
    """The figures and the details behind each finding."""
    visits = target.visits
    one_off = harness.deliveries([v.hit for v in visits], slots)
    received_ids = {v.hit.job_id for v in visits}
    by_slot: dict[tuple, list[Visit]] = defaultdict(list)
    by_delivery: dict[str, set] = defaultdict(set)
    for visit in visits:
        key = (visit.hit.job_id, visit.slot)
        by_slot[key].append(visit)
        by_delivery[visit.hit.delivery_id].add(key)

    repeats = {key: group for key, group in by_slot.items() if len(group) > 1}
    different = {
        key: group for key, group in repeats.items() if len({v.hit.delivery_id for v in group}) > 1
    }
    duplicates = sum(len(group) - 1 for group in repeats.values())
    overlapping = [v for v in visits if v.overlapped]
    # Judged at the end: a closed connection is noticed a little after the death.
    after_gone = [v for v in overlapping if all(o.gone_at for o in v.overlapped)]
    recorded = {row[1] for row in executions}
    first_visit = {}
    for visit in visits:
        first_visit.setdefault(visit.hit.delivery_id, visit)
    missing = sorted(set(first_visit) - recorded)
    not_successful = [
        row
        for row in executions
        if row[3] not in ("SUCCESSFUL", "OVERLAPPED") and row[0] not in failing
    ]
    told = {json.loads(hit.body)["execution"]["id"] for hit in target.callbacks}
    failed = [row for row in failures if row[1] in failing]
    recorded_twice = {d: n for d, n in Counter(row[1] for row in executions).items() if n > 1}
    recurring_slots = {key for key in by_slot if key[0] in recurring}

    def describe(visit: Visit) -> dict:
        hit = visit.hit
        return {
            "job_id": hit.job_id,
            "delivery_id": hit.delivery_id,
            "scheduled_for": hit.scheduled_for,
            "attempt": hit.attempt,
            "arrived": datetime.fromtimestamp(hit.at).isoformat(),
            "caller_gone": visit.gone_at is not None,
            "after": circumstances(events, hit.at),
        }

    details = {
        "lost": sorted(set(slots) - received_ids),
        "overlapping": [
            {
                **describe(v),
                "in_flight": [describe(o) for o in v.overlapped],
            }
            for v in overlapping
        ],
        "duplicates": [[describe(v) for v in group] for group in repeats.values()],
        "duplicates_different_id": [[describe(v) for v in group] for group in different.values()],
        "delivery_ids_shared": {
            d: [f"{job} {slot.isoformat()}" for job, slot in keys]
            for d, keys in by_delivery.items()
            if len(keys) > 1
        },
        "missing_records": [describe(first_visit[d]) for d in missing],
        "not_successful": [
            {"job_id": j, "delivery_id": d, "scheduled_for": s.isoformat(), "status": st}
            for j, d, s, st in not_successful
        ],
        "recorded_twice": recorded_twice,
        "failing_jobs_never_failed": sorted(failing - {row[1] for row in failed}),
        "dead_letters_lost": [row[0] for row in failed if row[2] is None],
        "callbacks_lost": [row[0] for row in failed if row[0] not in told],
        "callbacks_not_delivered": [row for row in failed if row[3] != "DELIVERED"],
    }
    lateness = one_off.lateness
    figures = {
        "one_off_jobs": len(slots),
        "recurring_jobs": len(recurring),
        "one_off_received": one_off.distinct,
        "lost": len(details["lost"]),
        "deliveries": len(visits),
        "recurring_fires": len(recurring_slots),
        "duplicates": duplicates,
        "duplicate_rate": duplicates / len(by_slot) if by_slot else 0.0,
        "duplicates_same_id": duplicates - sum(len(g) - 1 for g in different.values()),
        "duplicates_different_id": sum(len(g) - 1 for g in different.values()),
        "delivery_ids_shared": len(details["delivery_ids_shared"]),
        "overlapping": len(overlapping),
        "overlapping_after_caller_gone": len(after_gone),
        "missing_records": len(missing),
        "execution_rows": len(executions),
        "executions_not_successful": len(not_successful),
        "slots_overlapped": sum(1 for row in executions if row[3] == "OVERLAPPED"),
        "delivery_ids_recorded_twice": len(recorded_twice),
        "failing_jobs": len(failing),
        "failed_executions": len(failed),
        "failing_jobs_never_failed": len(details["failing_jobs_never_failed"]),
        "dead_letters_lost": len(details["dead_letters_lost"]),
        "callbacks_received": len(target.callbacks),
        "callbacks_lost": len(details["callbacks_lost"]),
        "callbacks_not_delivered": len(details["callbacks_not_delivered"]),
        "lateness_p50_ms": round(harness.percentile(lateness, 50) * 1000, 1) if lateness else None,
        "lateness_p99_ms": round(harness.percentile(lateness, 99) * 1000, 1) if lateness else None,
        "lateness_max_ms": round(max(lateness) * 1000, 1) if lateness else None,
    }
    return figures, details


def rows(figures: dict) -> list[list]:
    f = figures
    kills = f["kills"]
    return [
        ["run duration s", f"{f['duration_s']:.0f}"],
        ["one-off jobs scheduled", f["one_off_jobs"]],
        ["recurring every-second jobs", f["recurring_jobs"]],
        ["one-off jobs received at least once", f"{f['one_off_received']}/{f['one_off_jobs']}"],
        ["jobs lost (one-off never received)", f["lost"]],
        ["recurring slots received", f["recurring_fires"]],
        ["deliveries received", f["deliveries"]],
        [
            "duplicate deliveries (same job and slot)",
            f"{f['duplicates']} ({f['duplicate_rate']:.2%})",
        ],
        ["  with the same delivery id", f["duplicates_same_id"]],
        ["  with a different delivery id", f["duplicates_different_id"]],
        ["delivery ids shared by different slots", f["delivery_ids_shared"]],
        ["overlapping executions of one job", f["overlapping"]],
        ["  of which the earlier caller died mid-call", f["overlapping_after_caller_gone"]],
        ["deliveries with no execution record", f["missing_records"]],
        ["execution rows", f["execution_rows"]],
        ["execution rows not SUCCESSFUL", f["executions_not_successful"]],
        ["  slots skipped while the job's execution still ran", f["slots_overlapped"]],
        ["delivery ids with 2+ execution rows", f["delivery_ids_recorded_twice"]],
        [
            "failing jobs / their FAILED executions",
            f"{f['failing_jobs']} / {f['failed_executions']}",
        ],
        ["failing jobs with no FAILED execution", f["failing_jobs_never_failed"]],
        ["FAILED executions with no dead letter", f["dead_letters_lost"]],
        ["callbacks received (repeats included)", f["callbacks_received"]],
        ["FAILED executions whose callback never came", f["callbacks_lost"]],
        ["  or is not recorded DELIVERED", f["callbacks_not_delivered"]],
        [
            "one-off lateness p50 / p99 / max ms",
            f"{f['lateness_p50_ms']} / {f['lateness_p99_ms']} / {f['lateness_max_ms']}",
        ],
        ["kills worker-parent / worker-child / tick", " / ".join(str(kills[k]) for k in KINDS)],
        [
            "supervisor restarts",
            f"{f['restarts']} ("
            + ", ".join(f"{name} {n}" for name, n in f["restarts_by_process"].items())
            + ")",
        ],
        ["exits not caused by a kill", f["unprompted_exits"]],
        ["faults skipped or failed", f["faults_failed"]],
        ["broker restarts", f["broker_restarts"]],
        ["database restarts (immediate stop + start)", f["database_restarts"]],
        [
            "settled s after the last slot",
            "timed out" if f["settled_after_s"] is None else f"{f['settled_after_s']:.1f}",
        ],
    ]


def print_details(details: dict) -> None:
    for name, found in details.items():
        if found:
            items = list(found.items()) if isinstance(found, dict) else found
            print(f"{name}: {len(items)}, first {min(SHOWN, len(items))}:")
            for item in items[:SHOWN]:
                print(f"    {json.dumps(item, default=str)[:600]}")


def create_recurring(session, api: str, url: str, count: int, end: float) -> set[str]:
    """`count` every-second jobs with no slot after `end`, so that they too finish."""
    created = set()
    for _ in range(count):
        body = {
            "type": "HTTP",
            "cron_schedule": "* * * * * *",
            "ends_at": rfc3339(end),
            "http_job": http_job(url),
        }
        response = session.post(f"{api}/v1/jobs", json=body, timeout=30)
        if response.status_code != 201:
            raise RuntimeError(f"POST /v1/jobs answered {response.status_code}: {response.text}")
        created.add(response.json()["id"])
    return created


def create_failing(
    session, api: str, url: str, count: int, start: float, spread: float
) -> set[str]:
    """`count` one-off jobs due over the spread whose target answers 500, with no
    retry, and an on_failure callback to the target."""
    created = set()
    for i in range(count):
        body = {
            "type": "HTTP",
            "execute_at": rfc3339(start + (i + 0.5) * spread / count),
            "tags": [FAILING],
            "retry_policy": {"max_attempts": 1},
            "on_failure": {"url": url + CALLBACK_PATH},
            "http_job": http_job(url + "/status/500"),
        }
        response = session.post(f"{api}/v1/jobs", json=body, timeout=30)
        if response.status_code != 201:
            raise RuntimeError(f"POST /v1/jobs answered {response.status_code}: {response.text}")
        created.add(response.json()["id"])
    return created


def run_chaos(args, kinds: list[str] | None, seed: int) -> int:
    began = time.time()
    rng = random.Random(seed)
    settings = dict(SETTINGS)
    if args.interval:
        settings["SCHEDULER_SCHEDULER_INTERVAL"] = args.interval
    with (
        private_services(args.keep_logs, own_servers=True) as services,
        HoldingTarget(rng.randrange(2**32)) as target,
        services.stack() as stack,
    ):
        api = stack.start_web(**settings)
        for name in TICKS:
            stack.start_tick(name, **settings)
        processes, threads = harness.worker_counts(args)
        for name in WORKERS:
            stack.start_worker(processes, threads, name=name, **settings)
        supervisor = Supervisor(stack).start()
        faults = Chaos(services, stack, supervisor, rng, args.down)
        session = services.session()
        try:
            start = time.time() + args.lead
            end = start + args.spread
            recurring = create_recurring(session, api, target.url, args.recurring, end)
            failing = create_failing(session, api, target.url, args.failing, start, args.spread)
            created = threading.Event()
            faults.run(faults.kills, start, end, args.kill_every, kinds)
            if not args.no_broker_restart:
                faults.run(faults.restart_broker, start + args.spread / 3)
            if not args.no_db_restart:
                faults.run(faults.restart_database, start + 2 * args.spread / 3, created)
            spread = harness.create_spread(
                session, api, target.url, args.jobs, args.spread, start - time.time(), clients=4
            )
            created.set()
            for thread in faults.threads:  # each ends with its last fault
                thread.join()
            settled = settle(services, target, max(end, time.time()) + args.settle)
        finally:
            faults.join()
            supervisor.stop()
        for job_id in recurring:
            with contextlib.suppress(Exception):
                session.post(f"{api}/v1/jobs/{job_id}/pause", timeout=10)
        stack.stop()
        with services.connect() as connection, connection.cursor() as cursor:
            cursor.execute(EXECUTIONS)
            executions = cursor.fetchall()
            cursor.execute(FAILURES)
            failures = cursor.fetchall()

        figures, details = analyse(
            target, spread.slots, recurring, failing, executions, failures, faults.events
        )
        outages = Counter(e.what for e in faults.events)
        figures.update(
            infrastructure=f"private PostgreSQL {services.pg_host} (fsync on), "
            f"private RabbitMQ node {services.rabbit.node} ({services.rabbit.host})",
            duration_s=time.time() - began,
            kills={kind: outages[kind] for kind in KINDS},
            restarts=sum(supervisor.restarts.values()),
            restarts_by_process=dict(sorted(supervisor.restarts.items())),
            unprompted_exits=sum(1 for e in supervisor.exits if not e["killed"]),
            broker_restarts=outages["broker restart"],
            database_restarts=outages["database restart"],
            faults_failed=sum(
                n for what, n in outages.items() if what.endswith(("failed", "skipped"))
            ),
            settled_after_s=None if settled is None else settled - end,
        )
        details["faults"] = [asdict(e) for e in sorted(faults.events, key=lambda e: e.at)]
        details["exits"] = supervisor.exits
        problems = stack.problems()
        run_settings = {
            "jobs": args.jobs,
            "spread": f"{args.spread:g}s",
            "recurring": args.recurring,
            "failing": args.failing,
            "kills": args.kills or f"any every {args.kill_every:g}s",
            "broker_restart": not args.no_broker_restart,
            "db_restart": not args.no_db_restart,
            "down": f"{args.down:g}s",
            "workers": f"2 x {processes}x{threads}",
            "ticks": 2,
            "interval": args.interval or "default",
            "lock": SETTINGS["SCHEDULER_SCHEDULER_MAX_JOB_LOCK_TIME"],
            "job_timeout": SETTINGS["SCHEDULER_JOB_TIMEOUT"],
            "seed": seed,
        }
        harness.print_table(
            "Chaos: faults while jobs run", run_settings, ["figure", "value"], rows(figures)
        )
        print(f"infrastructure: {figures['infrastructure']}")
        print_details(details)
        harness.print_problems(stack)
        if args.json:
            report = {
                "settings": run_settings,
                "figures": figures,
                "details": details,
                "log_problems": {
                    name: {"count": len(lines), "first": lines[:SHOWN]}
                    for name, lines in problems.items()
                },
            }
            with open(args.json, "w") as out:
                json.dump(report, out, indent=2, default=str)
    failed = (
        figures["lost"]
        or figures["overlapping"]
        or figures["duplicates_different_id"]
        or figures["failing_jobs_never_failed"]
        or figures["dead_letters_lost"]
        or figures["callbacks_lost"]
        or figures["callbacks_not_delivered"]
    )
    return 1 if failed else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=3000, help="one-off jobs (default 3000)")
    parser.add_argument(
        "--spread", type=float, default=60, help="seconds their slots cover (default 60)"
    )
    parser.add_argument("--recurring", type=int, default=20, help='"* * * * * *" jobs (default 20)')
    parser.add_argument(
        "--failing",
        type=int,
        default=100,
        help="one-off jobs that fail, each with a callback (default 100)",
    )
    parser.add_argument(
        "--lead", type=float, default=5, help="seconds to the first slot (default 5)"
    )
    parser.add_argument(
        "--kill-every", type=float, default=3, help="seconds between kills (default 3)"
    )
    parser.add_argument(
        "--kills",
        help="kill exactly these, in order, one per --kill-every: comma-separated among "
        "worker (a worker command or one of its processes), worker-parent, worker-child, "
        "tick, any; none: no kills (default: one of any kind every --kill-every over the "
        "spread)",
    )
    parser.add_argument("--no-broker-restart", action="store_true", help="leave RabbitMQ be")
    parser.add_argument("--no-db-restart", action="store_true", help="leave PostgreSQL be")
    parser.add_argument(
        "--down", type=float, default=0, help="seconds each restarted server stays stopped"
    )
    parser.add_argument(
        "--settle",
        type=float,
        default=120,
        help="seconds after the last slot to wait for every job to finish (default 120)",
    )
    parser.add_argument(
        "--processes", type=int, default=2, help="processes per worker command (default 2)"
    )
    parser.add_argument(
        "--threads", type=int, help="threads per worker process (default: the service's)"
    )
    parser.add_argument(
        "--interval", help="the ticks' scheduler-interval, e.g. 1s (default: the service's, 10s)"
    )
    parser.add_argument("--seed", type=int, help="seed of the kills and holds (default: random)")
    parser.add_argument("--json", metavar="PATH", help="also write figures and details as JSON")
    harness.add_common_arguments(parser)
    args = parser.parse_args()
    kinds = None if args.kills is None else [k for k in args.kills.split(",") if k != "none"]
    if kinds and not set(kinds) <= {"worker", "any", *KINDS}:
        parser.error(f"--kills: unknown kind in {args.kills}")
    seed = args.seed if args.seed is not None else random.randrange(2**32)
    try:
        code = run_chaos(args, kinds, seed)
    except Unavailable as error:
        print(f"chaos: private servers unavailable: {error}", file=sys.stderr)
        sys.exit(77)
    sys.exit(code)


if __name__ == "__main__":
    harness.run(main)
