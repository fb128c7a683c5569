"""The bench-only parts of the benchmarks: running a script, peak memory and CPU
sampling of the processes, deliveries matched to slots, jobs spread over a window,
and the tables. What they share with the tests (services, the process stack, the
recording target, job builders) is in testkit.
"""

import argparse
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import requests

from app.config import load_config
from app.timing.durations import parse_duration
from testkit.jobs import http_job, rfc3339
from testkit.polling import wait_for
from testkit.stack import Stack
from testkit.target import Hit, Target


def run(main) -> None:
    """Run a benchmark's main; Ctrl-C ends it with one line once it has cleaned up,
    and so does SIGTERM (which would otherwise skip the cleanup)."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    signal.signal(signal.SIGINT, signal.default_int_handler)  # ignored in a background job
    try:
        main()
    except KeyboardInterrupt:
        sys.exit("interrupted")


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--keep-logs", action="store_true", help="keep the service logs (their directory is shown)"
    )


def duration(text: str) -> float:
    """An argparse type: a Go-style duration ("1s", "500ms", "20m") in seconds."""
    try:
        return parse_duration(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def add_pipeline_arguments(parser: argparse.ArgumentParser, what: str) -> None:
    """--jobs (how many `what` to call the target with), --target-delay, --processes
    and --threads (the service's defaults unless given)."""
    parser.add_argument("--jobs", type=int, default=10000, help=f"{what} (default 10000)")
    parser.add_argument(
        "--target-delay",
        type=duration,
        default=0.0,
        help="the target answers each call after this long, e.g. 1s (default 0s)",
    )
    add_worker_arguments(parser)


def add_worker_arguments(
    parser: argparse.ArgumentParser, processes: int | None = None, threads: int | None = None
) -> None:
    """--processes and --threads of the worker, by default `processes` and
    `threads`; None: not set, so that the service's own defaults apply."""
    service = load_config(environ={})
    for flag, default, what, services in (
        ("--processes", processes, "worker processes", service.worker_processes),
        ("--threads", threads, "threads per worker process", service.worker_threads),
    ):
        shown = default if default is not None else f"the service's, {services}"
        parser.add_argument(flag, type=int, default=default, help=f"{what} (default {shown})")


def worker_counts(args: argparse.Namespace) -> tuple[int, int]:
    """(processes, threads) of --processes and --threads, each missing one at the
    service's default."""
    defaults = load_config(environ={})
    return args.processes or defaults.worker_processes, args.threads or defaults.worker_threads


def start_worker(stack: Stack, services, args: argparse.Namespace) -> str:
    """The stack's worker, started with worker_counts(args), once its processes
    consume; what was used, for a settings line.

    With neither count given, it runs as a user who sets nothing runs it: no
    SCHEDULER_WORKER_* in its environment. The pool is the service's either way:
    a worker's threads share its few connections through group commit."""
    processes, threads = worker_counts(args)
    if args.processes is not None or args.threads is not None:
        stack.start_worker(processes, threads)
        return f"{processes}x{threads}"
    stack.start("worker", "worker")

    def consuming() -> bool:
        stack.check_alive()
        return services.consumers() >= processes

    # Each count is a rabbitmqctl call, a CPU second: hence the slow poll.
    if not wait_for(consuming, timeout=60, interval=0.5):
        raise RuntimeError(f"workers did not start consuming:\n{stack.log_tail('worker')}")
    return f"{processes}x{threads} (service defaults)"


# --- resources ---------------------------------------------------------------------


def _children() -> dict[int, list[int]]:
    """Every process's children, from /proc (a snapshot)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        # The command name may hold spaces and parentheses: fields start after the last ")".
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    return children


def descendants(pid: int) -> list[int]:
    tree, found, todo = _children(), [], [pid]
    while todo:
        kids = sorted(tree.get(todo.pop(), []))
        found.extend(kids)
        todo.extend(kids)
    return found


_TICKS = os.sysconf("SC_CLK_TCK")


def _usage(pid: int) -> tuple[int, int, float] | None:
    """(VmHWM kB, VmRSS kB, CPU seconds so far), None once the process is gone."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
        stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    values = dict(line.split(":", 1) for line in lines if ":" in line)
    if "VmHWM" not in values:  # a zombie has no memory lines
        return None
    cpu = (int(stat[11]) + int(stat[12])) / _TICKS  # utime + stime, fields 14 and 15
    return int(values["VmHWM"].split()[0]), int(values["VmRSS"].split()[0]), cpu


def database_sessions(connection, database: str, *others) -> Callable[[], list[tuple[int, str]]]:
    """A listing, run on `connection` (autocommit, used by nothing else), of the
    PostgreSQL processes now at work on `database`, each with its group: the
    service's sessions (DATABASE), and apart from them the autovacuum workers
    (VACUUM), which come and go within a run. The benchmark's own sessions,
    `connection` and `others`, do not count."""
    own = {each.get_backend_pid() for each in (connection, *others)}

    def listing() -> list[tuple[int, str]]:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pid, backend_type FROM pg_stat_activity WHERE datname = %s", (database,)
            )
            rows = cursor.fetchall()
        return [
            (pid, VACUUM if kind == "autovacuum worker" else DATABASE)
            for pid, kind in rows
            if pid not in own
        ]

    return listing


def broker_pid(rabbit) -> int | None:
    """The OS pid of the RabbitMQ node (its beam.smp), None if it does not say.

    Not `pgrep beam.smp`: every rabbitmqctl call is a beam.smp of its own."""
    try:
        return int(rabbit.ctl("eval", "os:getpid().").strip().strip('"'))
    except (RuntimeError, ValueError):
        return None


DATABASE = "PostgreSQL"
VACUUM = "autovacuum"
BROKER = "RabbitMQ"


@dataclass
class Usage:
    label: str
    group: str  # a name of `processes` (children included), DATABASE, VACUUM or BROKER
    hwm_kb: int = 0  # the kernel's own peak resident size
    rss_kb: int = 0  # highest resident size seen by a sample
    now_kb: int = 0  # resident size at the last sample
    cpu_seconds: float = 0.0  # at the last sample
    cpu_mark: float = 0.0  # at the window's start; 0 for a process born after it
    cpu_end: float | None = None  # at the window's end (None before it); 0 if born after it
    last_seen: int = 0  # the number of the last sample that found it

    @property
    def peak_mb(self) -> float:
        return max(self.hwm_kb, self.rss_kb) / 1024


class ResourceSampler:
    """Samples every `interval` seconds, until stop(), each process of `processes`
    (name -> Popen, read at each sample) and its descendants, the PostgreSQL sessions
    that `sessions` lists and the RabbitMQ node at `broker`: peak memory and CPU time.

    VmHWM is the kernel's peak, so it catches peaks between samples; it must be
    read before the process exits, hence the sampling. Descendants are labelled
    <name>.<n> in order of discovery; forked children share pages with their
    parent, so a sum of their sizes would overstate the total (each is shown).

    CPU is counted over a window, mark() to end_window(), so that start-up and
    shutdown stay out of it. A session that closes inside the window counts up to
    its last sample: the listing at the end alone would miss it all.
    """

    def __init__(
        self,
        processes: dict[str, subprocess.Popen],
        interval: float = 0.5,
        sessions: Callable[[], list[tuple[int, str]]] | None = None,
        broker: int | None = None,
    ):
        self.processes = processes
        self.interval = interval
        self.sessions = sessions
        self.broker = broker
        self.usage: dict[int, Usage] = {}
        self.samples = 0
        self._end_sample: int | None = None  # the number of the window's last sample
        self._lock = threading.Lock()  # the sampler thread and the caller's mark/end
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sampler", daemon=True)
        self._thread.start()

    def _record(self, pid: int, label: str, group: str) -> None:
        sample = _usage(pid)
        if sample is None:
            return
        usage = self.usage.get(pid)
        if usage is None:
            usage = self.usage[pid] = Usage(label, group)
            if self._end_sample is not None:  # born after the window: none of it counts
                usage.cpu_end = 0.0
        usage.hwm_kb = max(usage.hwm_kb, sample[0])
        usage.rss_kb = max(usage.rss_kb, sample[1])
        usage.now_kb = sample[1]
        usage.cpu_seconds = sample[2]
        usage.last_seen = self.samples

    def sample(self) -> None:
        with self._lock:
            self.samples += 1
            for name, process in list(self.processes.items()):
                pids = [process.pid, *descendants(process.pid)]
                for pid in pids:
                    seen = sum(1 for p in pids if p in self.usage)
                    self._record(pid, name if pid == process.pid else f"{name}.{seen}", name)
            for pid, group in self.sessions() if self.sessions else []:
                self._record(pid, f"{group} {pid}", group)
            if self.broker is not None:
                self._record(self.broker, "node", BROKER)

    def mark(self) -> None:
        """Start the CPU window now."""
        self.sample()
        with self._lock:
            for usage in self.usage.values():
                usage.cpu_mark = usage.cpu_seconds

    def end_window(self) -> None:
        """End the CPU window now; what is gone counts up to its last sample."""
        self.sample()
        with self._lock:
            self._end_sample = self.samples
            for usage in self.usage.values():
                usage.cpu_end = usage.cpu_seconds

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def stop(self) -> None:
        """A last sample and the end of sampling; once (a stack runs it on each stop)."""
        if self._stop.is_set():
            return
        self._stop.set()
        self._thread.join()
        self.sample()

    def of(self, group: str) -> list[Usage]:
        return [usage for usage in self.usage.values() if usage.group == group]

    def window_cpu(self, group: str) -> float:
        return sum(u.cpu_end - u.cpu_mark for u in self.of(group) if u.cpu_end is not None)

    def closed_early(self, group: str) -> int:
        """Of `group`, how many were gone before the window's last sample."""
        end = self._end_sample or self.samples
        return sum(1 for usage in self.of(group) if usage.last_seen < end)

    def memory_rows(self) -> list[tuple[str, str]]:
        """(label, peak MB) of every process of `processes`, in order of first sight."""
        return [
            (u.label, f"{u.peak_mb:.0f}")
            for u in self.usage.values()
            if u.group not in (DATABASE, VACUUM, BROKER)
        ]


# Rows of the CPU tables, shared by burst and the ceiling so that they line up.
SENDER = "tick / producer"
WORKERS = "worker, all processes"
SESSIONS = "PostgreSQL sessions"
AUTOVACUUM = "PostgreSQL autovacuum"
NODE = "RabbitMQ node (shared: all vhosts)"
TOTAL = "sum, target excluded"
HERE = "this process (target, sampling)"


def cpu_components(
    sampler: ResourceSampler, here: float, sender: float | None = None
) -> dict[str, float]:
    """CPU seconds of the window by component, in table order: each process of the
    sampler (the tick, or else `sender`, a producer's own count), the worker
    processes together and each one, the database sessions and the broker node if
    sampled, their sum, and `here`, this process's seconds (the target: not summed)."""
    parts: dict[str, float] = {}
    if sender is not None:
        parts[SENDER] = sender
    for name in sampler.processes:
        if name == "worker":
            parts[WORKERS] = sampler.window_cpu(name)
            for usage in sampler.of(name):
                parts[f"  {usage.label}"] = (usage.cpu_end or 0.0) - usage.cpu_mark
        else:
            parts[SENDER if name == "tick" else name] = sampler.window_cpu(name)
    if sampler.sessions is not None:
        parts[SESSIONS] = sampler.window_cpu(DATABASE)
        parts[AUTOVACUUM] = sampler.window_cpu(VACUUM)
    if sampler.broker is not None:
        parts[NODE] = sampler.window_cpu(BROKER)
    parts[TOTAL] = sum(seconds for label, seconds in parts.items() if not label.startswith("  "))
    parts[HERE] = here
    return parts


def cpu_rows(columns: list[tuple[dict[str, float], int]]) -> list[list[str]]:
    """Milliseconds of CPU per execution, one column per (components, executions),
    a row per component of any of them."""
    labels = list(dict.fromkeys(label for parts, _ in columns for label in parts))
    return [
        [
            label,
            *[
                f"{parts[label] * 1000 / count:.2f}" if label in parts and count else "n/a"
                for parts, count in columns
            ],
        ]
        for label in labels
    ]


def peak_in_flight(hits: list[Hit]) -> int:
    """Most requests the target held at once, from arrival and answer times (one
    whose answer never went out, its caller gone, stays open)."""
    # At equal times an answer (-1) sorts before an arrival: no false overlap.
    events = sorted(
        [(hit.at, 1) for hit in hits] + [(hit.answered, -1) for hit in hits if hit.answered]
    )
    peak = held = 0
    for _, step in events:
        held += step
        peak = max(peak, held)
    return peak


def print_problems(stack: Stack, shown: int = 5) -> None:
    """The first warning and error lines of each process, below a table."""
    for name, lines in stack.problems().items():
        if lines:
            print(f"{name}: {len(lines)} warning/error line(s), first {min(shown, len(lines))}:")
            for line in lines[:shown]:
                print(f"    {line[:300]}")


# --- jobs and deliveries -------------------------------------------------------------


def execution_counts(connection) -> tuple[int, int, int]:
    """(rows, distinct jobs, rows not SUCCESSFUL) of the executions table."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*), count(DISTINCT job_id), count(*) FILTER "
            "(WHERE status <> 'SUCCESSFUL') FROM executions"
        )
        return cursor.fetchone()


@dataclass
class Spread:
    """One-off jobs created through the API, slots spread evenly over a window."""

    slots: dict[str, float] = field(default_factory=dict)  # job id -> slot (Unix time)
    create_seconds: list[float] = field(default_factory=list)
    margin: float = 0.0  # seconds from the last creation to the first slot; < 0: late
    first: float = 0.0  # the first slot (Unix time), whether or not any job was created


def create_spread(
    session: requests.Session,
    api: str,
    url: str,
    count: int,
    spread: float,
    lead: float,
    clients: int = 1,
    paced: bool = False,
    result: Spread | None = None,
) -> Spread:
    """`count` jobs, the first due `lead` seconds from now, then one every spread/count s,
    created in slot order over `clients` concurrent keep-alive connections.

    At once, or with `paced` each `lead` seconds before its slot: a steady load for as
    long as the spread. `result`, if given, fills as they are created, for a caller to
    read from another thread meanwhile (a copy of its slots: dict(result.slots))."""
    result = Spread() if result is None else result
    first = result.first = time.time() + lead
    local = threading.local()

    def create(i: int) -> tuple[str, float, float]:
        if not hasattr(local, "session"):
            local.session = session if clients == 1 else requests.Session()
            local.session.headers.update(session.headers)
        slot = first + i * spread / count
        if paced:
            time.sleep(max(0.0, slot - lead - time.time()))
        body = {"type": "HTTP", "execute_at": rfc3339(slot), "http_job": http_job(url)}
        started = time.perf_counter()
        response = local.session.post(f"{api}/v1/jobs", json=body, timeout=30)
        if response.status_code != 201:
            raise RuntimeError(f"POST /v1/jobs answered {response.status_code}: {response.text}")
        return response.json()["id"], slot, time.perf_counter() - started

    with ThreadPoolExecutor(clients) as pool:
        for job_id, slot, seconds in pool.map(create, range(count)):
            result.slots[job_id] = slot
            result.create_seconds.append(seconds)
    result.margin = first - time.time()
    return result


def wait_received(target: Target, slots: dict[str, float], until: float) -> None:
    """Until every job of `slots` has reached the target, or the Unix time `until`."""
    while time.time() < until:
        if not deliveries(target.hits, slots).lost:
            return
        time.sleep(0.2)


@dataclass
class Deliveries:
    """What the target received for a set of expected jobs."""

    received: int
    distinct: int
    duplicates: int  # hits beyond the first per job
    lost: int  # expected jobs never received
    lateness: list[float]  # seconds, first hit of each job minus its slot
    first_at: float | None
    last_at: float | None

    def rates(self, start: float) -> tuple[float | None, float | None]:
        """Jobs a second from `start` to the last hit, and from the first hit to the
        last (None where not measurable)."""
        span = (self.last_at or start) - start
        between = self.distinct > 1 and self.last_at > self.first_at
        return (
            self.distinct / span if span > 0 else None,
            (self.distinct - 1) / (self.last_at - self.first_at) if between else None,
        )


@dataclass
class Measured:
    """One pass of calls to the target, as burst and the ceiling compare them."""

    got: Deliveries
    started: float  # Unix time: the burst's slot, the ceiling's first send
    in_flight: int  # peak requests held at the target at once (peak_in_flight)
    cpu: dict[str, float]  # component -> CPU seconds of the window (cpu_components)
    memory: list[tuple[str, str]]  # (process, peak MB) of the scheduler or Dramatiq processes

    def rate_rows(self, unit: str, start: str) -> list[list]:
        """Table rows: `unit`s a second from the `start` (what `started` names) to the
        last arrival at the target and from the first arrival; seconds; calls in flight."""
        from_start, first_to_last = self.got.rates(self.started)
        seconds = (self.got.last_at or self.started) - self.started
        return [
            [f"{unit}/s, {start} to last arrival", per_second(from_start)],
            [f"{unit}/s, first to last arrival", per_second(first_to_last)],
            [f"seconds, {start} to last arrival", f"{seconds:.2f}"],
            ["peak calls in flight at the target", self.in_flight],
        ]


def deliveries(hits: list[Hit], slots: dict[str, float]) -> Deliveries:
    """Match hits to `slots` (job id -> slot as a Unix time)."""
    first: dict[str, float] = {}
    mine = [hit for hit in hits if hit.job_id in slots]
    for hit in mine:
        first[hit.job_id] = min(hit.at, first.get(hit.job_id, hit.at))
    return Deliveries(
        received=len(mine),
        distinct=len(first),
        duplicates=len(mine) - len(first),
        lost=len(slots) - len(first),
        lateness=[at - slots[job_id] for job_id, at in first.items()],
        first_at=min(first.values(), default=None),
        last_at=max((hit.at for hit in mine), default=None),
    )


# --- figures -------------------------------------------------------------------------


def percentile(values: list[float], p: float) -> float | None:
    """The p-th percentile, interpolated between closest ranks; None if empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def per_second(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f}"


def ms(seconds: float | None) -> str:
    return "n/a" if seconds is None else f"{seconds * 1000:.1f}"


def print_table(title: str, settings: dict, header: list[str], rows: list[list]) -> None:
    """A title, the settings used (none: a table below another one), and
    left/right-aligned columns."""
    print(title)
    if settings:
        print("settings: " + " ".join(f"{key}={value}" for key, value in settings.items()))
    table = [header, *[[str(cell) for cell in row] for row in rows]]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for index, row in enumerate(table):
        cells = [row[0].ljust(widths[0])]
        cells += [cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True)]
        print("  ".join(cells).rstrip())
        if index == 0:
            print("  ".join("-" * width for width in widths))
