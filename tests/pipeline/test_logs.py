"""pipeline/logs.py, in this process: one processor chain for structlog and stdlib records alike, JSON lines when
stderr is not a terminal (or ``json``), a console rendering otherwise, per-task ids bound as context."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import structlog

from pipeline.logs import configure_logging

NOISY = ("botocore", "boto3", "urllib3", "s3transfer")


@pytest.fixture(autouse=True)
def restored_logging() -> Iterator[None]:
    """configure_logging changes process-wide state (structlog's configuration, the root logger): put it back, with
    the same processor list, so that later tests' ``capture_logs`` still sees every logger."""
    saved = structlog.get_config()
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    levels = {name: logging.getLogger(name).level for name in NOISY}
    yield
    structlog.contextvars.clear_contextvars()
    structlog.configure(**saved)
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, noisy_level in levels.items():
        logging.getLogger(name).setLevel(noisy_level)


def json_lines(err: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in err.splitlines() if line.strip()]


def test_json_lines_carry_level_logger_time_and_the_bound_ids(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", "json")
    structlog.contextvars.bind_contextvars(task_id="t1", bucket="uploads", key="a.jpg")
    structlog.get_logger("media_ingest.test").info("object.processed", label="ai_generated")
    [line] = json_lines(capsys.readouterr().err)
    assert line.pop("timestamp").endswith("Z")
    assert line == {
        "event": "object.processed",
        "label": "ai_generated",
        "level": "info",
        "logger": "media_ingest.test",
        "task_id": "t1",
        "bucket": "uploads",
        "key": "a.jpg",
    }


def test_stdlib_records_go_through_the_same_chain(capsys: pytest.CaptureFixture[str]) -> None:
    """Celery's and botocore's records (stdlib logging) come out as the same JSON lines, with the bound ids."""
    configure_logging("INFO", "json")
    structlog.contextvars.bind_contextvars(batch_id="b1")
    logging.getLogger("celery.worker").warning("Connection to broker lost")
    [line] = json_lines(capsys.readouterr().err)
    assert (line["event"], line["level"], line["logger"], line["batch_id"]) == (
        "Connection to broker lost",
        "warning",
        "celery.worker",
        "b1",
    )


def test_an_exception_is_one_json_line_with_its_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", "json")
    try:
        raise ValueError("boom")
    except ValueError:
        structlog.get_logger("media_ingest.test").exception("intake.poll_failed")
    [line] = json_lines(capsys.readouterr().err)
    assert line["event"] == "intake.poll_failed" and line["level"] == "error"
    assert "Traceback" in line["exception"] and "ValueError: boom" in line["exception"]


def test_the_level_filters_and_the_chatty_libraries_are_kept_at_warning(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("warning", "json")
    log = structlog.get_logger("media_ingest.test")
    log.info("not shown")
    log.warning("shown")
    logging.getLogger("botocore.hooks").info("not shown either")
    assert [line["event"] for line in json_lines(capsys.readouterr().err)] == ["shown"]
    assert all(logging.getLogger(name).level == logging.WARNING for name in NOISY)


@pytest.mark.parametrize(("fmt", "is_json"), [("json", True), ("console", False), ("auto", True)])
def test_the_format_is_json_or_console_and_auto_is_json_off_a_terminal(
    capsys: pytest.CaptureFixture[str], fmt: str, is_json: bool
) -> None:
    """Under pytest stderr is not a terminal, as in production and CI: ``auto`` writes JSON there."""
    configure_logging("INFO", fmt)
    structlog.get_logger("media_ingest.test").info("intake.started", key="minio:events")
    [text] = capsys.readouterr().err.splitlines()
    if is_json:
        assert json.loads(text)["key"] == "minio:events"
    else:
        assert text.startswith("20") and "intake.started" in text and "key=minio:events" in text
        assert "\x1b[" not in text, "no colours when stderr is not a terminal"


def test_configuring_again_keeps_one_handler(capsys: pytest.CaptureFixture[str]) -> None:
    """Every entry point and Celery's setup_logging signal call it: lines must not double."""
    configure_logging("INFO", "json")
    configure_logging("INFO", "json")
    assert len(logging.getLogger().handlers) == 1
    structlog.get_logger("media_ingest.test").info("once")
    assert len(json_lines(capsys.readouterr().err)) == 1
