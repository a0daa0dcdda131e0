"""ConfigBase: type checks and normalisation on construction, strict from_dict, plain-JSON to_dict."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from typing import ClassVar, Literal

import numpy as np
import pytest

from recaudit.config import ConfigBase
from recaudit.errors import RecauditInputError


@dataclass(frozen=True)
class Example(ConfigBase):
    SOURCE: ClassVar[str] = "example settings"
    IGNORED_KEYS: ClassVar[frozenset[str]] = frozenset({"seconds"})

    size: int = 3
    rate: float = 0.5
    name: str = "x"
    on: bool = True
    mode: Literal["a", "b"] = "a"
    label: str | None = None
    pair: tuple[float, float] = (0.1, 0.2)
    many: tuple[int, ...] = ()

    def validate(self) -> None:
        self.check_at_least(1, "size")
        self.check_finite("rate", positive=True)


def test_round_trip_through_json_is_the_identity() -> None:
    config = Example(size=5, rate=2, label="y", pair=[1, 2], many=[4, 5, 6])  # type: ignore[arg-type]
    assert config.pair == (1.0, 2.0) and config.many == (4, 5, 6) and isinstance(config.rate, float)
    data = json.loads(json.dumps(config.to_dict()))
    assert data["pair"] == [1.0, 2.0]
    assert Example.from_dict(data) == config
    assert Example.from_dict({}) == Example()
    assert hash(Example.from_dict(data)) == hash(config)


def test_numpy_scalars_become_plain_python() -> None:
    config = Example(size=np.int64(4), rate=np.float32(0.25), on=np.bool_(False))  # type: ignore[arg-type]
    assert type(config.size) is int and type(config.rate) is float and config.on is False
    assert json.dumps(config.to_dict())


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("size", 2.5, "size must be an integer, got 2.5"),
        ("size", True, "size must be an integer, got True"),
        ("size", 0, "size must be >= 1, got 0"),
        ("rate", "fast", "rate must be a number"),
        ("rate", float("nan"), "rate must be a finite number > 0"),
        ("on", 1, "on must be true or false"),
        ("mode", "c", "mode must be one of ['a', 'b']"),
        ("label", 3, "label must be a string or null"),
        ("pair", [1.0], "pair must be a list of 2 values"),
        ("pair", [1.0, "x"], "pair item 1 must be a number"),
        ("many", "12", "many must be a list"),
    ],
)
def test_bad_values_name_the_field(field: str, value: object, message: str) -> None:
    with pytest.raises(RecauditInputError, match="^example settings: " + _escaped(message)):
        Example(**{field: value})
    with pytest.raises(RecauditInputError, match=_escaped(message)):
        Example.from_dict({field: value})
    with pytest.raises(RecauditInputError, match=_escaped(message)):
        replace(Example(), **{field: value})


def test_from_dict_is_strict_about_keys_but_drops_ignored_ones() -> None:
    with pytest.raises(RecauditInputError, match=r"unknown keys \['sise'\] \(known keys: \['label'"):
        Example.from_dict({"sise": 3})
    assert Example.from_dict({"size": 2, "seconds": 1.5}) == Example(size=2)
    with pytest.raises(RecauditInputError, match="expected a mapping, got list"):
        Example.from_dict([("size", 2)])  # type: ignore[arg-type]


def test_a_given_source_names_the_input() -> None:
    with pytest.raises(RecauditInputError, match="^world.json: size must be >= 1"):
        Example.from_dict({"size": 0}, "world.json")
    with pytest.raises(RecauditInputError, match="^world.json: unknown keys"):
        Example.from_dict({"nope": 0}, "world.json")


def test_an_uncheckable_annotation_is_a_programming_error() -> None:
    @dataclass(frozen=True)
    class Odd(ConfigBase):
        values: dict = None  # type: ignore[assignment]

    with pytest.raises(TypeError, match="cannot check"):
        Odd()


def _escaped(text: str) -> str:
    return re.escape(text)


def test_with_overrides_parses_each_value_as_its_field_type() -> None:
    from recaudit.models import MFConfig

    config = MFConfig().with_overrides(["dim=8", "lr=0.01", "refit=true", "loss=bpr"])
    assert (config.dim, config.lr, config.refit, config.loss) == (8, 0.01, True, "bpr")
    assert MFConfig().with_overrides(["refit=yes"]).refit is False  # only "true" is true
    assert MFConfig().with_overrides([]) == MFConfig()
    with pytest.raises(AttributeError):
        MFConfig().with_overrides(["nope=1"])
