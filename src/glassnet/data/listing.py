"""Listing an image folder: which files are the images of which class.

Class folders are the subfolders of the root (sorted, or chosen); their files are listed
recursively with their sizes and times (:data:`~glassnet.data.cache.FileStat`, what the
cache and the fingerprint are made of). Hidden entries (``.DS_Store``,
``.ipynb_checkpoints``, anything starting with a dot) and OS clutter (``__MACOSX``,
``Thumbs.db``) are neither classes nor images; linked folders, images beside the class
folders and pipes are passed over with a :class:`~glassnet.errors.SkippedFileWarning`.
No decoding here: that is :mod:`glassnet.data.decoding`; :mod:`glassnet.data.folder` puts
the two together.
"""

from __future__ import annotations

import os
import unicodedata
import warnings
from collections.abc import Sequence
from pathlib import Path

from ..errors import (
    ConfigError,
    DataError,
    DataNotFoundError,
    GlassnetWarning,
    SkippedFileWarning,
    user_stacklevel,
)
from .cache import FileStat

IMAGE_EXTENSIONS = (".bmp", ".gif", ".jfif", ".jpe", ".jpeg", ".jpg", ".png", ".tif", ".tiff", ".webp")
IGNORED_NAMES = frozenset({"__MACOSX", "Thumbs.db", "desktop.ini"})
#: names that mean a split, not a class: a folder of only these was probably given one level too high
SPLIT_NAMES = frozenset({"train", "training", "test", "testing", "val", "valid", "validation"})


def is_hidden(name: str) -> bool:
    """Whether a file or folder name is a hidden entry or OS clutter, never a class or image."""
    return name.startswith(".") or name in IGNORED_NAMES


def listed_within(path: str | Path, root: str | Path) -> bool:
    """Whether files written into ``path`` would be read as part of the image folder
    ``root``: it is ``root`` or lies inside it, through no hidden folder (listings skip
    those: ``.runs/`` is fine)."""
    root, path = Path(root).expanduser().resolve(), Path(path).expanduser().resolve()
    if path != root and root not in path.parents:
        return False
    return not any(is_hidden(part) for part in path.relative_to(root).parts)


def is_image_name(path: str | Path) -> bool:
    """Whether ``path`` ends in one of :data:`IMAGE_EXTENSIONS` (any case)."""
    return Path(path).suffix.lower() in IMAGE_EXTENSIONS


def scan(folder: Path, prefix: str = "", passed_over: list[tuple[str, str]] | None = None) -> list[FileStat]:
    """``(relative path, size, mtime_ns, ctime_ns)`` of every non-hidden file under ``folder``, recursively,
    sorted by name (symlinked files are followed, symlinked folders are not; a dangling link is
    listed with size 0 so that it is reported, not silently dropped). What it passes over with
    a warning is also added to ``passed_over`` as ``(relative path, reason)``."""
    found: list[FileStat] = []
    for entry in sorted(folder_entries(folder), key=lambda e: e.name):
        if is_hidden(entry.name):
            continue
        if entry.is_dir(follow_symlinks=False):
            found += scan(Path(entry.path), f"{prefix}{entry.name}/", passed_over)
            continue
        try:
            kind, st = _followed(entry)
        except OSError:  # a link that loops, or leads into a folder that may not be entered
            kind, st = "broken link", None
        if kind == "linked folder":
            _pass_over(passed_over, f"{prefix}{entry.name}", "a link to a folder, not followed")
            warnings.warn(f"skipped {entry.path}: a link to a folder (linked folders are not "
                          "followed: they may lead anywhere)", SkippedFileWarning,
                          stacklevel=user_stacklevel())
        elif st is not None:
            found.append((f"{prefix}{entry.name}", st.st_size, st.st_mtime_ns, st.st_ctime_ns))
        elif kind == "broken link":
            # Kept, so that decoding reports it as a skipped file (and says why it cannot be read).
            found.append((f"{prefix}{entry.name}", 0, 0, 0))
        else:  # a pipe, a socket, a device: reading it could block, or never end
            _pass_over(passed_over, f"{prefix}{entry.name}", "not a regular file")
            warnings.warn(f"skipped {entry.path}: not a regular file (a pipe, socket or device)",
                          SkippedFileWarning, stacklevel=user_stacklevel())
    return found


def _followed(entry: os.DirEntry) -> tuple[str, os.stat_result | None]:
    """What ``entry`` is, symlinks followed: ``"linked folder"``, ``"file"`` (with its
    stat), ``"broken link"`` (pointing nowhere) or ``"other"`` (a pipe, socket or device).
    A link that loops, or into a folder the user may not enter, raises ``OSError``."""
    if entry.is_dir():
        return "linked folder", None
    if entry.is_file():
        return "file", entry.stat()
    return ("broken link" if entry.is_symlink() else "other"), None


def _pass_over(passed_over: list[tuple[str, str]] | None, path: str, reason: str) -> None:
    if passed_over is not None:
        passed_over.append((path, reason))


def folder_entries(folder: Path) -> list[os.DirEntry]:
    """The entries of ``folder``; one clear error if the system will not list it."""
    try:
        with os.scandir(folder) as entries:
            return list(entries)
    except OSError as exc:
        raise DataError(f"cannot read the folder {folder}: {exc.strerror}") from None


def list_files(folder: Path) -> list[Path]:
    """Every non-hidden file under ``folder``, recursively, in sorted order."""
    return [folder / rel for rel, *_ in scan(folder)]


def check_folder(path: str | Path) -> Path:
    """``path`` as a :class:`Path` if it is an existing folder, else a clear error."""
    path = Path(path).expanduser()
    if not path.exists():
        raise DataNotFoundError(f"{path}: no such folder")
    if not path.is_dir():
        raise DataError(f"{path} is a file, not a folder; give a folder with one subfolder "
                        "of images per class")
    return path


def find_classes(root: Path, class_names: Sequence[str] | None = None, min_classes: int = 2,
                 passed_over: list[tuple[str, str]] | None = None) -> list[str]:
    """The class folders of ``root``: sorted, or ``class_names`` in the given order (each must
    exist); at least ``min_classes`` of them (a classifier trains on two or more; a folder
    evaluated against a trained model may hold one of its classes). Linked folders and
    images beside the class folders are passed over with a warning, and added to
    ``passed_over`` as ``(name, reason)``."""
    children = [root / e.name for e in folder_entries(root) if not is_hidden(e.name)]
    entries = [p for p in children if p.is_dir()]
    for link in sorted(p.name for p in entries if p.is_symlink()):
        _pass_over(passed_over, link, "a link to a folder, not a class folder")
        # As inside a class folder: a linked folder is not followed (it may lead anywhere).
        warnings.warn(f"skipped {root / link}: a link to a folder, not a class folder (linked "
                      "folders are not followed)", SkippedFileWarning, stacklevel=user_stacklevel())
    found = sorted(p.name for p in entries if not p.is_symlink())
    if class_names is not None:
        if isinstance(class_names, str):  # "cat" would be read letter by letter
            raise ConfigError(f"class_names takes a list of subfolder names, as "
                              f"class_names=[{class_names!r}], got the string {class_names!r}")
        names = list(class_names)
        missing = [n for n in names if n not in found]
        if missing or len(set(names)) != len(names):
            raise ConfigError(f"class_names {names!r} must be distinct subfolders of {root}; "
                              f"it has {found}")
        if len(names) < min_classes:  # the folder has enough: the choice has too few
            raise ConfigError(f"class_names {names!r} chooses {len(names)} of the class folders of "
                              f"{root}; a classifier needs at least {min_classes} (min_classes=1 "
                              "loads one class, as for evaluating a trained model)")
        found = names
    loose = sorted(p.name for p in children if p.is_file() and is_image_name(p))
    for name in loose:
        _pass_over(passed_over, name, "an image beside the class folders, in none of them")
    if not found:
        hint = f" (it holds {len(loose)} image file(s) directly)" if loose else ""
        raise DataError(f"{root} has no class subfolders{hint}; put the images of each class "
                        "in their own subfolder, e.g. cats/ and dogs/")
    if loose:  # beside the class folders, an image has no class: it cannot be used
        more = f" and {len(loose) - 5} more" if len(loose) > 5 else ""
        warnings.warn(f"skipped {len(loose)} image file(s) directly in {root} ({', '.join(loose[:5])}"
                      f"{more}): an image belongs in the subfolder of its class", SkippedFileWarning,
                      stacklevel=user_stacklevel())
    if len(found) < min_classes:
        raise DataError(f"{root} has only one class folder ({found[0]!r}); a classifier needs "
                        "at least two")
    _check_names_look_different(root, found)
    if all(name.lower() in SPLIT_NAMES for name in found):  # Kaggle's train/ and test/ layout
        training = next((n for n in found if n.lower() in ("train", "training")), found[0])
        warnings.warn(f"the class folders of {root} are named {', '.join(found)}: if they are the "
                      "splits of a data set, give the folder whose subfolders are the classes "
                      f"(e.g. {root / training})", GlassnetWarning, stacklevel=user_stacklevel())
    return found


def _check_names_look_different(root: Path, classes: list[str]) -> None:
    """Two class folders whose names differ only in their Unicode form (``grün`` typed on
    a Mac, decomposed, beside ``grün`` composed) would print alike everywhere, and a name
    given to ``evaluate`` or ``predict`` could not tell them apart."""
    by_form: dict[str, list[str]] = {}
    for name in classes:
        by_form.setdefault(unicodedata.normalize("NFC", name), []).append(name)
    alike = [names for names in by_form.values() if len(names) > 1]
    if alike:
        pairs = "; ".join(" and ".join(ascii(n) for n in names) for names in alike)
        raise DataError(f"{root} has class folders whose names differ only in their Unicode "
                        f"form, so they look the same: {pairs}; rename or merge them")


def scan_classes(root: Path, classes: list[str], passed_over: list[tuple[str, str]] | None = None
                 ) -> tuple[list[FileStat], list[int]]:
    """Every file of every class folder (paths relative to ``root``) and its label."""
    files: list[FileStat] = []
    labels: list[int] = []
    for label, name in enumerate(classes):
        found = scan(root / name, f"{name}/", passed_over)
        files += found
        labels += [label] * len(found)
    return files, labels
