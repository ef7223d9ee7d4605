"""Checks of the browser extension that need neither ComfyUI nor a browser.

Imports must resolve (ComfyUI serves js/ as-is, there is no bundler); the pure modules
(format, task store, menu) are run in Node.js when it is installed, else those tests skip.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

JS = Path(__file__).resolve().parent.parent / "js"
MODULES = sorted(JS.rglob("*.js"))
IMPORT = re.compile(r"""(?:^|\n)\s*import\s[^;]*?from\s+["']([^"']+)["']""")
#: What ComfyUI's frontend serves beside /extensions/<pack>/ (two levels above js/).
COMFY_SCRIPTS = {"scripts/app.js", "scripts/api.js"}


def _comfy_script(module: Path, target: str) -> bool:
    depth = len(module.relative_to(JS).parts) - 1  # 0 for js/x.js, 1 for js/sidebar/x.js
    up = "../" * (2 + depth)
    return target.startswith(up) and target[len(up):] in COMFY_SCRIPTS


def _node() -> str:
    node = shutil.which("node") or shutil.which("nodejs")
    if node is None:
        pytest.skip("Node.js is not installed")
    return node


def _run_node(script: str) -> object:
    completed = subprocess.run([_node(), "--input-type=module", "-e", script], cwd=JS,
                               capture_output=True, text=True, timeout=30)
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout)


def test_every_import_resolves_to_a_file_of_the_pack_or_comfyui() -> None:
    assert MODULES, "js/ holds no modules"
    for module in MODULES:
        for target in IMPORT.findall(module.read_text(encoding="utf-8")):
            if _comfy_script(module, target):
                continue
            assert target.startswith(("./", "../")), f"{module.name} imports {target}: only the pack or ComfyUI scripts"
            resolved = (module.parent / target).resolve()
            assert resolved.is_relative_to(JS) and resolved.is_file(), f"{module.name} imports missing {target}"


def test_no_blocking_dialogs_and_no_browser_storage() -> None:
    for module in MODULES:
        text = re.sub(r"(?m)^\s*//.*$", "", module.read_text(encoding="utf-8"))  # code, not comments
        assert not re.search(r"\balert\(", text), module.name
        assert "localStorage" not in text and "sessionStorage" not in text, module.name


@pytest.mark.parametrize("module", MODULES, ids=lambda p: str(p.relative_to(JS)))
def test_module_parses(module: Path) -> None:
    completed = subprocess.run([_node(), "--input-type=module", "--check"], input=module.read_text(encoding="utf-8"),
                               capture_output=True, text=True, timeout=30)
    assert completed.returncode == 0, completed.stderr


def test_task_store_keeps_the_newest_state_and_the_asking_node() -> None:
    result = _run_node("""
        import { TaskStore } from './task_store.js';
        const store = new TaskStore();
        const base = { task_id: 't1', url: 'u', status: 'downloading', node_id: '7' };
        store.upsert({ ...base, downloaded_bytes: 10, updated_at: 5 });
        const previous = store.upsert({ ...base, status: 'paused', downloaded_bytes: 5, updated_at: 4 });
        const stale = store.get('t1').downloaded_bytes;                     // older event ignored
        store.upsert({ ...base, node_id: null, downloaded_bytes: 20, updated_at: 6 });
        const kept = store.get('t1').node_id;                               // node not forgotten
        store.upsert({ task_id: 't2', url: 'v', status: 'completed', node_id: '7', updated_at: 9 });
        store.upsert({ task_id: 't3', url: 'w', status: 'failed', node_id: '8', updated_at: 9 });
        const latest = store.latestForNode('7').task_id;
        const active = store.latestForNode('7', (t) => t.status !== 'completed').task_id;
        const none = store.latestForNode('99') ?? null;
        const scan = store.upsertScan({ scan_id: 's', scanned: 1, total: 4 });
        const merged = store.upsertScan({ scan_id: 's', count: 4 });
        console.log(JSON.stringify({ previous, stale, kept, latest, active, none,
                                     merged: [merged.scanned, merged.total, merged.count] }));
    """)
    assert result == {"previous": "downloading", "stale": 10, "kept": "7", "latest": "t2", "active": "t1",
                      "none": None, "merged": [1, 4, 4]}


def test_a_removed_task_stays_removed_until_it_runs_again() -> None:
    """Clear finished removes records; a late event of one must not bring its row back."""
    result = _run_node("""
        import { TaskStore } from './task_store.js';
        const store = new TaskStore();
        const done = { task_id: 't1', url: 'u', status: 'completed', updated_at: 5 };
        store.upsert(done);
        store.remove('t1');
        store.upsert(done);                                                  // late completion event
        store.upsert({ ...done, status: 'downloading', updated_at: 4 });     // late progress event
        const late = store.get('t1') ?? null;
        store.upsert({ ...done, status: 'queued', updated_at: 9 });          // retried: runs again
        console.log(JSON.stringify({ late, again: store.get('t1')?.status ?? null }));
    """)
    assert result == {"late": None, "again": "queued"}


def test_scan_store_keeps_the_asking_node() -> None:
    result = _run_node("""
        import { TaskStore } from './task_store.js';
        const store = new TaskStore();
        store.upsertScan({ scan_id: 's', status: 'scanning', node_id: '12', prompt_id: 'p' });
        const kept = store.upsertScan({ scan_id: 's', status: 'cancelled', node_id: null });
        const other = store.upsertScan({ scan_id: 'r', status: 'scanning', node_id: null });
        console.log(JSON.stringify([kept.node_id, kept.prompt_id, kept.status, other.node_id]));
    """)
    assert result == ["12", "p", "cancelled", None]


def test_menu_entries_are_enabled_by_status() -> None:
    result = _run_node("""
        import { downloadMenuItems, scanMenuItems } from './menu.js';
        const enabled = (task) => downloadMenuItems(task, () => {}).filter((i) => !i.disabled).map((i) => i.content);
        const statuses = ['queued', 'downloading', 'paused', 'verifying', 'completed', 'failed', 'cancelled'];
        const out = Object.fromEntries(statuses.map((s) => [s, enabled({ status: s })]));
        out.none = enabled(undefined);
        out.scanRunning = scanMenuItems({ scan_id: 's', status: 'hashing' }, () => {})[0].disabled;
        out.scanDone = scanMenuItems({ scan_id: 's', finished: true }, () => {})[0].disabled;
        const calls = [];
        downloadMenuItems({ status: 'downloading' }, (a) => calls.push(a)).forEach((i) => i.callback());
        out.calls = calls;
        console.log(JSON.stringify(out));
    """)
    pause, resume, cancel = "Pause download", "Resume download", "Cancel download…"
    assert result["queued"] == [pause, cancel]
    assert result["downloading"] == [pause, cancel]
    assert result["paused"] == [resume, cancel]
    assert result["verifying"] == []
    assert result["completed"] == []
    assert result["failed"] == [resume, cancel]
    assert result["cancelled"] == [resume]
    assert result["none"] == []
    assert result["scanRunning"] is False and result["scanDone"] is True
    assert result["calls"] == ["pause", "resume", "cancel"]


def test_key_problems_are_recognised() -> None:
    result = _run_node("""
        globalThis.document = undefined;
        const { isKeyProblem } = await import('./toasts.js');
        console.log(JSON.stringify([
            isKeyProblem('auth_required', 'anything'),
            isKeyProblem(null, 'http://x answered 401 Unauthorized: an API key or login may be needed'),
            isKeyProblem(null, 'Civitai needs an API key for this model'),
            isKeyProblem(null, 'the gated repo needs a Hugging Face token'),
            isKeyProblem(null, 'checksum mismatch: expected 00, got 11'),
            isKeyProblem(null, 'HTTP 404 Not Found'),
        ]));
    """)
    assert result == [True, True, True, True, False, False]


def test_panel_views_of_tasks_and_scans() -> None:
    result = _run_node("""
        const { downloadView, scanView } = await import('./progress_widget.js');
        const task = { task_id: 't', url: 'u', model_type: 'loras', filename: 'a.safetensors',
                       downloaded_bytes: 1048576, total_bytes: 4194304, progress: 25, speed_bps: 524288,
                       eta_seconds: 6, error: null };
        console.log(JSON.stringify({
            downloading: downloadView({ ...task, status: 'downloading' }),
            paused: downloadView({ ...task, status: 'paused' }),
            failed: downloadView({ ...task, status: 'failed', error: 'checksum mismatch' }),
            retrying: downloadView({ ...task, status: 'downloading', error: 'the connection to h was lost; retry 1/5 in 2 s' }),
            pausedWithNotice: downloadView({ ...task, status: 'paused', error: 'stale' }),
            unknownSize: downloadView({ ...task, status: 'downloading', total_bytes: null, progress: null }),
            hashing: scanView({ scan_id: 's', status: 'hashing', scanned: 3, total: 12, current: 'loras/x.safetensors' }),
            done: scanView({ scan_id: 's', status: 'completed', finished: true, scanned: 12, total: 12,
                             count: 12, hashed: 5, matched: 2, errors: 1 }),
            cancelled: scanView({ scan_id: 's', status: 'cancelled', finished: true, scanned: 3, total: 12,
                                  count: 12, hashed: 0, matched: 0, errors: [] }),
        }));
    """)
    assert result["downloading"] == {
        "key": "t", "status": "downloading", "percent": 25, "statusText": "downloading · 1.0 MB / 4.0 MB",
        "detailText": "512 KB/s · ETA 0:06", "errorText": ""}
    assert result["paused"]["detailText"] == "a.safetensors"  # no speed or ETA while paused
    assert result["failed"]["errorText"] == "checksum mismatch"
    assert result["retrying"]["errorText"] == "the connection to h was lost; retry 1/5 in 2 s"
    assert result["pausedWithNotice"]["errorText"] == ""
    assert result["unknownSize"]["percent"] is None
    assert result["unknownSize"]["statusText"] == "downloading · 1.0 MB"
    assert result["hashing"]["statusText"] == "hashing · 3 / 12 files"
    assert result["hashing"]["percent"] == 25 and result["hashing"]["detailText"] == "loras/x.safetensors"
    assert result["done"]["statusText"] == "completed · 12 models, 5 hashed, 2 matched on Civitai"
    assert result["done"]["percent"] == 100 and result["done"]["errorText"] == "1 error"
    assert result["cancelled"]["status"] == "cancelled" and result["cancelled"]["percent"] == 25


def test_workflow_rows_say_what_each_model_is_and_how_the_run_ended() -> None:
    result = _run_node("""
        import { countRows, describeRow, selectable, summaryText, refKey, taskKey } from './workflow/model_rows.js';
        const ref = (name, status, extra = {}) => ({ name, directory: 'loras', status, ...extra });
        const refs = [ref('a.safetensors', 'present'), ref('b.safetensors', 'missing', { size: 2048 }),
                      ref('c.safetensors', 'missing_no_url', { reason: 'the workflow gives no download link for it' }),
                      ref('d.safetensors', 'refused', { reason: 'only http(s) links are downloaded' }),
                      ref('e.safetensors', 'present_elsewhere', { reason: 'the same file (sha256) is at loras/x.safetensors' })];
        const before = summaryText(countRows(refs.map((r) => ({ ref: r }))));
        const running = { task_id: 't', model_type: 'loras', filename: 'b.safetensors', status: 'downloading',
                          downloaded_bytes: 512, total_bytes: 2048, progress: 25 };
        const during = summaryText(countRows(refs.map((r) => ({ ref: r, task: r.name === 'b.safetensors' ? running : undefined }))), true);
        const done = { ...running, status: 'completed', downloaded_bytes: 2048, progress: 100 };
        const after = summaryText(countRows(refs.map((r) => ({ ref: r, task: r.name === 'b.safetensors' ? done : undefined }))), true);
        const failed = { ...running, status: 'failed', error: 'sha256 mismatch' };
        const bad = summaryText(countRows([{ ref: refs[1], task: failed }]), true);
        const paused = { ...running, status: 'paused' };
        const waiting = summaryText(countRows([{ ref: refs[1], task: paused }]), true);
        const both = summaryText(countRows([{ ref: refs[1], task: paused }, { ref: refs[0], task: running }]), true);
        console.log(JSON.stringify({
            before, during, after, bad, waiting, both,
            rows: refs.map((r) => describeRow(r)).map((v) => [v.state, v.label, v.detail, v.size]),
            moving: describeRow(refs[1], running).label, failedRow: describeRow(refs[1], failed).detail,
            pick: refs.map((r) => selectable(r)), retry: selectable(refs[1], failed), busy: selectable(refs[1], running),
            keys: [refKey(ref('sub\\\\x.safetensors', 'missing')), taskKey({ model_type: 'loras', filename: 'sub/x.safetensors' })],
        }));
    """)
    assert result["before"] == ("5 models: 2 present, 1 missing (2.0 KB) to download. "
                                "2 models cannot be downloaded (no link or refused: see the row).")
    assert result["during"] == "Downloading 1 model (25%)…"
    assert result["after"] == ("Done: 1 downloaded and verified, 2 already present. Every model with a usable link "
                               "is in place. 2 models cannot be downloaded (no link or refused: see the row).")
    assert result["bad"] == "Done: 1 failed."
    assert result["waiting"] == "1 paused: resume it to finish."
    assert result["both"] == "Downloading 1 model (25%)… 1 paused: resume it to finish."
    assert result["rows"] == [
        ["present", "Present", "", ""], ["missing", "Missing", "", "2.0 KB"],
        ["missing_no_url", "Missing, no link", "the workflow gives no download link for it", ""],
        ["refused", "Refused", "only http(s) links are downloaded", ""],
        ["present_elsewhere", "Present elsewhere", "the same file (sha256) is at loras/x.safetensors", ""]]
    assert result["moving"] == "Downloading 25.0%" and result["failedRow"] == "sha256 mismatch"
    assert result["pick"] == [False, True, False, False, False]
    assert result["retry"] is True and result["busy"] is False
    assert result["keys"] == ["loras/sub/x.safetensors", "loras/sub/x.safetensors"]
