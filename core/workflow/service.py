"""``WorkflowModels``: listing and fetching a workflow's models, for the routes and the CLI.

Every method is blocking (files, the hash cache, metadata requests): call it off ComfyUI's loop.
"""
from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping

from ..model_types import ModelFolders
from .fetch import FetchResult, fetch
from .listing import ListingContext, Reference, list_references
from .loaders import LoaderSpec
from .policy import HostPolicy, Resolver, system_resolver
from .presence import DigestStore
from .reader import Workflow

if TYPE_CHECKING:
    from ..http import HttpClient
    from ..downloads.manager import DownloadManager
    from ..settings import Settings


class WorkflowModels:
    def __init__(self, folders: ModelFolders, settings: "Settings", *, digests: DigestStore | None = None,
                 manager: "DownloadManager | None" = None, http: "HttpClient | None" = None,
                 loaders: Callable[[Workflow], Mapping[str, LoaderSpec]] | None = None,
                 environ: Mapping[str, str] = os.environ, resolver: Resolver = system_resolver) -> None:
        self.folders = folders
        self.settings = settings
        self.digests = digests
        self.manager = manager
        self.http = http
        self._loaders = loaders
        self._environ = environ
        self._resolver = resolver

    def _context(self, workflow: Workflow) -> ListingContext:
        policy = HostPolicy.from_settings(self.settings.workflow_allowed_hosts, self._environ, self._resolver)
        return ListingContext(
            folders=self.folders, policy=policy, digests=self.digests,
            loaders=self._loaders(workflow) if self._loaders is not None else None,
            tasks=self.manager.list if self.manager is not None else None,
        )

    def list(self, workflow: Workflow, allow_any_host: bool = False, sizes: bool = True) -> list[Reference]:
        references = list_references(workflow, self._context(workflow), allow_any_host)
        if sizes and self.http is not None:
            from .sizes import fill_sizes

            fill_sizes(references, self.settings, self.http)
        return references

    def download(self, workflow: Workflow, names: Iterable[str] | None = None,
                 allow_any_host: bool = False) -> tuple[FetchResult, list[Reference]]:
        if self.manager is None:
            raise RuntimeError("downloading needs a DownloadManager")
        references = list_references(workflow, self._context(workflow), allow_any_host)
        return fetch(references, self.manager, names, redact=self.settings.redactor), references


def references_json(references: list[Reference]) -> dict[str, Any]:
    return {"models": [r.to_json() for r in references]}
