"""AIR, the AI Resource Identifier Civitai uses (and shows on every model version).

Form: ``[urn:][air:][{ecosystem}:][{type}:]{source}:{id}[@{version}][+{fileId}][.{format}]``;
the ``urn:`` and ``air:`` prefixes, the ecosystem and the type are optional
(``urn:air:sdxl:lora:civitai:328553@368189``, ``sdxl:checkpoint:civitai:827184@2514310+2402203``,
``civitai:5@6``).  Older AIRs may carry a layer after the version (``@6:model.safetensors``).

``parse_air`` only splits the text; what an id means is up to the source (``civitai``: model and
version ids; ``huggingface``: ``owner/repo/path/to/file`` with the revision as version).  Text that
is plainly meant as an AIR (it has the ``urn:air:``/``air:`` prefix, or names a known source)
but cannot be one raises ``InvalidInput`` with the form spelled out; anything else gives None.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import InvalidInput

#: Sources we download from, and the others an AIR may name.
SUPPORTED_SOURCES = ("civitai", "huggingface")
KNOWN_SOURCES = SUPPORTED_SOURCES + ("civitai-r2", "orchestrator", "openai", "leonardo")
FORM = "urn:air:{ecosystem}:{type}:{source}:{id}@{version}"
EXAMPLES = ("urn:air:sdxl:lora:civitai:328553@368189 or "
            "urn:air:sdxl:vae:huggingface:owner/repo/path/file.safetensors")

#: AIR ``type`` words -> ComfyUI folder types (used where the source itself cannot tell).
AIR_TYPE_TO_FOLDER = {
    "checkpoint": "checkpoints", "lora": "loras", "locon": "loras", "lycoris": "loras", "dora": "loras",
    "embedding": "embeddings", "textualinversion": "embeddings", "vae": "vae", "controlnet": "controlnet",
    "upscaler": "upscale_models", "hypernet": "hypernetworks", "hypernetwork": "hypernetworks",
    "unet": "diffusion_models", "diffusion_model": "diffusion_models", "clip": "text_encoders",
    "text_encoder": "text_encoders", "textencoder": "text_encoders", "clip_vision": "clip_vision",
    "clipvision": "clip_vision", "motionmodule": "animatediff_models",
}
_TYPE_WORDS = frozenset(AIR_TYPE_TO_FOLDER) | {"model", "other", "upscale", "workflow", "wildcards", "poses"}
_SEGMENT = re.compile(r"^[A-Za-z0-9_./-]+$")


@dataclass(frozen=True)
class Air:
    source: str           # lower case: "civitai", "huggingface", …
    id: str               # everything between ``{source}:`` and ``@``/``+``/the end
    version: str | None = None
    file_id: str | None = None
    format: str | None = None
    ecosystem: str | None = None
    type: str | None = None
    rest: str = ""        # what followed the version (an old layer, a format)
    text: str = ""

    @property
    def folder(self) -> str | None:
        """The ComfyUI folder type the AIR's ``type`` names, if any."""
        return AIR_TYPE_TO_FOLDER.get((self.type or "").lower())


def invalid(text: str, why: str) -> InvalidInput:
    return InvalidInput(f"{text.strip()!r} is not a valid AIR ({why}); the form is {FORM}, "
                        f"for example {EXAMPLES}")


def parse_air(text: str) -> Air | None:
    """Split an AIR (see the module docstring); None when ``text`` is not meant as one."""
    text = (text or "").strip()
    body = text
    prefixed = False
    for prefix in ("urn:", "air:"):
        if body[:len(prefix)].lower() == prefix:
            body, prefixed = body[len(prefix):], True
    if not prefixed and "://" in text:
        return None  # a URL
    parts = body.split(":")
    index = next((i for i, part in enumerate(parts[:3]) if part.lower() in KNOWN_SOURCES and i < len(parts) - 1),
                 None)
    if index is None:
        if prefixed:
            source = parts[-2] if len(parts) >= 2 else ""
            raise invalid(text, f"no supported source such as civitai or huggingface{f' (got {source!r})' if source else ''}")
        return None
    head, source = parts[:index], parts[index].lower()
    if any(not _SEGMENT.match(p) for p in head):
        if not prefixed:
            return None
        raise invalid(text, "the ecosystem and type may only hold letters, digits, '.', '_', '-' and '/'")
    ecosystem = type_ = None
    if len(head) == 2:
        ecosystem, type_ = head
    elif len(head) == 1:
        if head[0].lower() in _TYPE_WORDS:
            type_ = head[0]
        else:
            ecosystem = head[0]
    if source not in SUPPORTED_SOURCES:
        raise InvalidInput(f"AIRs from {source!r} cannot be downloaded: only civitai and huggingface "
                           f"AIRs can (for example {EXAMPLES})")
    tail = ":".join(parts[index + 1:]).strip()
    if source == "huggingface":  # the id is a repo path (dots, slashes); the version a revision
        match = re.match(r"^(?P<id>[^@\s]+)(?:@(?P<version>\S+))?(?P<file>)(?P<rest>)$", tail)
    else:
        match = re.match(r"^(?P<id>[^@+.:\s]+)(?:@(?P<version>[^+.:\s]+))?(?:\+(?P<file>[^.:\s]+))?"
                         r"(?P<rest>(?:[.:]\S*)?)$", tail)
    if not tail or match is None:
        raise invalid(text, f"nothing usable after {source!r}:")
    identifier, version, rest = match.group("id"), match.group("version"), match.group("rest")
    file_id = match.group("file") or None
    fmt = rest[1:] if re.fullmatch(r"\.[A-Za-z0-9_-]+", rest) else None
    return Air(source, identifier, version, file_id, fmt, ecosystem, type_, rest, text)
