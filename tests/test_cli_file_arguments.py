"""Every file argument of every command goes through the input layer, read from the CLI parser itself.

For each command, each of its path arguments (whatever the parser declares, so a new argument is covered
the day it is added) is given each bad file its kind admits, next to otherwise valid arguments. Every
case must exit 2 with one stderr line naming that file, and leave every file under the test's folder as it
was (nothing written, no half-written output). A valid run of each command shows the base arguments are
sound, so a refusal is the bad file's doing.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recaudit.cli import FILE_KINDS, INPUT_KINDS, build_parser, file_arguments, main
from recaudit.report_pdf import find_chromium
from tests.conftest import tiny_tables

PARSER = build_parser()
ARGUMENTS = file_arguments(PARSER)


def _name(action: argparse.Action) -> str:
    return action.option_strings[0] if action.option_strings else action.dest


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


# --------------------------------------------------------------------------------------------------
# a valid world: the tiny tables as files, embeddings, id lists and a bundle


def _world(tmp: Path, bundle: Path) -> dict[str, str]:
    tables = tiny_tables()
    data = tmp / "data"
    data.mkdir()
    tables["train"].to_csv(data / "train.csv", index=False)
    tables["test"].to_csv(data / "test.csv", index=False)
    tables["items"].to_csv(data / "items.csv", index=False)
    tables["users"].assign(country=["fr", "de"] * 20).to_csv(data / "users.csv", index=False)
    recs = tables["test"][["user_id", "item_id"]].assign(rank=lambda f: f.groupby("user_id").cumcount() + 1)
    recs.to_csv(data / "recs.csv", index=False)
    rng = np.random.default_rng(0)
    np.save(data / "users.npy", rng.normal(size=(len(tables["users"]), 4)).astype(np.float32))
    np.save(data / "items.npy", rng.normal(size=(len(tables["items"]), 4)).astype(np.float32))
    (data / "user_ids.txt").write_text("\n".join(tables["users"]["user_id"]) + "\n")
    (data / "item_ids.txt").write_text("\n".join(tables["items"]["item_id"]) + "\n")
    return {name: str(path) for name, path in [
        ("train", data / "train.csv"), ("test", data / "test.csv"), ("items", data / "items.csv"),
        ("users", data / "users.csv"), ("recs", data / "recs.csv"), ("user_emb", data / "users.npy"),
        ("item_emb", data / "items.npy"), ("user_ids", data / "user_ids.txt"),
        ("item_ids", data / "item_ids.txt"), ("bundle", bundle), ("out", tmp / "out"),
    ]}


# Each command's valid arguments: {argument name: value} for its path arguments plus fixed extras.
BASES: dict[str, Callable[[dict[str, str]], tuple[dict[str, str], list[str]]]] = {
    "sample": lambda w: ({"--out": w["out"]}, []),
    "train": lambda w: ({"interactions": w["train"], "--items": w["items"], "--test": w["test"],
                         "--out": w["out"]}, ["--epochs", "1", "--dim", "4", "--map", "none", "--quiet"]),
    "import": lambda w: ({"--user-embeddings": w["user_emb"], "--item-embeddings": w["item_emb"],
                          "--user-ids": w["user_ids"], "--item-ids": w["item_ids"], "--items": w["items"],
                          "--interactions": w["train"], "--test": w["test"], "--out": w["out"]},
                         ["--map", "none"]),
    # --history (new users) excludes --user/--all-users, so the base takes it to cover every file argument
    "recommend": lambda w: ({"bundle": w["bundle"], "--history": w["train"], "--items-from": w["item_ids"],
                             "--out": w["out"] + "/recs.csv"}, []),
    "replay": lambda w: ({"bundle": w["bundle"], "--events": w["test"], "--out": w["out"] + "/replay.csv"},
                         []),
    "info": lambda w: ({"bundle": w["bundle"]}, []),
    "metrics": lambda w: ({"--recs": w["recs"], "--train": w["train"], "--test": w["test"],
                           "--items": w["items"], "--users": w["users"]}, ["--by", "country", "--no-ci"]),
    "audit": lambda w: ({"bundle": w["bundle"], "--html": w["out"] + "/report.html",
                         "--json": w["out"] + "/audit.json", "--pdf": w["out"] + "/report.pdf"}, []),
    "serve": lambda w: ({"--bundles": str(Path(w["bundle"]).parent)}, []),
    "compare": lambda w: ({"a": w["bundle"], "b": w["bundle"], "--html": w["out"] + "/compare.html",
                           "--json": w["out"] + "/compare.json"}, ["--n-boot", "20"]),
}
# Not run for real here: serve would start the app (its valid run is the app's and browser tests), and
# sample regenerates the whole sample world (about 20 s; tests/data/test_synthetic.py runs it).
SLOW_OR_SERVING = {"serve", "sample"}


def _argv(command: str, paths: dict[str, str], extra: list[str]) -> list[str]:
    argv = [command]
    for action in PARSER._subparsers._group_actions[0].choices[command]._actions:  # positionals first
        if not action.option_strings and action.dest in paths:
            argv.append(paths[action.dest])
    for name, value in paths.items():
        if name.startswith("-"):
            argv += [name, value]
    return argv + extra


# --------------------------------------------------------------------------------------------------
# bad files per kind: (label, writer) — the writer makes the bad path under tmp and returns it


def _write(text: str, name: str) -> Callable[[Path], Path]:
    def make(tmp: Path) -> Path:
        path = tmp / "bad" / name
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
        return path
    return make


def _missing(name: str) -> Callable[[Path], Path]:
    return lambda tmp: tmp / "bad" / name


def _directory(tmp: Path) -> Path:
    path = tmp / "bad" / "folder.csv"
    path.mkdir(parents=True)
    return path


def _garbage_parquet(tmp: Path) -> Path:
    path = tmp / "bad" / "garbage.parquet"
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(b"PAR1" + b"\x00\x13garbage" * 20)
    return path


TABLE_CASES = {
    "missing": _missing("none.csv"),
    "empty": _write("", "empty.csv"),
    "directory": _directory,
    "extra_fields": _write("user_id,item_id,rank,timestamp\na,i00,1,5,EXTRA\na,i01,2,6\n", "ragged.csv"),
    "wrong_columns": _write("person,thing,when\na,i00,1\n", "renamed.csv"),  # no alias of any column
    "header_only": _write("user_id,item_id,rank,timestamp\n", "header.csv"),
    "garbage_parquet": _garbage_parquet,
}
BAD_FILES: dict[str, dict[str, Callable[[Path], Path]]] = {
    **{kind: TABLE_CASES for kind in ("interactions", "pairs", "items", "users", "recs")},
    "embeddings": {
        "missing": _missing("none.npy"),
        "empty": _write("", "empty.npy"),
        "directory": _directory,
        "garbage": _write("not an array", "garbage.npy"),
        "pickle": _write("\x80\x04K\x01.", "model.pkl"),
    },
    "ids": {
        "missing": _missing("none.txt"),
        "empty": _write("", "empty.txt"),
        "directory": _directory,
        "blank_lines_only": _write("\n\n  \n", "blank.txt"),
        "header_only": _write("user_id\n", "ids.csv"),
        "extra_fields": _write("user_id\na,b\n", "ragged.csv"),
    },
    "bundle": {
        "missing": _missing("nobundle"),
        "file": _write("x", "bundle.txt"),
        "no_manifest": lambda tmp: _directory(tmp).parent,
    },
    "source": {
        "missing": _missing("nobundle"),
        "file": _write("x", "bundle.txt"),
        "no_manifest": lambda tmp: _directory(tmp).parent,
        "bad_log_manifest": lambda tmp: _write("{not json", "log.json")(tmp).parent,
    },
    "bundle_root": {"missing": _missing("nobundles"), "file": _write("x", "bundles.txt")},
    "out_file": {"directory": _directory, "parent_is_file": lambda tmp: _write("x", "file")(tmp) / "out.csv"},
    "out_bundle": {
        "file": _write("x", "out.txt"),
        "foreign_directory": lambda tmp: _write("keep me", "precious.txt")(tmp).parent,
    },
    "out_dir": {"file": _write("x", "out.txt")},
}

CASES = [
    (command, _name(action), action.file_kind, label)
    for command, actions in sorted(ARGUMENTS.items())
    for action in actions
    for label in sorted(BAD_FILES[action.file_kind])
]


# --------------------------------------------------------------------------------------------------


def test_every_path_argument_declares_a_kind_with_bad_files() -> None:
    assert set(ARGUMENTS) == set(BASES), "every command needs a valid base here"
    for command, actions in ARGUMENTS.items():
        for action in actions:
            kind = getattr(action, "file_kind", None)
            assert kind in FILE_KINDS, f"{command} {_name(action)}: declare it with _path_arg(kind=...)"
            assert BAD_FILES.get(kind), f"no bad files for kind {kind}"
    inputs = {a.file_kind for actions in ARGUMENTS.values() for a in actions} & set(INPUT_KINDS)
    assert inputs == set(INPUT_KINDS)


def test_every_command_file_argument_is_in_its_base() -> None:
    for command, actions in ARGUMENTS.items():
        paths, _ = BASES[command](dict.fromkeys(
            ["train", "test", "items", "users", "recs", "user_emb", "item_emb", "user_ids", "item_ids",
             "bundle", "out"], "x"))
        assert {_name(a) for a in actions} == set(paths), command


@pytest.mark.parametrize("command", sorted(set(BASES) - SLOW_OR_SERVING))
def test_base_arguments_are_valid(command: str, tmp_path: Path, tiny_bundle_dir: Path) -> None:
    world = _world(tmp_path, tiny_bundle_dir / "alpha")
    paths, extra = BASES[command](world)
    if command == "recommend":
        Path(world["out"]).mkdir()
    if command in ("audit", "compare"):
        Path(world["out"]).mkdir()
    if command == "audit" and find_chromium() is None:
        paths.pop("--pdf")  # printing needs Chromium (tests/test_report.py covers --pdf where it is)
    assert main(_argv(command, paths, extra)) == 0


@pytest.mark.parametrize(("command", "argument", "kind", "label"), CASES,
                         ids=[f"{c}-{a}-{lab}" for c, a, _, lab in CASES])
def test_bad_file_argument_exits_2_with_one_line_and_writes_nothing(
    command: str, argument: str, kind: str, label: str, tmp_path: Path, tiny_bundle_dir: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    world = _world(tmp_path, tiny_bundle_dir / "alpha")
    paths, extra = BASES[command](world)
    bad = BAD_FILES[kind][label](tmp_path)
    paths[argument] = str(bad)
    before = _files(tmp_path)
    capsys.readouterr()
    code = main(_argv(command, paths, extra))
    err = capsys.readouterr().err
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"recaudit {command}: error: "), lines[0]
    assert str(bad) in lines[0], lines[0]
    assert "Traceback" not in err
    assert _files(tmp_path) == before
    assert not Path(world["out"]).exists() or kind.startswith("out")


# --------------------------------------------------------------------------------------------------
# --fail-on: an unknown metric is a usage error before any work; a known, uncomputable one fails the gate


@pytest.mark.parametrize(
    ("gate", "expected"),
    [
        ("ndgc@10<0.1", "unknown metric 'ndgc' in gate ndgc@10<0.1 (did you mean ndcg?)"),
        ("gini_index@10>0.9",
         "unknown metric 'gini_index' in gate gini_index@10>0.9 (did you mean gini"),
        ("exposure_disparity@10>2", "exposure_disparity needs an item column"),
        ("exposure_disparity[colour]@10>2",
         "no item column 'colour' for gate exposure_disparity[colour]@10>2"),
        ("gini@20>0.9", "gate gini@20>0.9 is at k=20 but the audit runs at k=10 (pass --k 20"),
    ],
)
def test_fail_on_unknown_metric_is_a_usage_error_before_any_work(
    gate: str, expected: str, tmp_path: Path, tiny_bundle_dir: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import recaudit.workflows.audit

    def no_work(*args: object, **kwargs: object) -> None:
        raise AssertionError("the audit ran before the gate was checked")

    monkeypatch.setattr(recaudit.workflows.audit, "audit_bundle", no_work)
    json_out = tmp_path / "audit.json"
    code = main(["audit", str(tiny_bundle_dir / "alpha"), "--fail-on", gate, "--json", str(json_out)])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.startswith(f"recaudit audit: error: --fail-on: {expected}"), err
    assert len(err.splitlines()) == 1
    assert not json_out.exists()


def test_fail_on_known_metric_that_cannot_be_computed_fails_the_gate(
    tmp_path: Path, tiny_bundle_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # a copy of alpha without item categories: miscalibration is a known metric it cannot compute
    from recaudit.bundle import load_bundle, save_bundle

    bundle = load_bundle(tiny_bundle_dir / "alpha")
    bundle.items = bundle.items.drop(columns="category")
    save_bundle(bundle, tmp_path / "nocats")
    code = main(["audit", str(tmp_path / "nocats"), "--fail-on", "miscalibration@10>0.5", "--json",
                 str(tmp_path / "a.json")])
    err = capsys.readouterr().err
    assert code == 1, err
    assert "gate failed: miscalibration@10>0.5: miscalibration@10 is unavailable (needs categories)" in err
    assert json.loads((tmp_path / "a.json").read_text())["skipped"]["miscalibration@10"]


def test_parser_guard_catches_an_undeclared_path_argument() -> None:
    parser = build_parser()
    sub = parser._subparsers._group_actions[0].choices["metrics"]
    sub.add_argument("--sneaky", type=Path)
    sneaky = [a for a in file_arguments(parser)["metrics"] if a.dest == "sneaky"]
    assert sneaky and getattr(sneaky[0], "file_kind", None) is None


def test_file_kinds_cover_every_recs_column_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The three faults that reached users: extra fields, wrong names, a header-only log."""
    pd.DataFrame({"user_id": ["a"], "item_id": ["i"]}).to_csv(tmp_path / "train.csv", index=False)
    for text, message in [
        ("user_id,item_id,rank,score\na,i,1,0.5,EXTRA\n", "1 row(s) have more fields than the header's 4"),
        ("person,thing,rank\na,i,1\n", "recommendations table is missing column(s) ['user_id', 'item_id']"),
        ("user_id,item_id,rank,score\n", "recommendations table has no rows"),
    ]:
        (tmp_path / "recs.csv").write_text(text)
        code = main(["metrics", "--recs", str(tmp_path / "recs.csv"), "--train", str(tmp_path / "train.csv")])
        captured = capsys.readouterr()
        assert code == 2 and captured.out == ""
        assert captured.err.startswith(f"recaudit metrics: error: {tmp_path / 'recs.csv'}: {message}")
        assert len(captured.err.strip().splitlines()) == 1
