"""What every source hands the downloader, and the registry that picks a source for a link."""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Protocol

from ..http import HttpClient, check_http_url

if TYPE_CHECKING:
    from ..settings import Settings


@dataclass
class ResolvedDownload:
    """A user's link turned into something the downloader can fetch.

    ``url`` never carries a secret (credentials travel in ``auth_headers``, which the
    HttpClient sends only to ``url``'s own origin); ``display_url`` is the redacted, canonical
    form shown in task JSON and re-resolved after a restart (for the Hub it pins the commit).
    """

    source: str
    url: str
    display_url: str
    auth_headers: dict[str, str] = field(default_factory=dict, repr=False)  # secrets: never in a repr
    filename: str | None = None
    model_type: str | None = None
    sha256: str | None = None
    size: int | None = None
    etag: str | None = None
    accepts_ranges: bool | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


class Source(Protocol):
    """A kind of link.  A source may also define ``after_complete(model_path, resolved)``: the
    step after its file is verified and in place (Civitai writes its sidecars there)."""

    name: str

    def matches(self, url: str) -> bool: ...

    def resolve(self, url: str) -> ResolvedDownload: ...


#: Specific sources first; ``direct`` takes any http(s) URL and must stay last.
SOURCE_MODULES = ("civitai", "huggingface", "direct")


class SourceRegistry:
    """Picks the source for a link. Sources are imported on first use."""

    def __init__(self, settings: "Settings", http: HttpClient) -> None:
        self.settings = settings
        self.http = http
        self._sources: list[Source] | None = None

    def sources(self) -> list[Source]:
        if self._sources is None:
            found: list[Source] = []
            for name in SOURCE_MODULES:
                try:
                    module = importlib.import_module(f"{__package__}.{name}")
                except ModuleNotFoundError as exc:
                    if exc.name == f"{__package__}.{name}":
                        continue  # that source is not built yet
                    raise
                found.append(module.create_source(self.settings, self.http))
            self._sources = found
        return self._sources

    def resolve(self, url: str) -> ResolvedDownload:
        """Resolve a link (blocking: may call the source's API)."""
        url = (url or "").strip()
        for source in self.sources():
            if source.matches(url):
                return source.resolve(url)
        check_http_url(url)  # raises a clear InvalidInput for file://, ftp://, garbage
        raise AssertionError("the direct source accepts every http(s) URL")

    def after_complete(self, model_path: Path, resolved: ResolvedDownload) -> None:
        """Run the ``after_complete`` step of the source that resolved the download, if it has one."""
        for source in self.sources():
            if source.name == resolved.source:
                step: Callable[[Path, ResolvedDownload], None] | None = getattr(source, "after_complete", None)
                if step is not None:
                    step(model_path, resolved)
                return
