"""Numbers as text for pages, reports, charts and the model card: one rule, so a value reads the same
in the app, the HTML report and a chart's subtitle."""

from __future__ import annotations

import math

import numpy as np

MISSING = "n/a"


def format_value(value: object, digits: int = 4, *, missing: str = MISSING, general: bool = False) -> str:
    """``value`` for display.

    - None and NaN: ``missing``; ±infinity: ``∞`` / ``−∞``; booleans: ``True`` / ``False``;
    - integers: with thousands separators (``12,345``);
    - floats: ``digits`` decimals (``0.1235``), or ``digits`` significant digits where fixed decimals
      would hide the value (non-zero and below 1e-3 or at least 1e5: ``0.0001234``, ``1.235e+05``);
      ``general=True`` always uses significant digits (``0.05``, for configuration values);
    - anything else: ``str(value)``.
    """
    if value is None:
        return missing
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    if isinstance(value, (float, np.floating)):
        number = float(value)
        if math.isnan(number):
            return missing
        if math.isinf(number):
            return "∞" if number > 0 else "−∞"
        if general or (number != 0 and (abs(number) >= 1e5 or abs(number) < 1e-3)):
            return f"{number:.{digits}g}"
        return f"{number:.{digits}f}"
    return str(value)
