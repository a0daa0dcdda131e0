"""Which torch device to train or score on: the one rule for every command, model and scorer.

``"auto"`` picks CUDA when it is available, else the CPU; an explicit request is checked here, with one
clear error, instead of failing later inside torch. Nothing else in the project assumes a GPU.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

from recaudit.errors import RecauditInputError


def choose_device(prefer: str | torch.device = "auto", *, source: str = "device") -> torch.device:
    """The device for ``prefer``: ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or a ``torch.device``.

    Raises :class:`RecauditInputError` (naming ``source``, e.g. the config that asked) for an unknown
    name, a CUDA request without CUDA, a CUDA index beyond the visible devices, or a device type other
    than CPU and CUDA.
    """
    if isinstance(prefer, torch.device):
        device = prefer
    elif prefer == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    else:
        try:
            device = torch.device(prefer)
        except (RuntimeError, TypeError) as exc:
            raise RecauditInputError(
                source, f"unknown device {prefer!r}", hint="use 'auto', 'cpu' or 'cuda'"
            ) from exc
    if device.type not in ("cpu", "cuda"):
        raise RecauditInputError(source, f"unsupported device {device}", hint="use 'cpu' or 'cuda'")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise RecauditInputError(
                source,
                f"device {str(device)!r} requested but CUDA is not available",
                hint="use 'auto' or 'cpu'",
            )
        if (device.index or 0) >= torch.cuda.device_count():
            raise RecauditInputError(
                source, f"device {str(device)!r} does not exist",
                hint=f"{torch.cuda.device_count()} CUDA devices are visible",
            )  # fmt: skip
    return device


@contextlib.contextmanager
def training_settings(num_threads: int, device: torch.device) -> Iterator[None]:
    """Deterministic algorithms (on the CPU) and ``num_threads`` torch threads (0 keeps the current
    setting) for one training run, both restored on exit: the same seed and thread count then give
    bit-identical weights."""
    threads = torch.get_num_threads()
    deterministic = torch.are_deterministic_algorithms_enabled()
    try:
        if num_threads:
            torch.set_num_threads(num_threads)
        if device.type == "cpu":
            torch.use_deterministic_algorithms(True)
        yield
    finally:
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(deterministic)
