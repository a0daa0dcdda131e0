"""benchmarks/bench_app.py's pieces that need no browser do what its docstring says, on tiny inputs.

No browser and no wall-clock assertion (a --quick run in Chromium takes about a minute on 2 cores, too long
for the suite): the synthetic bundle loads with a stored map and test data; the bundles folder gives Compare
its B; the websocket watcher counts only full runs of the page asked about, from real Streamlit
ForwardMsgs; the gates read the 1M map and the sample's warm switches.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

from recaudit.bundle import list_bundles, load_bundle
from tests.bench_loading import import_benchmark


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return import_benchmark("bench_app", "RECAUDIT_CACHE_DIR")


def test_synthetic_bundle_has_a_stored_map_and_a_b_for_compare(
    bench: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RECAUDIT_CACHE_DIR", str(tmp_path / "cache"))
    out = bench.build_synthetic_bundle(tmp_path / "synth", 50, 300, lambda _msg: None)
    bundle = load_bundle(out)
    assert (len(bundle.users), len(bundle.items)) == (50, 300)
    assert bundle.item_map is not None and len(bundle.item_map) == 300
    assert bundle.test is not None and not bundle.test.empty

    folder = bench.bundle_folder(tmp_path / "work", out)
    assert [p.name for p in list_bundles(folder)] == ["synth", "synth-b"]  # A sorts first: the default
    assert (folder / "synth").resolve() == out.resolve() != (folder / "synth-b").resolve()


def _frame(**fields: object) -> bytes:
    msg = ForwardMsg()
    for name, value in fields.items():
        if name == "script_finished":
            msg.script_finished = value
        elif name == "new_session":
            msg.new_session.page_script_hash = str(value)
        else:  # navigation: (running hash, {title: hash})
            running, pages = value
            msg.navigation.page_script_hash = running
            for title, page_hash in pages.items():
                page = msg.navigation.app_pages.add()
                page.page_name, page.page_script_hash = title, page_hash
    return msg.SerializeToString()


def test_watcher_counts_full_runs_of_the_page_asked_about(bench: ModuleType) -> None:
    watcher = bench.RunWatcher()
    pages = {"Overview": "h-over", "Fairness": "h-fair"}
    watcher._frame(_frame(new_session="main"))
    watcher._frame(_frame(navigation=("h-over", pages)))
    watcher._frame(_frame(script_finished=ForwardMsg.FINISHED_SUCCESSFULLY))
    assert watcher.last_page() == "Overview"
    start = watcher.finished[-1][0] + 1e-9
    assert not watcher.done_since(start, None)
    watcher._frame(_frame(new_session="main"))
    watcher._frame(_frame(navigation=("h-fair", pages)))
    watcher._frame(_frame(script_finished=ForwardMsg.FINISHED_EARLY_FOR_RERUN))
    watcher._frame(_frame(script_finished=ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY))
    watcher._frame("a text frame")
    watcher._frame(b"\xff\xff not a protobuf")
    assert not watcher.done_since(start, "Fairness")  # cut short, or only a fragment: not done
    watcher._frame(_frame(script_finished=ForwardMsg.FINISHED_SUCCESSFULLY))
    assert watcher.done_since(start, "Fairness") and watcher.done_since(start, None)
    assert not watcher.done_since(start, "Overview") and not watcher.done_since(start, "Unknown")


def test_gates_read_the_million_map_and_the_samples_warm_switches(bench: ModuleType) -> None:
    t = bench.Timing
    rows = [
        bench.MapRow("a", 100_000, t(30.0), t(30.0)),  # no gate at 100k
        bench.MapRow("b", 1_000_000, t(12.0, 5.0, 9), t(8.0, 4.0, 9)),
    ]
    switches = {
        "sample": {"Overview": (t(9.0), t(0.5)), "Fairness": (t(3.0), t(2.5)), "Report": (t(1.0), t(None))},
        "synthetic": {"Overview": (t(99.0), t(99.0))},
    }
    lines = bench.gates(rows, switches)
    assert [ok for _, ok in lines] == [False, True, False]
    assert "cold: 12.00 s" in lines[0][0] and "warm: 8.00 s" in lines[1][0]
    assert "slowest Report: timeout" in lines[2][0] and "over: Fairness, Report" in lines[2][0]
    fine = {"sample": {"Overview": (t(9.0), t(0.5))}}
    assert [ok for _, ok in bench.gates([], fine)] == [True]
    table = bench.format_switch_table(switches)
    assert "page" in table and "timeout" in table
    assert "1,000,000" in bench.format_map_table(rows)
