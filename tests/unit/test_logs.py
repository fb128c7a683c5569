"""Log lines: readable text by default, JSON with log-format=json; ids on the line."""

import json
import logging

import pytest

from app.logs import configure_logging


@pytest.fixture
def restore_logging():
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_a_json_line_carries_the_message_level_and_ids(capsys, restore_logging):
    configure_logging("INFO", "json")
    logging.getLogger("actors.run").info(
        "execution %s", "successful", extra={"job_id": "j1", "delivery_id": "d1", "attempt": 2}
    )
    event = json.loads(capsys.readouterr().err.strip())
    assert event["message"] == "execution successful"
    assert (event["level"], event["logger"]) == ("INFO", "actors.run")
    assert (event["job_id"], event["delivery_id"], event["attempt"]) == ("j1", "d1", 2)
    assert event["time"].endswith("+00:00")


def test_a_json_line_holds_the_traceback_of_an_exception(capsys, restore_logging):
    configure_logging("INFO", "json")
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("x").exception("failed")
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1  # one event, one line
    assert "ValueError: boom" in json.loads(lines[0])["exception"]


def test_a_text_line_ends_with_the_ids_as_key_value(capsys, restore_logging):
    configure_logging("INFO")
    logging.getLogger("x").warning("lease lost", extra={"job_id": "j1"})
    line = capsys.readouterr().err.strip()
    assert "WARNING" in line and line.endswith("lease lost job_id=j1")


def test_below_the_level_nothing_is_written(capsys, restore_logging):
    configure_logging("WARNING", "json")
    logging.getLogger("x").info("quiet")
    assert capsys.readouterr().err == ""
