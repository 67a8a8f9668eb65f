"""LOG_FORMAT=json: one JSON object per log line, from the worker's job lines down."""

from __future__ import annotations

import json
import logging
import sys

import pytest

from actors.photos import photo_files_delete
from backend.ops.logging import JsonFormatter
from tests.conftest import queued_messages, wait_for


def test_json_formatter_writes_one_object_with_extras_and_the_exception():
    try:
        raise ValueError("bad <input>\nsecond line")
    except ValueError:
        record = logging.getLogger("lagless.test").makeRecord(
            "lagless.test",
            logging.ERROR,
            __file__,
            1,
            "job %s failed",
            ("abc",),
            sys.exc_info(),
            extra={"message_id": "m-1", "attempt": 2},
        )
    line = JsonFormatter().format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["message"] == "job abc failed"
    assert (entry["level"], entry["logger"]) == ("ERROR", "lagless.test")
    assert (entry["message_id"], entry["attempt"]) == ("m-1", 2)
    assert "ValueError: bad <input>" in entry["exception"]
    assert entry["time"].endswith("+00:00")


@pytest.mark.worker
def test_worker_job_lines_are_json_with_log_format_json(start_worker):
    worker = start_worker(LOG_FORMAT="json")
    photo_files_delete.send("local", ["gone.webp"])
    wait_for(lambda: queued_messages() == [], what="the job")
    entries = wait_for(
        lambda: [
            json.loads(line)
            for line in worker.log().splitlines()
            if line.startswith("{") and '"lagless.jobs"' in line
        ],
        what="the job's log line",
    )
    [job] = entries
    assert job["level"] == "INFO"
    assert "actor=photo_files_delete" in job["message"]
    assert "attempt=1" in job["message"]
    assert "outcome=ok" in job["message"]
