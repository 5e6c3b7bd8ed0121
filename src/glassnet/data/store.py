"""Where data lives: the data directory, checksums, and atomic, verified downloads.

The data directory is ``$GLASSNET_DATA`` if set, else ``~/.cache/glassnet``. Each data
set has a subfolder there (``catvnoncat/``, ``cifar-10-batches-py/``, ...). A download
goes to a temporary file in the same folder, is verified, and only then renamed into
place: a failed or corrupt download never leaves a file behind. While it runs, the
download logs its progress (DEBUG records with a ``progress`` attribute, which the command
line shows as one line updated in place).
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import stat
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from .._files import atomic_write
from ..errors import ChecksumError, ConfigError, DataError, DataNotFoundError

ENV_VAR = "GLASSNET_DATA"
LOG = logging.getLogger("glassnet")


def data_dir(require_folder: bool = True) -> Path:
    """The data directory: ``$GLASSNET_DATA`` or ``~/.cache/glassnet``.

    With ``require_folder``, ``$GLASSNET_DATA`` naming a file is a :class:`DataError`.
    """
    value = os.environ.get(ENV_VAR)
    if not value:
        return Path.home() / ".cache" / "glassnet"
    # absolute, so that every message names the folder whatever the current directory
    path = Path(os.path.abspath(Path(value).expanduser()))
    if require_folder and path.exists() and not path.is_dir():
        raise DataError(f"{ENV_VAR}={value} is a file, not a directory: point it at the folder "
                        "that holds catvnoncat/ and cifar-10-batches-py/")
    return path


def data_root(root: str | os.PathLike | None) -> Path:
    """The folder a loader was given (made absolute, for its messages), else :func:`data_dir`."""
    return Path(os.path.abspath(root)) if root is not None else data_dir()


def url_setting(var: str, default: str) -> str:
    """The address in ``$var``, else ``default``. A local path given there (``/tmp/x.tar.gz``,
    which urllib calls an "unknown url type") is a :class:`ConfigError` that shows the
    ``file://`` URL to write instead."""
    value = os.environ.get(var, "").strip()
    if not value:
        return default
    if len(urllib.parse.urlsplit(value).scheme) <= 1:  # none, or a Windows drive letter
        uri = Path(value).expanduser().resolve().as_uri()
        raise ConfigError(f"{var}={value} is a path, not a URL: for a local file write {var}={uri}")
    return value


def file_digest(path: str | os.PathLike, algorithm: str = "sha256") -> str:
    """Hex digest of a file, read in 1 MiB chunks."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify(path: Path, expected: str, algorithm: str = "sha256") -> None:
    """Raise :class:`ChecksumError` if ``path``'s digest is not ``expected``."""
    try:
        actual = file_digest(path, algorithm)
    except OSError as exc:
        raise DataError(f"{path} cannot be read: {exc.strerror or exc}") from None
    if actual != expected:
        raise ChecksumError(
            f"{path.name}: {algorithm} checksum mismatch (expected {expected}, got {actual}); "
            "the file is damaged or not the expected one")


def download(url: str, dest: Path, expected: str, algorithm: str = "sha256",
             timeout: float = 60.0) -> Path:
    """Download ``url`` to ``dest`` atomically, verifying its checksum before it appears.

    Raises :class:`DataNotFoundError` if the download fails (offline, 404, a connection
    that closes early), :class:`ChecksumError` on a mismatch and :class:`DataError` if
    ``dest`` cannot be written; in every case nothing is left at ``dest``.
    """
    try:
        refuse_if_marked_read_only(dest.parent)
    except PermissionError as exc:
        raise not_writable(str(dest), exc) from None
    LOG.info("downloading %s to %s", url, dest)  # the CLI shows it; from Python, logging decides
    try:
        response = urllib.request.urlopen(url, timeout=timeout)
    except (urllib.error.URLError, OSError, ValueError, http.client.HTTPException) as exc:
        raise DataNotFoundError(f"could not download {url}: {exc}") from None
    digest = hashlib.new(algorithm)
    progress = _Progress(dest.name, _length(response))
    try:
        # atomic_write: the file appears (with the usual permissions) only once it is whole
        # and verified; a failure or a mismatch leaves nothing behind.
        with response, atomic_write(dest, "wb") as out:
            for chunk in _chunks(response, url):
                digest.update(chunk)
                out.write(chunk)
                progress.add(len(chunk))
            progress.done()
            if digest.hexdigest() != expected:
                raise ChecksumError(
                    f"{url}: {algorithm} checksum mismatch (expected {expected}, got "
                    f"{digest.hexdigest()}); the download is damaged or not the expected file, "
                    f"and {dest.name} was not written")
    except DataError:
        raise
    except OSError as exc:  # the network errors were turned into DataNotFoundError by _chunks
        raise not_writable(str(dest), exc) from None
    return dest


def _length(response) -> int | None:
    """The body's announced size in bytes (``Content-Length``), if the server gave one."""
    length = response.headers.get("Content-Length")
    return int(length) if length is not None and length.isdigit() else None


def _chunks(response, url: str) -> Iterator[bytes]:
    """The body of ``response`` in 1 MiB pieces; a network error, or a connection that
    closes before ``Content-Length`` bytes came, is a :class:`DataNotFoundError`."""
    length = _length(response)
    received = 0
    try:
        for chunk in iter(lambda: response.read(1 << 20), b""):
            received += len(chunk)
            yield chunk
    except (OSError, ValueError, http.client.HTTPException) as exc:  # timeouts, resets, a chunked
        raise DataNotFoundError(f"could not download {url}: {exc}") from None  # body cut short
    if length is not None and received < length:
        raise DataNotFoundError(f"could not download {url}: the connection closed after "
                                f"{received:,} of {length:,} bytes")


#: a download logs its progress at most this often (seconds), and once more at its end
PROGRESS_SECONDS = 0.5


class _Progress:
    """A download's progress as DEBUG records of the ``glassnet`` logger: ``NAME: 45.2 of
    170.5 MB (26%)``, with a ``progress`` attribute ``(received, total or None, finished)``
    by which the command line draws them as one line (logging's other users see debug detail)."""

    def __init__(self, name: str, total: int | None) -> None:
        self.name, self.total, self.received = name, total, 0
        self.last = time.monotonic()  # the first record after PROGRESS_SECONDS, not at once

    def add(self, size: int) -> None:
        self.received += size
        if time.monotonic() - self.last >= PROGRESS_SECONDS:
            self._log(finished=False)

    def done(self) -> None:
        self._log(finished=True)

    def _log(self, finished: bool) -> None:
        self.last = time.monotonic()
        got = f"{self.received / 1e6:.1f}"
        text = (f"{got} of {self.total / 1e6:.1f} MB ({100 * self.received // self.total}%)"
                if self.total else f"{got} MB")
        LOG.debug("%s: %s", self.name, text, extra={"progress": (self.received, self.total, finished)})


def check_splits(splits: tuple[str, ...], dataset: str) -> None:
    """A named set has the splits ``train`` and ``test``; any other name is an error."""
    if isinstance(splits, str):  # "test" would be read letter by letter
        raise ConfigError(f"splits takes a tuple of split names, as splits=({splits!r},), got the "
                          f"string {splits!r}")
    unknown = set(splits) - {"train", "test"}
    if unknown:
        raise ConfigError(f"{dataset} has splits 'train' and 'test', not "
                          f"{', '.join(map(repr, sorted(unknown)))}")


def dangling_link_text(path: str | os.PathLike) -> str:
    """How errors and warnings name a link whose target does not exist."""
    return f"{path} is a link to {os.path.realpath(path)}, which does not exist"


def check_folder_place(folder: Path, dataset: str) -> None:
    """A file where the data set's folder belongs, or a link (to the folder, or to the data
    directory above it) whose target does not exist, is named before any download: creating
    the folder would fail only after the download, as "cannot write ... Not a directory"."""
    for path in (folder.parent, folder):
        if path.is_symlink() and not path.exists():
            raise DataError(f"{dangling_link_text(path)}: create that folder, or remove the link")
    if folder.exists() and not folder.is_dir():
        raise DataError(f"{folder} is a file, but the {dataset} data set's files go in a folder "
                        "of that name: remove or rename the file")


def refuse_if_marked_read_only(folder: Path) -> None:
    """A PermissionError when the nearest existing folder on the way to ``folder`` has no
    write permission for anyone: its owner made it read-only (a shared data set), and a
    process running as root, which the permissions do not stop, must respect that too (the
    image cache, and downloads: a damaged file in a shared copy is not replaced)."""
    existing = next((p for p in (folder, *folder.parents) if p.exists()), None)
    if existing is not None and not stat.S_IMODE(existing.stat().st_mode) & 0o222:
        raise PermissionError(f"{existing} is read-only (no write permission for anyone)")


def not_writable(what: str, exc: OSError) -> DataError:
    """The error for a data directory that cannot be written (not a download failure)."""
    return DataError(f"cannot write {what}: {exc.strerror or exc}; set {ENV_VAR} to a folder "
                     "you can write to")


def missing_data_message(dataset: str, folder: Path, files: list[str], hint: str = "",
                         downloaded: bool = True) -> str:
    """The one message a user sees when data is absent (and, if ``downloaded``, a download
    was tried and failed)."""
    layout = "\n".join(f"  {folder / name}" for name in files)
    failed = " and could not be downloaded" if downloaded else ""
    return (
        f"the {dataset} data set is not in {folder.parent}{failed}.\n"
        f"Set {ENV_VAR} to a directory laid out like this (or place the files there):\n"
        f"{layout}" + (f"\n{hint}" if hint else "")
    )
