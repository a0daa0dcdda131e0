"""Bundles: the on-disk format (manifest, sha256-checked files and model-family components, no pickle),
reading and writing (:mod:`.io`), and importing embeddings a user trained elsewhere (:mod:`.importers`)."""

from recaudit.bundle.io import (
    FORMAT_VERSION,
    MANIFEST,
    Bundle,
    check_finite,
    check_output_dir,
    family_of,
    format_version_for,
    list_bundles,
    load_bundle,
    make_manifest,
    read_manifest,
    save_bundle,
)

__all__ = [
    "FORMAT_VERSION",
    "MANIFEST",
    "Bundle",
    "check_finite",
    "check_output_dir",
    "family_of",
    "format_version_for",
    "list_bundles",
    "load_bundle",
    "make_manifest",
    "read_manifest",
    "save_bundle",
]
