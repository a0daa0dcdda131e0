"""One exception type for every bad input, so the CLI and the app can show a one-line reason.

Library errors (pyarrow, pandas, torch, safetensors, ...) are caught at the loader layer and re-raised as
:class:`RecauditInputError` naming the file, what is wrong and, where useful, how to fix it. The CLI turns
it into exit code 2 and a single line; the app shows it with ``st.error``.
"""

from __future__ import annotations

from pathlib import Path


class RecauditInputError(ValueError):
    """Bad input from the user: a file, a column, a value.

    Attributes:
        source: the file (or other input) that is wrong, as the user named it.
        what: what is wrong, in one sentence.
        hint: how to fix it (optional).
    """

    def __init__(self, source: str | Path | None, what: str, hint: str | None = None) -> None:
        self.source = str(source) if source is not None else None
        self.what = what
        self.hint = hint
        super().__init__(self.one_line())

    def one_line(self) -> str:
        """The message as one line: ``source: what (hint)``."""
        text = f"{self.source}: {self.what}" if self.source else self.what
        if self.hint:
            text += f" ({self.hint})"
        return " ".join(text.split())
