"""``format_value``: the one display rule for numbers (pages, report, charts, model card)."""

from __future__ import annotations

import math

import numpy as np

from recaudit.formatting import format_value


def test_format_value_by_hand() -> None:
    assert format_value(None) == "n/a" and format_value(math.nan, missing="—") == "—"
    assert format_value(math.inf) == "∞" and format_value(-np.inf) == "−∞"
    assert format_value(True) == "True" and format_value(np.int64(12345)) == "12,345"
    assert format_value(0.123456) == "0.1235" and format_value(0.5, 2) == "0.50"
    assert format_value(0.0001234) == "0.0001234" and format_value(123456.7) == "1.235e+05"
    assert format_value(0.0) == "0.0000" and format_value(0.05, general=True) == "0.05"
    assert format_value("text") == "text"
