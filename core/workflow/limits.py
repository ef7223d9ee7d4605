"""Bounds on an untrusted workflow and the one error each bound gives."""
from __future__ import annotations

from ..errors import InvalidInput, PayloadTooLarge

#: Largest workflow file or request body read (JSON, PNG or WebP).
MAX_WORKFLOW_BYTES = 32 * 1024 * 1024
#: Most distinct model references one workflow may name.
MAX_REFERENCES = 5000
#: Deepest subgraph nesting followed (the frontend nests far less).
MAX_SUBGRAPH_DEPTH = 32


class WorkflowTooLarge(PayloadTooLarge, exit_code=2):
    """Over ``MAX_WORKFLOW_BYTES``: 413 on the routes, exit status 2 on the command line."""


class BadWorkflow(InvalidInput, code="bad_workflow"):
    """Not a workflow we can read, too many references or nested too deeply (400, exit 2)."""


def check_size(size: int) -> None:
    if size > MAX_WORKFLOW_BYTES:
        raise WorkflowTooLarge(f"the workflow is larger than {MAX_WORKFLOW_BYTES // (1024 * 1024)} MB "
                               f"({size:,} bytes); it is not read")
