"""Recoverable delete: deleted models wait in a trash on their own filesystem (see trash_location).

One entry per delete: ``<trash>/<id>/record.json`` and the files under ``<trash>/<id>/files/`` with
their original names (all files of one delete come from one folder, so the names are unique).  The
record keeps the type, the name, the original absolute path of every file, the size and the time.

Several processes may share a trash.  Every change is a ``rename`` that only one of them can win:
- a delete builds its entry in ``.new-<id>`` (``mkdir`` makes ids unique) and renames it to
  ``<id>`` when complete; the model file is moved first, so of two deletes of one model exactly one
  moves it and the other reports that it is gone;
- a restore claims ``<id>`` by renaming it to ``.restoring-<id>-<tag>``, a purge to
  ``.purging-<id>-<tag>``; a second restorer or purger finds ``<id>`` gone.
A process that dies half-way leaves a dot-folder that ``recover_stale`` turns back into an entry
(or finishes deleting) after ``STALE_CLAIM_SECONDS``.  Restore never replaces a file: it moves with
``link`` + ``unlink`` (``link`` fails when the name exists), or ``rename`` after a check where hard
links are not supported.
"""
from __future__ import annotations

import errno
import logging
import os
import re
import secrets
import shutil
import time
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from typing import Callable, Iterable, Iterator

from .errors import Conflict, InvalidInput, ModelManagerError, NotFound
from .jsonio import atomic_write_json, read_json
from .model_types import ModelFolders, ModelLocation
from .paths import PARTIAL_SUFFIX, resolve_inside
from .trash_files import move_no_replace, remove_entry_folder
from .trash_location import TrashLocator, TrashUnavailable
from .trash_purger import DAY

log = logging.getLogger(__name__)

__all__ = ["Trash", "TrashEntry", "TrashUnavailable", "STATE_TRASH_FOLDER"]

STATE_TRASH_FOLDER = "trash"
RECORD_FILE = "record.json"
FILES_FOLDER = "files"
RECORD_VERSION = 1
ID_BYTES = 8  # 16 hex digits
MIN_PREFIX = 4
_ID = re.compile(r"^[0-9a-f]{16}$")
_PREFIX = re.compile(r"^[0-9a-f]{4,16}$")
_CLAIM = re.compile(r"^\.(new|restoring|purging)-([0-9a-f]{16})(?:-[0-9a-f]+)?$")
STALE_CLAIM_SECONDS = 3600


@dataclass(frozen=True)
class TrashEntry:
    id: str
    model_type: str
    name: str
    root: str
    files: tuple[str, ...]  # original absolute paths; the model first
    size: int
    deleted_at: float
    folder: Path  # the entry's folder in the trash

    def to_json(self) -> dict:
        return {"id": self.id, "model_type": self.model_type, "name": self.name, "files": list(self.files),
                "size": self.size, "deleted_at": self.deleted_at}

    @property
    def model_path(self) -> Path:
        return Path(self.files[0])

    def stored(self, original: str) -> Path:
        return self.folder / FILES_FOLDER / Path(original).name


def validate_id(trash_id: object, allow_prefix: bool = False) -> str:
    """A full id (16 hex digits) or, with ``allow_prefix``, at least 4 of its first digits."""
    text = trash_id.strip().lower() if isinstance(trash_id, str) else ""
    if (_PREFIX if allow_prefix else _ID).match(text):
        return text
    shape = f"{MIN_PREFIX} to 16 hex digits" if allow_prefix else "16 hex digits"
    raise InvalidInput(f"{str(trash_id)[:40]!r} is not a trash id ({shape})")


class Trash:
    """The trash of one model library.  Every method is blocking (disk work)."""

    def __init__(self, folders: ModelFolders, state_dir: Path,
                 all_roots: Callable[[], Iterable[Path]] | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.folders = folders
        self.locator = TrashLocator(Path(state_dir) / STATE_TRASH_FOLDER, all_roots or self._model_roots)
        self._clock = clock

    def _model_roots(self) -> list[Path]:
        return [root for name in self.folders.names() for root in self.folders.get(name).roots]

    # -- delete -----------------------------------------------------------------------------
    def put(self, location: ModelLocation, paths: list[Path]) -> TrashEntry:
        """Move ``paths`` (the model first, then its sidecars, all in its folder) to a trash on
        their filesystem.  Raises ``TrashUnavailable`` (nothing moved) when there is none."""
        model = paths[0]
        try:
            device = os.lstat(model).st_dev
        except FileNotFoundError:
            raise NotFound(f"no {location.model_type} model named {location.name!r} was found") from None
        roots = self.locator.real_roots()
        reasons: list[str] = []
        for folder in self.locator.candidates(location.root):
            reason = self.locator.usable(folder, device, roots)
            if reason is None:
                entry = self._put_into(folder, location, paths)
                if entry is not None:
                    return entry
                reason = f"{folder} is on another mount of the filesystem"
            reasons.append(reason)
        raise TrashUnavailable(
            f"{location.model_type}/{location.name} cannot go to the trash: there is no trash folder on its "
            f"filesystem outside the model folders ({'; '.join(reasons)}). Nothing was moved. Delete it "
            "permanently instead (the permanently option) if you are sure.")

    def _put_into(self, folder: Path, location: ModelLocation, paths: list[Path]) -> TrashEntry | None:
        """The entry, or None when the model cannot be renamed into ``folder`` (EXDEV)."""
        trash_id, building = self._new_entry_folder(folder)
        files_dir = building / FILES_FOLDER
        record = {"version": RECORD_VERSION, "id": trash_id, "model_type": location.model_type,
                  "name": location.name, "root": str(location.root), "files": [str(p) for p in paths],
                  "size": 0, "deleted_at": self._clock(), "complete": False}
        moved: list[tuple[Path, Path]] = []
        try:
            files_dir.mkdir()
            atomic_write_json(building / RECORD_FILE, record)  # a crash from here on stays recoverable
            for index, path in enumerate(paths):
                target = files_dir / path.name
                try:
                    size = os.lstat(path).st_size
                    os.rename(path, target)
                except FileNotFoundError:
                    if index == 0:  # the model itself: another process deleted it just now
                        raise NotFound(f"{location.model_type}/{location.name} was deleted by someone "
                                       "else just now") from None
                    continue  # a sidecar that went away meanwhile
                except OSError as exc:
                    if index == 0 and exc.errno == errno.EXDEV:
                        shutil.rmtree(building, ignore_errors=True)
                        return None
                    raise
                moved.append((path, target))
                record["size"] += size
            record["files"] = [str(original) for original, _ in moved]
            record["complete"] = True
            atomic_write_json(building / RECORD_FILE, record)
            os.rename(building, folder / trash_id)
        except BaseException:
            for original, target in reversed(moved):
                try:
                    os.rename(target, original)
                except OSError:
                    log.error("could not move %s back to %s; it stays in %s", target, original, building)
                    raise
            shutil.rmtree(building, ignore_errors=True)
            raise
        log.info("moved %s/%s (%d files) to the trash %s", location.model_type, location.name,
                 len(moved), folder / trash_id)
        return self._entry(folder / trash_id, record)

    def _new_entry_folder(self, folder: Path) -> tuple[str, Path]:
        for _ in range(100):
            trash_id = secrets.token_hex(ID_BYTES)
            building = folder / f".new-{trash_id}"
            try:
                building.mkdir()
            except FileExistsError:
                continue
            if (folder / trash_id).exists():
                building.rmdir()
                continue
            return trash_id, building
        raise ModelManagerError(f"could not create a trash entry in {folder}")

    # -- reading ----------------------------------------------------------------------------
    def folders_in_use(self) -> list[Path]:
        return self.locator.existing(self._model_roots())

    def list(self) -> list[TrashEntry]:
        """Every entry in every trash folder of this library, newest first."""
        entries: list[TrashEntry] = []
        for folder, name in self._names():
            if _ID.match(name):
                entry = self._read(folder / name)
                if entry is not None:
                    entries.append(entry)
        entries.sort(key=lambda e: (-e.deleted_at, e.id))
        return entries

    def get(self, trash_id: str, allow_prefix: bool = False) -> TrashEntry:
        wanted = validate_id(trash_id, allow_prefix)
        if len(wanted) == 16:
            for folder in self.folders_in_use():
                entry = self._read(folder / wanted)
                if entry is not None:
                    return entry
            raise NotFound(f"nothing in the trash has the id {wanted}")
        matches = [e for e in self.list() if e.id.startswith(wanted)]
        if not matches:
            raise NotFound(f"nothing in the trash has an id starting with {wanted}")
        if len(matches) > 1:
            raise InvalidInput(f"{wanted} matches {len(matches)} trash entries "
                               f"({', '.join(e.id for e in matches[:5])}); give more digits")
        return matches[0]

    def _read(self, entry_folder: Path) -> TrashEntry | None:
        record = read_json(entry_folder / RECORD_FILE, None)
        if not isinstance(record, dict):
            return None
        return self._entry(entry_folder, record)

    @staticmethod
    def _entry(entry_folder: Path, record: dict) -> TrashEntry | None:
        try:
            files = tuple(str(f) for f in record["files"])
            entry = TrashEntry(id=str(record["id"]), model_type=str(record["model_type"]),
                               name=str(record["name"]), root=str(record["root"]), files=files,
                               size=int(record.get("size") or 0), deleted_at=float(record["deleted_at"]),
                               folder=entry_folder)
        except (KeyError, TypeError, ValueError):
            return None
        if entry.id != entry_folder.name or not files:
            return None
        return entry

    # -- restore ----------------------------------------------------------------------------
    def restore(self, trash_id: str, rename: bool = False, allow_prefix: bool = False) -> ModelLocation:
        """Move an entry's files back.  A file now at an original path is never replaced:
        ``Conflict`` (nothing moved), or with ``rename`` the model and its sidecars get the
        first free ``NAME (n).ext``.  Returns where the model now is."""
        entry = self.get(trash_id, allow_prefix)
        location = self._original_location(entry)
        targets = self._targets(entry, location, rename)
        claim = entry.folder.with_name(f".restoring-{entry.id}-{secrets.token_hex(4)}")
        try:
            os.rename(entry.folder, claim)
        except FileNotFoundError:
            raise NotFound(f"trash entry {entry.id} was just restored or purged by someone else") from None
        claimed = replace(entry, folder=claim)
        moved: list[tuple[Path, Path]] = []
        try:
            location.path.parent.mkdir(parents=True, exist_ok=True)
            for original, target in targets:
                stored = claimed.stored(original)
                if not os.path.lexists(stored):
                    continue  # a delete that died half-way moved fewer files
                try:
                    move_no_replace(stored, target)
                except FileExistsError:
                    raise Conflict(_conflict_message(entry, target)) from None
                moved.append((stored, target))
            if not moved:
                raise NotFound(f"trash entry {entry.id} holds none of its files any more")
        except BaseException:
            for stored, target in reversed(moved):
                os.rename(target, stored)
            os.rename(claim, entry.folder)
            raise
        shutil.rmtree(claim, ignore_errors=True)
        new_name = PurePosixPath(location.name).with_name(targets[0][1].name).as_posix()
        log.info("restored %s/%s from the trash (%d files)", entry.model_type, new_name, len(moved))
        return ModelLocation(entry.model_type, location.root, new_name, targets[0][1])

    def _original_location(self, entry: TrashEntry) -> ModelLocation:
        """The model's original place, checked again now: its root must still be a root of its
        type, and every file must go back into the model's own folder (a record planted in a
        shared trash can never write elsewhere)."""
        model_type = self.folders.get(entry.model_type)
        root = next((r for r in model_type.roots if os.path.realpath(r) == os.path.realpath(entry.root)), None)
        if root is None:
            raise Conflict(f"{entry.model_type}/{entry.name} came from {entry.root}, which is no longer a "
                           f"{entry.model_type} folder; add it back to restore")
        if not os.path.isdir(root):
            raise Conflict(f"the folder {entry.root} of {entry.model_type}/{entry.name} is not there "
                           "(unmounted?); it must exist to restore")
        path = resolve_inside(root, entry.name)
        if os.path.realpath(entry.files[0]) != os.path.realpath(path):
            raise InvalidInput(f"trash entry {entry.id} is damaged: its model path does not match its name")
        for original in entry.files:
            if Path(original).parent != path.parent or Path(original).name in ("", ".", ".."):
                raise InvalidInput(f"trash entry {entry.id} is damaged: {original} is not beside the model")
        return ModelLocation(entry.model_type, root, entry.name, path)

    def _targets(self, entry: TrashEntry, location: ModelLocation, rename: bool) -> list[tuple[str, Path]]:
        """(original, where it goes) for every file; the model first."""
        folder = location.path.parent
        present = [original for original in entry.files if os.path.lexists(entry.stored(original))]
        if not present or present[0] != entry.files[0]:
            raise NotFound(f"the model file of trash entry {entry.id} is no longer in the trash")
        plain = [(original, folder / Path(original).name) for original in present]
        taken = [target for _, target in plain if os.path.lexists(target)]
        if not taken:
            return plain
        if not rename:
            raise Conflict(_conflict_message(entry, taken[0]))
        model_name = location.path.name
        stem, ext = os.path.splitext(model_name)
        for number in range(1, 10000):
            new_model = f"{stem} ({number}){ext}"
            targets = [(original, folder / _renamed(Path(original).name, model_name, new_model))
                       for original in present]
            if not any(os.path.lexists(target) for _, target in targets):
                return targets
        raise Conflict(f"could not find a free name to restore {entry.model_type}/{entry.name}")

    # -- purge ------------------------------------------------------------------------------
    def purge(self, trash_id: str, allow_prefix: bool = False) -> TrashEntry:
        """Remove an entry and its files for good."""
        entry = self.get(trash_id, allow_prefix)
        claim = entry.folder.with_name(f".purging-{entry.id}-{secrets.token_hex(4)}")
        try:
            os.rename(entry.folder, claim)
        except FileNotFoundError:
            raise NotFound(f"trash entry {entry.id} was just restored or purged by someone else") from None
        remove_entry_folder(claim)
        log.info("purged %s/%s from the trash", entry.model_type, entry.name)
        return entry

    def purge_older_than(self, days: float) -> list[TrashEntry]:
        """Purge every entry deleted more than ``days`` ago (0: all of them)."""
        limit = self._clock() - days * DAY
        purged: list[TrashEntry] = []
        for entry in self.list():
            if entry.deleted_at <= limit:
                try:
                    purged.append(self.purge(entry.id))
                except (NotFound, OSError) as exc:  # another process got there first
                    log.debug("purge of %s skipped: %s", entry.id, exc)
        return purged

    def recover_stale(self, older_than: float = STALE_CLAIM_SECONDS) -> None:
        """Finish what a process that died half-way left: a stale ``.new-`` or ``.restoring-``
        folder becomes an entry again (its files stay restorable), a stale ``.purging-`` one goes."""
        now = time.time()
        for folder, name in self._names():
            match = _CLAIM.match(name)
            path = folder / name
            try:
                if not match or now - os.lstat(path).st_mtime < older_than:
                    continue
                if match.group(1) == "purging":
                    remove_entry_folder(path)
                elif (path / RECORD_FILE).is_file() and not (folder / match.group(2)).exists():
                    os.rename(path, folder / match.group(2))
                elif not any(path.joinpath(FILES_FOLDER).glob("*")):
                    remove_entry_folder(path)
            except OSError as exc:
                log.debug("could not recover %s: %s", path, exc)

    def _names(self) -> Iterator[tuple[Path, str]]:
        """``(trash folder, name)`` for every name in every trash folder in use (a folder that
        cannot be read is passed over)."""
        for folder in self.folders_in_use():
            try:
                names = os.listdir(folder)
            except OSError:
                continue
            for name in names:
                yield folder, name


def _renamed(filename: str, model_name: str, new_model: str) -> str:
    """A file of the entry under the model's new name: the model, its partial, its sidecars."""
    if filename == model_name:
        return new_model
    partial_prefix = f".{model_name}"
    if filename.startswith(partial_prefix) and filename.endswith(PARTIAL_SUFFIX):
        return f".{new_model}{filename[len(partial_prefix):]}"
    old_stem, new_stem = os.path.splitext(model_name)[0], os.path.splitext(new_model)[0]
    if filename.startswith(old_stem):
        return new_stem + filename[len(old_stem):]
    return filename


def _conflict_message(entry: TrashEntry, taken: Path) -> str:
    return (f"cannot restore {entry.model_type}/{entry.name}: {taken} exists now and is never replaced. "
            "Move that file away, or restore under a new name (rename).")
