"""The cat set: loading the real files, and every way the data can be missing or wrong."""

from __future__ import annotations

import contextlib
import functools
import http.server
import os
import re
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import h5py
import numpy as np
import pytest

from glassnet.data import load, load_cats
from glassnet.data.cats import DEFAULT_URL, SHA256
from glassnet.errors import ChecksumError, DataError, DataNotFoundError


def test_real_cat_set_has_the_documented_shapes(cats):
    train, test = cats["train"], cats["test"]
    assert train.x.shape == (209, 3, 64, 64) and train.x.dtype == np.uint8
    assert test.x.shape == (50, 3, 64, 64)
    assert train.class_names == ["non-cat", "cat"]
    assert set(np.unique(train.y)) == {0, 1}
    assert sum(train.class_counts().values()) == 209


def test_load_by_name_uses_glassnet_data(data_root):
    splits = load("cats")
    assert set(splits) == {"train", "test"}


REFUSED = "http://127.0.0.1:9/"  # conftest's address for every test: the discard port refuses


def test_missing_files_name_the_address_the_origin_and_the_layout(tmp_path):
    with pytest.raises(DataNotFoundError) as info:
        load_cats(tmp_path)
    message = str(info.value)
    assert message.startswith(f"train_catvnoncat.h5 is missing from {tmp_path / 'catvnoncat'}; "
                              f"could not download {REFUSED}train_catvnoncat.h5: ")
    assert str(tmp_path / "catvnoncat" / "train_catvnoncat.h5") in message  # the layout
    assert "GLASSNET_DATA" in message and "set GLASSNET_CATS_URL to a base URL that serves both" in message
    assert 'the deeplearning.ai course "Neural Networks and Deep Learning"' in message
    assert f"(default: {DEFAULT_URL})" in message


def test_without_an_address_the_default_mirror_is_asked(tmp_path, data_root, monkeypatch):
    """The set is downloaded for the user by default (the mirror itself cannot be reached from
    the tests: the request is caught, and the files are checked by their sha256 as always)."""
    import glassnet.data.cats as cats

    monkeypatch.delenv("GLASSNET_CATS_URL")
    asked = []

    def fake_download(url, dest, expected):
        asked.append(url)
        shutil.copy(data_root / "catvnoncat" / dest.name, dest.parent)
        return dest

    (tmp_path / "catvnoncat").mkdir()
    monkeypatch.setattr(cats, "download", fake_download)
    assert len(load_cats(tmp_path)["test"]) == 50
    assert asked == [DEFAULT_URL + name for name in ("train_catvnoncat.h5", "test_catvnoncat.h5")]
    assert DEFAULT_URL.startswith("https://raw.githubusercontent.com/") and DEFAULT_URL.endswith("/")


def test_the_one_missing_file_is_named(tmp_path, data_root):
    (tmp_path / "catvnoncat").mkdir()
    shutil.copy(data_root / "catvnoncat" / "train_catvnoncat.h5", tmp_path / "catvnoncat")
    with pytest.raises(DataNotFoundError, match="^test_catvnoncat.h5 is missing from"):
        load_cats(tmp_path)


def test_a_path_instead_of_a_url_shows_the_file_url_to_write(tmp_path, data_root, monkeypatch):
    from glassnet.errors import ConfigError

    mirror = data_root / "catvnoncat"
    monkeypatch.setenv("GLASSNET_CATS_URL", str(mirror))
    uri = mirror.resolve().as_uri()
    expected = (f"GLASSNET_CATS_URL={mirror} is a path, not a URL: for a local file write "
                f"GLASSNET_CATS_URL={uri}")
    with pytest.raises(ConfigError, match=f"^{re.escape(expected)}$"):
        load_cats(tmp_path)
    monkeypatch.setenv("GLASSNET_CATS_URL", uri)
    assert len(load_cats(tmp_path)["test"]) == 50  # what the message said to write works


def test_a_relative_data_directory_is_named_in_full(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GLASSNET_DATA", "data")
    with pytest.raises(DataNotFoundError, match=rf"^train_catvnoncat.h5 is missing from "
                                                rf"{re.escape(str(tmp_path / 'data' / 'catvnoncat'))};"):
        load_cats()
    with pytest.raises(DataNotFoundError, match=rf"missing from {re.escape(str(tmp_path / 'sub'))}/"):
        load_cats("sub")  # a folder given to the loader too


def test_glassnet_data_naming_a_file_is_a_clear_error(tmp_path, monkeypatch):
    from glassnet.errors import DataError

    (tmp_path / "data.tar").write_bytes(b"not a folder")
    monkeypatch.setenv("GLASSNET_DATA", str(tmp_path / "data.tar"))
    with pytest.raises(DataError, match=r"GLASSNET_DATA=.*data.tar is a file, not a directory"):
        load_cats()


def damaged_copy(data_root: Path, tmp_path: Path) -> Path:
    """The cat set in ``tmp_path/catvnoncat`` with its test file damaged."""
    folder = tmp_path / "catvnoncat"
    folder.mkdir()
    for name in SHA256:
        shutil.copy(data_root / "catvnoncat" / name, folder / name)
    (folder / "test_catvnoncat.h5").chmod(0o644)
    with open(folder / "test_catvnoncat.h5", "r+b") as f:
        f.seek(1000)
        f.write(b"\x00garbage\x00")
    return folder


def test_a_damaged_file_that_cannot_be_downloaded_again_is_called_damaged(tmp_path, data_root):
    """Not "missing ... could not be downloaded", with the file right there: the mismatch."""
    folder = damaged_copy(data_root, tmp_path)
    with pytest.raises(ChecksumError) as info:
        load_cats(tmp_path)
    message = str(info.value)
    assert message.startswith(f"{folder}: test_catvnoncat.h5: sha256 checksum mismatch (expected "
                              f"{SHA256['test_catvnoncat.h5']}, got ")
    assert f"; downloading it again failed: could not download {REFUSED}test_catvnoncat.h5: " in message
    assert "Put the original file there" in message and "GLASSNET_CATS_URL" in message
    assert "is not in" not in message and "missing" not in message


def test_a_damaged_file_in_a_folder_that_cannot_be_written_is_still_called_damaged(
        tmp_path, data_root, monkeypatch):
    """The download's "cannot write" error alone hid the checksum mismatch (a read-only share)."""
    from glassnet.data import cats
    from glassnet.errors import DataError

    damaged_copy(data_root, tmp_path)

    def cannot_write(url, path, sha256):
        raise DataError(f"cannot write {path}: Permission denied; set GLASSNET_DATA to a folder "
                        "you can write to")

    monkeypatch.setattr(cats, "download", cannot_write)
    with pytest.raises(ChecksumError) as info:
        load_cats(tmp_path)
    assert "test_catvnoncat.h5: sha256 checksum mismatch" in str(info.value)
    assert "; downloading it again failed: cannot write " in str(info.value)


def test_a_damaged_file_is_downloaded_again_when_there_is_an_address(tmp_path, data_root, monkeypatch):
    """As the error advises: setting GLASSNET_CATS_URL replaces the damaged file."""
    folder = damaged_copy(data_root, tmp_path)
    with served(data_root / "catvnoncat") as url:
        monkeypatch.setenv("GLASSNET_CATS_URL", url)
        assert len(load_cats(tmp_path)["test"]) == 50
    assert (folder / "test_catvnoncat.h5").read_bytes() == (
        data_root / "catvnoncat" / "test_catvnoncat.h5").read_bytes()


def test_a_file_where_the_folder_belongs_is_named_before_any_download(tmp_path, monkeypatch):
    (tmp_path / "catvnoncat").write_text("not a folder")
    monkeypatch.setenv("GLASSNET_CATS_URL", "http://127.0.0.1:9/")  # never asked
    with pytest.raises(DataError, match=rf"^{re.escape(str(tmp_path / 'catvnoncat'))} is a file, but the "
                                        r"cat-vs-non-cat data set's files go in a folder of that name: "
                                        r"remove or rename the file$"):
        load_cats(tmp_path)


def test_wrong_keys_are_named(tmp_path):
    from glassnet.data.cats import _read_split

    path = tmp_path / "bad.h5"
    with h5py.File(path, "w") as f:
        f["images"] = np.zeros((2, 64, 64, 3), np.uint8)
    with pytest.raises(DataError, match="train_set_x"):
        _read_split(path, "train")


def test_pixels_go_from_rows_columns_channels_to_channels_rows_columns(tmp_path):
    """The files hold (N, H, W, 3); a non-square image shows H and W kept apart."""
    from glassnet.data.cats import _read_split

    raw = np.arange(2 * 4 * 5 * 3, dtype=np.uint8).reshape(2, 4, 5, 3)
    with h5py.File(tmp_path / "small.h5", "w") as f:
        f["train_set_x"], f["train_set_y"], f["list_classes"] = raw, np.array([0, 1]), [b"non-cat", b"cat"]
    x, y, names = _read_split(tmp_path / "small.h5", "train")
    assert x.shape == (2, 3, 4, 5) and y.tolist() == [0, 1] and names == ["non-cat", "cat"]
    np.testing.assert_array_equal(x[1, 2], raw[1, :, :, 2])  # the blue plane of the second image


@pytest.mark.parametrize("value", ["C:\\data\\", "c:/data/"])
def test_a_windows_path_in_the_url_variable_is_a_path_not_a_url(monkeypatch, value):
    """Its drive letter reads as a one-letter URL scheme, which urllib calls unknown."""
    from glassnet.data.store import url_setting
    from glassnet.errors import ConfigError

    monkeypatch.setenv("GLASSNET_CATS_URL", value)
    with pytest.raises(ConfigError, match=rf"^GLASSNET_CATS_URL={re.escape(value)} is a path, not a URL"):
        url_setting("GLASSNET_CATS_URL", DEFAULT_URL)


class QuietFiles(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@contextlib.contextmanager
def served(directory: Path | None = None, handler=None) -> Iterator[str]:
    """A local HTTP server of ``directory`` (or with ``handler``) while the block runs;
    yields its base URL, ``http://127.0.0.1:PORT/``."""
    handler = handler or functools.partial(QuietFiles, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/"
    finally:
        server.shutdown()


def test_download_verifies_and_places_files(tmp_path, data_root, monkeypatch):
    with served(data_root / "catvnoncat") as url:
        monkeypatch.setenv("GLASSNET_CATS_URL", url)
        splits = load_cats(tmp_path)
    assert len(splits["train"]) == 209
    assert sorted(p.name for p in (tmp_path / "catvnoncat").iterdir()) == sorted(SHA256)
    umask = os.umask(0)
    os.umask(umask)
    for path in (tmp_path / "catvnoncat").iterdir():  # readable by others, as a plain copy is
        assert path.stat().st_mode & 0o777 == 0o666 & ~umask


def test_bad_download_leaves_nothing_behind(tmp_path, monkeypatch):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    for name in SHA256:
        (mirror / name).write_bytes(b"not the real file")
    cache = tmp_path / "cache"
    with served(mirror) as url:
        monkeypatch.setenv("GLASSNET_CATS_URL", url.rstrip("/"))  # with or without the slash
        with pytest.raises(ChecksumError, match=rf"{re.escape(url)}\w+\.h5: sha256 checksum mismatch"):
            load_cats(cache)
    assert list((cache / "catvnoncat").iterdir()) == []


def test_offline_download_failure_explains_the_layout(tmp_path, monkeypatch):
    monkeypatch.setenv("GLASSNET_CATS_URL", "http://127.0.0.1:9/")  # discard port: refused
    with pytest.raises(DataNotFoundError, match="could not download") as info:
        load_cats(tmp_path)
    assert "GLASSNET_DATA" in str(info.value)


class ClosesEarly(http.server.BaseHTTPRequestHandler):
    """Promises 1,000 bytes, sends 10 and hangs up: a dropped connection (``chunked``: sends
    one chunk of a chunked body and hangs up before the last chunk)."""

    chunked = False

    def do_GET(self):
        self.send_response(200)
        if self.chunked:
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.wfile.write(b"a\r\n0123456789\r\n")
        else:
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(b"0123456789")

    def log_message(self, *args):
        pass


class ChunkedClosesEarly(ClosesEarly):
    chunked = True


@pytest.mark.parametrize("handler,message", [
    (ClosesEarly, "the connection closed after 10 of 1,000 bytes"),
    (ChunkedClosesEarly, r"IncompleteRead\(10 bytes read\)")], ids=["content-length", "chunked"])
def test_a_connection_that_closes_early_is_named_as_such(tmp_path, monkeypatch, handler, message):
    with served(handler=handler) as url:
        monkeypatch.setenv("GLASSNET_CATS_URL", url)
        with pytest.raises(DataNotFoundError, match=f"could not download .*train_catvnoncat.h5: {message}"):
            load_cats(tmp_path)
    assert list((tmp_path / "catvnoncat").iterdir()) == []


def test_a_damaged_file_in_a_copy_marked_read_only_is_not_replaced_even_by_root(
        tmp_path, data_root, monkeypatch):
    """A shared, read-only copy of the data (dr-xr-xr-x) stays as it is, as the image cache
    leaves it: root ignores the permission bits, so they are read, not relied on."""
    folder = damaged_copy(data_root, tmp_path)
    before = (folder / "test_catvnoncat.h5").read_bytes()
    folder.chmod(0o555)
    try:
        with served(data_root / "catvnoncat") as url:
            monkeypatch.setenv("GLASSNET_CATS_URL", url)
            with pytest.raises(ChecksumError, match=f"downloading it again failed: cannot write .*: "
                                                    f"{folder} is read-only .no write permission for "):
                load_cats(tmp_path)
        assert (folder / "test_catvnoncat.h5").read_bytes() == before
    finally:
        folder.chmod(0o755)


@pytest.mark.parametrize("refused_at", ["atomic_write", "mkstemp"])
def test_a_data_folder_that_cannot_be_written_is_not_called_a_download_failure(
        tmp_path, data_root, monkeypatch, caplog, refused_at):
    import glassnet._files as files
    import glassnet.data.store as store

    def refused(*args, **kwargs):
        raise PermissionError(13, "Permission denied", "somewhere")

    if refused_at == "atomic_write":
        monkeypatch.setattr(store, "atomic_write", refused)
    else:  # the real atomic_write's own error: its reason, not its whole message again
        monkeypatch.setattr(files.tempfile, "mkstemp", refused)
    caplog.set_level("INFO", logger="glassnet")
    with served(data_root / "catvnoncat") as url:
        monkeypatch.setenv("GLASSNET_CATS_URL", url)
        with pytest.raises(DataError, match=r"^cannot write .*train_catvnoncat.h5: Permission denied; "
                                            "set GLASSNET_DATA to a folder you can write to$"):
            load_cats(tmp_path)
    assert caplog.messages[0] == f"downloading {url}train_catvnoncat.h5 to {tmp_path / 'catvnoncat'}" \
                                 "/train_catvnoncat.h5"


def test_the_command_line_announces_a_download(tmp_path, data_root):
    from conftest import run_cli

    with served(data_root / "catvnoncat") as url:
        result = run_cli("train", "--hidden", "3", "--epochs", "1", "--quiet", "--out", str(tmp_path / "run"),
                         env={"GLASSNET_DATA": str(tmp_path / "data"), "GLASSNET_CATS_URL": url})
    assert result.returncode == 0, result.stderr
    assert f"glassnet train: downloading {url}train_catvnoncat.h5 to " \
           f"{tmp_path / 'data' / 'catvnoncat' / 'train_catvnoncat.h5'}" in result.stderr


def test_an_unknown_split_is_named_plainly(data_root):
    from glassnet.errors import ConfigError

    with pytest.raises(ConfigError, match="^the cat set has splits 'train' and 'test', not 'validation'$"):
        load_cats(data_root, splits=("validation",))
    with pytest.raises(ConfigError, match=r"^splits takes a tuple of split names, as splits=\('test',\), "
                                          "got the string 'test'$"):
        load_cats(data_root, splits="test")  # said: not 'e', 's', 't'


def test_a_download_with_the_wrong_checksum_gives_no_advice_about_a_file_that_was_not_written(
        tmp_path, monkeypatch):
    served_dir = tmp_path / "mirror"
    served_dir.mkdir()
    for name in SHA256:
        (served_dir / name).write_bytes(b"not the cat set")
    with served(served_dir) as url:
        monkeypatch.setenv("GLASSNET_CATS_URL", url)
        with pytest.raises(ChecksumError, match="sha256 checksum mismatch") as info:
            load_cats(tmp_path / "data")
    assert "was not written" in str(info.value) and "delete it" not in str(info.value)
    assert not (tmp_path / "data" / "catvnoncat" / "train_catvnoncat.h5").exists()


def test_the_loaders_take_their_folder_as_a_string_too(data_root):
    """load_cats("/path") was a TypeError (str / str); a Path worked."""
    from glassnet.data import load_cats, load_cifar10

    assert len(load_cats(str(data_root), splits=("test",))["test"]) == 50
    assert len(load_cifar10(str(data_root), splits=("test",))["test"]) == 1000


def test_a_dangling_link_where_the_folder_belongs_is_named_before_any_download(tmp_path, monkeypatch):
    import glassnet.data.cats as cats

    (tmp_path / "catvnoncat").symlink_to(tmp_path / "unplugged" / "catvnoncat")
    monkeypatch.setattr(cats, "download", lambda *a: pytest.fail("downloaded"))
    with pytest.raises(DataError, match=rf"^{re.escape(str(tmp_path / 'catvnoncat'))} is a link to "
                                        rf"{re.escape(str(tmp_path / 'unplugged' / 'catvnoncat'))}, which "
                                        r"does not exist: create that folder, or remove the link$"):
        load_cats(tmp_path)
    monkeypatch.setenv("GLASSNET_DATA", str(tmp_path / "data"))
    (tmp_path / "data").symlink_to(tmp_path / "gone")  # the data directory itself
    with pytest.raises(DataError, match=r"data is a link to .*gone, which does not exist"):
        load_cats()


def age(path: Path, seconds: float = 2 * 3600) -> None:
    """Make ``path`` look last modified ``seconds`` ago (a killed process's leftover)."""
    import time

    stamp = time.time() - seconds
    os.utime(path, (stamp, stamp), follow_symlinks=False)


def test_a_killed_downloads_leftovers_go_even_when_the_files_are_there(tmp_path, data_root):
    """They went only with the next download of the same file, which never comes once it is there."""
    folder = tmp_path / "catvnoncat"
    folder.mkdir()
    for name in SHA256:
        (folder / name).symlink_to(data_root / "catvnoncat" / name)
    stale, fresh = folder / ".train_catvnoncat.h5.k1ll3d.tmp", folder / ".test_catvnoncat.h5.wr1t1ng.tmp"
    for path in (stale, fresh):
        path.write_bytes(b"part of a download")
    age(stale)
    load_cats(tmp_path, splits=("test",))
    assert not stale.exists() and fresh.exists()  # one being written now (by another process) stays


def test_a_download_logs_its_progress(tmp_path, data_root, monkeypatch, caplog):
    import glassnet.data.store as store

    monkeypatch.setattr(store, "PROGRESS_SECONDS", 0)  # a record for every chunk
    caplog.set_level("DEBUG", logger="glassnet")
    with served(data_root / "catvnoncat") as url:
        monkeypatch.setenv("GLASSNET_CATS_URL", url)
        load_cats(tmp_path, splits=("test",))
    records = [r for r in caplog.records if hasattr(r, "progress")]
    size = (data_root / "catvnoncat" / "test_catvnoncat.h5").stat().st_size
    assert records[-1].progress == (size, size, True) and records[-1].levelname == "DEBUG"
    assert records[-1].getMessage() == f"test_catvnoncat.h5: {size / 1e6:.1f} of {size / 1e6:.1f} MB (100%)"
    assert all(not r.progress[2] for r in records[:-1]) and len(records) >= 2
