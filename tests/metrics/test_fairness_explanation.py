"""``explain_disparity``: an infinite or undefined exposure_disparity names the groups and shares behind
it, so a card never shows a bare ``∞``."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recaudit.metrics.fairness import explain_disparity, exposure_disparity, group_exposure
from recaudit.metrics.lists import RecLists, membership_matrix


def _lists(rows: list[list[int]], n_items: int) -> RecLists:
    users = np.array([f"u{u}" for u in range(len(rows))], dtype=object)
    catalogue = np.array([f"i{i}" for i in range(n_items)], dtype=object)
    return RecLists(users, np.array(rows, dtype=np.int64), catalogue)


def _table(groups: list[str], exposure: list[float], merit: list[float]) -> pd.DataFrame:
    exposure_share, merit_share = np.array(exposure), np.array(merit)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(merit_share > 0, exposure_share / np.where(merit_share > 0, merit_share, 1), np.nan)
    return pd.DataFrame(
        {
            "group": groups, "n_items": 1, "exposure": exposure_share, "exposure_share": exposure_share,
            "catalog_share": 1 / len(groups), "merit_share": merit_share, "exposure_ratio": ratio,
        }
    )


def test_one_starved_group_is_named_with_both_shares() -> None:
    # items 0 'Drama', 1 'Drama', 2 'Film-Noir'; the one list shows items 0, 1; the test data want item 2 once
    membership, names = membership_matrix(["Drama", "Drama", "Film-Noir"], multi=False)
    test = sp.csr_matrix(np.array([[3, 0, 0], [0, 0, 1]], dtype=np.float32))  # merit: Drama 3/4, Noir 1/4
    table = group_exposure(_lists([[0, 1]], 3), membership, names, test)
    assert exposure_disparity(table) == math.inf
    assert explain_disparity(table, "category") == (
        "∞: category 'Film-Noir' has merit share 25.0% but exposure share 0"
    )


def test_small_merit_shares_keep_two_digits() -> None:
    table = _table(["Drama", "Film-Noir"], [1.0, 0.0], [0.996, 0.004])
    assert explain_disparity(table, "category") == (
        "∞: category 'Film-Noir' has merit share 0.4% but exposure share 0"
    )
    table = _table(["Drama", "Film-Noir"], [1.0, 0.0], [0.9996, 0.0004])
    assert "merit share 0.04%" in explain_disparity(table, "category")


def test_several_starved_groups_largest_merit_first_then_a_count() -> None:
    table = _table(
        ["A", "B", "C", "D", "E", "F"], [1.0, 0.0, 0.0, 0.0, 0.0, 0.0], [0.5, 0.02, 0.2, 0.1, 0.1, 0.0]
    )
    # F has no merit: it is not part of the disparity and not named
    assert explain_disparity(table, "provider") == (
        "∞: 4 provider groups have test interactions but exposure share 0: 'C' (merit share 20.0%), "
        "'D' (merit share 10.0%), 'E' (merit share 10.0%) and 1 more"
    )


def test_undefined_values_say_which_part_is_missing() -> None:
    membership, names = membership_matrix(["p", "q", "q"], multi=False)
    lists = _lists([[1, 2]], 3)
    no_test = group_exposure(lists, membership, names)
    assert math.isnan(exposure_disparity(no_test))
    assert explain_disparity(no_test, "provider") == (
        "undefined: no provider group has test interactions (merit share), so exposure cannot be compared "
        "with merit"
    )
    test = sp.csr_matrix(np.array([[1, 1, 0]], dtype=np.float32))
    empty_log = group_exposure(_lists([[-1, -1]], 3), membership, names, test)
    assert math.isnan(exposure_disparity(empty_log))
    assert explain_disparity(empty_log, "provider") == (
        "undefined: the recommendation lists expose no item, so no group has an exposure share"
    )
    # exposure only where there is no merit: every group with merit has ratio 0 (0 / 0 disparity)
    nothing_wanted_shown = _table(["p", "q"], [0.0, 1.0], [1.0, 0.0])
    assert math.isnan(exposure_disparity(nothing_wanted_shown))
    assert explain_disparity(nothing_wanted_shown, "provider") == (
        "undefined: no provider group with test interactions (merit share > 0) gets any exposure"
    )


def test_a_finite_disparity_needs_no_explanation() -> None:
    table = _table(["a", "b"], [0.5, 0.5], [0.25, 0.75])
    assert exposure_disparity(table) == 3.0
    assert explain_disparity(table) is None


def test_the_report_headline_table_says_why_and_escapes_the_group() -> None:
    from recaudit.metrics.engine import AuditResult
    from recaudit.report import render_html

    table = _table(["Drama", "<b>Noir</b>"], [1.0, 0.0], [0.6, 0.4])
    result = AuditResult(
        values={"exposure_disparity[category]@10": exposure_disparity(table), "gini@10": 0.5},
        item_groups={"category@10": table},
    )
    page = render_html(result, title="audit", figures={})
    row = page.split("<td>exposure_disparity[category]@10</td>")[1].split("</tr>")[0]
    assert "∞" in row
    assert "∞: category &#x27;&lt;b&gt;Noir&lt;/b&gt;&#x27; has merit share 40.0% but exposure share 0" in row
    assert "<b>Noir</b>" not in page
    gini_row = page.split("<td>gini@10</td>")[1].split("</tr>")[0]
    assert "<strong>" not in gini_row  # a finite metric gets no note
