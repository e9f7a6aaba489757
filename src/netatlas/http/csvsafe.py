"""CSV cells a spreadsheet will not run.

Spreadsheet programs read a cell that starts with ``=``, ``+``, ``-`` or ``@`` (or a tab or
carriage return before one) as a formula, and formulas can fetch URLs or start programs. Text
in our CSV files comes from the public (survey answers, ISP names, submitted values), so
every text cell that starts with one of those gets a leading ``'``, which spreadsheets show
as plain text. Numbers stay numbers: ``-3.5`` stored as a number is written as it is.
"""

from __future__ import annotations

from typing import Any

__all__ = ["FORMULA_START", "csv_cell"]

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> Any:
    """The value to hand to :mod:`csv`: "" for None, text neutralised, anything else as is."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value
