"""structlog set-up, called once by the CLI entry point (STYLE: configure once, bind per batch).

JSON lines in production, a readable console when attached to a terminal. A last processor
masks anything shaped like a phone number: whatever a caller binds, a full phone number never
reaches a log line (a rule of the product: logs never print phone numbers or message bodies).
"""

from __future__ import annotations

import logging
import re
import sys
from typing import Any

import msgspec
import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

# "+" and 7-15 digits (E.164), or 10-15 bare digits (Meta's wa_id): the shapes phones take.
_PHONE_LIKE = re.compile(r"\+\d{7,15}|(?<!\d)\d{10,15}(?!\d)")
_JSON = msgspec.json.Encoder()
_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING}


def _mask(match: re.Match[str]) -> str:
    digits = match.group(0)
    return digits[:3] + "*" * (len(digits) - 5) + digits[-2:]


def mask_phones(text: str) -> str:
    """`text` with every phone-shaped run of digits masked (`+14*******23`)."""
    return _PHONE_LIKE.sub(_mask, text)


def mask_phone_numbers(_logger: WrappedLogger, _name: str, event: EventDict) -> EventDict:
    for key, value in event.items():
        if isinstance(value, str) and key != "timestamp":
            event[key] = mask_phones(value)
    return event


def _json_dumps(obj: Any, **_kwargs: Any) -> str:
    # structlog's JSONRenderer always passes `default=`: wrap msgspec instead of passing it.
    return _JSON.encode(obj).decode()


def configure_logging(fmt: str = "auto", level: str = "info") -> None:
    console = fmt == "console" or (fmt == "auto" and sys.stderr.isatty())
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        mask_phone_numbers,
    ]
    renderer: Processor = (
        structlog.dev.ConsoleRenderer()
        if console
        else structlog.processors.JSONRenderer(serializer=_json_dumps)
    )
    tail: list[Processor] = [] if console else [structlog.processors.dict_tracebacks]
    # Libraries (aiokafka, aiohttp) log through the standard library: render their records
    # with the same processors, so every line has one format and phone numbers stay masked.
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                *tail,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    structlog.configure(
        processors=[*shared, *tail, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS.get(level, logging.ERROR)),
        # Logs go to stderr: stdout belongs to command output (`classify`, `config show`).
        # One write per line (message and newline together): the processes of `run --processes`
        # share one stderr, and print() would write the newline separately, interleaving lines.
        logger_factory=structlog.WriteLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
