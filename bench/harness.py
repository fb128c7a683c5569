"""The bench-only parts of the benchmarks: running a script, peak memory and CPU
sampling of the processes, deliveries matched to slots, jobs spread over a window,
and the tables. What they share with the tests (services, the process stack, the
recording target, job builders) is in testkit.
"""

import argparse
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import requests

from testkit.jobs import http_job, rfc3339
from testkit.stack import Stack
from testkit.target import Hit, Target


def run(main) -> None:
    """Run a benchmark's main; Ctrl-C ends it with one line once it has cleaned up."""
    try:
        main()
    except KeyboardInterrupt:
        sys.exit("interrupted")


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--keep-logs", action="store_true", help="keep the service logs (their directory is shown)"
    )


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


def backend_cpu_seconds(connection, database: str) -> float:
    """CPU seconds of the PostgreSQL sessions now open on `database` (this one
    included), read from /proc: the database's share of a run on this machine."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", (database,))
        samples = [_usage(pid) for (pid,) in cursor.fetchall()]
    return sum(sample[2] for sample in samples if sample)


@dataclass
class Usage:
    label: str
    hwm_kb: int = 0  # the kernel's own peak resident size
    rss_kb: int = 0  # highest resident size seen by a sample
    cpu_seconds: float = 0.0  # at the last sample


class ResourceSampler:
    """Samples each process of `stack` and its descendants every `interval` seconds:
    peak memory and CPU time, until the stack stops (sampled a last time then).

    VmHWM is the kernel's peak, so it catches peaks between samples; it must be
    read before the process exits, hence the sampling. Descendants are labelled
    <name>.<n> in order of discovery; forked children share pages with their
    parent, so a sum of their sizes would overstate the total (each is shown).
    """

    def __init__(self, stack: Stack, interval: float = 0.5):
        self.stack = stack
        self.interval = interval
        self.usage: dict[int, Usage] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sampler", daemon=True)
        self._thread.start()
        stack.stopping.append(self.stop)

    def sample(self) -> None:
        for name, process in list(self.stack.processes.items()):
            root = process.pid
            pids = [root, *descendants(root)]
            for pid in pids:
                sample = _usage(pid)
                if sample is None:
                    continue
                if pid not in self.usage:
                    seen = sum(1 for p in self.usage if p in pids)
                    self.usage[pid] = Usage(name if pid == root else f"{name}.{seen}")
                usage = self.usage[pid]
                usage.hwm_kb = max(usage.hwm_kb, sample[0])
                usage.rss_kb = max(usage.rss_kb, sample[1])
                usage.cpu_seconds = sample[2]

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def stop(self) -> None:
        self.sample()
        self._stop.set()
        self._thread.join()

    def rows(self) -> list[tuple[str, str, str]]:
        """(label, peak MB, CPU seconds) of every process seen, in order of first sight."""
        return [
            (u.label, f"{max(u.hwm_kb, u.rss_kb) / 1024:.0f}", f"{u.cpu_seconds:.1f}")
            for u in self.usage.values()
        ]


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


def create_spread(
    session: requests.Session,
    api: str,
    url: str,
    count: int,
    spread: float,
    lead: float,
    clients: int = 1,
) -> Spread:
    """`count` jobs, the first due `lead` seconds from now, then one every spread/count s,
    created in slot order over `clients` concurrent keep-alive connections."""
    result = Spread()
    first = time.time() + lead
    local = threading.local()

    def create(i: int) -> tuple[str, float, float]:
        if not hasattr(local, "session"):
            local.session = session if clients == 1 else requests.Session()
            local.session.headers.update(session.headers)
        slot = first + i * spread / count
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
    last_at: float | None


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


def ms(seconds: float | None) -> str:
    return "n/a" if seconds is None else f"{seconds * 1000:.1f}"


def print_table(title: str, settings: dict, header: list[str], rows: list[list]) -> None:
    """A title, the settings used, and left/right-aligned columns."""
    print(title)
    print("settings: " + " ".join(f"{key}={value}" for key, value in settings.items()))
    table = [header, *[[str(cell) for cell in row] for row in rows]]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for index, row in enumerate(table):
        cells = [row[0].ljust(widths[0])]
        cells += [cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True)]
        print("  ".join(cells).rstrip())
        if index == 0:
            print("  ".join("-" * width for width in widths))
