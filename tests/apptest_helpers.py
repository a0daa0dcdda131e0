"""Reading what an AppTest run drew: keyed tables, plotly figures, typed arrays."""

from __future__ import annotations

import base64
import json

import numpy as np
import pandas as pd
from streamlit.testing.v1 import AppTest


def find_block(node: object, key: str) -> object | None:
    """The block of the container keyed ``key`` (ids end in ``-<key>``), searched depth first."""
    proto = getattr(node, "proto", None)
    if getattr(proto, "id", "").endswith("-" + key):
        return node
    for child in getattr(node, "children", {}).values():
        found = find_block(child, key)
        if found is not None:
            return found
    return None


def frame(at: AppTest, key: str) -> pd.DataFrame:
    """The table drawn by ``support.table(..., key)``."""
    block = find_block(at.main, key)
    assert block is not None, f"no table with key {key!r}"
    return block.dataframe[0].value


def plotly_spec(at: AppTest, key: str) -> dict:
    """The figure JSON of the plotly chart drawn with ``key``."""
    charts = [e for e in at.get("plotly_chart") if key in e.proto.id]
    assert charts, f"no plotly chart with key {key!r}"
    return json.loads(charts[0].proto.spec)


def decode(values: object) -> np.ndarray:
    """A plotly 7 typed array (``{"dtype", "bdata"}``) or a plain list, as numpy."""
    if isinstance(values, dict):
        return np.frombuffer(base64.b64decode(values["bdata"]), dtype=values["dtype"])
    return np.asarray(values)
