"""Every Hugging Face link form users paste is reduced to repo, revision and path."""
from __future__ import annotations

import pytest

from comfyui_model_manager.core.sources.huggingface import resolve_url
from comfyui_model_manager.core.sources.huggingface_links import HfLink, parse_hf_link

F = "sd_xl_base_1.0.safetensors"


@pytest.mark.parametrize("text, expected", [
    (f"https://huggingface.co/stabilityai/sdxl/resolve/main/{F}", HfLink("stabilityai/sdxl", "model", "main", F)),
    (f"https://huggingface.co/stabilityai/sdxl/resolve/main/{F}?download=true",
     HfLink("stabilityai/sdxl", "model", "main", F)),
    (f"https://huggingface.co/stabilityai/sdxl/blob/main/{F}", HfLink("stabilityai/sdxl", "model", "main", F, "blob")),
    (f"https://huggingface.co/stabilityai/sdxl/raw/main/{F}", HfLink("stabilityai/sdxl", "model", "main", F, "raw")),
    (f"https://hf.co/stabilityai/sdxl/resolve/main/{F}", HfLink("stabilityai/sdxl", "model", "main", F)),
    (f"https://www.huggingface.co/a/b/resolve/v1.0/{F}#x", HfLink("a/b", "model", "v1.0", F)),
    ("https://huggingface.co/a/b/resolve/main/unet/sub%20dir/x.safetensors",
     HfLink("a/b", "model", "main", "unet/sub dir/x.safetensors")),
    ("https://huggingface.co/a/b/resolve/0123456789abcdef0123456789abcdef01234567/vae/x.safetensors",
     HfLink("a/b", "model", "0123456789abcdef0123456789abcdef01234567", "vae/x.safetensors")),
    ("https://huggingface.co/a/b/resolve/refs%2Fpr%2F12/x.safetensors", HfLink("a/b", "model", "refs/pr/12", "x.safetensors")),
    ("https://huggingface.co/a/b/blob/refs/pr/12/dir/x.safetensors",
     HfLink("a/b", "model", "refs/pr/12", "dir/x.safetensors", "blob")),
    ("https://huggingface.co/datasets/a/d/resolve/main/data/x.bin", HfLink("a/d", "dataset", "main", "data/x.bin")),
    ("https://huggingface.co/spaces/a/s/blob/main/m.pth", HfLink("a/s", "space", "main", "m.pth", "blob")),
    ("https://huggingface.co/gpt2/resolve/main/model.safetensors", HfLink("gpt2", "model", "main", "model.safetensors")),
    ("stabilityai/sdxl-vae/sdxl_vae.safetensors", HfLink("stabilityai/sdxl-vae", "model", "main", "sdxl_vae.safetensors")),
    ("stabilityai/sdxl-vae/sdxl_vae.safetensors@v1.1", HfLink("stabilityai/sdxl-vae", "model", "v1.1", "sdxl_vae.safetensors")),
    ("a/b/unet/x.gguf@refs/pr/3", HfLink("a/b", "model", "refs/pr/3", "unet/x.gguf")),
    ("a/b@dev/unet/x.gguf", HfLink("a/b", "model", "dev", "unet/x.gguf")),
    ("datasets/a/d/x.bin", HfLink("a/d", "dataset", "main", "x.bin")),
    ("hf://a/b/x.safetensors@main", HfLink("a/b", "model", "main", "x.safetensors")),
    ("hf://datasets/a/d/x.bin", HfLink("a/d", "dataset", "main", "x.bin")),
    ("huggingface.co/a/b/blob/main/x.safetensors", HfLink("a/b", "model", "main", "x.safetensors", "blob")),
    ("www.hf.co/a/b/resolve/dev/x.safetensors", HfLink("a/b", "model", "dev", "x.safetensors")),
])
def test_file_links(text: str, expected: HfLink) -> None:
    assert parse_hf_link(text) == expected


@pytest.mark.parametrize("text, repo, revision", [
    ("https://huggingface.co/a/b", "a/b", "main"),
    ("https://huggingface.co/a/b/tree/dev/unet", "a/b", "dev"),
    ("https://huggingface.co/a/b/resolve/main", "a/b", "main"),
    ("https://huggingface.co/datasets/a/d", "a/d", "main"),
])
def test_repository_and_folder_pages_name_no_file(text, repo, revision) -> None:
    link = parse_hf_link(text)
    assert link is not None and link.repo_id == repo and link.revision == revision and link.path is None


@pytest.mark.parametrize("text", [
    "https://civitai.com/models/1",
    "https://example.com/a/b/resolve/main/x.safetensors",
    "https://huggingface.co.evil.example/a/b/resolve/main/x.safetensors",
    "ftp://huggingface.co/a/b/resolve/main/x.safetensors",
    "a/b",
    "a/b/README",
    "../x/y.safetensors",
    "a/b/../x.safetensors",
    "/abs/path/x.safetensors",
    "C:/models/x.safetensors",
    "https://huggingface.co/docs/hub/index",
    "",
])
def test_not_hub_files(text) -> None:
    link = parse_hf_link(text)
    assert link is None or link.path is None


def test_endpoint_host_counts_as_hub() -> None:
    link = parse_hf_link("http://127.0.0.1:5000/a/b/resolve/main/x.safetensors", ("127.0.0.1:5000",))
    assert link == HfLink("a/b", "model", "main", "x.safetensors")


def test_resolve_url_quotes_like_huggingface_hub() -> None:
    link = HfLink("a/b", "dataset", "refs/pr/1", "dir/my file.safetensors")
    assert resolve_url("http://h", link) == "http://h/datasets/a/b/resolve/refs%2Fpr%2F1/dir/my%20file.safetensors"


@pytest.mark.parametrize("text, expected", [
    ("urn:air:sdxl:vae:huggingface:stabilityai/sdxl-vae/sdxl_vae.safetensors",
     HfLink("stabilityai/sdxl-vae", "model", "main", "sdxl_vae.safetensors", "resolve", "vae")),
    ("urn:air:flux1:lora:huggingface:a/b/loras/x.safetensors@v1.0",
     HfLink("a/b", "model", "v1.0", "loras/x.safetensors", "resolve", "loras")),
    ("huggingface:a/b/unet/x.gguf@refs/pr/3", HfLink("a/b", "model", "refs/pr/3", "unet/x.gguf", "resolve", None)),
    ("air:model:huggingface:datasets/a/d/x.bin", HfLink("a/d", "dataset", "main", "x.bin", "resolve", None)),
    ("urn:air:sd1:checkpoint:huggingface:a/b/x.ckpt", HfLink("a/b", "model", "main", "x.ckpt", "resolve", "checkpoints")),
])
def test_hub_airs(text: str, expected: HfLink) -> None:
    assert parse_hf_link(text) == expected


@pytest.mark.parametrize("text", ["urn:air:model:huggingface:stabilityai/sdxl-vae",
                                  "urn:air:sdxl:vae:huggingface:a/b/../x.safetensors"])
def test_hub_air_without_a_file_is_a_clear_error(text: str) -> None:
    from comfyui_model_manager.core.errors import InvalidInput

    with pytest.raises(InvalidInput) as info:
        parse_hf_link(text)
    assert "a Hugging Face AIR names a file, as huggingface:owner/repo/path/file.safetensors" in info.value.message
