"""The ``recaudit`` command line.

    recaudit sample [--out DIR]
    recaudit train INTERACTIONS [--items ITEMS] [--test TEST] --out BUNDLE [--model mf] [--dim D] [--epochs N]
                   [--seed S] [--content auto|tfidf|minilm|none] [--blend schedule|learned]
                   [--session none|gru|sasrec] [--session-gap 30m]
    recaudit import --user-embeddings F --item-embeddings F [--user-ids F] [--item-ids F] [--items ITEMS]
                    [--interactions F] --out BUNDLE
    recaudit recommend BUNDLE (--user ID | --all-users | --history FILE) [-k 10] [--out FILE] [--include-seen]
                       [--items-from FILE] [--new-users foldin|meta]
    recaudit replay BUNDLE --events EVENTS [-k 10] --out RECS [--session-gap 30m]
    recaudit info BUNDLE
    recaudit metrics --recs RECS --train TRAIN [--test TEST] [--items ITEMS] [--k 10] [--format json|table]
    recaudit audit BUNDLE [--k 10] [--rerank mmr:0.3] [--html F] [--json F] [--fail-on "gini@10>0.9" ...]
    recaudit serve [--port P] [--bundles DIR]

Bad input exits with code 2 and one line naming the file and what is wrong; never a traceback.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from recaudit._io import atomic_path, dumps_json
from recaudit.errors import RecauditInputError

if TYPE_CHECKING:
    import pandas as pd

EXIT_BAD_INPUT = 2


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error and exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message} (see --help)\n")


def _int_at_least(minimum: int) -> Callable[[str], int]:
    """An argparse type: an integer >= ``minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < minimum:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {text!r}")
        return value

    return parse


_positive_int = _int_at_least(1)
_non_negative_int = _int_at_least(0)

FILE_KINDS: dict[str, str] = {
    "interactions": "interactions table read by recaudit.data.readers.read_interactions",
    "pairs": "user_id,item_id log (timestamp optional) read by read_pairs",
    "items": "items table read by read_items",
    "users": "users table read by read_users",
    "recs": "recommendation log read by read_recs",
    "embeddings": "embedding table read by recaudit.bundle.importers.load_embeddings",
    "ids": "id list read by recaudit.bundle.importers.load_ids",
    "bundle": "bundle directory read by recaudit.bundle.load_bundle",
    "source": "bundle directory, or recommendation-log folder read by recaudit.bundle.logs.load_log",
    "bundle_root": "folder of bundles the app lists",
    "out_file": "file the command writes (checked before any work)",
    "out_bundle": "bundle directory the command writes (checked before any work)",
    "out_dir": "directory the command writes files into (checked before any work)",
}
"""Every path argument of every command declares one of these kinds (:func:`_path_arg`); the bad-input
tests enumerate them from the parser, so no file argument can skip the input layer."""
INPUT_KINDS = ("interactions", "pairs", "items", "users", "recs", "embeddings", "ids")
MOVIELENS_KINDS = ("interactions", "pairs", "items")
"""File kinds that also take a MovieLens folder (its ratings, or its movies as items)."""


def _path_arg(parser: argparse.ArgumentParser, *flags: str, kind: str, **kwargs: object) -> argparse.Action:
    """Add a path argument of ``kind`` (a key of :data:`FILE_KINDS`), recorded on the action."""
    if kind not in FILE_KINDS:
        raise ValueError(f"unknown file kind {kind!r}")
    action = parser.add_argument(*flags, type=Path, **kwargs)  # type: ignore[arg-type]
    action.file_kind = kind  # type: ignore[attr-defined]
    return action


def file_arguments(parser: argparse.ArgumentParser) -> dict[str, list[argparse.Action]]:
    """``{command: [its path arguments]}``, read from the parser (for preflight checks and tests)."""
    found: dict[str, list[argparse.Action]] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found[name] = [a for a in sub._actions if getattr(a, "file_kind", None) or a.type is Path]
    return found


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="recaudit", description="Audit what a recommender does to people and catalogues.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("sample", help="regenerate the synthetic sample world")
    _path_arg(p, "--out", kind="out_dir", default=Path("sample_data"),
              help="output directory (default: sample_data)")
    p.add_argument(
        "--seed", type=_non_negative_int, default=None, help="generator seed (default: the committed one)"
    )

    from recaudit.models.registry import DEFAULT_KIND, MODEL_KINDS, kind_names

    p = sub.add_parser("train", help="train a model (default: the embedding model) and write a bundle")
    _path_arg(p, "interactions", kind="interactions",
              help="interactions CSV or parquet (user_id,item_id,timestamp)")
    _path_arg(p, "--items", kind="items", help="items CSV or parquet (item_id,title,category,domain,...)")
    _path_arg(p, "--test", kind="interactions", help="held-out test interactions (default: temporal split)")
    _path_arg(p, "--out", kind="out_bundle", required=True, help="bundle directory to write")
    p.add_argument(
        "--model", choices=kind_names(), default=DEFAULT_KIND, metavar="KIND",
        help=f"model kind (default {DEFAULT_KIND}): "
        + "; ".join(f"{kind}: {MODEL_KINDS[kind].summary}" for kind in kind_names()),
    )  # fmt: skip
    p.add_argument("--dim", type=_positive_int, help="embedding dimension")
    p.add_argument("--epochs", type=_positive_int, help="maximum training epochs")
    p.add_argument("--seed", type=_non_negative_int, help="random seed")
    p.add_argument("--loss", choices=("softmax", "bpr"), help="training loss")
    p.add_argument("--device", default=None, help="auto (default), cpu, cuda or cuda:N")
    p.add_argument("--threads", type=_positive_int, default=None,
                   help="CPU threads for training (default 1: results are bit-identical for the same "
                   "count, and one thread is the robust choice on a busy machine; more is faster on idle "
                   "cores)")
    p.add_argument("--force", action="store_true", help="replace an existing bundle at --out")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--map", choices=("umap", "pca", "none"), default="umap",
                   help="default item map stored with the bundle (default umap)")
    p.add_argument("--content", choices=("auto", "tfidf", "minilm", "none"), default="auto",
                   help="item content encoder: auto (default) = tfidf when --items has title, text or "
                   "category, else none; with content the bundle is kind coldstart and holds every item of "
                   "--items; none trains the collaborative model alone")
    p.add_argument("--blend", choices=("schedule", "learned"), default=None,
                   help="with content: blend weights by interaction count, the seed's schedule (default) or "
                   "learned on held-out interactions")
    p.add_argument("--session", choices=("none", "gru", "sasrec"), default="none",
                   help="add a session encoder to the bundle: gru (GRU4Rec) or sasrec, fused with the user "
                   "vector by a gate learned per session length (default none)")
    p.add_argument("--transfer", choices=("none", "shared", "mapping", "gated"), default=None,
                   help="cross-domain transfer (--items must give each item a domain, two or more): train a "
                   "target-only model per domain, EMCDR maps and a gate, and serve recommend --domain D "
                   "with none (target-only), shared (the joint model), mapping or gated")
    p.add_argument("--session-gap", default=None,
                   help="with --session: a gap longer than this starts a new session when the interactions "
                   "have no session_id column (default 30m; s, m, h or seconds)")

    p = sub.add_parser("import", help="turn external user/item embeddings into a bundle")
    _path_arg(p, "--user-embeddings", kind="embeddings", required=True,
              help=".npy, .safetensors, .pt or .parquet")
    _path_arg(p, "--item-embeddings", kind="embeddings", required=True,
              help=".npy, .safetensors, .pt or .parquet")
    _path_arg(p, "--user-ids", kind="ids", help="user ids in row order (text, CSV, parquet or .npy)")
    _path_arg(p, "--item-ids", kind="ids", help="item ids in row order (text, CSV, parquet or .npy)")
    p.add_argument("--user-key", help="tensor name of the user table in a .safetensors/.pt file")
    p.add_argument("--item-key", help="tensor name of the item table in a .safetensors/.pt file")
    _path_arg(p, "--items", kind="items", help="items metadata (item_id,title,category,domain,...)")
    _path_arg(p, "--interactions", kind="interactions", help="training interactions (seen items, popularity)")
    _path_arg(p, "--test", kind="interactions", help="held-out test interactions")
    p.add_argument("--score", choices=("dot", "cosine"), default="dot", help="score function (default dot)")
    p.add_argument("--map", choices=("umap", "pca", "none"), default="umap",
                   help="default item map stored with the bundle (default umap)")
    _path_arg(p, "--out", kind="out_bundle", required=True, help="bundle directory to write")
    p.add_argument("--force", action="store_true", help="replace an existing bundle at --out")

    p = sub.add_parser("recommend", help="top-k recommendations as user_id,item_id,rank,score")
    _path_arg(p, "bundle", kind="bundle", help="bundle directory")
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--user", action="append", help="user id (repeatable)")
    who.add_argument("--all-users", action="store_true", help="every user of the bundle")
    _path_arg(who, "--history", kind="pairs",
              help="user_id,item_id[,timestamp] rows of users the bundle may not know: each gets a list from "
                   "these items (rows of items outside the catalogue are skipped with a warning)")
    p.add_argument("-k", type=_positive_int, default=10, help="list length (default 10)")
    _path_arg(p, "--items-from", kind="ids",
              help="recommend only the item ids listed in this file (one per line, or an item_id column)")
    p.add_argument("--new-users", choices=("foldin", "meta"), default="foldin",
                   help="how --history users get a vector: closed-form fold-in (default) or the learned "
                        "prior over the trained users (meta)")
    _path_arg(p, "--out", kind="out_file", help="CSV file to write (default: standard output)")
    p.add_argument("--include-seen", action="store_true", help="do not exclude each user's training items")
    p.add_argument("--domain", help="recommend only items of this domain")
    p.add_argument("--device", default="auto", help="auto (default), cpu, cuda or cuda:N")
    p.add_argument("--engine", choices=("memory", "spark"), default="memory",
                   help="spark: score --all-users on Spark (pip install 'recaudit[spark]') and write --out "
                   "as a folder of parquet parts, the same lists as memory")

    p = sub.add_parser("replay", help="replay events in file order: after each, that user's top-k")
    _path_arg(p, "bundle", kind="bundle", help="bundle directory")
    _path_arg(p, "--events", kind="interactions", required=True,
              help="user_id,item_id,timestamp[,session_id] events, processed in file order")
    p.add_argument("-k", type=_positive_int, default=10, help="list length (default 10)")
    _path_arg(p, "--out", kind="out_file", required=True,
              help="CSV to write: event,user_id,session_id,rank,item_id,score")
    p.add_argument("--session-gap", default="30m",
                   help="a gap longer than this starts a new session (default 30m; s, m, h or seconds)")
    p.add_argument("--device", default="cpu", help="cpu (default), auto, cuda or cuda:N")

    p = sub.add_parser("metrics",
                       help="every docs/metrics.md metric of any recommendation log (no bundle needed)")
    _path_arg(p, "--recs", kind="recs", required=True, help="user_id,item_id,rank[,score] (CSV or parquet)")
    _path_arg(p, "--train", kind="pairs", required=True, help="training interactions user_id,item_id")
    _path_arg(p, "--test", kind="pairs", help="held-out interactions user_id,item_id (for accuracy)")
    _path_arg(p, "--items", kind="items", help="catalogue item_id[,category,provider] (default: train items)")
    p.add_argument("--k", type=_positive_int, default=10, help="cut-off (default 10)")
    p.add_argument("--format", choices=("json", "table"), default="table", help="output format")
    p.add_argument("--no-ci", action="store_true", help="skip the bootstrap confidence intervals")
    _path_arg(p, "--users", kind="users", help="users table (user_id + attributes) for group breakdowns")
    p.add_argument("--by", action="append", default=[], metavar="COLUMN",
                   help="break user-level metrics down by this users-table column (repeatable)")
    p.add_argument("--engine", choices=("memory", "duckdb", "spark"), default="memory",
                   help="memory (default: NumPy, the reference), duckdb (embedded, for logs beyond memory; "
                   "files, globs such as 'recs/*.parquet' or parquet folders) or spark (pip install "
                   "'recaudit[spark]')")
    p.add_argument("--window", choices=("day", "week", "month"),
                   help="also exposure over time: the log's lists (a user's rows from one rank 1 to the "
                   "next) per window of their rank-1 row's timestamp, with the catalogue metrics, group "
                   "shares and popularity lift of each (memory engine)")
    p.add_argument("--per-domain", action="store_true",
                   help="also every metric per value of the items' domain column: that domain's items as "
                   "the catalogue, its train and test rows (docs/metrics.md)")
    p.add_argument("--threads", type=_positive_int, help="duckdb: worker threads (default: all cores)")
    p.add_argument("--memory-limit", metavar="SIZE",
                   help="duckdb: memory bound, e.g. 4GB (DuckDB spills to disk beyond it)")

    p = sub.add_parser("audit", help="full audit of a bundle's held-out data, with report and gates")
    _path_arg(p, "bundle", kind="bundle", help="bundle directory")
    p.add_argument("--k", type=_positive_int, default=10, help="cut-off (default 10)")
    p.add_argument("--rerank", help="re-rank before auditing, e.g. mmr:0.3, calibrated:0.5")
    _path_arg(p, "--html", kind="out_file", help="write a self-contained HTML report here")
    _path_arg(p, "--json", kind="out_file", help="write the audit as JSON here")
    _path_arg(p, "--pdf", kind="out_file", help="print the HTML report to PDF here (needs Chromium)")
    p.add_argument("--fail-on", action="append", default=[], metavar="GATE",
                   help='fail (exit 1) when this holds, e.g. "gini@10>0.9"; repeatable')
    p.add_argument("--seed", type=_non_negative_int, default=0, help="bootstrap seed")

    p = sub.add_parser(
        "compare", help="A vs B: every metric of two bundles or logs on their shared users, B - A, 95%% CI, p"
    )
    _path_arg(p, "a", kind="source", help="bundle or log folder A (the baseline)")
    _path_arg(p, "b", kind="source", help="bundle or log folder B: the candidate")
    p.add_argument("--k", type=_positive_int, default=10, help="cut-off (default 10)")
    p.add_argument("--n-boot", type=_positive_int, default=1000, help="bootstrap and permutation draws")
    _path_arg(p, "--html", kind="out_file", help="write the A vs B report (self-contained HTML) here")
    _path_arg(p, "--json", kind="out_file", help="write the comparison as JSON here")
    p.add_argument("--fail-on", action="append", default=[], metavar="GATE",
                   help='fail (exit 1) when this holds of B - A, e.g. "delta:ndcg@10<-0.01"; repeatable')
    p.add_argument("--seed", type=_non_negative_int, default=0, help="bootstrap seed")

    p = sub.add_parser("serve", help="start the app (Streamlit) on this machine")
    p.add_argument("--port", type=_positive_int, default=os.environ.get("PORT", "8501"),
                   help="port (default: $PORT or 8501)")
    p.add_argument("--address", default="127.0.0.1", help="address to bind (default: loopback only)")
    _path_arg(p, "--bundles", kind="bundle_root",
              help="bundle folder (default: $RECAUDIT_BUNDLE_DIR or bundles/)")

    p = sub.add_parser("info", help="print the model card of a bundle")
    _path_arg(p, "bundle", kind="bundle", help="bundle directory")
    p.add_argument("--json", action="store_true", help="print the raw manifest")
    _add_column_options(sub)
    return parser


def _add_column_options(sub: argparse._SubParsersAction) -> None:
    """``--columns`` on every command that reads a table: the file's names for the schema's columns."""
    for command in sub.choices.values():
        kinds = {getattr(a, "file_kind", None) for a in command._actions}
        if kinds & {"interactions", "pairs", "items", "users", "recs"}:
            command.add_argument(
                "--columns", metavar="SCHEMA=FILE,...",
                help="column names of your files, e.g. user_id=userId,item_id=movieId (well-known names such "
                "as userId, movieId, asin and genres are recognised without it; each rename is reported)",
            )  # fmt: skip


# --------------------------------------------------------------------------------------------------


def cmd_sample(args: argparse.Namespace) -> int:
    from recaudit.data.synthetic import WorldConfig, generate_world, write_world

    config = WorldConfig() if args.seed is None else WorldConfig(seed=args.seed)
    started = time.perf_counter()
    paths = write_world(generate_world(config), args.out)
    print(f"wrote {len(paths)} files to {args.out} in {time.perf_counter() - started:.1f}s")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from recaudit.workflows.train import train_bundle

    overrides = {
        key: value
        for key, value in (
            ("dim", args.dim), ("epochs", args.epochs), ("seed", args.seed), ("loss", args.loss),
            ("device", args.device), ("num_threads", args.threads),
        )
        if value is not None
    }
    bundle = train_bundle(
        args.interactions, items=args.items, test=args.test, out=args.out, overrides=overrides,
        overwrite=args.force, progress=None if args.quiet else "tqdm", log=_log, item_map=args.map,
        model=args.model, content=args.content, blend=args.blend, session=args.session,
        session_gap=args.session_gap, transfer=args.transfer,
    )
    evaluation = bundle.manifest.get("evaluation") or {}
    if evaluation.get("domains"):
        pairs = evaluation.get("n_units")
        _log(f"held out, each test item ranked within its own domain ({pairs} user-domain pairs):")
    for domain, table in [(None, evaluation), *(evaluation.get("domains") or {}).items()]:
        for name in ("model", "popularity"):
            if name in table:
                scores = ", ".join(f"{key} {value:.4f}" for key, value in table[name].items())
                label = name if domain is None else f"{domain} {name}"
                _log(f"{label:>10}: {scores}")
    _log(f"bundle written to {args.out}")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from recaudit.workflows.imports import import_bundle

    bundle = import_bundle(
        args.user_embeddings, args.item_embeddings, out=args.out, user_ids=args.user_ids,
        item_ids=args.item_ids, items=args.items, interactions=args.interactions, test=args.test,
        score=args.score, user_key=args.user_key, item_key=args.item_key, item_map=args.map,
        overwrite=args.force, log=_log,
    )  # fmt: skip
    _log(f"imported {len(bundle.users)} users x {len(bundle.items)} items (dim {bundle.dim}) into {args.out}")
    return 0


def cmd_recommend(args: argparse.Namespace) -> int:
    from recaudit.bundle import load_bundle
    bundle = load_bundle(args.bundle)
    scorer = bundle.exact_scorer(args.device)
    candidates = None
    if args.domain is not None:
        if args.domain not in bundle.domains:
            raise RecauditInputError(
                args.bundle, f"no domain {args.domain!r} in this bundle", f"domains: {bundle.domains}"
            )
        candidates = bundle.domain_mask(args.domain)
    if args.items_from is not None:
        listed = _listed_items(bundle, args.items_from)
        if candidates is not None and not (candidates & listed).any():
            raise RecauditInputError(args.items_from, f"no listed item is in domain {args.domain!r}")
        candidates = listed if candidates is None else candidates & listed
    exclude_seen = not args.include_seen
    transfer = bundle.crossdomain if args.domain is not None and args.history is None else None
    if args.engine == "spark":
        return _recommend_on_spark(bundle, args, candidates, transfer is not None)
    if transfer is not None:
        batches = _transfer_recommendations(bundle, transfer, args, candidates)
    elif args.history is not None:
        batches = _new_user_recommendations(bundle, scorer, args, candidates)
    elif args.all_users:
        batches = scorer.iter_recommend_all(args.k, exclude_seen=exclude_seen, candidates=candidates)
    else:
        one = scorer.recommend(args.user, args.k, exclude_seen=exclude_seen, candidates=candidates)
        batches = iter([one])
    _write_recommendations(batches, args.out)
    return 0


def _recommend_on_spark(bundle: object, args: argparse.Namespace, candidates: object, transfer: bool) -> int:
    from recaudit.scoring.partition import recommend_all_spark

    if not args.all_users:
        raise RecauditInputError("--engine spark", "scores --all-users only", "add --all-users")
    if args.out is None:
        raise RecauditInputError("--engine spark", "writes a folder of parquet parts", "add --out DIR")
    if transfer:
        raise RecauditInputError("--engine spark", f"serves no transfer model (--domain {args.domain})",
                                 "use --engine memory for a transfer bundle's domain")
    device = "cpu" if args.device == "auto" else args.device
    rows = recommend_all_spark(bundle, args.bundle, args.out, args.k, exclude_seen=not args.include_seen,
                               candidates=candidates, device=device)  # type: ignore[arg-type]
    _log(f"wrote {rows:,} rows to {args.out} (parquet parts, scored on Spark)")
    return 0


class _FrameBatch:
    """A ready ``user_id,item_id,rank,score`` frame in the shape :func:`_write_recommendations` streams."""

    def __init__(self, frame: object) -> None:
        self.frame = frame

    def to_frame(self) -> object:
        return self.frame


def _transfer_recommendations(
    bundle: object, transfer: object, args: argparse.Namespace, candidates: object
) -> object:
    """Lists of domain ``--domain`` served with the bundle's transfer (``manifest["transfer"]``), in batches
    of 1024 users; ``--user`` ids unknown to the bundle are an error naming them."""
    import numpy as np

    from recaudit.models.crossdomain.family import served_transfer
    from recaudit.models.crossdomain.model import SharedTables

    mode = served_transfer(bundle.manifest)  # type: ignore[attr-defined]
    if args.all_users:
        rows = np.arange(len(bundle.user_ids))  # type: ignore[attr-defined]
    else:
        ids = np.asarray([str(u) for u in args.user], dtype=object)
        rows = bundle.user_vocab.rows(ids, strict=False)  # type: ignore[attr-defined]
        if (rows < 0).any():
            raise RecauditInputError(
                "--user", f"unknown user id(s) {ids[rows < 0][:5].tolist()}", "use ids of the bundle's users"
            )
    seen = None if args.include_seen else bundle.seen  # type: ignore[attr-defined]
    shared = SharedTables(bundle.user_emb, bundle.item_emb, bundle.item_bias)  # type: ignore[attr-defined]
    _log(f"serving domain {args.domain} with transfer {mode}")

    def batches() -> object:  # checked above, before the first row is written
        for start in range(0, len(rows), 1024):
            chunk = rows[start : start + 1024]
            yield _FrameBatch(
                transfer.recommend(  # type: ignore[attr-defined]
                    args.domain, mode, chunk, args.k, seen=seen, shared=shared, candidates=candidates
                )
            )

    return batches()


def _listed_items(bundle: object, path: Path) -> object:
    """Bool mask of the items listed in ``path``; unknown ids are an error naming the file and the first."""
    import numpy as np

    from recaudit.data.readers import read_id_list

    ids = read_id_list(path, "item")
    rows = bundle.item_vocab.rows(ids, strict=False)  # type: ignore[attr-defined]
    unknown = ids[rows < 0]
    if len(unknown):
        raise RecauditInputError(
            path, f"{len(unknown)} of {len(ids)} item ids are not in the bundle's catalogue, e.g. "
            f"{unknown[:5].tolist()}", "list only items of the bundle's catalogue",
        )  # fmt: skip
    mask = np.zeros(len(bundle.item_ids), dtype=bool)  # type: ignore[attr-defined]
    mask[rows] = True
    return mask


def _new_user_recommendations(
    bundle: object, scorer: object, args: argparse.Namespace, candidates: object
) -> object:
    """Lists for the users of ``--history``, each folded in from its rows (``--new-users``), its history
    items excluded unless ``--include-seen``.

    Users come in file order. Rows of items outside the catalogue are skipped and counted in one warning
    line on stderr (a history log from production often holds items retired or added since training); a
    user left with no known item gets the model's answer for an unknown user (fold-in: the item bias
    alone; meta: the prior mean).
    """
    import numpy as np

    from recaudit.data.readers import read_pairs
    from recaudit.data.schema import ITEM_ID, USER_ID
    from recaudit.models.base import Capability
    from recaudit.models.newusers import new_user_solver, row_lists

    bundle.model.require(Capability.FOLD_IN)  # type: ignore[attr-defined]
    history = read_pairs(args.history)
    rows = bundle.item_vocab.rows(history[ITEM_ID].to_numpy(dtype=object), strict=False)  # type: ignore[attr-defined]
    unknown = rows < 0
    if unknown.any():
        first = history.loc[unknown, ITEM_ID].drop_duplicates().head(5).tolist()
        _log(f"recaudit recommend: warning: {args.history}: skipped {int(unknown.sum())} of {len(rows)} rows "
             f"whose items are not in the bundle's catalogue, e.g. {first}")
    users: list[str] = []
    per_user: list[np.ndarray] = []
    for user, index in history.groupby(USER_ID, sort=False).indices.items():  # file order
        users.append(str(user))
        per_user.append(rows[index][rows[index] >= 0])
    method = args.new_users
    trained = None
    if method == "meta":
        if bundle.train is None or bundle.seen.nnz == 0:  # type: ignore[attr-defined]
            raise RecauditInputError(
                args.bundle, "--new-users meta needs the bundle's training interactions, and it has none",
                "use --new-users foldin, or a bundle saved with its interactions",
            )  # fmt: skip
        trained = row_lists(bundle.seen.indptr, bundle.seen.indices)  # type: ignore[attr-defined]
    try:
        solver = new_user_solver(
            method, bundle.item_emb, bundle.user_emb, cosine=bundle.score == "cosine",  # type: ignore[attr-defined]
            histories=trained,
        )
    except ValueError as exc:
        raise RecauditInputError(args.bundle, f"--new-users {method}: {exc}") from exc
    exclude_seen = not args.include_seen

    def batches() -> object:
        for start in range(0, len(users), 1024):
            chunk = per_user[start : start + 1024]
            yield scorer.recommend_vectors(  # type: ignore[attr-defined]
                np.stack([solver.fit(h) for h in chunk]), args.k, exclude=chunk if exclude_seen else None,
                candidates=candidates, labels=users[start : start + 1024],
            )

    return batches()


def _write_recommendations(batches: object, out: Path | None) -> None:
    """Stream ``user_id,item_id,rank,score`` rows to a file (atomically) or to standard output."""
    header = "user_id,item_id,rank,score\n"
    if out is None:
        sys.stdout.write(header)
        for batch in batches:  # type: ignore[attr-defined]
            sys.stdout.write(_csv_rows(batch))
        sys.stdout.flush()
        return
    if out.is_dir():
        raise RecauditInputError(out, "is a directory; --out must be a file path")
    with atomic_path(out) as tmp, tmp.open("w", encoding="utf-8", newline="") as handle:
        handle.write(header)
        for batch in batches:  # type: ignore[attr-defined]
            handle.write(_csv_rows(batch))
    _log(f"wrote {out}")


def _csv_rows(batch: object) -> str:
    frame = batch.to_frame()  # type: ignore[attr-defined]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    for user, item, rank, score in frame.itertuples(index=False):
        writer.writerow((_safe_cell(user), _safe_cell(item), int(rank), f"{float(score):.6g}"))
    return buffer.getvalue()


def _safe_cell(value: object) -> str:
    """Neutralise spreadsheet formulas in ids written to CSV (a leading = + - @ becomes '...)."""
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


def cmd_replay(args: argparse.Namespace) -> int:
    """``recaudit replay``: every event's list to ``--out`` (atomically), then one summary line."""
    from recaudit.bundle import load_bundle
    from recaudit.data.readers import read_interactions
    from recaudit.data.sessions import parse_gap
    from recaudit.workflows.replay import replay_events, write_replay

    gap = parse_gap(args.session_gap, "--session-gap")
    bundle = load_bundle(args.bundle)
    events = read_interactions(args.events)
    if args.out.is_dir():
        raise RecauditInputError(args.out, "is a directory; --out must be a file path")
    results, stats = replay_events(bundle, events, k=args.k, gap_s=gap, device=args.device)
    if bundle.session_encoder is None:
        _log(f"recaudit replay: {args.bundle} has no session encoder: scoring by {stats.mode}")
    else:
        _log(f"recaudit replay: scoring by {stats.mode}")
    with atomic_path(args.out) as tmp, tmp.open("w", encoding="utf-8", newline="") as handle:
        write_replay(results, handle, _safe_cell)
    if stats.unknown_items:
        _log(f"recaudit replay: warning: {args.events}: {stats.unknown_items} of {stats.n_events} events "
             "are items outside the bundle's catalogue (they add nothing to their session)")
    if stats.fallbacks:
        _log(f"recaudit replay: {stats.fallbacks} of {stats.n_events} updates overran the time budget and "
             "were served from the user's base vector")
    _log(f"wrote {args.out}")
    print(stats.summary())
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    from recaudit.bundle import load_bundle
    from recaudit.views.modelcard import model_card_text

    bundle = load_bundle(args.bundle)
    if args.json:
        sys.stdout.write(dumps_json(bundle.manifest))
    else:
        print(model_card_text(bundle))
    return 0


MEMORY_ENGINE_MAX_MB = 512.0
"""Inputs larger than this (MB, files together; ``RECAUDIT_MEMORY_ENGINE_MAX_MB`` overrides it) make
``recaudit metrics`` suggest ``--engine duckdb``."""


def cmd_metrics(args: argparse.Namespace) -> int:
    if args.window is not None and args.engine != "memory":
        raise RecauditInputError("--window", f"exposure over time runs in memory, not on {args.engine}",
                                 "drop --engine, or --window")  # fmt: skip
    if args.per_domain and args.items is None:
        raise RecauditInputError("--per-domain", "needs an items table with a domain column", "pass --items")
    if args.engine != "memory":
        return _metrics_on_engine(args)
    from recaudit.data.readers import read_items, read_pairs, read_recs, read_users
    from recaudit.metrics import AuditInputs, evaluate

    if args.threads is not None or args.memory_limit is not None:
        raise RecauditInputError("--threads/--memory-limit", "bound the duckdb engine", "add --engine duckdb")
    recs = _read_many(read_recs, args.recs)
    train = _read_many(read_pairs, args.train)
    test = _read_many(read_pairs, args.test) if args.test is not None else None
    items = _read_many(read_items, args.items) if args.items is not None else None
    size = sum(_input_bytes(p) for p in (args.recs, args.train, args.test) if p is not None) / 2**20
    if size > float(os.environ.get("RECAUDIT_MEMORY_ENGINE_MAX_MB", MEMORY_ENGINE_MAX_MB)):
        _log(f"recaudit metrics: note: the inputs hold {size:,.0f} MB; --engine duckdb audits them "
             "without loading them into memory")
    users = read_users(args.users) if args.users is not None else None
    if args.by and users is None:
        raise RecauditInputError("--by", "needs a users table", "pass --users USERS")
    for column in args.by:
        if column not in users.columns:  # type: ignore[union-attr]
            raise RecauditInputError(args.users, f"no column {column!r} (found {list(users.columns)})")  # type: ignore[union-attr]
    inputs = AuditInputs.from_frames(
        recs, train, test=test, items=items, users=users, k=args.k, source=str(args.recs)
    )
    domains = None
    if args.per_domain:
        from recaudit.metrics.domains import domain_names, evaluate_domains

        domain_names(items, args.items)  # no domain column: a usage error before any metric runs
        domains = evaluate_domains(recs, train, items, test=test, k=args.k, ci=not args.no_ci)  # type: ignore[arg-type]
    windows = None
    if args.window is not None:
        from recaudit.metrics.windows import windowed_audit

        windows = windowed_audit(
            recs, train, window=args.window, items=items, test=test, k=args.k, source=args.recs
        )
    result = evaluate(inputs, ks=(args.k,), ci=not args.no_ci, user_columns=args.by)
    _print_metrics(result, domains, args.format, windows)
    return 0


def _print_metrics(result: object, domains: dict | None, fmt: str, windows: object = None) -> None:
    """The audit (one per domain under ``"domains"``, exposure over time under ``"windows"``) as JSON or
    as tables."""
    if fmt == "json":
        payload = result.to_dict()  # type: ignore[attr-defined]
        if domains is not None:
            payload["domains"] = {name: r.to_dict() for name, r in domains.items()}
        if windows is not None:
            payload["windows"] = windows.to_dict()  # type: ignore[attr-defined]
        sys.stdout.write(dumps_json(payload))
        return
    if windows is not None:
        frame = windows.metrics  # type: ignore[attr-defined]
        print(f"exposure over time, per {windows.window} (k = {windows.k}):")  # type: ignore[attr-defined]
        print(frame.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
        print()
    print(_metrics_table(result))
    for name, domain in (domains or {}).items():
        print(f"\ndomain {name!r} (its items as the catalogue, its train and test rows)")
        print(_metrics_table(domain))


def _metrics_on_engine(args: argparse.Namespace) -> int:
    from recaudit.metrics.engines.evaluate import evaluate_engine

    if args.users is not None or args.by:
        raise RecauditInputError("--users/--by", f"user breakdowns run in memory, not on {args.engine}",
                                 "drop --users/--by, or use --engine memory")
    if args.engine == "spark" and (args.threads is not None or args.memory_limit is not None):
        raise RecauditInputError("--threads/--memory-limit", "bound the duckdb engine only",
                                 "size Spark with its own configuration")
    domains: dict | None = {} if args.per_domain else None
    result = evaluate_engine(
        args.engine, recs=str(args.recs), train=str(args.train),
        test=None if args.test is None else str(args.test),
        items=None if args.items is None else str(args.items),
        k=args.k, ci=not args.no_ci, threads=args.threads, memory_limit=args.memory_limit,
        domains_out=domains,
    )  # fmt: skip
    _print_metrics(result, domains, args.format)
    return 0


def _read_many(reader: Callable[[Path], pd.DataFrame], path: Path) -> pd.DataFrame:
    """``reader`` of a file, or of every file a glob matches (in sorted order, rows concatenated)."""
    if not any(ch in str(path) for ch in "*?["):
        return reader(path)
    import pandas as pd

    from recaudit.metrics.engines.backends import expand

    return pd.concat([reader(p) for p in expand(path)], ignore_index=True)


def _input_bytes(path: Path) -> int:
    from recaudit.metrics.engines.backends import expand

    try:
        return sum(p.stat().st_size for p in expand(path))
    except RecauditInputError:
        return 0


def _metrics_table(result: object) -> str:
    frame = result.to_frame()  # type: ignore[attr-defined]
    lines = [f"{'metric':<34} {'value':>10}  95% CI"]
    for row in frame.itertuples(index=False):
        ci = "" if row.ci_low != row.ci_low else f"[{row.ci_low:.4f}, {row.ci_high:.4f}]"
        lines.append(f"{row.metric:<34} {row.value:>10.4f}  {ci}")
    dropped = result.info.get("data", {}).get("dropped", {})  # type: ignore[attr-defined]
    notes = {
        "unknown_items": "recommended items outside the catalogue (dropped)",
        "duplicate_items": "repeated items in one list (later copies dropped)",
        "duplicate_ranks": "rows sharing a (user, rank) (kept in file order)",
        "beyond_k": "rows ranked beyond k (cut)",
    }
    for key, label in notes.items():
        if dropped.get(key):
            lines.append(f"note: {dropped[key]:,} {label}")
    skipped = result.skipped  # type: ignore[attr-defined]
    for name, why in skipped.items():
        lines.append(f"{name:<34} {'n/a':>10}  ({why})")
    return "\n".join(lines)


def cmd_audit(args: argparse.Namespace) -> int:
    from recaudit.bundle import load_bundle
    from recaudit.metrics.engine import ITEM_GROUP_COLUMNS
    from recaudit.workflows.audit import audit_bundle
    from recaudit.workflows.gates import check_gate_names, check_gates, parse_gate, require_kind

    gates = [parse_gate(text) for text in args.fail_on]
    require_kind(gates, delta=False, command="audit")
    if args.pdf is not None:
        from recaudit.report_pdf import require_chromium

        require_chromium(args.pdf)  # before the audit runs, not after
    check_gate_names(gates, k=args.k)  # a typo is a usage error before the bundle is even read
    bundle = load_bundle(args.bundle)
    columns = [c for c in ITEM_GROUP_COLUMNS if c in bundle.items.columns]
    check_gate_names(gates, k=args.k, item_columns=columns)
    used: list = []
    result = audit_bundle(bundle, args.k, rerank=args.rerank, seed=args.seed, inputs_out=used)
    print(_metrics_table(result))
    if args.json is not None:
        result.save(args.json)
        _log(f"wrote {args.json}")
    if args.html is not None or args.pdf is not None:
        from recaudit.report import write_report

        title = f"recaudit audit: {bundle.name}" + (f" ({args.rerank})" if args.rerank else "")
        written = write_report(
            result, html=args.html, json=None, title=title, inputs=used[0], gates=gates, pdf=args.pdf
        )
        for path in written:
            _log(f"wrote {path}")
    failures = check_gates(result, gates)
    for failure in failures:
        print(f"recaudit audit: gate failed: {failure}", file=sys.stderr)
    return 1 if failures else 0


def cmd_compare(args: argparse.Namespace) -> int:
    from recaudit.workflows.compare import compare_sources, load_source
    from recaudit.workflows.gates import check_delta_gates, check_gate_names, parse_gate, require_kind

    gates = [parse_gate(text) for text in args.fail_on]
    require_kind(gates, delta=True, command="compare")
    check_gate_names(gates, k=args.k)
    a, b = load_source(args.a), load_source(args.b)
    _log(f"auditing {a.name} and {b.name} at k={args.k}, then comparing them on their shared users")
    comparison = compare_sources(a, b, args.k, n_boot=args.n_boot, seed=args.seed)
    print(_comparison_table(comparison))
    from recaudit._io import atomic_write_text

    if args.json is not None:
        atomic_write_text(args.json, comparison.to_json())
        _log(f"wrote {args.json}")
    if args.html is not None:
        from recaudit.report import render_comparison_html

        title = f"recaudit compare: {a.name} vs {b.name}"
        atomic_write_text(args.html, render_comparison_html(comparison, title=title, gates=gates))
        _log(f"wrote {args.html}")
    failures = check_delta_gates(comparison.deltas, gates)
    for failure in failures:
        print(f"recaudit compare: gate failed: {failure}", file=sys.stderr)
    return 1 if failures else 0


def _comparison_table(comparison: object) -> str:
    c = comparison
    lines = [f"A = {c.a}, B = {c.b}: {c.n_shared:,} shared users, k = {c.k}",  # type: ignore[attr-defined]
             f"{'metric':<32} {'A':>9} {'B':>9} {'B - A':>9}  95% CI of B - A        p"]  # fmt: skip
    for row in c.table.itertuples(index=False):  # type: ignore[attr-defined]
        ci = "" if row.ci_low != row.ci_low else f"[{row.ci_low:+.4f}, {row.ci_high:+.4f}]"
        p = "" if row.p_value != row.p_value else f"{row.p_value:.3f}"
        lines.append(f"{row.metric:<32} {row.a:>9.4f} {row.b:>9.4f} {row.delta:>+9.4f}  {ci:<22} {p}")
    for note in c.notes:  # type: ignore[attr-defined]
        lines.append(f"note: {note}")
    return "\n".join(lines)


def cmd_serve(args: argparse.Namespace) -> int:
    from streamlit.runtime.pages_manager import PagesManager
    from streamlit.web import cli as streamlit_cli

    from recaudit.paths import REPO_ROOT

    # app.py routes with st.navigation. Streamlit treats a folder named pages/ beside the main script as
    # a legacy multipage app until some session has run st.navigation, so the very first visitor of a
    # deep link such as /overview would get the page without the app's frame. Declare v2 up front.
    PagesManager.uses_pages_directory = False
    if args.bundles is not None:
        os.environ["RECAUDIT_BUNDLE_DIR"] = str(args.bundles.resolve())
    # the pages' heavy imports (torch, the scorers, the audit and map stacks: about 3 s on two cores) are
    # made before the server starts, so the first visitor's first page does not wait for them. In this
    # thread, before any script runs: two threads importing one cycle of modules at once can see a
    # partially initialised module (an ImportError seen when this ran in a background thread)
    _preload_app_modules()
    sys.argv = [
        "streamlit", "run", str(REPO_ROOT / "app.py"),
        f"--server.port={args.port}", f"--server.address={args.address}",
    ]
    try:
        streamlit_cli.main()
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


PRELOADED = (
    "torch", "plotly.graph_objects", "recaudit.scoring", "recaudit.workflows.audit",
    "recaudit.metrics.embedding", "recaudit.views.projection", "recaudit.viz.audit_charts",
    "recaudit.viz.map_charts",
)
"""Modules every first page run needs, imported by ``serve`` before the server starts (core modules only:
the app's Streamlit modules are imported by the script runs themselves)."""


def _preload_app_modules() -> None:
    import importlib

    for name in PRELOADED:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - a page importing it will report the same error properly
            return
    try:
        from recaudit.scoring._select import warm_up

        warm_up()  # compile the scorer's selection loop now, not in the first page's recommendation
    except Exception:  # noqa: BLE001 - the first recommendation will report the same error properly
        return


def check_file_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """First checks of every path argument of ``args.command``, before any work.

    Input files must exist, be regular files and not be empty (the readers then check their content);
    a bundle must be a directory; outputs must be writable without destroying anything (an existing
    bundle only with ``--force``). Each failure is one :class:`RecauditInputError` naming the path.
    """
    from recaudit.bundle import check_output_dir, read_manifest
    from recaudit.data.movielens import is_movielens_folder
    from recaudit.data.readers import check_input_file, check_output_file

    for action in file_arguments(parser).get(args.command, []):
        value = getattr(args, action.dest, None)
        if value is None:
            continue
        kind = action.file_kind  # type: ignore[attr-defined]
        path = Path(value)
        if kind in MOVIELENS_KINDS and is_movielens_folder(path):
            continue  # the readers take the folder's ratings and movies
        if kind in INPUT_KINDS:
            expected = f"a file ({FILE_KINDS[kind].split(' read by')[0]})"
            if args.command == "metrics" and _many_files(path, args.engine):
                from recaudit.metrics.engines.backends import expand

                for part in expand(path):  # a glob, or a parquet folder for an engine
                    check_input_file(part, expected)
            else:
                check_input_file(path, expected)
        elif kind == "bundle":
            read_manifest(path)  # a directory holding a readable manifest of a known format version
        elif kind == "source":
            from recaudit.bundle.logs import is_log_dir, read_log_manifest

            read_log_manifest(path) if is_log_dir(path) else read_manifest(path)
        elif kind == "bundle_root" and not path.is_dir():
            what = "not found" if not path.exists() else "is not a directory"
            raise RecauditInputError(path, f"{what} (expected a folder of bundles)")
        elif kind == "out_file":
            check_output_file(path)
        elif kind == "out_bundle":
            check_output_dir(path, overwrite=bool(getattr(args, "force", False)))
        elif kind == "out_dir" and path.exists() and not path.is_dir():
            raise RecauditInputError(path, "exists and is not a directory", "choose another --out")


def _many_files(path: Path, engine: str) -> bool:
    """``recaudit metrics`` reads a glob on every engine, and a folder of parquet parts on an Ibis engine."""
    return any(ch in str(path) for ch in "*?[") or (engine != "memory" and path.is_dir())


def _log(message: str) -> None:
    print(message, file=sys.stderr)


COMMANDS = {
    "sample": cmd_sample,
    "train": cmd_train,
    "import": cmd_import,
    "recommend": cmd_recommend,
    "replay": cmd_replay,
    "info": cmd_info,
    "metrics": cmd_metrics,
    "audit": cmd_audit,
    "compare": cmd_compare,
    "serve": cmd_serve,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``recaudit`` console script."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # usage errors (code 2) and --help (code 0) return instead of raising
        return int(exc.code or 0)
    try:
        from recaudit.data.columns import column_mapping, parse_mapping

        mapping = parse_mapping(getattr(args, "columns", None))

        def note(text: str) -> None:
            print(f"recaudit {args.command}: note: {text}", file=sys.stderr)

        with column_mapping(mapping, listener=note):
            check_file_arguments(parser, args)
            return COMMANDS[args.command](args)
    except RecauditInputError as exc:
        print(f"recaudit {args.command}: error: {exc.one_line()}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except BrokenPipeError:
        return 0
    except KeyboardInterrupt:
        print(f"recaudit {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
