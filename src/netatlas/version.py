"""The body of ``/__version__``: source, version, commit and build (Ichnaea's keys)."""

from __future__ import annotations

import subprocess
from functools import cache
from pathlib import Path

from netatlas import __version__

SOURCE = "https://github.com/netatlas/netatlas"


@cache
def version_info() -> dict[str, str]:
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        ).stdout.strip()
    except OSError:
        commit = ""
    return {
        "source": SOURCE,
        "version": __version__,
        "commit": commit or "unknown",
        "build": "none",
    }
