"""What the test servers share about the requests they log."""
from __future__ import annotations


class HeaderLookup:
    """Case-insensitive ``header(name)`` over a ``headers`` dict that keeps the sent case."""

    headers: dict[str, str]

    def header(self, name: str) -> str | None:
        lower = name.lower()
        for key, value in self.headers.items():
            if key.lower() == lower:
                return value
        return None
