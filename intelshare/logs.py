"""Log context: the request id on every line, and the JSON line format."""

from __future__ import annotations

import contextvars
import logging
import re
import uuid
from datetime import UTC, datetime
from typing import Any

from celery.signals import task_postrun, task_prerun
from pythonjsonlogger.orjson import OrjsonFormatter

REQUEST_ID_HEADER = "X-Request-ID"
_SANE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
_RENAMED = {"created": "time", "levelname": "level", "name": "logger", "exc_info": "exception"}
_FIELDS = ("time", "level", "logger", "message", "request_id", "exception")


def new_request_id() -> str:
    return uuid.uuid4().hex


def sane_request_id(offered: str) -> str:
    """The caller's id when it is a plain token (it goes into logs), else a new one."""
    return offered if _SANE_ID.fullmatch(offered) else new_request_id()


class RequestIdFilter(logging.Filter):
    """Puts the current request (or task) id on every record as ``request_id``."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        return True


class JsonFormatter(OrjsonFormatter):
    """One JSON object per line: time, level, logger, message, request_id, exception."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("fmt", ["created", "levelname", "name", "message", "request_id"])
        kwargs.setdefault("rename_fields", _RENAMED)
        super().__init__(*args, **kwargs)

    def process_log_record(self, log_data: dict[str, Any]) -> dict[str, Any]:
        log_data["time"] = (
            datetime.fromtimestamp(log_data["time"], tz=UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z")
        )
        if log_data.get("request_id") is None:
            log_data["request_id"] = request_id.get()
        # Only these fields: extras such as django.request's request object stay out.
        return {key: log_data[key] for key in _FIELDS if key in log_data}


_task_tokens: dict[str, contextvars.Token[str]] = {}


def _task_started(task_id: str | None = None, **kwargs: Any) -> None:
    if task_id:
        _task_tokens[task_id] = request_id.set(f"task-{task_id}")


def _task_finished(task_id: str | None = None, **kwargs: Any) -> None:
    token = _task_tokens.pop(task_id or "", None)
    if token is not None:
        try:
            request_id.reset(token)
        except ValueError:  # set in another context: just clear it
            request_id.set("-")


task_prerun.connect(_task_started, dispatch_uid="intelshare.logs.task_prerun")
task_postrun.connect(_task_finished, dispatch_uid="intelshare.logs.task_postrun")
