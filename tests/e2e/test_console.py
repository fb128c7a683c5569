"""The web console in a real browser: Debian's chromium, driven by selenium, against a
real `scheduler web` that wants an API key.

The job page it ends on is saved as a PNG; with CONSOLE_SCREENSHOT=docs/console.png
the run refreshes the picture of docs/console.md (otherwise it goes to the test's tmp
dir, so a test run leaves the work tree as it was).
"""

import os
from datetime import datetime, timedelta

import pytest
import requests
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as shown
from selenium.webdriver.support.ui import WebDriverWait

from app.secrets.sealing import generate_key
from testkit.e2e import running_web
from testkit.services import run_sql, unavailable
from testkit.stack import Stack

pytestmark = pytest.mark.e2e

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
KEY = "console-" + generate_key()[:16]

# A day of a job's history, one execution every 15 minutes: mostly on time, some
# failures after four attempts, and an hour where the target was slow to start.
HISTORY = """
INSERT INTO executions (job_id, delivery_id, scheduled_for, start_time, end_time, status,
                        attempts, status_code, error_message, lag_ms, duration_ms)
SELECT %s::uuid, gen_random_uuid(), slot, slot + lag, slot + lag + took,
       CASE WHEN failed THEN 'FAILED' ELSE 'SUCCESSFUL' END,
       CASE WHEN failed THEN 4 ELSE 1 END,
       CASE WHEN failed THEN 503 ELSE 200 END,
       CASE WHEN failed THEN 'HTTP 503 after 4 attempts' END,
       (extract(epoch FROM lag) * 1000)::bigint, (extract(epoch FROM took) * 1000)::bigint
FROM (
    SELECT slot, failed,
           make_interval(secs => 0.02 + (n %% 7) * 0.012 + 1.4 * slow::int) AS lag,
           make_interval(secs => 0.08 + (n %% 5) * 0.03 + 2.4 * failed::int) AS took
    FROM (
        SELECT n, date_trunc('minute', now()) - n * interval '15 minutes' AS slot,
               n %% 11 = 3 OR n BETWEEN 40 AND 42 AS failed, n BETWEEN 38 AND 44 AS slow
        FROM generate_series(1, 96) AS n
    ) AS slots
) AS history
"""


READ_KEY = "console-read-" + generate_key()[:16]


@pytest.fixture
def web(database_name, tmp_path):
    with running_web(database_name, tmp_path, KEY, SCHEDULER_API_READ_KEYS=READ_KEY) as stack:
        yield stack


@pytest.fixture
def browser():
    for path in (CHROMIUM, CHROMEDRIVER):
        if not os.access(path, os.X_OK):
            unavailable(f"{path} is missing: apt-get install chromium chromium-driver")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    # --no-sandbox: the tests run as root, where chromium's sandbox refuses to start.
    for argument in ("--headless=new", "--no-sandbox", "--window-size=1280,1320"):
        options.add_argument(argument)
    # Given the driver's path, selenium uses it and downloads nothing.
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def call(stack: Stack, method: str, path: str, **kwargs) -> dict:
    headers = {"Authorization": f"Bearer {KEY}"}
    response = requests.request(method, f"{stack.api}{path}", headers=headers, timeout=10, **kwargs)
    assert response.ok, response.text
    return response.json()


def create_jobs(stack: Stack) -> dict:
    """The job the operator looks for, and another one the tag filter must hide."""
    call(
        stack,
        "POST",
        "/v1/jobs",
        json={
            "type": "HTTP",
            "cron_schedule": "30 2 * * *",
            "tags": ["reports"],
            "http_job": {"url": "http://127.0.0.1:9/reports/nightly", "method": "GET"},
        },
    )
    return call(
        stack,
        "POST",
        "/v1/jobs",
        json={
            "type": "HTTP",
            "cron_schedule": "*/15 * * * *",
            "timezone": "Europe/Berlin",
            "tags": ["billing", "eu"],
            "http_job": {"url": "http://127.0.0.1:9/hooks/invoice", "method": "POST"},
        },
    )


def test_an_operator_enters_the_key_finds_a_job_by_tag_and_pauses_it(web, browser, tmp_path):
    job = create_jobs(web)
    run_sql(web.environ, HISTORY, job["id"])
    wait = WebDriverWait(browser, 10)

    browser.get(f"{web.api}/")  # the root sends the browser to /ui
    key = wait.until(shown.visibility_of_element_located((By.ID, "key-input")))
    key.send_keys("not-the-key\n")
    wait.until(shown.text_to_be_present_in_element((By.ID, "key-error"), "refused"))
    browser.find_element(By.ID, "key-input").send_keys(KEY + "\n")
    wait.until(shown.invisibility_of_element_located((By.ID, "key-dialog")))
    rows = wait.until(
        shown.presence_of_all_elements_located((By.CSS_SELECTOR, "table.jobs tbody tr"))
    )
    assert len(rows) == 2

    browser.find_element(By.ID, "tag-filter").send_keys("billing\n")
    wait.until(lambda _: len(browser.find_elements(By.CSS_SELECTOR, "table.jobs tbody tr")) == 1)
    row = browser.find_element(By.CSS_SELECTOR, f'tr[data-job="{job["id"]}"]')
    assert "every 15 minutes" in row.text
    assert "billing" in row.text and "RUNNING" in row.text
    assert "SUCCESSFUL" in row.text  # the last outcome

    row.find_element(By.TAG_NAME, "a").click()
    wait.until(shown.presence_of_element_located((By.CSS_SELECTOR, "svg.chart rect")))
    history = browser.find_elements(By.CSS_SELECTOR, "table.history tbody tr")
    assert len(history) == 20
    next_runs = browser.find_element(By.CSS_SELECTOR, "ol.runs").text
    assert "+01:00" in next_runs or "+02:00" in next_runs  # in the job's zone, Berlin
    browser.save_screenshot(os.environ.get("CONSOLE_SCREENSHOT") or str(tmp_path / "console.png"))

    browser.find_element(By.ID, "pause").click()
    wait.until(shown.text_to_be_present_in_element((By.ID, "job-status"), "STOPPED"))
    assert "Paused" in browser.find_element(By.ID, "notice").text
    assert call(web, "GET", f"/v1/jobs/{job['id']}")["status"] == "STOPPED"
    assert browser.find_elements(By.ID, "resume")


# A failed delivery of the job, with its dead letter, as a worker records them.
FAILED = """
WITH failed AS (
    INSERT INTO executions (job_id, delivery_id, scheduled_for, start_time, end_time, status,
                            attempts, error_kind, error_message, error_detail)
    VALUES (%s::uuid, gen_random_uuid(), now() - interval '1 minute', now() - interval '58 s',
            now() - interval '55 s', 'FAILED', 4, 'connection_refused',
            'connection refused by 127.0.0.1:9',
            'ConnectionError: HTTPConnectionPool(host=''127.0.0.1'', port=9): Max retries')
    RETURNING *
)
INSERT INTO dead_letters (job_id, execution_id, delivery_id, scheduled_for, failed_at, attempts,
                          error_kind, error_message, error_detail, request)
SELECT job_id, id, delivery_id, scheduled_for, end_time, attempts, error_kind, error_message,
       error_detail, '{"method": "POST"}'
FROM failed
RETURNING id
"""


def open_job_page(web: Stack, browser, job_id: str, key: str = KEY) -> WebDriverWait:
    """The job's page, once the key is given; a wait on the browser, to go on with."""
    wait = WebDriverWait(browser, 10)
    browser.get(f"{web.api}/ui#/jobs/{job_id}")
    given = wait.until(shown.visibility_of_element_located((By.ID, "key-input")))
    given.send_keys(key + "\n")
    return wait


def test_a_dead_letter_shows_its_failure_in_short_and_is_redriven_from_the_job_page(web, browser):
    job = create_jobs(web)
    [(older,)] = run_sql(web.environ, FAILED, job["id"])
    [(dead_letter_id,)] = run_sql(web.environ, FAILED, job["id"])  # newest: the first row
    wait = open_job_page(web, browser, job["id"])
    letter = wait.until(shown.presence_of_element_located((By.CSS_SELECTOR, "tr.dead-letter")))
    assert "connection refused by 127.0.0.1:9" in letter.text
    assert "Max retries" not in letter.text  # the detail waits to be asked for
    letter.find_element(By.CSS_SELECTOR, "details.failure summary").click()
    assert "Max retries" in letter.text
    history = browser.find_element(By.CSS_SELECTOR, "table.history tbody tr")
    assert "connection refused by 127.0.0.1:9" in history.text

    letter.find_element(By.CSS_SELECTOR, "button.redrive").click()
    wait.until(shown.text_to_be_present_in_element((By.ID, "dead-letters"), "redrive pending"))
    assert "Redrive requested" in browser.find_element(By.ID, "notice").text
    assert call(web, "GET", f"/v1/dead-letters/{dead_letter_id}")["redrive_requested_at"]
    assert call(web, "GET", f"/v1/jobs/{job['id']}")["run_requested_at"]

    # The one left, with the rest of the job's dead letters.
    wait.until(shown.element_to_be_clickable((By.ID, "redrive-all"))).click()
    wait.until(shown.text_to_be_present_in_element((By.ID, "notice"), "Redrives requested: 1"))
    assert call(web, "GET", f"/v1/dead-letters/{older}")["redrive_requested_at"]
    wait.until(lambda _: not browser.find_elements(By.ID, "redrive-all"))


def test_a_jobs_flow_key_leads_to_the_flow_controls_and_their_live_figures(web, browser):
    call(web, "PUT", "/v1/flow-controls/partner-api", json={"rate": 10, "parallelism": 2})
    job = call(
        web,
        "POST",
        "/v1/jobs",
        json={
            "type": "HTTP",
            "cron_schedule": "*/5 * * * *",
            "jitter": "30s",
            "overlap_policy": "buffer_one",
            "flow_key": "partner-api",
            "http_job": {"url": "http://127.0.0.1:9/partner", "method": "POST"},
        },
    )
    # Due and held back: the stack has no tick, so it waits.
    run_sql(web.environ, "UPDATE jobs SET next_run = now() WHERE id = %s", job["id"])
    wait = open_job_page(web, browser, job["id"])
    facts = wait.until(shown.presence_of_element_located((By.CSS_SELECTOR, "dl.facts")))
    assert "Version\n1" in facts.text
    assert "up to 30s after each slot" in facts.text
    assert "a slot that comes while one runs waits for it" in facts.text
    facts.find_element(By.LINK_TEXT, "partner-api").click()
    row = wait.until(shown.presence_of_element_located((By.CSS_SELECTOR, "tr[data-key]")))
    cells = [cell.text for cell in row.find_elements(By.TAG_NAME, "td")]
    assert cells == ["partner-api", "10 per 1s", "2", "0", "1", "0"]


def test_with_a_read_key_the_console_shows_everything_and_offers_no_change(web, browser):
    job = create_jobs(web)
    run_sql(web.environ, FAILED, job["id"])
    wait = open_job_page(web, browser, job["id"], key=READ_KEY)
    letter = wait.until(shown.presence_of_element_located((By.CSS_SELECTOR, "tr.dead-letter")))
    assert "connection refused by 127.0.0.1:9" in letter.text
    for button in [
        browser.find_element(By.ID, "pause"),
        browser.find_element(By.ID, "run-now"),
        browser.find_element(By.ID, "redrive-all"),
        letter.find_element(By.CSS_SELECTOR, "button.redrive"),
    ]:
        assert not button.is_enabled()
        assert button.get_attribute("title") == (
            "this API key may only read (SCHEDULER_API_READ_KEYS)"
        )
    # The write key, given instead, may act again.
    browser.find_element(By.ID, "forget-key").click()
    given = wait.until(shown.visibility_of_element_located((By.ID, "key-input")))
    given.send_keys(KEY + "\n")
    # The page may render once more as the key comes in: click the one that stays.
    settled = WebDriverWait(browser, 10, ignored_exceptions=(StaleElementReferenceException,))
    settled.until(lambda _: browser.find_element(By.ID, "pause").click() is None)
    wait.until(shown.element_to_be_clickable((By.ID, "resume")))


def field(browser, name: str):
    return browser.find_element(By.ID, f"field-{name}")


def retype(element, text: str) -> None:
    element.clear()
    element.send_keys(text)


def refused_by(browser, wait: WebDriverWait, name: str) -> str:
    """Save the form, and the error then shown by the field `name`."""
    browser.find_element(By.ID, "save").click()
    shown_by = (By.CSS_SELECTOR, f'.field[data-field="{name}"] .field-error')
    return wait.until(shown.visibility_of_element_located(shown_by)).text


def test_an_operator_creates_edits_pauses_by_tag_and_deletes_a_job(web, browser):
    # A zone far from UTC, so the time zone toggle shows a difference.
    browser.execute_cdp_cmd("Emulation.setTimezoneOverride", {"timezoneId": "Asia/Tokyo"})
    wait = WebDriverWait(browser, 10)
    browser.get(f"{web.api}/ui#/new")
    wait.until(shown.visibility_of_element_located((By.ID, "key-input"))).send_keys(KEY + "\n")
    cron = wait.until(shown.visibility_of_element_located((By.ID, "field-cron_schedule")))
    cron.send_keys("0 6 * * *")
    retype(field(browser, "timezone"), "Europe/Berlin")
    wait.until(lambda _: len(browser.find_elements(By.CSS_SELECTOR, "#preview li")) == 5)
    assert "06:00:00 +0" in browser.find_element(By.ID, "preview").text
    field(browser, "tags").send_keys("console-team")
    field(browser, "url").send_keys("http://127.0.0.1:9/hooks/console")
    field(browser, "headers").send_keys("Authorization: Bearer console-secret-1")

    # What the API refuses shows by the field it names, and nothing is created.
    field(browser, "timeout").send_keys("forever")
    assert "timeout" in refused_by(browser, wait, "timeout")
    assert call(web, "GET", "/v1/jobs?tags=console-team") == []
    field(browser, "timeout").clear()
    browser.find_element(By.ID, "save").click()
    wait.until(shown.text_to_be_present_in_element((By.ID, "notice"), "Created"))
    [job] = call(web, "GET", "/v1/jobs?tags=console-team")
    assert job["cron_schedule"] == "0 6 * * *" and job["timezone"] == "Europe/Berlin"
    assert job["http_job"]["headers"] == {"Authorization": "***"}

    # Edit the schedule: the preview follows, the job's next runs too, the secret stays.
    # The notice shows as the move starts; the job's page mounts once its reads are back.
    wait.until(shown.element_to_be_clickable((By.ID, "edit"))).click()
    cron = wait.until(shown.visibility_of_element_located((By.ID, "field-cron_schedule")))
    assert field(browser, "headers").get_attribute("value") == "Authorization: ***"
    retype(cron, "30 7 * * *")
    wait.until(shown.text_to_be_present_in_element((By.ID, "preview"), "07:30:00"))
    browser.find_element(By.ID, "save").click()
    wait.until(shown.text_to_be_present_in_element((By.ID, "notice"), "Saved"))
    # The editor's preview is an ol.runs too: read the list once the job's page is up.
    audit = wait.until(shown.presence_of_element_located((By.ID, "audit")))
    assert browser.find_element(By.CSS_SELECTOR, "ol.runs").text.count("07:30:00") == 5
    edited = call(web, "GET", f"/v1/jobs/{job['id']}")
    assert (edited["cron_schedule"], edited["version"]) == ("30 7 * * *", 2)
    assert "update" in audit.text and "cron_schedule" in audit.text and "create" in audit.text
    assert "console-secret-1" not in audit.text
    # Only what was edited is sent: no field shown with its default is set by the way.
    [update] = call(web, "GET", f"/v1/audit?job_id={job['id']}&action=update")["entries"]
    assert update["changes"]["after"] == {"cron_schedule": "30 7 * * *"}

    # Pause every job of the tag, from the list.
    browser.get(f"{web.api}/ui#/")
    wait.until(shown.visibility_of_element_located((By.ID, "tag-filter"))).send_keys(
        "console-team\n"
    )
    wait.until(shown.element_to_be_clickable((By.ID, "bulk-pause"))).click()
    confirm = wait.until(shown.element_to_be_clickable((By.ID, "bulk-confirm")))
    assert "Pause 1 of the 1 jobs tagged console-team?" in browser.find_element(By.ID, "bulk").text
    confirm.click()
    wait.until(shown.text_to_be_present_in_element((By.ID, "notice"), "Paused 1 of 1"))
    assert call(web, "GET", f"/v1/jobs/{job['id']}")["status"] == "STOPPED"

    # Times in the browser's zone, or in UTC: the toggle is remembered.
    browser.get(f"{web.api}/ui#/jobs/{job['id']}")
    created = wait.until(shown.presence_of_element_located((By.ID, "created"))).text
    assert browser.find_element(By.ID, "zone").text == "times in Asia/Tokyo (this browser)"
    browser.find_element(By.ID, "zone").click()
    wait.until(shown.text_to_be_present_in_element((By.ID, "zone"), "times in UTC"))
    # The page mounts again in UTC: an element read as it goes is stale, so read again.
    settled = WebDriverWait(browser, 10, ignored_exceptions=(StaleElementReferenceException,))
    in_utc = settled.until(
        lambda _: (text := browser.find_element(By.ID, "created").text) != created and text
    )
    assert datetime.fromisoformat(created) - datetime.fromisoformat(in_utc) == timedelta(hours=9)
    browser.refresh()
    wait.until(shown.text_to_be_present_in_element((By.ID, "zone"), "times in UTC"))

    # Delete, once confirmed.
    wait.until(shown.element_to_be_clickable((By.ID, "delete"))).click()
    wait.until(shown.element_to_be_clickable((By.ID, "delete-confirm"))).click()
    wait.until(shown.text_to_be_present_in_element((By.ID, "notice"), "Deleted"))
    assert call(web, "GET", "/v1/jobs?tags=console-team") == []


def test_an_amqp_jobs_headers_and_its_callbacks_are_edited_in_the_form(web, browser):
    job = call(
        web,
        "POST",
        "/v1/jobs",
        json={
            "type": "AMQP",
            "cron_schedule": "0 6 * * *",
            "amqp_job": {
                "connection": "amqp://guest:guest@127.0.0.1:5672/%2F",
                "exchange": "reports",
                "routing_key": "daily",
                "headers": {"x-priority": 5, "x-tenant": "eu"},
            },
            "on_failure": {
                "url": "http://127.0.0.1:9/alerts",
                "headers": {"X-Api-Key": "alert-secret-2"},
            },
        },
    )
    wait = open_job_page(web, browser, job["id"])
    wait.until(shown.element_to_be_clickable((By.ID, "edit"))).click()
    headers = wait.until(shown.visibility_of_element_located((By.ID, "field-amqp_headers")))
    assert set(headers.get_attribute("value").split("\n")) == {"x-priority: 5", "x-tenant: eu"}
    assert field(browser, "on_failure_headers").get_attribute("value") == "X-Api-Key: ***"
    retype(headers, "x-priority: 5\nx-tenant: us")
    field(browser, "on_failure_headers").send_keys("\nX-Team: payments")

    # Headers for a callback without a URL are refused by that callback's field.
    field(browser, "on_success_headers").send_keys("X-Team: payments")
    assert refused_by(browser, wait, "on_success") == "on_success needs a URL for its headers"
    field(browser, "on_success_headers").clear()
    browser.find_element(By.ID, "save").click()
    wait.until(shown.text_to_be_present_in_element((By.ID, "notice"), "Saved"))

    # The number stays a number, and the secret header, sent back as ***, is kept.
    edited = call(web, "GET", f"/v1/jobs/{job['id']}")
    assert edited["amqp_job"]["headers"] == {"x-priority": 5, "x-tenant": "us"}
    assert edited["on_failure"]["headers"] == {"X-Api-Key": "***", "X-Team": "payments"}
    [update] = call(web, "GET", f"/v1/audit?job_id={job['id']}&action=update")["entries"]
    assert set(update["changes"]["after"]) == {"amqp_job", "on_failure"}
    assert not update["changes"].get("secrets_changed")
