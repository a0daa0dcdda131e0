"""docs/metrics.md cannot drift from the catalogue: every entry is defined there, and every metric the
document defines (outside its "Planned" section) is an entry or a named table."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from recaudit.metrics.registry import METRICS

DOC = Path(__file__).resolve().parents[2] / "docs" / "metrics.md"
PLANNED = "## Planned definitions"
TABLES = {"popularity_lift", "settings", "item_buckets", "bucket_exposure"}
"""Named results that are tables per group, not numbers, so they have no catalogue entry."""


def _defined() -> str:
    """The document up to its planned (not implemented) definitions."""
    text = DOC.read_text(encoding="utf-8")
    return text.split(PLANNED)[0]


@pytest.mark.parametrize("name", list(METRICS))
def test_every_catalogue_metric_has_an_entry(name: str) -> None:
    entry = re.compile(rf"\*\*`{re.escape(name)}(\[column\])?@k`\*\*")
    assert entry.search(_defined()), f"docs/metrics.md has no **`{name}@k`** entry"


def test_every_defined_metric_is_in_the_catalogue() -> None:
    named = set(re.findall(r"`([a-z_]+)(?:\[[a-z_]+\])?@k`", _defined()))
    assert named - set(METRICS) <= TABLES, sorted(named - set(METRICS) - TABLES)


def test_every_family_module_is_cited() -> None:
    for family in {spec.family for spec in METRICS.values()}:
        assert f"recaudit/metrics/{family}.py" in _defined(), family


def test_the_document_cites_no_file_outside_the_repository() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert "METRICS.md" not in text and "../" not in text
