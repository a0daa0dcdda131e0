"""One base for every configuration object: :class:`ConfigBase`.

A configuration is a frozen dataclass, so it can be a default argument, a cache key and an entry of a
bundle manifest. :class:`ConfigBase` gives every such class the same three guarantees, instead of each
one re-implementing them (the model config, the projection parameters and the sample-world config used
to carry three round trips, one of them lenient):

* **checked when built.** Each field's value must match its annotation (``bool``, ``int``, ``float``,
  ``str``, a ``Literal`` of choices, ``X | None``, a ``tuple`` of those); a value from the CLI, the app
  or a JSON file fails at once with a :class:`~recaudit.errors.RecauditInputError` naming the field,
  before any work starts. Values are normalised to plain Python types on the way in (a numpy integer
  becomes an ``int``, an ``int`` given for a ``float`` field becomes a ``float``, a list given for a tuple
  becomes a tuple), so :meth:`~ConfigBase.to_dict` is plain JSON and equal configs hash alike. Range
  and cross-field rules go in :meth:`~ConfigBase.validate`, which runs after the type checks.
* **strict ``from_dict``.** Unknown keys (a typo, a field removed since) are refused, naming them and
  the known ones; missing keys take their defaults; wrong types are refused as above.
* **a JSON round trip.** ``cls.from_dict(json.loads(json.dumps(c.to_dict()))) == c`` for every config.

A subclass is declared as ``@dataclass(frozen=True) class XConfig(ConfigBase): ...`` with a default for
every field (the measurement behind each default belongs in its docstring). ``SOURCE`` names the
object in error messages (default: the class name); ``IGNORED_KEYS`` lists keys that
:meth:`~ConfigBase.from_dict` accepts and drops because the place the dict is stored adds them beside
the fields (e.g. the compute time stored next to the projection parameters).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import types
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Literal, NoReturn, Self, Union, get_args, get_origin, get_type_hints

import numpy as np

from recaudit.errors import RecauditInputError

ScoreFunction = Literal["dot", "cosine"]
"""How a user vector and an item vector give a score: ``u . v (+ b)`` or ``cos(u, v) (+ b)``."""


@dataclasses.dataclass(frozen=True)
class ConfigBase:
    """Frozen, type-checked on construction, strict :meth:`from_dict`, plain-JSON :meth:`to_dict`."""

    SOURCE: ClassVar[str | None] = None
    """The name errors report as their source; None means the class name."""
    IGNORED_KEYS: ClassVar[frozenset[str]] = frozenset()
    """Keys :meth:`from_dict` accepts and drops (stored beside the fields, not part of the config)."""
    UNKNOWN_KEYS_HINT: ClassVar[str | None] = None
    """The hint of the unknown-keys error; None lists the known keys."""

    def __post_init__(self) -> None:
        for name, annotation in _field_annotations(type(self)):
            value = _normalise(self, name, getattr(self, name), annotation)
            object.__setattr__(self, name, value)
        self.validate()

    def validate(self) -> None:
        """Range and cross-field rules of the subclass (the field types are already checked)."""

    # ---- round trip -------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Every field as plain JSON (tuples become lists), in declaration order."""
        return {name: _jsonable(getattr(self, name)) for name, _ in _field_annotations(type(self))}

    def with_overrides(self, assignments: Sequence[str]) -> Self:
        """A copy with ``FIELD=VALUE`` strings applied in order (the benchmarks' ``--set``): each value is
        parsed as its field's current type (a boolean is ``true`` or false), then checked as every field
        is on construction."""
        config = self
        for item in assignments:
            name, value = item.split("=", 1)
            current = getattr(config, name)
            parsed = value == "true" if isinstance(current, bool) else type(current)(value)
            config = dataclasses.replace(config, **{name: parsed})
        return config

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str | None = None) -> Self:
        """Build a config from :meth:`to_dict` output; missing keys take their defaults.

        Args:
            data: the mapping, e.g. a bundle manifest's ``model.config``.
            source: what errors name as the input (e.g. the file the mapping came from); default
                :attr:`SOURCE` or the class name.

        Raises:
            RecauditInputError: ``data`` is not a mapping, has an unknown key, or a bad value.
        """
        where = source or cls.source()
        if not isinstance(data, Mapping):
            raise RecauditInputError(where, f"expected a mapping, got {type(data).__name__}")
        known = [name for name, _ in _field_annotations(cls)]
        unknown = sorted(str(key) for key in data if key not in known and key not in cls.IGNORED_KEYS)
        if unknown:
            hint = cls.UNKNOWN_KEYS_HINT or f"known keys: {sorted(known)}"
            raise RecauditInputError(where, f"unknown keys {unknown}", hint=hint)
        values = {key: value for key, value in data.items() if key in known}
        try:
            return cls(**values)
        except RecauditInputError as exc:
            if source is None:
                raise
            raise RecauditInputError(source, exc.what, exc.hint) from exc

    # ---- helpers for validate() -------------------------------------------------------------------
    @classmethod
    def source(cls) -> str:
        """The name errors report as their source."""
        return cls.SOURCE or cls.__name__

    def fail(self, name: str, rule: str) -> NoReturn:
        """Raise the error of field ``name`` breaking ``rule`` (e.g. ``"must be >= 1"``)."""
        raise RecauditInputError(self.source(), f"{name} {rule}, got {getattr(self, name)!r}")

    def check_at_least(self, minimum: float, *names: str) -> None:
        """Each named field is >= ``minimum``."""
        for name in names:
            if getattr(self, name) < minimum:
                self.fail(name, f"must be >= {minimum}")

    def check_finite(self, *names: str, positive: bool = False) -> None:
        """Each named float field is finite and >= 0 (``positive``: > 0)."""
        for name in names:
            value = getattr(self, name)
            if not math.isfinite(value) or (value <= 0 if positive else value < 0):
                self.fail(name, "must be a finite number " + ("> 0" if positive else ">= 0"))


# --------------------------------------------------------------------------------------------------
# field annotations and their checks


@functools.cache
def _field_annotations(cls: type) -> tuple[tuple[str, Any], ...]:
    """``(name, resolved annotation)`` of every dataclass field of ``cls``, in declaration order."""
    hints = get_type_hints(cls)
    return tuple((f.name, hints[f.name]) for f in dataclasses.fields(cls))


class _Mismatch(Exception):
    """A value does not fit an annotation; carries the rule it breaks."""


def _normalise(config: ConfigBase, name: str, value: object, annotation: Any) -> object:
    """``value`` as the plain Python value of ``annotation``, or the field's error."""
    try:
        return _coerce(value, annotation)
    except _Mismatch as exc:
        raise RecauditInputError(config.source(), f"{name} {exc.args[0]}, got {value!r}") from None


def _coerce(value: object, annotation: Any) -> object:
    """Check ``value`` against ``annotation`` and return it normalised; raise :class:`_Mismatch`."""
    origin = get_origin(annotation)
    if annotation is Any:
        return value
    if annotation is bool:
        if isinstance(value, bool | np.bool_):
            return bool(value)
        raise _Mismatch("must be true or false")
    if annotation is int:
        if isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_):
            return int(value)
        raise _Mismatch("must be an integer")
    if annotation is float:
        numeric = isinstance(value, int | float | np.integer | np.floating)
        if numeric and not isinstance(value, bool | np.bool_):
            return float(value)
        raise _Mismatch("must be a number")
    if annotation is str:
        if isinstance(value, str):
            return value
        raise _Mismatch("must be a string")
    if annotation is type(None):
        if value is None:
            return None
        raise _Mismatch("must be null")
    if origin is Literal:
        choices = get_args(annotation)
        # type(...) too: True == 1 must not pass for Literal[1], nor 1 for Literal[True]
        if any(value == choice and type(value) is type(choice) for choice in choices):
            return value
        raise _Mismatch(f"must be one of {list(choices)}")
    if origin in (Union, types.UnionType):
        arms = get_args(annotation)
        if value is None and type(None) in arms:
            return None
        rules = []
        for arm in arms:
            if arm is type(None):
                continue
            try:
                return _coerce(value, arm)
            except _Mismatch as exc:
                rules.append(exc.args[0].removeprefix("must be "))
        nullable = " or null" if type(None) in arms else ""
        raise _Mismatch("must be " + " or ".join(rules) + nullable)
    if origin is tuple:
        return _coerce_tuple(value, get_args(annotation))
    raise TypeError(f"ConfigBase cannot check fields annotated {annotation!r}")


def _coerce_tuple(value: object, args: tuple[Any, ...]) -> tuple[object, ...]:
    """A tuple (a JSON list is accepted) whose items match ``tuple[A, B]`` or ``tuple[A, ...]``."""
    if not isinstance(value, tuple | list):
        raise _Mismatch("must be a list")
    if len(args) == 2 and args[1] is Ellipsis:
        item_types = [args[0]] * len(value)
    else:
        item_types = list(args)
        if len(value) != len(item_types):
            raise _Mismatch(f"must be a list of {len(item_types)} values")
    items = []
    for position, (item, annotation) in enumerate(zip(value, item_types, strict=True)):
        try:
            items.append(_coerce(item, annotation))
        except _Mismatch as exc:
            raise _Mismatch(f"item {position} {exc.args[0]}") from None
    return tuple(items)


def _jsonable(value: object) -> object:
    """A normalised field value as JSON: tuples become lists."""
    if isinstance(value, tuple):
        return [_jsonable(item) for item in value]
    return value
