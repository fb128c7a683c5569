"""`scheduler status`: the operator's report (app/report.py) for a terminal."""

import sys

from app.config import Config
from app.db.database import open_database
from app.outage import DATABASE_DOWN
from app.report import Status, status


def run_status(config: Config) -> int:
    try:
        report = status(open_database(config))
    except DATABASE_DOWN as error:
        print(f"scheduler: database unavailable: {str(error).strip()}", file=sys.stderr)
        return 1
    print(render(report))
    return 0


def render(report: Status, window: str = "last hour") -> str:
    """The report as aligned lines for a terminal."""

    def ms(value: float | None) -> str:
        return "-" if value is None else f"{value:.0f} ms"

    jobs = ", ".join(f"{n} {s.lower()}" for s, n in report.jobs_by_status.items()) or "none"
    rows = [
        ("jobs", jobs),
        ("due, not claimed", str(report.due_unclaimed)),
        ("claims past lock time", str(report.expired_claims)),
        ("dead letters, not redriven", str(report.dead_letters)),
        (f"executions, {window}", str(report.executions)),
        (f"failures, {window}", str(report.failures)),
        (f"lag p50 / p99, {window}", f"{ms(report.lag_p50_ms)} / {ms(report.lag_p99_ms)}"),
    ]
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name.ljust(width)}  {value}" for name, value in rows)
