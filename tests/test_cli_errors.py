"""With --json, a command that fails on bad input still prints exactly one JSON document."""
from __future__ import annotations

import json
import subprocess
import sys


def _run(*args: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "comfyui_model_manager.core.cli", *args],
                          capture_output=True, text=True, timeout=60, cwd=cwd)


def test_bad_input_with_json_prints_an_error_document(tmp_path) -> None:
    result = _run("download", "file:///etc/passwd", "--type", "loras", "--models-dir", str(tmp_path), "--json",
                  cwd=tmp_path)
    assert result.returncode == 2
    document = json.loads(result.stdout)
    assert document["error"]["code"] == "invalid_input"
    assert "http" in document["error"]["message"]
    assert "error:" in result.stderr


def test_bad_usage_exits_2(tmp_path) -> None:
    result = _run("info", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stdout == ""
