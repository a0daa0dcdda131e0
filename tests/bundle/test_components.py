"""Format 2: model-family components (round trip, sha256, confinement, no pickle), kind dispatch on load,
and format-1 bundles written before format 2 existed still loading."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recaudit.bundle import FORMAT_VERSION, Bundle, load_bundle, make_manifest, read_manifest, save_bundle
from recaudit.errors import RecauditInputError
from recaudit.models import MODEL_KINDS, TrainedMF
from recaudit.models.imported import IMPORTED_FAMILY, TrainedEmbeddings
from recaudit.models.registry import kind_names

FORMAT1 = Path(__file__).resolve().parent / "format1"
"""Bundles written by the code before format 2 (``recaudit train`` and ``recaudit import``), kept as files."""


def _components() -> dict:
    return {
        "text": {
            "encoder.safetensors": {
                "weight": np.arange(12, dtype=np.float32).reshape(3, 4),
                "token_ids": np.array([5, 7, 11], dtype=np.int64),
            },
            "vocab.json": {"tokens": ["space", "film", "cook"], "lowercase": True},
            "tables/stats.parquet": pd.DataFrame({"item_id": ["i0", "i1"], "length": [3, 9]}),
        },
        "session": {"config.json": {"window": 5}},
    }


def _bundle(kind: str = "imported", components: dict | None = None) -> Bundle:
    rng = np.random.default_rng(0)
    return Bundle(
        users=pd.DataFrame({"user_id": ["u0", "u1", "u2"]}),
        items=pd.DataFrame({"item_id": ["i0", "i1", "i2", "i3"]}),
        user_emb=rng.normal(size=(3, 2)).astype(np.float32),
        item_emb=rng.normal(size=(4, 2)).astype(np.float32),
        manifest=make_manifest(kind=kind, score="dot", dim=2),
        components=_components() if components is None else components,
    )


@pytest.fixture
def saved(tmp_path: Path) -> Path:
    return save_bundle(_bundle(), tmp_path / "b")


def _edit(root: Path, edit: object) -> None:
    manifest = json.loads((root / "manifest.json").read_text())
    edit(manifest)  # type: ignore[operator]
    (root / "manifest.json").write_text(json.dumps(manifest))


# --------------------------------------------------------------------------------------------------
# round trip


def test_components_round_trip_with_their_types(saved: Path) -> None:
    manifest = json.loads((saved / "manifest.json").read_text())
    assert manifest["format_version"] == FORMAT_VERSION == 2
    text = manifest["components"]["text"]["files"]
    assert sorted(text) == ["encoder.safetensors", "tables/stats.parquet", "vocab.json"]
    for relative, sha in text.items():
        assert manifest["files"][f"components/text/{relative}"]["sha256"] == sha
    assert (saved / "components" / "text" / "tables" / "stats.parquet").is_file()

    loaded = load_bundle(saved)
    assert sorted(loaded.components) == ["session", "text"]
    encoder = loaded.component("text")["encoder.safetensors"]
    np.testing.assert_array_equal(encoder["weight"], _components()["text"]["encoder.safetensors"]["weight"])
    assert encoder["token_ids"].dtype == np.int64
    assert loaded.component("text")["vocab.json"] == {"tokens": ["space", "film", "cook"], "lowercase": True}
    pd.testing.assert_frame_equal(loaded.component("text")["tables/stats.parquet"],
                                  _components()["text"]["tables/stats.parquet"])
    assert loaded.component("session") == {"config.json": {"window": 5}}
    with pytest.raises(RecauditInputError, match=r"no component 'vision' \(components: session, text\)"):
        loaded.component("vision")


def test_a_bundle_without_components_has_an_empty_table(tmp_path: Path) -> None:
    loaded = load_bundle(save_bundle(_bundle(components={}), tmp_path / "b"))
    assert loaded.components == {} and loaded.manifest["components"] == {}
    assert not (tmp_path / "b" / "components").exists()


# --------------------------------------------------------------------------------------------------
# integrity and confinement


def test_a_tampered_component_file_fails_its_sha256(saved: Path) -> None:
    target = saved / "components" / "text" / "encoder.safetensors"
    data = bytearray(target.read_bytes())
    data[-2] ^= 0xFF
    target.write_bytes(bytes(data))
    with pytest.raises(RecauditInputError, match="encoder.safetensors: sha256 does not match the manifest"):
        load_bundle(saved)


@pytest.mark.parametrize("evil", ["../../users.parquet", "../text/vocab.json", "/etc/passwd.json",
                                  "a/../../b.json", ".hidden.json", "x\\..\\y.json"])
def test_a_component_path_leaving_its_directory_is_refused_on_load(saved: Path, evil: str) -> None:
    def point_elsewhere(manifest: dict) -> None:
        files = manifest["components"]["session"]["files"]
        files[evil] = files.pop("config.json")

    _edit(saved, point_elsewhere)
    with pytest.raises(RecauditInputError, match="leaves the component directory"):
        load_bundle(saved)


@pytest.mark.parametrize("evil", ["../x.json", "/abs.json", "a/../b.json", "..", "deep/a/b/c/d.json"])
def test_a_component_path_leaving_its_directory_is_refused_on_save(tmp_path: Path, evil: str) -> None:
    with pytest.raises(RecauditInputError, match="leaves the component directory"):
        save_bundle(_bundle(components={"text": {evil: {"a": 1}}}), tmp_path / "b")
    assert not (tmp_path / "b").exists()


@pytest.mark.parametrize("name", ["../evil", "a/b", "", ".hidden", "x" * 65])
def test_component_names_are_plain(tmp_path: Path, name: str) -> None:
    with pytest.raises(RecauditInputError, match="component name"):
        save_bundle(_bundle(components={name: {"a.json": 1}}), tmp_path / "b")


def test_a_symlinked_component_file_is_refused(saved: Path, tmp_path: Path) -> None:
    target = saved / "components" / "session" / "config.json"
    outside = tmp_path / "outside.json"
    shutil.copy(target, outside)
    target.unlink()
    target.symlink_to(outside)
    with pytest.raises(RecauditInputError, match="symbolic link|leaves the bundle directory"):
        load_bundle(saved)


def test_component_and_file_tables_must_agree(saved: Path) -> None:
    _edit(saved, lambda m: m["components"]["session"]["files"].__setitem__("config.json", "0" * 64))
    with pytest.raises(RecauditInputError, match="not listed in 'files' with the same sha256"):
        read_manifest(saved)


def test_a_file_under_components_must_belong_to_a_component(saved: Path) -> None:
    _edit(saved, lambda m: m["components"].pop("session"))
    with pytest.raises(RecauditInputError, match=r"\['components/session/config.json'\] .* no component"):
        load_bundle(saved)


# --------------------------------------------------------------------------------------------------
# what components may hold, and who may have them


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"model.pkl": b"\x80\x04"}, "must end in one of"),
        ({"w.safetensors": {"w": np.array([object()])}}, "numeric numpy array .*never a pickle"),
        ({"w.safetensors": {}}, "non-empty mapping"),
        ({"t.parquet": {"not": "a frame"}}, "must be a DataFrame"),
        ({}, "must map file names to contents"),
    ],
)
def test_only_data_formats_are_written(tmp_path: Path, files: dict, message: str) -> None:
    with pytest.raises(RecauditInputError, match=message):
        save_bundle(_bundle(components={"c": files}), tmp_path / "b")


def test_components_need_a_registered_model_family(tmp_path: Path) -> None:
    with pytest.raises(RecauditInputError, match="components belong to a registered model family"):
        save_bundle(_bundle(kind="my-own-label"), tmp_path / "b")
    save_bundle(_bundle(kind="my-own-label", components={}), tmp_path / "b")
    assert read_manifest(tmp_path / "b")["format_version"] == 1  # a label bundle claims no family contract


def test_a_family_can_require_its_components(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from dataclasses import replace

    monkeypatch.setitem(MODEL_KINDS, "imported", replace(IMPORTED_FAMILY, components=("text", "index")))
    with pytest.raises(RecauditInputError, match=r"need components \['index'\]"):
        save_bundle(_bundle(), tmp_path / "b")
    monkeypatch.setitem(MODEL_KINDS, "imported", IMPORTED_FAMILY)
    save_bundle(_bundle(), tmp_path / "b")
    monkeypatch.setitem(MODEL_KINDS, "imported", replace(IMPORTED_FAMILY, components=("text", "index")))
    with pytest.raises(RecauditInputError, match=r"bundles of kind 'imported' need components \['index'\]"):
        load_bundle(tmp_path / "b")


# --------------------------------------------------------------------------------------------------
# kind dispatch


def test_an_unknown_kind_fails_to_load_with_one_line(saved: Path) -> None:
    _edit(saved, lambda m: m["model"].__setitem__("kind", "session-transformer"))
    with pytest.raises(RecauditInputError) as info:
        load_bundle(saved)
    line = info.value.one_line()
    assert "\n" not in line
    assert line == (f"{saved}/manifest.json: model kind 'session-transformer' is not known to this recaudit "
                    f"(known kinds: {', '.join(kind_names())}; a newer recaudit may know it)")


def test_a_bad_model_config_fails_to_load(saved: Path) -> None:
    _edit(saved, lambda m: m["model"]["config"].__setitem__("user_kee", "x"))
    with pytest.raises(RecauditInputError, match=r"manifest.json: model config: unknown keys \['user_kee'\]"):
        load_bundle(saved)


def test_components_are_refused_in_a_format_1_manifest(saved: Path) -> None:
    _edit(saved, lambda m: m.__setitem__("format_version", 1))
    with pytest.raises(RecauditInputError, match="components need bundle format version 2"):
        load_bundle(saved)


# --------------------------------------------------------------------------------------------------
# format 1


@pytest.mark.parametrize(("name", "model_class"), [("mf", TrainedMF), ("imported", TrainedEmbeddings)])
def test_format_1_bundles_written_before_format_2_still_load(
    tmp_path: Path, name: str, model_class: type
) -> None:
    path = FORMAT1 / name
    manifest = json.loads((path / "manifest.json").read_text())
    assert manifest["format_version"] == 1 and "components" not in manifest
    bundle = load_bundle(path)
    assert bundle.components == {} and bundle.manifest["model"]["kind"] == name
    model = bundle.model
    assert isinstance(model, model_class) and bundle.family is MODEL_KINDS[name]
    users = list(bundle.user_ids)
    np.testing.assert_allclose(
        model.score_users(users), bundle.exact_scorer("cpu").score_items(users, list(bundle.item_ids)),
        rtol=1e-6, atol=1e-6,
    )
    resaved = load_bundle(save_bundle(bundle, tmp_path / "again"))
    assert resaved.manifest["format_version"] == 2
    np.testing.assert_array_equal(resaved.user_emb, bundle.user_emb)
    np.testing.assert_array_equal(resaved.model.score_users(users), model.score_users(users))


def test_a_format_1_label_loads_as_embedding_tables(tmp_path: Path) -> None:
    save_bundle(_bundle(kind="random", components={}), tmp_path / "b")
    bundle = load_bundle(tmp_path / "b")
    assert bundle.manifest["format_version"] == 1 and bundle.manifest["model"]["kind"] == "random"
    assert isinstance(bundle.model, TrainedEmbeddings) and bundle.family is IMPORTED_FAMILY
