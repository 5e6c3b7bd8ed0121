"""The CIFAR-10 loader: the real subset, the restricted unpickler, damaged folders, the
verified download and atomic extraction (from a local file:// tarball, never the network)."""

import hashlib
import io
import os
import pickle
import shutil
import tarfile
from pathlib import Path

import numpy as np
import pytest

from glassnet.data import cifar10, load
from glassnet.errors import ChecksumError, DataError, DataNotFoundError


@pytest.fixture(scope="module")
def cifar(data_root):
    return load("cifar10", data_root)


def test_reads_the_shared_subset(cifar):
    train, test = cifar["train"], cifar["test"]
    assert train.x.shape == (5000, 3, 32, 32) and test.x.shape == (1000, 3, 32, 32)
    assert train.x.dtype == np.uint8 and train.y.dtype == np.int64
    assert train.class_names[:3] == ["airplane", "automobile", "bird"] and train.num_classes == 10
    assert set(np.unique(train.y)) == set(range(10))
    assert min(train.class_counts().values()) >= 80


def test_channels_are_red_green_blue_planes(data_root, cifar):
    raw = cifar10.load_pickle(data_root / cifar10.FOLDER / "data_batch_1")[b"data"]
    np.testing.assert_array_equal(cifar["train"].x[0, 1].reshape(-1), raw[0, 1024:2048])


def _write_batch(path: Path, n: int = 4, seed: int = 0, **overrides) -> None:
    rng = np.random.default_rng(seed)
    batch = {b"batch_label": b"test", b"labels": rng.integers(0, 10, n).tolist(),
             b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8)}
    batch.update({key.encode(): value for key, value in overrides.items()})
    path.write_bytes(pickle.dumps(batch, protocol=2))


def write_cifar_folder(folder: Path) -> None:
    folder.mkdir(parents=True)
    for i, name in enumerate([*cifar10.TRAIN_BATCHES, "test_batch"]):
        _write_batch(folder / name, n=3 + i, seed=i)
    meta = {b"label_names": [f"class{i}".encode() for i in range(10)], b"num_cases_per_batch": 3}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))


def test_any_number_of_images_per_batch(tmp_path):
    write_cifar_folder(tmp_path / cifar10.FOLDER)
    data = cifar10.load_cifar10(tmp_path)
    assert len(data["train"]) == 3 + 4 + 5 + 6 + 7 and len(data["test"]) == 8
    assert data["train"].class_names[9] == "class9"
    _write_batch(tmp_path / cifar10.FOLDER / "data_batch_2", n=0)  # labels [] read as float64
    assert len(cifar10.load_cifar10(tmp_path)["train"]) == 3 + 5 + 6 + 7


class _Evil:
    def __reduce__(self):
        return (os.system, ("touch pwned",))


def test_a_malicious_pickle_is_refused_before_it_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / cifar10.FOLDER
    write_cifar_folder(folder)
    (folder / "data_batch_3").write_bytes(pickle.dumps({b"data": _Evil()}, protocol=2))
    with pytest.raises(DataError, match=r"data_batch_3: unsafe or damaged pickle: refusing to load "
                                        r"(posix|os|nt)\.system"):
        cifar10.load_cifar10(tmp_path)
    assert not (tmp_path / "pwned").exists()


@pytest.mark.parametrize("payload,match", [
    (pickle.dumps({b"data": np.array([object()], dtype=object)}, protocol=2), "dtype object"),
    (pickle.dumps({b"data": io.BytesIO(b"x")}, protocol=2), r"_io\.BytesIO"),
    (pickle.dumps(eval, protocol=2), r"(__builtin__|builtins)\.eval"),
    (b"\x80\x02c__builtin__\nbytes\nJ\x00\xe4\x0bT\x85R.", r"bytes\(\) with arguments"),
], ids=["object array", "other class", "builtin function", "bytes(a terabyte)"])
def test_the_unpickler_refuses_anything_but_plain_data(tmp_path, payload, match):
    path = tmp_path / "batch"
    path.write_bytes(payload)
    with pytest.raises(DataError, match=match):
        cifar10.load_pickle(path)


@pytest.mark.parametrize("name,what", [("data_batch_4", "batch"), ("batches.meta", "file")])
def test_a_missing_file_is_named_with_what_to_do(tmp_path, name, what):
    write_cifar_folder(tmp_path / cifar10.FOLDER)
    (tmp_path / cifar10.FOLDER / name).unlink()
    with pytest.raises(DataNotFoundError, match=f"{what} {name} is missing from .*; restore it, "
                                                "or delete the folder to download the data again"):
        cifar10.load_cifar10(tmp_path)


class _Huge:
    """Unpickles as an uninitialised uint8 array of 48 PiB."""

    def __reduce__(self):
        return (np.ndarray, ((2**44, 3072), np.dtype(np.uint8)))


def _nested(depth: int) -> list:
    value: list = [1]
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize("damage,match", [
    (lambda p: p.write_bytes(pickle.dumps({b"data": _Huge(), b"labels": []}, protocol=2)),
     r"data_batch_2: damaged pickle \(\w*MemoryError"),
    (lambda p: _write_batch(p, labels=_nested(70)), r"data_batch_2: 'labels' is not an array"),
    (lambda p: _write_batch(p, labels=[0.5, 1.0, 2.0, 3.0]),
     r"data_batch_2: labels are float64, expected integers 0..9"),
], ids=["petabytes", "deep-labels", "float-labels"])
def test_a_hostile_or_odd_batch_is_one_clear_error(tmp_path, damage, match):
    write_cifar_folder(tmp_path / cifar10.FOLDER)
    damage(tmp_path / cifar10.FOLDER / "data_batch_2")
    with pytest.raises(DataError, match=match):
        cifar10.load_cifar10(tmp_path)


@pytest.mark.parametrize("protocol", [0, 2, 3])
def test_empty_bytes_in_a_batch_are_read_in_every_protocol(tmp_path, protocol):
    """Protocols 0-2 write b"" as a call of bytes() (a self-made subset's empty file name)."""
    batch = {b"data": np.zeros((3, 3072), np.uint8), b"labels": [1, 2, 3],
             b"filenames": [b"a.png", b"", b"c.png"]}
    (tmp_path / "batch").write_bytes(pickle.dumps(batch, protocol=protocol))
    assert cifar10.load_pickle(tmp_path / "batch")[b"filenames"] == [b"a.png", b"", b"c.png"]
    images, labels = cifar10.read_batch(tmp_path / "batch")
    assert images.shape == (3, 3, 32, 32) and labels.tolist() == [1, 2, 3]


def test_a_protocol_5_pickle_is_read(tmp_path):
    write_cifar_folder(tmp_path / cifar10.FOLDER)
    batch = tmp_path / cifar10.FOLDER / "data_batch_2"
    data = pickle.loads(batch.read_bytes(), encoding="bytes")
    batch.write_bytes(pickle.dumps(data, protocol=5))
    loaded = cifar10.load_cifar10(tmp_path)["train"]
    np.testing.assert_array_equal(loaded.x[3:7].reshape(4, -1), data[b"data"])


def test_two_processes_extracting_at_once_both_get_the_folder(tmp_path, monkeypatch):
    tarball, md5 = _tarball(tmp_path)
    cache = tmp_path / "cache"
    real_replace = os.replace

    def other_process_first(src, dst):
        if Path(dst).name == cifar10.FOLDER:  # the other worker's rename lands first
            write_cifar_folder(Path(dst))
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", other_process_first)
    folder = cifar10.download_and_extract(cache, tarball.as_uri(), md5)
    assert folder == cache / cifar10.FOLDER and len(cifar10.load_cifar10(cache)["test"]) == 8
    assert [p.name for p in cache.iterdir() if p.name.startswith(".")] == []  # no leftover temp folder


@pytest.mark.parametrize("damage,match", [
    (lambda p: p.write_bytes(p.read_bytes()[:100]), r"data_batch_2: damaged pickle"),
    (lambda p: p.write_bytes(b"not a pickle at all"), r"data_batch_2: .*pickle"),
    (lambda p: _write_batch(p, data=np.zeros((2, 100), np.uint8)), r"data_batch_2: data is uint8 \(2, 100\)"),
    (lambda p: _write_batch(p, labels=[1, 2]), r"data_batch_2: \(2,\) labels for 4 images"),
    (lambda p: _write_batch(p, labels=[0, 1, 2, 10]), r"data_batch_2: labels outside 0..9"),
    (lambda p: p.write_bytes(pickle.dumps([1, 2], protocol=2)), r"data_batch_2: expected a dict"),
])
def test_a_corrupt_batch_is_named(tmp_path, damage, match):
    write_cifar_folder(tmp_path / cifar10.FOLDER)
    damage(tmp_path / cifar10.FOLDER / "data_batch_2")
    with pytest.raises(DataError, match=match):
        cifar10.load_cifar10(tmp_path)


def _tarball(tmp_path: Path, extra: tarfile.TarInfo | None = None) -> tuple[Path, str]:
    src = tmp_path / "src"
    write_cifar_folder(src / cifar10.FOLDER)
    path = tmp_path / "cifar-10-python.tar.gz"
    with tarfile.open(path, "w:gz") as archive:
        archive.add(src / cifar10.FOLDER, arcname=cifar10.FOLDER)
        if extra is not None:
            archive.addfile(extra)
    shutil.rmtree(src)
    return path, hashlib.md5(path.read_bytes()).hexdigest()


def test_download_verifies_and_extracts_atomically(tmp_path):
    link = tarfile.TarInfo(f"{cifar10.FOLDER}/../../escape")
    link.type = tarfile.SYMTYPE
    link.linkname = "/etc/passwd"
    tarball, md5 = _tarball(tmp_path, extra=link)
    cache = tmp_path / "cache"
    folder = cifar10.download_and_extract(cache, tarball.as_uri(), md5)
    assert folder == cache / cifar10.FOLDER
    assert sorted(p.name for p in folder.iterdir()) == sorted([*cifar10.FILES, cifar10.MANIFEST])
    assert not (tmp_path / "escape").exists()
    assert [p.name for p in cache.iterdir() if p.name.startswith(".")] == []  # no temporary left
    test = cifar10.load_cifar10(cache)["test"]
    assert len(test) == 8
    assert test.info["checked"] == "sha256 of the downloaded files"


def test_only_the_data_files_of_the_tarball_are_extracted(tmp_path):
    """The official tarball also holds readme.html: the folder gets the batches and the
    checksum list, nothing the checksums do not cover."""
    readme = tarfile.TarInfo(f"{cifar10.FOLDER}/readme.html")  # an empty regular file
    tarball, md5 = _tarball(tmp_path, extra=readme)
    folder = cifar10.download_and_extract(tmp_path / "cache", tarball.as_uri(), md5)
    assert sorted(p.name for p in folder.iterdir()) == sorted([*cifar10.FILES, cifar10.MANIFEST])


def test_a_batch_that_is_a_link_in_the_tarball_is_refused(tmp_path):
    """A link named data_batch_1 would be followed to whatever it names (another member,
    a file outside): only regular files are extracted."""
    tarball = tmp_path / "cifar-10-python.tar.gz"
    with tarfile.open(tarball, "w:gz") as archive:
        link = tarfile.TarInfo(f"{cifar10.FOLDER}/data_batch_1")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        archive.addfile(link)
    with pytest.raises(DataError, match=f"{cifar10.FOLDER}/data_batch_1 is not a regular file"):
        cifar10.download_and_extract(tmp_path / "cache", tarball.as_uri(),
                                     hashlib.md5(tarball.read_bytes()).hexdigest())
    assert not (tmp_path / "cache" / cifar10.FOLDER).exists()


def test_a_downloaded_file_damaged_later_is_named(tmp_path):
    tarball, md5 = _tarball(tmp_path)
    folder = cifar10.download_and_extract(tmp_path / "cache", tarball.as_uri(), md5)
    batch = folder / "data_batch_3"
    data = bytearray(batch.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one pixel byte: the pickle still loads
    batch.write_bytes(bytes(data))
    cifar10.load_cifar10(tmp_path / "cache", splits=("test",))  # the damaged file is not read
    with pytest.raises(ChecksumError, match=r"data_batch_3: sha256 checksum mismatch.*"
                                            r"delete the folder to download the data again"):
        cifar10.load_cifar10(tmp_path / "cache")


def test_a_damaged_checksum_list_is_named(tmp_path):
    tarball, md5 = _tarball(tmp_path)
    folder = cifar10.download_and_extract(tmp_path / "cache", tarball.as_uri(), md5)
    (folder / cifar10.MANIFEST).write_text("{not json")
    with pytest.raises(DataError, match=r"\.glassnet-sha256\.json is damaged .*delete"):
        cifar10.load_cifar10(tmp_path / "cache")


def test_a_folder_placed_by_hand_is_trusted_and_says_so(data_root):
    test = cifar10.load_cifar10(data_root, splits=("test",))["test"]
    assert test.info["checked"] == "structure only (a folder placed by hand is trusted)"


def test_a_tarball_put_in_place_by_hand_is_used_whatever_the_url_is_called(tmp_path):
    tarball, md5 = _tarball(tmp_path)
    cache = tmp_path / "cache"
    cache.mkdir()
    os.replace(tarball, cache / "cifar-10-python.tar.gz")  # as the missing-data error says
    folder = cifar10.download_and_extract(cache, (tmp_path / "unreachable" / "mirror.tgz").as_uri(), md5)
    assert len(cifar10.load_cifar10(cache)["test"]) == 8 and folder == cache / cifar10.FOLDER


def test_a_checksum_mismatch_leaves_nothing(tmp_path, monkeypatch):
    tarball, _ = _tarball(tmp_path)
    cache = tmp_path / "cache"
    monkeypatch.setenv(cifar10.URL_VAR, tarball.as_uri())  # the official md5 cannot match
    with pytest.raises(ChecksumError, match=rf"md5 checksum mismatch \(expected {cifar10.MD5}"):
        cifar10.load_cifar10(cache)
    assert list(cache.iterdir()) == []


def test_an_unreachable_download_says_where_to_put_the_files(tmp_path, monkeypatch):
    monkeypatch.setenv(cifar10.URL_VAR, (tmp_path / "nowhere.tar.gz").as_uri())
    with pytest.raises(DataNotFoundError, match=r"(?s)could not download .*GLASSNET_DATA"):
        cifar10.load_cifar10(tmp_path / "cache")
    (tmp_path / "cache" / "cifar-10-python.tar.gz").write_bytes(b"the first bytes only")
    with pytest.raises(DataNotFoundError, match=r"the cifar-10-python.tar.gz already in .*cache is not "
                                                r"the official tarball \(its md5 differs"):
        cifar10.load_cifar10(tmp_path / "cache")  # put there by hand, but damaged: said so


def test_a_tarball_without_the_batches_is_refused(tmp_path):
    path = tmp_path / "cifar-10-python.tar.gz"
    with tarfile.open(path, "w:gz") as archive:
        info = tarfile.TarInfo("other/readme")
        archive.addfile(info, io.BytesIO(b""))
    with pytest.raises(DataError, match="lacks data_batch_1"):
        cifar10.download_and_extract(tmp_path / "cache", path.as_uri(),
                                     hashlib.md5(path.read_bytes()).hexdigest())
    assert not (tmp_path / "cache" / cifar10.FOLDER).exists()


def test_only_the_requested_splits_are_read(data_root, tmp_path):
    from glassnet.data import load

    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    for name in ("batches.meta", "data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4",
                 "data_batch_5"):
        (folder / name).symlink_to(data_root / "cifar-10-batches-py" / name)
    splits = load("cifar10", root=tmp_path, splits=("train",))  # test_batch is absent
    assert list(splits) == ["train"] and len(splits["train"]) == 5000


def test_a_file_where_the_batch_folder_belongs_is_named_before_any_download(tmp_path, monkeypatch):
    (tmp_path / "cifar-10-batches-py").write_text("not a folder")
    monkeypatch.setattr(cifar10, "download_and_extract", lambda *a: pytest.fail("downloaded"))
    with pytest.raises(DataError, match=r"cifar-10-batches-py is a file, but the CIFAR-10 data set's "
                                        r"files go in a folder of that name: remove or rename the file$"):
        cifar10.load_cifar10(tmp_path)


def test_a_dangling_link_where_the_batch_folder_belongs_is_named_before_any_download(tmp_path, monkeypatch):
    """exists() is False for it: the whole tarball was downloaded and extracted, then the rename
    failed with "cannot write ...: Not a directory"."""
    (tmp_path / cifar10.FOLDER).symlink_to(tmp_path / "elsewhere")
    monkeypatch.setattr(cifar10, "download_and_extract", lambda *a: pytest.fail("downloaded"))
    link, target = tmp_path / cifar10.FOLDER, tmp_path / "elsewhere"
    with pytest.raises(DataError, match=rf"^{link} is a link to {target}, "
                                        r"which does not exist: create that folder, or remove the link$"):
        cifar10.load_cifar10(tmp_path)


def test_a_killed_downloads_and_extractions_leftovers_go_once_the_folder_is_there(tmp_path):
    """A rerun that succeeds never downloads or extracts again, which was the only cleaning."""
    from test_data_cats import age

    write_cifar_folder(tmp_path / cifar10.FOLDER)
    part = tmp_path / ".cifar-10-python.tar.gz.k1ll3d.tmp"
    part.write_bytes(b"the first megabytes")
    half = tmp_path / ".cifar-10-batches-py.h4lf"
    half.mkdir()
    (half / "data_batch_1").write_bytes(b"half a batch")
    fresh = tmp_path / ".cifar-10-batches-py.n0w"  # another process extracting right now
    fresh.mkdir()
    for path in (part, half / "data_batch_1", half):
        age(path)
    cifar10.load_cifar10(tmp_path, splits=("test",))
    assert sorted(p.name for p in tmp_path.iterdir()) == [fresh.name, cifar10.FOLDER]


def test_a_wrong_download_says_what_to_do_next(tmp_path, monkeypatch):
    tarball, _ = _tarball(tmp_path)
    monkeypatch.setenv(cifar10.URL_VAR, tarball.as_uri())  # not the official tarball: md5 differs
    with pytest.raises(ChecksumError) as info:
        cifar10.load_cifar10(tmp_path / "cache")
    message = str(info.value)
    assert "md5 checksum mismatch" in message and "set GLASSNET_CIFAR10_URL to another address" in message
    assert str(tmp_path / "cache" / cifar10.FOLDER / "data_batch_1") in message  # the layout


def test_a_path_in_the_url_variable_shows_the_file_url(tmp_path, monkeypatch):
    from glassnet.errors import ConfigError

    monkeypatch.setenv(cifar10.URL_VAR, "/tmp/cifar-10-python.tar.gz")
    with pytest.raises(ConfigError, match=r"^GLASSNET_CIFAR10_URL=/tmp/cifar-10-python.tar.gz is a path, not "
                                          r"a URL: for a local file write "
                                          r"GLASSNET_CIFAR10_URL=file:///.*tmp/cifar-10-python.tar.gz$"):
        cifar10.load_cifar10(tmp_path)


def test_a_data_directory_marked_read_only_gets_no_download_even_as_root(tmp_path, monkeypatch):
    """As the image cache: a shared copy (dr-xr-xr-x) is left as it is, whoever runs."""
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o555)
    monkeypatch.setattr(cifar10, "download", lambda *a, **k: pytest.fail("downloaded"))
    try:
        with pytest.raises(DataError, match=f"^cannot write the CIFAR-10 folder in {shared}: {shared} "
                                            r"is read-only \(no write permission for anyone\); set "):
            cifar10.load_cifar10(shared)
        assert not list(shared.iterdir())
    finally:
        shared.chmod(0o755)


def test_class_names_that_repeat_name_the_file(tmp_path):
    folder = tmp_path / cifar10.FOLDER
    write_cifar_folder(folder)
    meta = {b"label_names": [b"cat"] * 2 + [f"class{i}".encode() for i in range(8)]}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
    with pytest.raises(DataError, match=r"batches.meta: label_names should be 10 distinct names, "
                                        r"got \['cat', 'cat'"):
        cifar10.load_cifar10(tmp_path)
