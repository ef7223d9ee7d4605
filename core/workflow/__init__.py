"""Workflow models: what a ComfyUI workflow needs, whether it is here, and fetching what is not.

- ``reader``: UI JSON (with subgraphs), API-format prompts, PNG/WebP with the workflow embedded;
- ``references``: the ``models`` lists and loader widgets, deduplicated with every node id;
- ``loaders``: which node inputs name a model file of which folder;
- ``policy``: which names and links a workflow (untrusted input) may make us fetch;
- ``presence``: present, present elsewhere (same sha256), missing — as ComfyUI's loaders judge it;
- ``listing``: the reference list (statuses) that the routes and the CLI show;
- ``fetch``: missing entries become ordinary download tasks;
- ``sizes``: sizes from metadata requests to allowed hosts only.
"""
