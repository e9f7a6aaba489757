"""Rewrite the README's settings section from the settings table."""

from __future__ import annotations

import re
from pathlib import Path

from netatlas.settings import markdown_table

README = Path(__file__).resolve().parents[1] / "README.md"
BEGIN, END = "<!-- settings:begin -->", "<!-- settings:end -->"


def main() -> None:
    text = README.read_text()
    pattern = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END), re.S)
    README.write_text(pattern.sub(f"{BEGIN}\n{markdown_table()}\n{END}", text))


if __name__ == "__main__":
    main()
