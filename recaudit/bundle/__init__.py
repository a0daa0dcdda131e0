"""Bundles: the on-disk format (manifest, sha256-checked files, no pickle), reading and writing
(:mod:`.io`), and importing embeddings a user trained elsewhere (:mod:`.importers`)."""

from recaudit.bundle.io import (
    MANIFEST,
    Bundle,
    ScoreFn,
    check_finite,
    check_output_dir,
    list_bundles,
    load_bundle,
    make_manifest,
    read_manifest,
    save_bundle,
)

__all__ = [
    "MANIFEST",
    "Bundle",
    "ScoreFn",
    "check_finite",
    "check_output_dir",
    "list_bundles",
    "load_bundle",
    "make_manifest",
    "read_manifest",
    "save_bundle",
]
