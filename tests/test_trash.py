"""The trash on real files: where it goes, restore and its conflicts, purge, several processes.

A trash on another filesystem uses a real tmpfs mount (needs root; skipped with the reason
otherwise).
"""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from comfyui_model_manager.core.errors import Conflict, InvalidInput, NotFound
from comfyui_model_manager.core.model_types import ModelFolders, ModelType, PT_EXTENSIONS
from comfyui_model_manager.core.observers import DELETE_MODEL
from comfyui_model_manager.core.trash import Trash, TrashUnavailable, validate_id
from comfyui_model_manager.core.trash_purger import TrashPurger
from comfyui_model_manager.core.trash_location import TRASH_FOLDER
from support.scanner_files import make_index, write_safetensors

SIDECARS = ("m.webp", "m.md", "m.civitai.info", "m.sha256")


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def library(tmp_path: Path):
    folder = tmp_path / "models" / "loras" / "sub"
    model = write_safetensors(folder / "m.safetensors", payload=b"weights" * 1000)
    for name in SIDECARS:
        (folder / name).write_bytes(name.encode())
    (folder / "other.safetensors").write_bytes(b"other")
    index = make_index(tmp_path)
    events: list = []
    index.events.subscribe(lambda event, payload: events.append((event, payload)))
    return {"folder": folder, "model": model, "digest": sha(model), "index": index, "events": events,
            "tmp": tmp_path}


def listed(index) -> list[str]:
    return [m.name for m in index.list_models("loras")]


def test_delete_moves_model_and_sidecars_beside_the_roots_and_restore_brings_them_back(library):
    index, folder = library["index"], library["folder"]
    index.scan("loras", compute_hashes=True)
    assert "sub/m.safetensors" in listed(index)
    deleted = index.delete_model("loras", "sub/m.safetensors")
    trash_dir = library["tmp"] / "models" / TRASH_FOLDER
    assert deleted.trash_id and len(deleted.trash_id) == 16
    assert sorted(os.listdir(folder)) == ["other.safetensors"]
    assert sorted(os.listdir(trash_dir / deleted.trash_id / "files")) == sorted(["m.safetensors", *SIDECARS])
    record = json.loads((trash_dir / deleted.trash_id / "record.json").read_text())
    assert record["files"][0] == str(folder / "m.safetensors") and len(record["files"]) == 5
    assert record["model_type"] == "loras" and record["name"] == "sub/m.safetensors" and record["complete"]
    assert listed(index) == ["sub/other.safetensors"]
    assert library["events"][-1] == (DELETE_MODEL, {"model_type": "loras", "name": "sub/m.safetensors",
                                                    "trash_id": deleted.trash_id})
    [item] = [e.to_json() for e in index.trash.list()]
    assert item["id"] == deleted.trash_id and item["size"] == sum(
        (trash_dir / deleted.trash_id / "files" / n).stat().st_size for n in ["m.safetensors", *SIDECARS])
    assert set(item) == {"id", "model_type", "name", "files", "size", "deleted_at"}

    model = index.restore_model(deleted.trash_id)
    assert model.name == "sub/m.safetensors" and model.sha256 == library["digest"]  # not re-hashed
    assert sha(folder / "m.safetensors") == library["digest"]
    assert sorted(os.listdir(folder)) == sorted(["m.safetensors", "other.safetensors", *SIDECARS])
    assert (folder / "m.md").read_bytes() == b"m.md"
    assert listed(index) == ["sub/m.safetensors", "sub/other.safetensors"]
    assert listed(make_index(library["tmp"])) == listed(index)  # the saved index lists it too
    assert index.trash.list() == [] and os.listdir(trash_dir) == []
    with pytest.raises(NotFound):
        index.restore_model(deleted.trash_id)


def test_permanently_removes_for_good(library):
    index = library["index"]
    deleted = index.delete_model("loras", "sub/m.safetensors", permanently=True)
    assert deleted.trash_id is None and sorted(p.name for p in deleted.files) == sorted(["m.safetensors", *SIDECARS])
    assert sorted(os.listdir(library["folder"])) == ["other.safetensors"]
    assert index.trash.list() == []
    assert library["events"][-1][1]["trash_id"] is None


def test_restore_never_overwrites_conflict_or_rename(library):
    index, folder = library["index"], library["folder"]
    first = index.delete_model("loras", "sub/m.safetensors").trash_id
    (folder / "m.safetensors").write_bytes(b"a new file with the same name")
    with pytest.raises(Conflict, match=r"m\.safetensors exists now and is never replaced.*rename"):
        index.restore_model(first)
    assert (folder / "m.safetensors").read_bytes() == b"a new file with the same name"
    assert [e.id for e in index.trash.list()] == [first]  # nothing moved, still restorable
    # only a sidecar in the way is a conflict too
    (folder / "m.safetensors").unlink()
    (folder / "m.md").write_text("someone else's notes")
    with pytest.raises(Conflict, match="m.md exists now"):
        index.restore_model(first)
    (folder / "m.safetensors").write_bytes(b"new again")
    model = index.restore_model(first, rename=True)
    assert model.name == "sub/m (1).safetensors"
    assert sha(folder / "m (1).safetensors") == library["digest"]
    assert (folder / "m (1).md").read_bytes() == b"m.md" and (folder / "m (1).webp").is_file()
    assert (folder / "m.md").read_text() == "someone else's notes"
    assert (folder / "m.safetensors").read_bytes() == b"new again"
    assert "sub/m (1).safetensors" in listed(index)


def test_trash_is_never_inside_a_root_of_any_type(tmp_path):
    # models/ itself is a root of one type: the trash goes one level higher
    models = tmp_path / "lib" / "models"
    write_safetensors(models / "loras" / "x.safetensors")
    folders = ModelFolders([ModelType("loras", (models / "loras",), PT_EXTENSIONS),
                            ModelType("everything", (models,), PT_EXTENSIONS)])
    index = make_index(tmp_path, folders)
    trash_id = index.delete_model("loras", "x.safetensors").trash_id
    assert (tmp_path / "lib" / TRASH_FOLDER / trash_id / "files" / "x.safetensors").is_file()
    assert not (models / TRASH_FOLDER).exists()
    # a root that would list both candidates beside it: the state folder's trash
    write_safetensors(models / "loras" / "y.safetensors")
    extra = [models / "loras", models, tmp_path / "lib"]
    trash = Trash(folders, tmp_path / "state", all_roots=lambda: extra)
    location = folders.locate("loras", "y.safetensors")
    entry = trash.put(location, [location.path])
    assert entry.folder.parent == tmp_path / "state" / "trash"
    # nothing any root lists is ever used, even when everything is one big root: refused
    trash = Trash(folders, tmp_path / "state", all_roots=lambda: [Path("/")])
    write_safetensors(models / "loras" / "z.safetensors")
    location = folders.locate("loras", "z.safetensors")
    with pytest.raises(TrashUnavailable, match="permanently"):
        trash.put(location, [location.path])
    assert location.path.is_file()


def test_ids_are_validated_and_prefixes_must_be_unique(library):
    index = library["index"]
    for bad in ("../../etc", "..", "abc", "0123456789abcdef0", "/tmp/x", "", "ghijklmnopqrstuv"):
        with pytest.raises(InvalidInput, match="not a trash id"):
            index.trash.get(bad)
    with pytest.raises(InvalidInput):
        index.trash.get("../x", allow_prefix=True)
    one = index.delete_model("loras", "sub/m.safetensors").trash_id
    two = index.delete_model("loras", "sub/other.safetensors").trash_id
    assert index.trash.get(one[:6], allow_prefix=True).id == one
    assert index.trash.get(two.upper(), allow_prefix=False).id == two
    common = os.path.commonprefix([one, two])
    if len(common) >= 4:
        with pytest.raises(InvalidInput, match="give more digits"):
            index.trash.get(common, allow_prefix=True)
    with pytest.raises(InvalidInput, match="16 hex digits"):
        index.trash.get(one[:6])  # a prefix only where allowed (the CLI), never on REST
    assert validate_id(" " + one.upper() + " ") == one


def test_a_record_planted_in_a_shared_trash_cannot_write_outside_the_model_folder(library):
    index, tmp = library["index"], library["tmp"]
    real = index.delete_model("loras", "sub/m.safetensors").trash_id
    trash_dir = tmp / "models" / TRASH_FOLDER
    planted = trash_dir / "00000000000000aa"
    (planted / "files").mkdir(parents=True)
    (planted / "files" / "bashrc").write_text("evil")
    record = json.loads((trash_dir / real / "record.json").read_text())
    record.update(id="00000000000000aa", files=[str(library["folder"] / "m.safetensors"), str(tmp / "bashrc")])
    (planted / "record.json").write_text(json.dumps(record))
    with pytest.raises(InvalidInput, match="damaged"):
        index.restore_model("00000000000000aa")
    record.update(name="../../../bashrc", files=[str(tmp / "bashrc")])
    (planted / "record.json").write_text(json.dumps(record))
    with pytest.raises(InvalidInput):
        index.restore_model("00000000000000aa")
    assert not (tmp / "bashrc").exists()


def test_purge_one_and_purge_by_age(library):
    index = library["index"]
    now = [1_000_000.0]
    index.trash._clock = lambda: now[0]
    old = index.delete_model("loras", "sub/m.safetensors").trash_id
    now[0] += 31 * 86400
    new = index.delete_model("loras", "sub/other.safetensors").trash_id
    purger = TrashPurger(index.trash, days=lambda: 30)
    assert [e.id for e in purger.run_once()] == [old]
    assert [e.id for e in index.trash.list()] == [new]
    assert TrashPurger(index.trash, days=lambda: 0).run_once() == []  # 0 keeps everything
    index.purge_trash(new)
    assert index.trash.list() == [] and os.listdir(library["tmp"] / "models" / TRASH_FOLDER) == []
    with pytest.raises(NotFound):
        index.purge_trash(new)


def test_purger_thread_runs_at_start_and_stops(library):
    index = library["index"]
    index.trash._clock = lambda: 0.0
    index.delete_model("loras", "sub/m.safetensors")
    index.trash._clock = __import__("time").time
    purger = TrashPurger(index.trash, days=lambda: 30, interval=3600)
    purger.start()
    purger.stop(timeout=5)
    assert purger.runs == 1 and index.trash.list() == []


def test_stale_half_done_operations_are_recovered(library):
    index, tmp = library["index"], library["tmp"]
    trash_id = index.delete_model("loras", "sub/m.safetensors").trash_id
    trash_dir = tmp / "models" / TRASH_FOLDER
    os.rename(trash_dir / trash_id, trash_dir / f".restoring-{trash_id}-abcd")  # a restorer died
    (trash_dir / f".purging-{'1' * 16}-ab").mkdir()  # a purger died
    assert index.trash.list() == []
    index.trash.recover_stale(older_than=3600)
    assert index.trash.list() == []  # too young to be stale
    index.trash.recover_stale(older_than=0)
    assert [e.id for e in index.trash.list()] == [trash_id]
    assert sorted(os.listdir(trash_dir)) == [trash_id]


def test_concurrent_deletes_of_one_model_move_it_once(library):
    index, folder = library["index"], library["folder"]
    others = [make_index(library["tmp"]) for _ in range(4)]
    results, errors = [], []
    barrier = threading.Barrier(len(others))

    def delete(ix):
        barrier.wait(5)
        try:
            results.append(ix.delete_model("loras", "sub/m.safetensors").trash_id)
        except NotFound as exc:
            errors.append(exc.message)

    threads = [threading.Thread(target=delete, args=(ix,)) for ix in others]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(results) == 1 and len(errors) == 3
    assert all("deleted by someone else" in e or "no loras model named" in e for e in errors)
    [entry] = index.trash.list()
    assert entry.id == results[0] and len(entry.files) == 5
    assert sorted(os.listdir(folder)) == ["other.safetensors"]
    assert not [n for n in os.listdir(library["tmp"] / "models" / TRASH_FOLDER) if n.startswith(".")]


CHILD = """
import sys, json
from pathlib import Path
sys.path.insert(0, {tests!r})
from support.scanner_files import make_index
from comfyui_model_manager.core.errors import ModelManagerError
index = make_index(Path({tmp!r}))
names = sys.argv[1:]
out = []
for name in names:
    try:
        out.append(["ok", index.delete_model("loras", name).trash_id])
    except ModelManagerError as exc:
        out.append([exc.code, exc.message])
print(json.dumps(out))
"""


def test_concurrent_processes_deleting_and_restoring(library):
    tmp, folder = library["tmp"], library["folder"]
    names = [f"p{i}.safetensors" for i in range(12)]
    for name in names:
        write_safetensors(tmp / "models" / "loras" / name, payload=name.encode())
    code = CHILD.format(tests=str(Path(__file__).parent), tmp=str(tmp))
    procs = [subprocess.Popen([sys.executable, "-c", code, *names], stdout=subprocess.PIPE, text=True)
             for _ in range(3)]
    outputs = [json.loads(p.communicate(timeout=60)[0]) for p in procs]
    oks = [item[1] for out in outputs for item in out if item[0] == "ok"]
    assert len(oks) == len(names) == len(set(oks))  # every model moved exactly once, unique ids
    assert all(item[0] == "not_found" for out in outputs for item in out if item[0] != "ok")
    index = library["index"]
    entries = index.trash.list()
    assert sorted(e.name for e in entries) == sorted(names)
    # two restorers of the same entry: one wins, the other is told
    target = entries[0]
    outcomes = []

    def restore():
        try:
            outcomes.append(make_index(tmp).restore_model(target.id).name)
        except (NotFound, Conflict) as exc:
            outcomes.append(exc.code)

    threads = [threading.Thread(target=restore) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert outcomes.count(target.name) == 1 and len(outcomes) == 3, outcomes
    assert set(outcomes) - {target.name} <= {"not_found", "conflict"}
    assert (tmp / "models" / "loras" / target.name).read_bytes().endswith(target.name.encode())
    assert folder.is_dir()


@pytest.fixture
def tmpfs(tmp_path):
    """A real tmpfs mounted at the returned function's argument (root only)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mounted: list[Path] = []

    def mount(where: Path) -> Path:
        where.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(where)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
        mounted.append(where)
        return where

    yield mount
    for where in reversed(mounted):
        subprocess.run(["umount", "-l", str(where)], check=False)


def test_a_root_on_its_own_filesystem_without_a_trash_there_is_refused(tmp_path, tmpfs):
    loras = tmpfs(tmp_path / "models" / "loras")  # the root *is* the mount point
    write_safetensors(loras / "big.safetensors")
    (loras / "big.md").write_text("d")
    index = make_index(tmp_path)
    with pytest.raises(TrashUnavailable) as caught:
        index.delete_model("loras", "big.safetensors")
    message = caught.value.message
    assert "Nothing was moved" in message and "permanently" in message and "another filesystem" in message
    assert sorted(os.listdir(loras)) == ["big.md", "big.safetensors"]
    assert "big.safetensors" in listed(index)
    assert index.trash.list() == []
    assert index.delete_model("loras", "big.safetensors", permanently=True).trash_id is None
    assert os.listdir(loras) == []


def test_each_filesystem_gets_its_own_trash(tmp_path, tmpfs):
    mount = tmpfs(tmp_path / "fast")
    folders = ModelFolders([ModelType("loras", (tmp_path / "models" / "loras", mount / "loras"), PT_EXTENSIONS)])
    write_safetensors(mount / "loras" / "a.safetensors")
    write_safetensors(tmp_path / "models" / "loras" / "b.safetensors")
    index = make_index(tmp_path, folders)
    a = index.delete_model("loras", "a.safetensors").trash_id
    b = index.delete_model("loras", "b.safetensors").trash_id
    assert (mount / TRASH_FOLDER / a / "files" / "a.safetensors").is_file()
    assert (tmp_path / "models" / TRASH_FOLDER / b / "files" / "b.safetensors").is_file()
    assert sorted(e.id for e in index.trash.list()) == sorted([a, b])
    assert index.restore_model(a).root == str(mount / "loras")
    assert (mount / "loras" / "a.safetensors").is_file()
