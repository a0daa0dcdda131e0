"""Helpers shared by the figure-builder tests."""

from __future__ import annotations

import plotly.graph_objects as go


def traces(fig: go.Figure) -> dict[str, go.BaseTraceType]:
    """The figure's traces by name (a later trace of the same name wins)."""
    return {t.name: t for t in fig.data}
