"""Plain-Python core of the Model Manager: downloads, sources, scanner, settings.

Nothing in this package imports ComfyUI; the ComfyUI adapters live in ``nodes/``.
Modules are imported lazily by their users so that importing the pack stays cheap.
"""
