"""Import: bring a model's embedding tables in as a bundle (as `recaudit import`), or a recommendation log
from any tool with its train/test/items (audited as `recaudit metrics`), without a terminal."""

import streamlit as st

from recaudit.app import importer
from recaudit.app import shell as support
from recaudit.bundle.logs import check_log_name
from recaudit.errors import RecauditInputError
from recaudit.textsafe import md_code, md_text
from recaudit.workflows.imports import import_bundle, import_log

DONE = "import_done"  # durable session key: the last import's message, shown once after the rerun

st.title("📥 Import")
st.caption(
    importer.data_folder_caption() + " " + md_text(f"New bundles and logs go to {support.bundle_dir()}.")
)
if (message := st.session_state.pop(DONE, None)) is not None:
    st.success(message)

model_tab, log_tab = st.tabs(["Embeddings → bundle", "Recommendation log"])


def output_name(key: str, default: str) -> tuple[str | None, bool]:
    """The new folder's name (checked, None when invalid) and whether an existing one may be replaced."""
    left, right = st.columns([3, 1])
    with left:
        name = st.text_input(
            "Name of the new folder (in the bundles folder)", value=default, key=f"{key}_name"
        )
    with right:
        replace = st.checkbox("Replace if it exists", key=f"{key}_replace")
    try:
        return check_log_name(name.strip()), replace
    except RecauditInputError as exc:
        st.error(md_text(exc.one_line()))
        return None, replace


def tab_mapping(mappings: list[dict[str, str] | None]) -> dict[str, str] | None:
    """The tab's one column mapping (as ``--columns``), or None with its one-line error when two files
    map one column differently."""
    try:
        return importer.merge_mappings(mappings)
    except RecauditInputError as exc:
        st.error(md_text(exc.one_line()))
        return None


def opened(name: str, what: str) -> None:
    """Select the new folder in the sidebar and rerun, so every page opens it."""
    st.session_state[support.SELECTED_BUNDLE] = name
    st.session_state[DONE] = what
    st.rerun()


# -------------------------------------------------------------------------------------- embeddings
with model_tab:
    st.caption(
        "A user table and an item table of vectors (rows in id order), with optional id lists, items, "
        "training and test interactions, become a bundle every page can open."
    )
    picked: dict[str, importer.Picked | None] = {}
    keys: dict[str, str | None] = {}
    for side in ("user", "item"):
        st.markdown(f"**{side.title()} embeddings**")
        choice = importer.file_picker(
            f"{side.title()} embeddings (.npy, .safetensors, .pt state dict or parquet)", f"imp_{side}_emb",
            importer.EMBEDDING_SUFFIXES,
        )  # fmt: skip
        picked[f"{side}_embeddings"] = choice
        keys[side] = None
        if importer.takes_key(choice):
            keys[side] = (
                st.text_input(
                    f"Tensor name of the {side} table (empty: the only matrix, or the one named {side})",
                    key=f"imp_{side}_key",
                ).strip()
                or None
            )
        if choice is not None:
            importer.embedding_preview(choice, side, keys[side])
    mappings: list[dict[str, str] | None] = []
    with st.expander("Ids, items, training and test interactions (optional)", expanded=True):
        for side in ("user", "item"):
            picked[f"{side}_ids"] = importer.file_picker(
                f"{side.title()} ids in row order", f"imp_{side}_ids", importer.ID_SUFFIXES,
                help="one id per line, a CSV/parquet id column, or a .npy; default: the parquet table's ids, "
                "else 0, 1, 2, …",
            )  # fmt: skip
        for role, label, kind in (
            ("items", "Items (item_id, title, category, …)", "items"),
            ("interactions", "Training interactions (seen items, popularity)", "interactions"),
            ("test", "Test interactions (held out, for accuracy)", "interactions"),
        ):
            choice = importer.file_picker(label, f"imp_{role}", importer.TABLE_SUFFIXES, folders=True)
            picked[role] = choice
            if choice is not None:
                mappings.append(importer.table_preview(choice, kind, f"imp_{role}"))
    left, right = st.columns(2)
    with left:
        score = st.radio("Score", ["dot", "cosine"], horizontal=True, key="imp_score")
    with right:
        item_map = st.radio(
            "Item map stored with the bundle", ["umap", "pca", "none"], horizontal=True, key="imp_map",
            help="umap as the CLI's default; pca is quick; none leaves it to the Embedding map page",
        )  # fmt: skip
    name, replace = output_name("imp", "imported")
    columns = tab_mapping(mappings)
    ready = picked["user_embeddings"] is not None and picked["item_embeddings"] is not None
    if name and ready:
        flags = [
            f"--user-embeddings {picked['user_embeddings'].name}",
            f"--item-embeddings {picked['item_embeddings'].name}",
        ]  # type: ignore[union-attr]
        flags += [
            f"--{role.replace('_', '-')} {c.name}"
            for role, c in picked.items()
            if c is not None and "embeddings" not in role
        ]
        flags += [f"--{side}-key {keys[side]}" for side in ("user", "item") if keys[side]]
        st.caption(
            "The same as "
            + md_code(f"recaudit import {' '.join(flags)} --score {score} --map {item_map}"
                      f"{importer.columns_flag(columns or {})} --out {name}")
        )  # fmt: skip
    if st.button(
        "Build the bundle",
        type="primary",
        disabled=not (ready and name and columns is not None),
        key="imp_build",
    ):
        target = support.bundle_dir() / str(name)

        def build(step: importer.Step, log: importer.Step) -> object:
            with importer.materialised(picked) as paths:
                return import_bundle(
                    paths["user_embeddings"], paths["item_embeddings"],  # type: ignore[arg-type]
                    out=target, user_ids=paths["user_ids"], item_ids=paths["item_ids"], items=paths["items"],
                    interactions=paths["interactions"], test=paths["test"], score=score,  # type: ignore[arg-type]
                    user_key=keys["user"], item_key=keys["item"], item_map=item_map, overwrite=replace,
                    columns=columns, progress=step, log=log,
                )  # fmt: skip

        outcome = importer.run_import("Building the bundle", "Bundle written.", build)
        if (bundle := outcome.result) is not None:
            size = f"{len(bundle.users):,} users × {len(bundle.items):,} items (dim {bundle.dim})"  # type: ignore[attr-defined]
            said = f"Built bundle {name}: {size}, now selected in the sidebar." + outcome.columns_note
            opened(str(name), md_text(said))

# --------------------------------------------------------------------------------------------- a log
with log_tab:
    st.caption(
        "A recommendation log from any tool (`user_id,item_id,rank[,score][,timestamp]`) with the training "
        "interactions it was made from is audited without a model: Diversity & popularity, Fairness, Compare "
        "and Report then work on it; the pages that need embeddings say so."
    )
    log_picked: dict[str, importer.Picked | None] = {}
    log_mappings: list[dict[str, str] | None] = []
    for role, label, kind, folders in (
        ("recs", "Recommendation log (required)", "recs", False),
        ("train", "Training interactions (required)", "interactions", True),
        ("test", "Test interactions (for accuracy)", "interactions", True),
        ("items", "Items (catalogue, categories, providers)", "items", True),
        ("users", "Users (attributes for group breakdowns)", "users", False),
    ):
        choice = importer.file_picker(label, f"log_{role}", importer.TABLE_SUFFIXES, folders=folders)
        log_picked[role] = choice
        if choice is not None:
            log_mappings.append(importer.table_preview(choice, kind, f"log_{role}"))
    log_name, log_replace = output_name("log", "log")
    log_columns = tab_mapping(log_mappings)
    log_ready = log_picked["recs"] is not None and log_picked["train"] is not None
    if log_ready:
        flags = " ".join(f"--{role} {c.name}" for role, c in log_picked.items() if c is not None)
        st.caption(
            "Audited as "
            + md_code(f"recaudit metrics {flags}{importer.columns_flag(log_columns or {})} --k K")
            + (md_text(f", from the log folder {log_name}") if log_name else "")
        )
    if st.button(
        "Import the log", type="primary", disabled=not (log_ready and log_name and log_columns is not None),
        key="log_build",
    ):  # fmt: skip
        target = support.bundle_dir() / str(log_name)

        def build_log(step: importer.Step, log: importer.Step) -> object:
            with importer.materialised(log_picked) as paths:
                return import_log(
                    paths, out=target, overwrite=log_replace, columns=log_columns, progress=step, log=log
                )

        outcome = importer.run_import("Importing the log", "Log written.", build_log)
        if outcome.result is not None:
            opened(
                str(log_name),
                md_text(f"Imported log {log_name}, now selected in the sidebar: open Diversity & popularity, "
                        "Fairness, Compare or Report to audit it." + outcome.columns_note),
            )  # fmt: skip
