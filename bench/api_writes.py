"""The API's writes: rate and CPU per request, by component, beside a bare request.

    python bench/api_writes.py [--requests 1000] [--bulk 2000]

Against one `scheduler web` on a private database, one client sends in turn
--requests of each: GET /health (the reference: a request through the app and
one query), POST /v1/jobs, POST /v1/jobs with a new Idempotency-Key each, the
same again (each key's replay), and PUT /v1/jobs/{id} changing a tag (an update
and its audit entry); then it pauses and resumes --bulk jobs by tag with
POST /v1/jobs/bulk. For each it prints requests (or jobs) per second and the
CPU milliseconds per request (per job for bulk) of the web process and of the
database sessions.
"""

import argparse
import time
from datetime import UTC, datetime, timedelta

import harness

from testkit.jobs import http_job
from testkit.services import private_services

TAG = "bench"
TARGET = "http://127.0.0.1:9/bench"  # never called: every job is due in a year


def job_body(i: int) -> dict:
    at = datetime.now(UTC) + timedelta(days=400, seconds=i)
    payload = http_job(TARGET)
    return {"type": "HTTP", "execute_at": at.isoformat(), "tags": [TAG], "http_job": payload}


class Phases:
    """Each phase's requests per second and CPU seconds of web and the database."""

    def __init__(self, sampler: harness.ResourceSampler):
        self.sampler = sampler
        self.rows: list[tuple[str, int, float, float, float]] = []

    def run(self, name: str, count: int, send) -> list:
        """`send(i)` for i in range(count), as one window of CPU; the answers."""
        return self.window(name, count, lambda: [send(i) for i in range(count)])

    def window(self, name: str, count: int, work):
        """`work()` as one window of CPU, figured per one of `count`; what it returns."""
        self.sampler.mark()
        started = time.perf_counter()
        answers = work()
        seconds = time.perf_counter() - started
        self.sampler.end_window()
        web = self.sampler.window_cpu("web")
        database = self.sampler.window_cpu(harness.DATABASE)
        self.rows.append((name, count, seconds, web, database))
        return answers

    def table(self) -> list[list[str]]:
        return [
            [
                name,
                f"{count / seconds:.0f}",
                f"{web * 1000 / count:.2f}",
                f"{database * 1000 / count:.2f}",
                f"{(web + database) * 1000 / count:.2f}",
            ]
            for name, count, seconds, web, database in self.rows
        ]


def checked(response, status: int):
    if response.status_code != status:
        raise RuntimeError(f"{response.request.method} {response.url}: {response.text[:300]}")
    return response


def measure(args) -> list[list[str]]:
    with (
        private_services(args.keep_logs) as services,
        services.stack() as stack,
        services.connect() as connection,
        services.connect() as watch,
    ):
        sampler = harness.ResourceSampler(
            stack.processes, sessions=harness.database_sessions(watch, services.name, connection)
        )
        stack.stopping.append(sampler.stop)
        api = stack.start_web()
        session = services.session()
        post = f"{api}/v1/jobs"
        for i in range(50):  # the pool's connections and the code paths, warm
            checked(session.post(post, json=job_body(i), timeout=30), 201)
        phases = Phases(sampler)
        phases.run("GET /health", args.requests, lambda i: session.get(f"{api}/health", timeout=30))
        created = phases.run(
            "POST /v1/jobs",
            args.requests,
            lambda i: checked(session.post(post, json=job_body(i), timeout=30), 201).json()["id"],
        )
        bodies = [job_body(i) for i in range(args.requests)]

        def keyed(i: int):
            headers = {"Idempotency-Key": f"bench-{i}"}
            return checked(session.post(post, json=bodies[i], headers=headers, timeout=30), 201)

        phases.run("POST /v1/jobs, Idempotency-Key", args.requests, keyed)
        phases.run("the same again (replays)", args.requests, keyed)
        phases.run(
            "PUT /v1/jobs/{id} (a tag)",
            args.requests,
            lambda i: checked(
                session.put(f"{post}/{created[i]}", json={"tags": [TAG, "x"]}, timeout=30), 200
            ),
        )
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM jobs")
        for i in range(args.bulk):
            checked(session.post(post, json=job_body(i), timeout=30), 201)
        for action in ("pause", "resume") if args.bulk else ():
            body = {"action": action, "selector": {"tags": [TAG]}}
            done = phases.window(
                f"bulk {action}, per job",
                args.bulk,
                lambda body=body: session.post(f"{post}/bulk", json=body, timeout=600),
            )
            if checked(done, 200).json()["affected"] != args.bulk:
                raise RuntimeError(f"bulk {action}: {done.text[:300]}")
        stack.stop()
        return phases.table()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000, help="per phase (default 1000)")
    parser.add_argument(
        "--bulk", type=int, default=2000, help="jobs a bulk action takes (0: no bulk phase)"
    )
    harness.add_common_arguments(parser)
    args = parser.parse_args()
    rows = measure(args)
    header = ["phase", "per s", "web CPU ms", "PostgreSQL CPU ms", "sum CPU ms"]
    settings = {"requests": args.requests, "bulk": args.bulk, "client": "1, keep-alive"}
    harness.print_table("API writes", settings, header, rows)


if __name__ == "__main__":
    harness.run(main)
