"""Log lines as text or JSON, each carrying the id of the request it was written for.

``NETATLAS_LOG_FORMAT=json`` writes one JSON object a line (``time``, ``level``, ``logger``,
``message``, ``request_id`` when there is one, the fields passed as ``extra=``, and ``error``
with the traceback), which journald and log shippers take as is. ``text`` is for people.

The request id comes from the ``X-Request-ID`` header that the proxy in front sets (nginx:
``$request_id``), or is made up per process when there is none; the request middleware puts it
in :data:`REQUEST_ID`, and the thread pool inherits it, so domain code logs it without knowing.

The same configuration goes to uvicorn (:func:`uvicorn_log_config`), which applies it in every
worker process it starts.
"""

from __future__ import annotations

import datetime as dt
import logging
import logging.config
from contextvars import ContextVar
from typing import Any

import msgspec

from netatlas.settings import Settings

__all__ = [
    "REQUEST_ID",
    "JsonFormatter",
    "TextFormatter",
    "configure_logging",
    "make_formatter",
    "uvicorn_log_config",
]

REQUEST_ID: ContextVar[str | None] = ContextVar("netatlas_request_id", default=None)

# Attributes every LogRecord has; anything else on a record came from ``extra=``.
# uvicorn adds ``color_message``, the message with terminal colours: not for log files.
_STANDARD = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", (), None)).keys()
    | {"message", "asctime", "color_message"}
)
_encode = msgspec.json.Encoder().encode


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")}


class JsonFormatter(logging.Formatter):
    """One JSON object per record."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = REQUEST_ID.get()
        if request_id is not None:
            entry["request_id"] = request_id
        for key, value in _extras(record).items():
            entry.setdefault(key, value)
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        elif record.stack_info:
            entry["error"] = record.stack_info
        try:
            return _encode(entry).decode("utf-8", "replace")
        except (TypeError, ValueError):  # an extra value JSON cannot carry: write its repr
            return _encode({k: _jsonable(v) for k, v in entry.items()}).decode("utf-8", "replace")


def _jsonable(value: Any) -> Any:
    try:
        _encode(value)
    except (TypeError, ValueError):
        return repr(value)
    return value


class TextFormatter(logging.Formatter):
    """``LEVEL logger message [request id] key=value ...``."""

    def format(self, record: logging.LogRecord) -> str:
        text = f"{record.levelname} {record.name} {record.getMessage()}"
        request_id = REQUEST_ID.get()
        if request_id is not None:
            text += f" [{request_id}]"
        extras = _extras(record)
        if extras:
            text += " " + " ".join(f"{k}={v}" for k, v in extras.items())
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


def make_formatter(fmt: str = "text") -> logging.Formatter:
    """The formatter for ``NETATLAS_LOG_FORMAT`` (a dictConfig factory, hence plain args)."""
    return JsonFormatter() if fmt == "json" else TextFormatter()


def _config(settings: Settings) -> dict[str, Any]:
    level = settings.log_level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "netatlas": {"()": f"{__name__}.make_formatter", "fmt": settings.log_format}
        },
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "netatlas",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"handlers": ["stderr"], "level": level},
        # uvicorn's loggers write through the root handler instead of their own.
        "loggers": {
            name: {"handlers": [], "propagate": True, "level": level}
            for name in ("uvicorn", "uvicorn.error", "uvicorn.access")
        },
    }


def uvicorn_log_config(settings: Settings) -> dict[str, Any]:
    """The logging configuration to hand to ``uvicorn.run(log_config=...)``."""
    return _config(settings)


def configure_logging(settings: Settings) -> None:
    """Configure the root logger of this process from the settings."""
    logging.config.dictConfig(_config(settings))
