"""`--log-format json`: every line on stderr is one JSON object, whoever logs it — our own
structlog events, and the libraries that log through the standard library (kopf, aiohttp,
asyncio), whose plain-text lines would otherwise break a log pipeline's parser."""

from __future__ import annotations

import json
import subprocess
import sys

PROGRAM = """
import logging, structlog
from kubenexus.logging import configure_logging
configure_logging(json_output=True, level="INFO")
structlog.get_logger("kubenexus.shell.app").warning("binding.failed", pod="default/p1")
logging.getLogger("kopf._cogs.clients.api").warning("Request attempt #%d/9 failed", 6)
logging.getLogger("kopf.objects").debug("below the level: not shown")
try:
    raise ValueError("boom")
except ValueError:
    logging.getLogger("asyncio").exception("Task exception was never retrieved")
"""


def test_json_logs_render_the_standard_librarys_records_as_json_too() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROGRAM], capture_output=True, text=True, check=True, timeout=60
    )
    lines = done.stderr.splitlines()
    records = []
    for line in lines:
        try:
            records.append(json.loads(line))
        except ValueError:
            raise AssertionError(f"not a JSON line: {line!r}\nin:\n{done.stderr}") from None
    assert [r["event"] for r in records] == [
        "binding.failed",
        "Request attempt #6/9 failed",
        "Task exception was never retrieved",
    ]
    ours, kopf, crash = records
    assert ours["pod"] == "default/p1"
    assert (kopf["level"], kopf["logger"]) == ("warning", "kopf._cogs.clients.api")
    assert "timestamp" in kopf
    assert crash["level"] == "error"
    assert "ValueError: boom" in crash["exception"]
