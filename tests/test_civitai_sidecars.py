"""Files beside a Civitai model: version JSON, WebP preview within the NSFW setting, Markdown
description; never overwriting what is there."""
from __future__ import annotations

import io
import json

import pytest
from PIL import Image
from support.fake_civitai import FakeCivitai
from support.scanner_files import png_header_only

from comfyui_model_manager.core.sources.civitai_sidecars import to_webp, write_civitai_sidecars
from comfyui_model_manager.core.html_markdown import html_to_markdown
from comfyui_model_manager.core.http import HttpClient
from comfyui_model_manager.core.images import ImageTooLarge
from comfyui_model_manager.core.settings import Settings
from comfyui_model_manager.core.sources.civitai import CivitaiClient

RED, BLUE, GREEN = (220, 20, 20), (20, 20, 220), (20, 200, 20)
DESCRIPTION = ('<h2>About</h2><p>A <strong>neon</strong> style, see <a href="https://example.com/x">here</a>.</p>'
               '<ul><li>weight 0.8</li><li>CFG 7</li></ul><script>alert(1)</script><p>Use &amp; enjoy&nbsp;it</p>')


@pytest.fixture
def civitai(monkeypatch):
    with FakeCivitai() as fake:
        monkeypatch.setenv("CIVITAI_BASE_URL", fake.base_url)  # never reach the real site
        fake.add_model(1, "Neon Style", "LORA", description=DESCRIPTION)
        fake.add_version(1, 10, "v2.0", base_model="SDXL 1.0", trained_words=["neonstyle", "glow"],
                         description="<p>Sharper.</p>")
        fake.add_file(10, 100, "neon.safetensors", b"weights")
        yield fake


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(tmp_path / "settings.json", environ={"CIVITAI_API_TOKEN": "key-abcdef-123456"})


def model_file(tmp_path) -> object:
    folder = tmp_path / "models" / "loras"
    folder.mkdir(parents=True)
    path = folder / "neon.safetensors"
    path.write_bytes(b"weights")
    return path


def version(civitai, settings) -> dict:
    return CivitaiClient(settings, HttpClient(), civitai.base_url).get_version(10)


def color_of(path) -> tuple[int, int, int]:
    with Image.open(path) as image:
        assert image.format == "WEBP"
        return image.convert("RGB").getpixel((4, 4))


def close_to(actual, expected) -> bool:
    return all(abs(a - b) < 30 for a, b in zip(actual, expected))


def test_writes_info_preview_and_markdown(civitai, settings, tmp_path) -> None:
    civitai.add_image(10, nsfw_level=8, color=RED)
    civitai.add_image(10, nsfw_level=1, color=BLUE, fmt="PNG")
    civitai.add_image(10, nsfw_level=1, color=GREEN)
    path = model_file(tmp_path)
    v = version(civitai, settings)
    written = write_civitai_sidecars(path, v, settings=settings, http=HttpClient(), base_url=civitai.base_url)
    folder = path.parent
    assert sorted(p.name for p in written) == ["neon.civitai.info", "neon.md", "neon.webp"]
    assert json.loads((folder / "neon.civitai.info").read_text("utf-8")) == v
    assert close_to(color_of(folder / "neon.webp"), BLUE)  # first image within "safe only"
    markdown = (folder / "neon.md").read_text("utf-8")
    assert markdown == (
        "# Neon Style\n\n"
        "- Version: v2.0\n- Type: LORA\n- Base model: SDXL 1.0\n"
        "- Trigger words: `neonstyle`, `glow`\n"
        f"- Civitai: {civitai.base_url}/models/1?modelVersionId=10\n\n"
        "## About\n\nA **neon** style, see [here](https://example.com/x).\n\n- weight 0.8\n- CFG 7\n\n"
        "Use & enjoy it\n\n## About this version\n\nSharper.\n")
    assert path.read_bytes() == b"weights"
    # images come from the image host without the key; the model description was fetched once
    assert civitai.image_requests and not any(r.has_authorization for r in civitai.image_requests)
    assert [r.path for r in civitai.api_requests].count("/api/v1/models/1") == 1


def test_nsfw_setting_allows_higher_levels(civitai, settings, tmp_path) -> None:
    civitai.add_image(10, nsfw_level=4, color=RED)
    civitai.add_image(10, nsfw_level=1, color=BLUE)
    settings.update({"civitai_nsfw_level": 4})
    path = model_file(tmp_path)
    write_civitai_sidecars(path, version(civitai, settings), settings=settings, http=HttpClient())
    assert close_to(color_of(path.with_suffix(".webp")), RED)


def test_no_image_within_the_setting_means_no_preview(civitai, settings, tmp_path) -> None:
    civitai.add_image(10, nsfw_level=16, color=RED)
    civitai.add_image(10, nsfw_level=1, media_type="video", data=b"not an image", fmt="MP4")
    path = model_file(tmp_path)
    written = write_civitai_sidecars(path, version(civitai, settings), settings=settings, http=HttpClient(),
                                     model={"name": "Neon Style", "description": None})
    assert sorted(p.name for p in written) == ["neon.civitai.info", "neon.md"]
    assert not civitai.image_requests


def test_never_overwrites_existing_files(civitai, settings, tmp_path) -> None:
    civitai.add_image(10, nsfw_level=1, color=BLUE)
    path = model_file(tmp_path)
    folder = path.parent
    (folder / "neon.civitai.info").write_text("mine")
    (folder / "neon.preview.png").write_bytes(b"my preview")
    (folder / "neon.md").write_text("my notes")
    assert write_civitai_sidecars(path, version(civitai, settings), settings=settings, http=HttpClient()) == []
    assert (folder / "neon.civitai.info").read_text() == "mine"
    assert (folder / "neon.md").read_text() == "my notes"
    assert not (folder / "neon.webp").exists()
    assert sorted(p.name for p in folder.iterdir()) == [
        "neon.civitai.info", "neon.md", "neon.preview.png", "neon.safetensors"]


def test_a_txt_description_or_jpg_preview_counts_as_present(civitai, settings, tmp_path) -> None:
    civitai.add_image(10, nsfw_level=1, color=BLUE)
    path = model_file(tmp_path)
    (path.parent / "neon.txt").write_text("mine")
    (path.parent / "neon.jpg").write_bytes(b"jpg")
    written = write_civitai_sidecars(path, version(civitai, settings), settings=settings, http=HttpClient())
    assert [p.name for p in written] == ["neon.civitai.info"]


def test_a_preview_named_as_the_scanner_finds_it_counts_as_present(civitai, settings, tmp_path) -> None:
    """One naming rule: what the scanner shows as the preview (any case, ``.preview.`` names)
    is what keeps the Civitai writer from adding another one."""
    civitai.add_image(10, nsfw_level=1, color=BLUE)
    path = model_file(tmp_path)
    (path.parent / "neon.Preview.PNG").write_bytes(b"mine")
    written = write_civitai_sidecars(path, version(civitai, settings), settings=settings, http=HttpClient(),
                                     model={"name": "Neon Style", "description": None})
    assert sorted(p.name for p in written) == ["neon.civitai.info", "neon.md"]
    assert not civitai.image_requests


def test_a_broken_image_does_not_stop_the_other_files(civitai, settings, tmp_path) -> None:
    civitai.add_image(10, nsfw_level=1, data=b"<html>not an image</html>")
    path = model_file(tmp_path)
    written = write_civitai_sidecars(path, version(civitai, settings), settings=settings, http=HttpClient())
    assert sorted(p.name for p in written) == ["neon.civitai.info", "neon.md"]
    assert not list(path.parent.glob(".*.tmp"))


def test_a_decompression_bomb_is_refused_before_decoding(civitai, settings, tmp_path, monkeypatch) -> None:
    """A tiny PNG declaring 60 000 x 60 000 pixels, with Pillow's own guard switched off (as some
    custom nodes do): no preview, no memory blow-up, the other files are written."""
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)
    civitai.add_image(10, nsfw_level=1, data=png_header_only(60_000, 60_000), fmt="PNG")
    path = model_file(tmp_path)
    written = write_civitai_sidecars(path, version(civitai, settings), settings=settings, http=HttpClient())
    assert sorted(p.name for p in written) == ["neon.civitai.info", "neon.md"]
    assert civitai.image_requests  # it was fetched, then refused
    assert not path.with_suffix(".webp").exists()
    with pytest.raises(ImageTooLarge, match="60000x60000"):
        to_webp(png_header_only(60_000, 60_000))


def test_planted_symlinks_are_never_written_through(civitai, settings, tmp_path) -> None:
    """``neon.webp`` / ``neon.md`` / ``neon.civitai.info`` planted as symlinks to paths outside
    the root that do not exist yet: nothing is created out there, the links stay as they were."""
    civitai.add_image(10, nsfw_level=1, color=BLUE)
    path = model_file(tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    names = ("neon.webp", "neon.md", "neon.civitai.info")
    for name in names:
        (path.parent / name).symlink_to(outside / f"planted-{name}")
    written = write_civitai_sidecars(path, version(civitai, settings), settings=settings, http=HttpClient())
    assert written == []
    assert list(outside.iterdir()) == []
    assert all((path.parent / name).is_symlink() for name in names)
    assert not list(path.parent.glob(".*.tmp"))


def test_large_image_is_scaled_down(civitai, settings, tmp_path) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (2048, 1024), BLUE).save(buffer, format="JPEG")
    civitai.add_image(10, nsfw_level=1, data=buffer.getvalue())
    path = model_file(tmp_path)
    write_civitai_sidecars(path, version(civitai, settings), settings=settings, http=HttpClient())
    with Image.open(path.with_suffix(".webp")) as image:
        assert image.size == (1024, 512)


@pytest.mark.parametrize("html, markdown", [
    ("", ""),
    ("plain text", "plain text"),
    ("<p>one</p><p>two</p>", "one\n\ntwo"),
    ("line<br>break", "line  \nbreak"),
    ("<h1>T</h1><h3>S</h3>", "# T\n\n### S"),
    ("<em>i</em> <b>b</b> <code>c</code>", "*i* **b** `c`"),
    ("<ol><li>a</li><li>b<ul><li>c</li></ul></li></ol>", "1. a\n2. b\n  - c"),
    ('<a href="javascript:alert(1)">x</a>', "x"),
    ('<img src="https://i/x.png" alt="pic">', "![pic](https://i/x.png)"),
    ("<pre>a  b\nc</pre>", "```\na  b\nc\n```"),
    ("<blockquote>q</blockquote>", "> q"),
    ("<style>p{}</style><p>&lt;tag&gt; &quot;q&quot;</p>", '<tag> "q"'),
    ("<p>a</p><hr><p>b</p>", "a\n\n---\n\nb"),
])
def test_html_to_markdown(html, markdown) -> None:
    assert html_to_markdown(html) == markdown


def test_a_long_description_converts_in_linear_time() -> None:
    """20 000 paragraphs (560 KB of HTML) took 40 s when every tag re-joined the whole output.

    Ten times the input must cost about ten times the CPU time, not a hundred: the growth is
    compared within this run (CPU time, median of three), so a loaded machine does not fail it."""
    import statistics
    import time

    def cpu_seconds(paragraphs: int) -> float:
        html = "<p>word <b>bold</b> text</p>" * paragraphs
        samples = []
        for _ in range(3):
            started = time.process_time()
            markdown = html_to_markdown(html)
            samples.append(time.process_time() - started)
        assert markdown.count("**bold**") == paragraphs and markdown.startswith("word **bold** text\n\nword")
        return statistics.median(samples)

    small, large = cpu_seconds(2_000), cpu_seconds(20_000)
    assert large < 35 * max(small, 1e-3), (small, large)


@pytest.mark.parametrize("legacy, level, allowed", [
    (False, 1, True), (True, 1, False), (True, 16, True), ("None", 1, True), ("Mature", 2, False),
    ("Mature", 4, True), ("X", 4, False),
])
def test_older_boolean_and_named_nsfw_ratings_honour_the_setting(civitai, settings, tmp_path, legacy, level,
                                                                 allowed) -> None:
    """Older answers rate images with ``nsfw`` (a boolean or None/Soft/Mature/X), not ``nsfwLevel``."""
    from support.fake_http import json_reply

    civitai.add_image(10, nsfw_level=1, color=RED)
    original = civitai.api._handler

    def legacy_answer(request):
        reply = original(request)
        if request.path == "/api/v1/model-versions/10":
            doc = json.loads(reply.body)
            for image in doc["images"]:
                image.pop("nsfwLevel")
                image["nsfw"] = legacy
            return json_reply(200, doc)
        return reply

    civitai.api._handler = legacy_answer
    settings.update({"civitai_nsfw_level": level})
    path = model_file(tmp_path)
    write_civitai_sidecars(path, version(civitai, settings), settings=settings, http=HttpClient())
    assert path.with_suffix(".webp").exists() == allowed
