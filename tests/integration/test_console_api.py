"""The web console as the API serves it (/ui, open), and the job fields it reads:
schedule_text and last_execution."""

import re
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser

import falcon.testing
import pytest

import api
from api import console
from tests.integration.api_calls import add_execution, create, get, http_job, listed, timestamp

API_KEY = "console-key-Hq72"
ASSET_TYPES = {
    "/ui": "text/html",
    "/ui/console.js": "text/javascript",
    "/ui/editor.js": "text/javascript",
    "/ui/console.css": "text/css",
}
SVG_NAMESPACE = "http://www.w3.org/2000/svg"  # a name, never fetched


@pytest.fixture
def keyed_client(db, secret_box):
    return falcon.testing.TestClient(api.create_app(db, box=secret_box, api_keys=(API_KEY,)))


# --- schedule_text ---------------------------------------------------------------------


def test_a_job_says_its_cron_schedule_in_words_in_its_own_zone(client):
    created = create(
        client, http_job(execute_at=None, cron_schedule="30 2 * * *", timezone="Europe/Berlin")
    )

    assert created["schedule_text"] == "every day at 02:30 (Europe/Berlin)"
    assert get(client, created["id"])["schedule_text"] == "every day at 02:30 (Europe/Berlin)"


def test_a_one_off_job_says_when_it_runs(client):
    created = create(client, http_job(execute_at="2030-01-01T09:00:00Z"))

    assert created["schedule_text"] == "once at 2030-01-01 09:00 UTC"


def test_the_list_says_each_schedule_in_words(client):
    create(client, http_job(execute_at=None, cron_schedule="*/5 * * * *"))
    create(client, http_job(execute_at=None, cron_schedule="* * * * * *"))

    assert [job["schedule_text"] for job in listed(client)] == ["every 5 minutes", "every second"]


def test_an_update_of_the_schedule_changes_its_words(client):
    created = create(client, http_job(execute_at=None, cron_schedule="@hourly"))

    response = client.simulate_put(f"/v1/jobs/{created['id']}", json={"cron_schedule": "@daily"})

    assert created["schedule_text"] == "every hour"
    assert response.json["schedule_text"] == "every day at 00:00 UTC"


# --- last_execution --------------------------------------------------------------------


def test_a_job_that_never_ran_has_no_last_execution(client):
    created = create(client, http_job())

    assert created["last_execution"] is None
    assert get(client, created["id"])["last_execution"] is None
    assert listed(client)[0]["last_execution"] is None


def test_last_execution_is_the_newest_by_start_time_whatever_the_insertion_order(client, db):
    job_id = create(client, http_job())["id"]
    now = datetime.now(UTC)
    add_execution(db, job_id, now - timedelta(minutes=1), "FAILED", status_code=503)
    add_execution(db, job_id, now - timedelta(minutes=5), "SUCCESSFUL", status_code=200)

    last = get(client, job_id)["last_execution"]

    assert last["status"] == "FAILED"
    assert last["status_code"] == 503
    assert timestamp(last["end_time"]) == now - timedelta(minutes=1) + timedelta(seconds=2)
    assert set(last) == {"status", "end_time", "status_code"}


def test_the_list_gives_each_job_its_own_last_execution(client, db):
    ran_ok, failed, never = (create(client, http_job())["id"] for _ in range(3))
    start = datetime.now(UTC) - timedelta(hours=1)
    for minute in range(5):
        add_execution(db, ran_ok, start + timedelta(minutes=minute), status_code=200)
    add_execution(db, failed, start, "FAILED", status_code=None, error_message="refused")

    shown = {job["id"]: job["last_execution"] for job in listed(client)}

    assert shown[ran_ok]["status"] == "SUCCESSFUL"
    assert timestamp(shown[ran_ok]["end_time"]) == start + timedelta(minutes=4, seconds=2)
    assert (shown[failed]["status"], shown[failed]["status_code"]) == ("FAILED", None)
    assert shown[never] is None


def test_the_list_reads_every_last_execution_in_one_query(client, db, monkeypatch):
    for _ in range(12):
        job_id = create(client, http_job())["id"]
        add_execution(db, job_id, datetime.now(UTC))
    statements = []
    execute_sql = db.execute_sql

    def recorded(sql, *args, **kwargs):
        statements.append(sql)
        return execute_sql(sql, *args, **kwargs)

    monkeypatch.setattr(db, "execute_sql", recorded)

    jobs = listed(client, "limit=12")

    assert all(job["last_execution"]["status"] == "SUCCESSFUL" for job in jobs)
    assert len([sql for sql in statements if "executions" in sql]) == 1


def test_pausing_answers_with_the_last_execution_too(client, db):
    job_id = create(client, http_job())["id"]
    add_execution(db, job_id, datetime.now(UTC), "SKIPPED")

    response = client.simulate_post(f"/v1/jobs/{job_id}/pause")

    assert response.json["status"] == "STOPPED"
    assert response.json["last_execution"]["status"] == "SKIPPED"


# --- the console ---------------------------------------------------------------------


@pytest.mark.parametrize(("path", "content_type"), ASSET_TYPES.items())
def test_the_console_and_its_assets_load_without_a_key(keyed_client, path, content_type):
    response = keyed_client.simulate_get(path)

    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith(content_type)
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert response.content


def test_the_root_sends_a_browser_to_the_console_without_a_key(keyed_client):
    response = keyed_client.simulate_get("/")

    assert response.status_code == 302
    assert response.headers["location"] == "/ui"


@pytest.mark.parametrize("path", ["/v1/jobs", "/ui/", "/ui/other.js", "/uix", "/ui/console.js/x"])
def test_the_api_and_any_other_path_still_need_the_key(keyed_client, path):
    assert keyed_client.simulate_get(path).status_code == 401
    ok = keyed_client.simulate_get("/v1/jobs", headers={"Authorization": f"Bearer {API_KEY}"})
    assert ok.status_code == 200


def test_the_open_paths_are_exactly_the_console_files_and_the_root():
    assert {"/", *ASSET_TYPES} == console.OPEN_PATHS


class _References(HTMLParser):
    def __init__(self):
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.found += [value for name, value in attrs if name in ("src", "href") and value]


def test_the_page_loads_only_its_own_files_and_nothing_from_another_host(client):
    page = client.simulate_get("/ui").text
    parser = _References()
    parser.feed(page)

    assert set(parser.found) == {
        "/ui/console.js",
        "/ui/editor.js",
        "/ui/console.css",
        "#/",
        "#/flow-controls",
    }
    assert not re.search(r"https?://", page)


def test_the_script_and_the_stylesheet_reach_no_other_host(client):
    script = client.simulate_get("/ui/console.js").text + client.simulate_get("/ui/editor.js").text
    style = client.simulate_get("/ui/console.css").text

    assert set(re.findall(r"https?://[^\s\"'`)]*", script)) == {SVG_NAMESPACE}
    assert not re.search(r"https?://|@import|url\(", style)
