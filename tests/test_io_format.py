"""The .glassnet file: round trips of every zoo model, tampered files, atomic saves."""

from __future__ import annotations

import errno
import io
import json
import os
import pickle
import re
import resource
import signal
import warnings
import zipfile

import numpy as np
import pytest

from conftest import run_cli
from glassnet import Sequential, layers, load_model, zoo
from glassnet.errors import (
    ConfigError,
    DamagedFileError,
    GlassnetWarning,
    ModelFormatError,
    NewerFormatError,
    SaveError,
    UnknownLayerError,
    UnsafeFileError,
    WeightMismatchError,
)
from glassnet.io import archive
from layer_zoo import conv_gap_model, conv_model, dense_model, perturbed


def small_model(tmp_path, dtype: str = "float32") -> tuple[Sequential, os.PathLike]:
    model = Sequential([layers.Flatten(), layers.Dense(5, activation="relu"), layers.Dense(3)],
                       input_shape=(2, 3, 4), seed=1, dtype=dtype, class_names=["a", "b", "c"])
    model.compile(loss="categorical_crossentropy", optimizer="sgd")
    path = tmp_path / "model.glassnet"
    perturbed(model).save(path)
    return model, path


def rewrite(path, changes: dict[str, bytes | None]) -> None:
    """Rewrite the zip at ``path`` with entries replaced (bytes), removed (None) or added."""
    with zipfile.ZipFile(path) as zf:
        entries = {info.filename: zf.read(info) for info in zf.infolist()}
    entries.update(changes)
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in entries.items():
            if data is not None:
                zf.writestr(name, data)


def edit_config(path, edit) -> None:
    with zipfile.ZipFile(path) as zf:
        config = json.loads(zf.read("config.json"))
    edit(config)
    rewrite(path, {"config.json": json.dumps(config).encode()})


def npy_bytes(array: np.ndarray, allow_pickle: bool = False) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=allow_pickle)
    return buffer.getvalue()


@pytest.mark.parametrize("stored", [None, "", 5])
def test_a_file_saved_before_names_were_checked_still_loads(tmp_path, stored):
    """Names are checked now (they name the ONNX graph); older files with none must load."""
    import glassnet as gn

    model = gn.Sequential([gn.layers.Dense(2)], input_shape=(3,))
    model.save(tmp_path / "m.glassnet")
    edit_config(tmp_path / "m.glassnet", lambda c: c["model"].update(name=stored))
    assert load_model(tmp_path / "m.glassnet").name == "sequential"


@pytest.mark.parametrize("name", zoo.names())
@pytest.mark.parametrize("dataset", ["cats", "cifar10"])
def test_every_zoo_model_round_trips_exactly(name, dataset, real_images, tmp_path):
    images, classes = real_images[dataset]
    model = perturbed(zoo.build(name, images.shape[1:], classes, seed=3))
    model.compile(loss=zoo.loss_for(classes), optimizer="adam")
    model.class_names = [f"class{i}" for i in range(classes)]
    model.set_preprocessing(scale=1 / 255, mean=[0.4, 0.5, 0.6], std=[0.2, 0.25, 0.3])
    model.save(tmp_path / "m.glassnet")
    loaded = load_model(tmp_path / "m.glassnet")
    assert loaded.get_config() == model.get_config()
    weights, restored = model.get_weights(), loaded.get_weights()
    assert weights.keys() == restored.keys()
    for key in weights:
        assert restored[key].dtype == weights[key].dtype
        np.testing.assert_array_equal(restored[key], weights[key])
    np.testing.assert_array_equal(loaded.predict(images[:8]), model.predict(images[:8]))


def test_float64_and_training_metadata_survive(tmp_path, cats):
    model, path = small_model(tmp_path, dtype="float64")
    model.training_summary = {"epochs": 3, "final": {"loss": 0.5}}
    model.save(path)
    loaded = load_model(path)
    assert loaded.dtype == np.float64 and loaded.class_names == ["a", "b", "c"]
    assert loaded.training_summary == {"epochs": 3, "final": {"loss": 0.5}}
    assert loaded.loss.name == model.loss.name


def test_l2_strength_survives_so_evaluate_reports_the_training_loss(tmp_path):
    model, path = small_model(tmp_path)
    model.compile(loss="categorical_crossentropy", optimizer="sgd", reg=0.3)
    model.save(path)
    x = np.random.default_rng(0).normal(size=(6, 2, 3, 4)).astype("float32")
    y = np.arange(6) % 3
    loaded = load_model(path)
    assert loaded.reg == 0.3
    assert loaded.evaluate(x, y)["loss"] == pytest.approx(model.evaluate(x, y)["loss"])
    edit_config(path, lambda c: c.pop("reg"))  # files written before reg was recorded
    assert load_model(path).reg == 0.0


def test_truncated_file_says_truncated(tmp_path):
    _, path = small_model(tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DamagedFileError, match="truncated or damaged"):
        load_model(path)


def test_corrupted_array_bytes_fail_the_checksum(tmp_path):
    _, path = small_model(tmp_path)
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo("arrays/1.W.npy")
    data[info.header_offset + 30 + len(info.filename) + 200] ^= 0xFF  # inside the stored data
    path.write_bytes(bytes(data))
    with pytest.raises(DamagedFileError, match="CRC"):
        load_model(path)


def test_a_file_of_another_kind_is_named_as_such_not_as_damaged(tmp_path):
    path = tmp_path / "history.json"
    path.write_text('{"loss": [0.5]}')
    with pytest.raises(ModelFormatError, match=r"history.json is not a glassnet model file \(a "
                                               r"\.glassnet file is a zip archive") as caught:
        load_model(path)
    assert not isinstance(caught.value, DamagedFileError)


class _Planted:
    """Unpickling this would create the marker file: loading must never do it."""

    marker = None

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


@pytest.mark.parametrize("how", ["object array", "raw pickle"])
def test_planted_pickle_is_refused_without_running_it(tmp_path, how):
    _, path = small_model(tmp_path)
    _Planted.marker = tmp_path / "pwned"
    payload = np.array([_Planted()], dtype=object)
    data = npy_bytes(payload, allow_pickle=True) if how == "object array" else pickle.dumps(_Planted())
    rewrite(path, {"arrays/1.W.npy": data})
    with pytest.raises(UnsafeFileError, match="pickled Python objects"):
        load_model(path)
    assert not _Planted.marker.exists()


def test_stray_entry_is_refused(tmp_path):
    _, path = small_model(tmp_path)
    rewrite(path, {"evil.py": b"print('hi')"})
    with pytest.raises(UnsafeFileError, match="unexpected entry 'evil.py'"):
        load_model(path)


def test_unknown_layer_class_is_named(tmp_path):
    _, path = small_model(tmp_path)
    edit_config(path, lambda c: c["model"]["layers"][1].update(class_name="os.system"))
    with pytest.raises(UnknownLayerError, match=r"layer 1 has unknown layer class 'os.system'; this "
                                                r"glassnet knows \[.*\] and the layer classes defined "
                                                r"in Python before loading"):
        load_model(path)


def test_bad_layer_options_are_a_format_error(tmp_path):
    _, path = small_model(tmp_path)
    edit_config(path, lambda c: c["model"]["layers"][1]["config"].update(units=-4))
    with pytest.raises(ModelFormatError, match="-4"):
        load_model(path)


def test_wrong_array_shape_names_both_shapes(tmp_path):
    _, path = small_model(tmp_path)
    rewrite(path, {"arrays/1.W.npy": npy_bytes(np.zeros((24, 6), np.float32))})
    with pytest.raises(WeightMismatchError, match=r"'1.W' has shape \(24, 6\) but the architecture needs "
                                                  r"\(24, 5\)"):
        load_model(path)


@pytest.mark.parametrize("change,message", [
    ({"arrays/2.b.npy": None}, r"arrays \['2.b'\] that the architecture needs are missing"),
    ({"arrays/9.W.npy": npy_bytes(np.zeros(3, np.float32))}, r"arrays \['9.W'\] do not belong"),
    ({"arrays/2.b.npy": npy_bytes(np.array(["a", "b", "c"]))}, "must be floating point"),
    ({"arrays/2.b.npy": npy_bytes(np.arange(3))}, r"'2.b' has dtype int64; weights must be floating point"),
    ({"arrays/optimizer/1.W/m.npy": npy_bytes(np.zeros((24, 5), np.float32))},
     r"arrays \['optimizer/1.W/m'\] do not belong to a model file"),
])
def test_missing_extra_or_non_float_arrays(tmp_path, change, message):
    _, path = small_model(tmp_path)
    rewrite(path, change)
    with pytest.raises(WeightMismatchError, match=message):
        load_model(path)


def test_newer_format_version_asks_for_an_upgrade(tmp_path):
    _, path = small_model(tmp_path)
    edit_config(path, lambda c: c.update(format_version=archive.FORMAT_VERSION + 1))
    with pytest.raises(NewerFormatError, match="newer than this glassnet.*upgrade glassnet"):
        load_model(path)


@pytest.mark.parametrize("edit,message", [
    (lambda c: c.pop("format_version"), "no valid format_version"),
    (lambda c: c.update(format_version=0), r"no valid format_version \(got 0\)"),
    (lambda c: c.update(format_version=True), r"no valid format_version \(got True\)"),  # JSON true == 1
    (lambda c: c["model"].update(input_shape=[0, 3]), "input_shape"),
    (lambda c: c.pop("model"), "no 'model'"),
    (lambda c: c["model"].update(output_activation="swish"), "unknown output_activation 'swish'"),
    (lambda c: c["model"].update(output_activation="sigmoid"),
     r"output_activation 'sigmoid' does not fit a model with 3 output\(s\)"),
    (lambda c: c["model"].update(class_names=["a", "b"]), "invalid: class_names must be 3 strings"),
    (lambda c: c["model"].update(class_names=["a", "b", 3]), "class_names must be a list of strings"),
    (lambda c: c["model"]["preprocessing"].update(mean=[0.5, 0.5, 0.5]),
     r"preprocessing mean has 3 values but the inputs \(2, 3, 4\) have 2 channels"),
    (lambda c: c["model"]["preprocessing"].update(std=[float("nan")]), "std must be a list of finite"),
    (lambda c: c.update(reg=-1), "'reg' in config.json must be a finite number >= 0, got -1"),
    (lambda c: c.update(reg="0.1"), "'reg' in config.json must be a finite number >= 0"),
    (lambda c: c["loss"].update(name="binary_crossentropy"),
     "the loss in config.json expects output activation 'sigmoid' but the model says 'softmax'"),
    (lambda c: c.update(kind="banana"), "config.json has kind 'banana', neither 'model' nor 'checkpoint'"),
    (lambda c: c.update(glassnet_version=[1]), r"config.json has glassnet_version \[1\], which is not"),
    (lambda c: c["loss"].update(from_logits="no"),  # was read as True
     "the loss in config.json is invalid: CategoricalCrossEntropy from_logits must be True or False"),
])
def test_malformed_config(tmp_path, edit, message):
    _, path = small_model(tmp_path)
    edit_config(path, edit)
    with pytest.raises(ModelFormatError, match=message):
        load_model(path)


def test_a_file_whose_loss_applies_the_last_layers_activation_again_loads_with_a_warning(tmp_path):
    """A file whose loss takes logits while its last layer applies softmax (compile refuses
    the pair; older glassnet wrote such files) loaded silently and predicted the softmax of
    probabilities. It still loads (the weights are the user's), says so, and compiled again
    with from_logits=False predicts the last layer's probabilities."""
    model = Sequential([layers.Dense(3, activation="softmax")], input_shape=(4,), seed=0)
    model.compile("categorical_crossentropy", "sgd", from_logits=False)
    path = tmp_path / "m.glassnet"
    model.save(str(path))
    edit_config(path, lambda c: (c["loss"].update(from_logits=True),
                                 c["model"].update(output_activation="softmax")))
    with pytest.warns(GlassnetWarning, match=r"m.glassnet: its loss does not fit the model \(the "
                                             r"last layer applies softmax, and "
                                             r"categorical_crossentropy applies softmax again.*"
                                             r"predates that check"):
        loaded = load_model(path)
    x = np.random.default_rng(0).standard_normal((2, 4))
    assert not np.allclose(loaded.predict(x), model.predict(x))  # softmax applied twice
    loaded.compile("categorical_crossentropy", "sgd", from_logits=False)
    np.testing.assert_allclose(loaded.predict(x), model.predict(x), rtol=1e-6)


@pytest.mark.parametrize("last, loss", [(lambda: layers.Dense(3, activation="softmax"),
                                         "categorical_crossentropy"),
                                        (lambda: layers.Dense(1, activation="sigmoid"),
                                         "binary_crossentropy")])
def test_a_file_with_a_dropout_after_its_probabilities_loads_without_a_word(tmp_path, last, loss):
    """Older glassnet wrote such files (compile refuses the pair now: in training the Dropout
    rescales the probabilities); at inference the Dropout does nothing, so they load as
    before, with no warning."""
    model = Sequential([last()], input_shape=(4,), seed=0)
    model.compile(loss, "sgd", from_logits=False)
    path = tmp_path / "m.glassnet"
    model.save(str(path))

    def add_dropout(config):  # compile refuses the model now: the file is written by hand
        config["model"]["layers"].append({"class_name": "Dropout", "config": {"rate": 0.5}})

    edit_config(path, add_dropout)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loaded = load_model(path)
    assert type(loaded.layers[-1]).__name__ == "Dropout"
    x = np.random.default_rng(0).standard_normal((2, 4))
    np.testing.assert_allclose(loaded.predict(x), model.predict(x), rtol=1e-6)


def test_cli_reports_a_tampered_file_in_one_line(tmp_path):
    _, path = small_model(tmp_path)
    edit_config(path, lambda c: c.update(format_version=99))
    result = run_cli("info", str(path))
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "format version 99" in result.stderr


def _failing_fdopen(real_fdopen, fail_after: int):
    """``os.fdopen`` whose files raise ENOSPC once ``fail_after`` bytes are written."""

    class Full(io.RawIOBase):
        def __init__(self, fd, mode):
            self.inner, self.written = real_fdopen(fd, mode), 0

        def write(self, data):
            self.written += len(data)
            if self.written > fail_after:
                raise OSError(errno.ENOSPC, "No space left on device")
            return self.inner.write(data)

        def fileno(self):
            return self.inner.fileno()

        def close(self):
            self.inner.close()
            super().close()

    return Full


def _assert_untouched(path, before: bytes) -> None:
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]  # no temporary file left
    load_model(path)


def test_disk_full_leaves_the_previous_file_intact(tmp_path, monkeypatch):
    model, path = small_model(tmp_path)
    before = path.read_bytes()
    import glassnet._files as files

    monkeypatch.setattr(files.os, "fdopen", _failing_fdopen(os.fdopen, fail_after=300))
    with pytest.raises(SaveError, match="No space left on device.*previous file.*unchanged"):
        perturbed(model, seed=9).save(path)
    monkeypatch.undo()
    _assert_untouched(path, before)


def test_file_size_limit_from_the_kernel_leaves_the_previous_file_intact(tmp_path, cats):
    """A real write failure (EFBIG from RLIMIT_FSIZE) while a larger model replaces a small one."""
    _, path = small_model(tmp_path)
    before = path.read_bytes()
    big = zoo.build("mlp", cats["test"].image_shape, 2, hidden=(64,))
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (len(before) + 10_000, hard))
    try:
        with pytest.raises(SaveError, match="File too large"):
            big.save(path)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous)
    _assert_untouched(path, before)


def test_saved_files_get_normal_permissions(tmp_path):
    _, path = small_model(tmp_path)
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


def test_cli_info_describes_a_model(tmp_path, cats):
    model = zoo.build("mlp", cats["test"].image_shape, 2, hidden=(5,))
    model.compile(loss="binary_crossentropy", optimizer="sgd")
    model.set_preprocessing(scale=1 / 255)
    model.class_names = ["non-cat", "cat"]
    model.training_summary = {"dataset": "cats", "epochs": 7, "seconds": 1.5,
                              "optimizer": {"name": "sgd", "lr": 0.01}, "batch_size": 64,
                              "metrics": {"test": {"loss": 0.5, "accuracy": 0.75}}}
    model.save(tmp_path / "m.glassnet")
    result = run_cli("info", str(tmp_path / "m.glassnet"))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for text in ["glassnet model (format 1", "Total params: 61,451", "input: (N, 3, 64, 64) float32",
                 "x * 0.00392157 (pixels / 255)", "classes (2): non-cat, cat", "output: sigmoid",
                 "7 epochs on cats in 1.5s, optimizer sgd lr 0.01, batch size 64",
                 "test: loss 0.5000, accuracy 0.7500"]:
        assert text in out, text
    info = json.loads(run_cli("info", str(tmp_path / "m.glassnet"), "--json").stdout)
    assert info["params"] == {"trainable": 61451, "non_trainable": 0}
    assert [entry["class_name"] for entry in info["layers"]] == ["Flatten", "Dense", "Dense"]


@pytest.mark.parametrize("factory", [dense_model, conv_model, conv_gap_model])
def test_every_layer_class_round_trips(factory, cats, tmp_path):
    model = perturbed(factory())
    model.set_preprocessing(scale=1 / 255)
    model.save(tmp_path / "m.glassnet")
    loaded = load_model(tmp_path / "m.glassnet")
    images = cats["test"].x[:8]
    np.testing.assert_array_equal(loaded.predict(images), model.predict(images))
    for key, value in model.get_weights().items():
        np.testing.assert_array_equal(loaded.get_weights()[key], value)


def test_the_round_trip_models_use_every_layer_class():
    from layer_zoo import layer_types

    used = set().union(*(layer_types(f()) for f in (dense_model, conv_model, conv_gap_model)))
    assert used == set(layers.LAYER_CLASSES) - {"Layer"}


def test_deflated_files_from_earlier_versions_still_load(tmp_path):
    """Version-1 files were first written deflated; they read the same."""
    model, path = small_model(tmp_path)
    with zipfile.ZipFile(path) as zf:
        entries = {info.filename: zf.read(info) for info in zf.infolist()}
    old = tmp_path / "old.glassnet"
    with zipfile.ZipFile(old, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    loaded = load_model(old)
    for key, value in model.get_weights().items():
        np.testing.assert_array_equal(loaded.get_weights()[key], value)


def test_a_user_layer_cannot_take_a_built_in_layer_name():
    with pytest.raises(ConfigError, match=r"a layer class named 'Dense' already exists "
                                          r"\(glassnet.layers.dense.Dense\).*another name"):
        class Dense(layers.Layer):  # noqa: F841 - the definition itself is refused
            pass
    assert layers.LAYER_CLASSES["Dense"] is layers.Dense


def test_redefining_the_same_user_layer_replaces_it():
    def define():
        class Doubler(layers.Layer):
            def forward(self, x, training=False):
                return 2 * x
        return Doubler

    try:
        first, second = define(), define()
        assert layers.LAYER_CLASSES["Doubler"] is second is not first
    finally:
        layers.LAYER_CLASSES.pop("Doubler", None)


def test_an_option_from_a_newer_glassnet_suggests_an_upgrade(tmp_path):
    _, path = small_model(tmp_path)

    def edit(config):
        config["glassnet_version"] = "9.9.9"
        config["model"]["layers"][1]["config"]["future_option"] = 1
    edit_config(path, edit)
    with pytest.raises(ModelFormatError, match=r"future_option.*written by glassnet 9\.9\.9, "
                                               r"newer than this .*upgrading glassnet may fix"):
        load_model(path)
    for older_or_same in ("0.0.1", archive.glassnet_version()):
        edit_config(path, lambda c, version=older_or_same: c.update(glassnet_version=version))
        with pytest.raises(ModelFormatError, match=r"future_option'$"):
            load_model(path)


# -- hostile files: never a traceback, never much more memory than the file's size ----------
def test_an_architecture_far_larger_than_its_arrays_is_refused_before_building(tmp_path):
    _, path = small_model(tmp_path)
    edit_config(path, lambda c: c["model"]["layers"][1]["config"].update(units=10**9))
    with pytest.raises(WeightMismatchError, match=r"array '1\.W' has shape \(24, 5\) but the "
                                                  r"architecture needs \(24, 1000000000\)"):
        load_model(path)  # building first would allocate 24e9 weights (a MemoryError)


def test_every_layer_declares_the_arrays_it_builds():
    from layer_zoo import layer_types

    for factory in (dense_model, conv_model, conv_gap_model):
        model = factory()
        for layer in model.layers:
            built = {**{k: v.shape for k, v in layer.params.items()},
                     **{f"state.{k}": v.shape for k, v in layer.state.items()}}
            assert layer.array_shapes(layer.input_shape) == built, type(layer).__name__
    assert {"Dense", "Conv2D", "BatchNorm"} <= set().union(
        *(layer_types(f()) for f in (dense_model, conv_model, conv_gap_model)))


def test_an_npy_header_claiming_terabytes_is_refused_before_allocating(tmp_path):
    _, path = small_model(tmp_path)
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False,
                                                  "shape": (10**12,)})
    rewrite(path, {"arrays/1.W.npy": header.getvalue() + bytes(16)})
    with pytest.raises(DamagedFileError, match=r"array '1\.W' declares shape \(1000000000000,\) "
                                               r"\(4,000,000,000,000 bytes\) but holds 16 bytes"):
        load_model(path)


def test_an_array_with_bytes_beyond_its_shape_is_damaged(tmp_path):
    """NumPy reads what the header declares and ignores the rest: a file with bytes left
    over was not written by glassnet as it is."""
    _, path = small_model(tmp_path)
    rewrite(path, {"arrays/1.b.npy": npy_bytes(np.zeros(5, np.float32)) + bytes(4)})
    with pytest.raises(DamagedFileError, match=r"array '1\.b' declares shape \(5,\) \(20 bytes\) "
                                               r"but holds 24 bytes"):
        load_model(path)


def test_a_zip_bomb_is_refused_before_inflating(tmp_path):
    _, path = small_model(tmp_path)
    with zipfile.ZipFile(path) as zf:
        entries = {info.filename: zf.read(info) for info in zf.infolist()}
    entries["arrays/1.W.npy"] = npy_bytes(np.zeros(8 * 2**20, np.float32))  # 32 MiB of zeros
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    assert path.stat().st_size < 2**20
    with pytest.raises(DamagedFileError, match=r"would inflate from [\d,]+ to 33,55\d,\d\d\d bytes"):
        load_model(path)


@pytest.mark.parametrize("offset,value", [(10, 99), (8, 1), (6, 0xFF)],
                         ids=["unknown-compression", "encrypted", "future-zip-version"])
def test_damaged_zip_headers_are_one_clear_error(tmp_path, offset, value):
    _, path = small_model(tmp_path)
    data = bytearray(path.read_bytes())
    record = data.index(b"PK\x01\x02")
    data[record + offset] = value
    path.write_bytes(bytes(data))
    with pytest.raises(DamagedFileError, match="is damaged"):
        load_model(path)


def test_deeply_nested_or_duplicated_config_is_refused(tmp_path):
    _, path = small_model(tmp_path)
    rewrite(path, {"config.json": b"[" * 200_000 + b"]" * 200_000})
    with pytest.raises(DamagedFileError, match="config.json is not valid JSON"):
        load_model(path)
    _, path = small_model(tmp_path)
    with zipfile.ZipFile(path) as zf:
        config = zf.read("config.json")
    with pytest.warns(UserWarning, match="Duplicate name"), zipfile.ZipFile(path, "a") as zf:
        zf.writestr("config.json", config)
    with pytest.raises(DamagedFileError, match=r"holds \['config.json'\] more than once"):
        load_model(path)


def test_a_file_cut_inside_a_zip_end_record_is_damaged_not_another_kind(tmp_path):
    """An archive may begin with its end record (an empty zip): cut short, it is damaged."""
    path = tmp_path / "cut.glassnet"
    path.write_bytes(b"PK\x05\x06" + bytes(8))
    with pytest.raises(DamagedFileError, match="truncated or damaged"):
        load_model(path)


def test_a_plain_zip_is_named_as_not_a_glassnet_file(tmp_path):
    path = tmp_path / "weights.npz"
    np.savez(path, a=np.zeros(3))
    with pytest.raises(ModelFormatError, match=r"has no config.json: not a glassnet file"):
        load_model(path)


def test_a_file_with_many_stray_arrays_gets_a_short_message(tmp_path):
    _, path = small_model(tmp_path)
    rewrite(path, {f"arrays/9.x{i}.npy": npy_bytes(np.zeros(1, np.float32)) for i in range(100)})
    with pytest.raises(WeightMismatchError) as info:
        load_model(path)
    assert "and 92 more" in str(info.value) and len(str(info.value)) < 400


@pytest.mark.parametrize("training,problem", [
    ("x", "is not an object"),
    ({"metrics": "x"}, "has metrics = 'x', which is not an object"),
    ({"metrics": {"test": {"loss": "low"}}}, "has metrics that are not numbers"),
    ({"epochs": {"a": 1}}, "has epochs = {'a': 1}, which is not an integer"),
    ({"optimizer": {"name": "sgd", "lr": "fast"}}, "has an invalid optimizer"),
    ({"holdout": [0.2]}, r"has holdout = \[0.2\], which is not an object"),
    ({"holdout": {"folds": 2}}, r"has an invalid holdout \{'folds': 2\}"),  # a search trial's
    ({"holdout": {"folds": 2, "fold": 0}}, "has an invalid holdout"),  # it took the last fold
    ({"holdout": {"folds": 2, "fold": 3}}, "has an invalid holdout"),
    ({"holdout": {"validation_split": "x"}}, "has an invalid holdout"),
    ({"holdout": {"validation_split": 1.0}}, "has an invalid holdout"),
])
def test_a_damaged_training_summary_is_named(tmp_path, training, problem):
    _, path = small_model(tmp_path)
    edit_config(path, lambda c: c.update(training=training))
    with pytest.raises(ModelFormatError, match=f"the training summary in config.json {problem}"):
        load_model(path)
    result = run_cli("info", str(path))
    assert result.returncode == 1 and "Traceback" not in result.stderr


def test_non_finite_weights_load_with_a_warning(tmp_path):
    from glassnet.errors import GlassnetWarning

    model, path = small_model(tmp_path)
    weights = model.get_weights()
    weights["2.W"][0, 0] = np.nan
    with pytest.warns(GlassnetWarning, match=r"set_weights: arrays \['2.W'\] hold NaN"):
        model.set_weights(weights)
    model.save(path)
    with pytest.warns(GlassnetWarning, match=r"model.glassnet: arrays \['2.W'\] hold NaN or infinite "
                                             "values") as caught:
        load_model(path)
    assert len(caught) == 1  # the file's warning only, not set_weights' as well


def test_predict_names_no_class_for_nan_outputs_and_fails(tmp_path, capsys):
    """A NaN output sorts anywhere: the class it would name is no answer of the model."""
    from PIL import Image

    from glassnet.cli import main

    model = Sequential([layers.Flatten(), layers.Dense(2)], input_shape=(3, 4, 4), seed=1,
                       class_names=["a", "b"])
    model.compile(loss="categorical_crossentropy", optimizer="sgd")
    weights = model.get_weights()
    weights["1.W"][0, 0] = np.nan
    with pytest.warns(GlassnetWarning):
        model.set_weights(weights)
    model.save(path := tmp_path / "model.glassnet")
    Image.new("RGB", (4, 4), (10, 200, 30)).save(image := tmp_path / "photo.png")
    assert main(["predict", str(path), str(image), "--threads", "1"]) == 1
    out, err = capsys.readouterr()
    assert out == f"{image}: no class (the model's outputs are NaN)\n"
    assert "error: 1 image(s) got no class: the model's outputs are not numbers (NaN)" in err
    plots = tmp_path / "plots"
    assert main(["predict", str(path), str(image), "--json", "--plot", str(plots), "--threads", "1"]) == 1
    [entry] = json.loads(capsys.readouterr().out)
    assert entry == {"file": str(image), "class": None, "probability": None, "top": [],
                     "probabilities": {"a": None, "b": None}}
    assert not list(plots.glob("*.png"))  # no empty bars


def test_evaluate_refuses_to_score_nan_outputs_as_answers(tmp_path, capsys):
    """argmax of NaN is class 0: a model of NaN weights scored 0.34 on the cat test set (the
    accuracy of answering non-cat), with exit code 0, where predict says no class."""
    from PIL import Image

    from glassnet.cli import main

    model = Sequential([layers.Flatten(), layers.Dense(2)], input_shape=(3, 4, 4), seed=1,
                       class_names=["a", "b"])
    model.compile(loss="categorical_crossentropy", optimizer="sgd")
    weights = model.get_weights()
    weights["1.b"][1] = np.nan  # one class's output: every image's row holds a NaN
    with pytest.warns(GlassnetWarning):
        model.set_weights(weights)
    model.save(path := tmp_path / "model.glassnet")
    for name, colour in (("a", (200, 0, 0)), ("b", (0, 0, 200))):
        (tmp_path / "photos" / name).mkdir(parents=True)
        Image.new("RGB", (4, 4), colour).save(tmp_path / "photos" / name / "0.png")
    for options in ([], ["--json"]):
        assert main(["evaluate", str(path), "--dataset", str(tmp_path / "photos"), "--threads", "1",
                     "--no-cache", *options]) == 1
        out, err = capsys.readouterr()
        assert out == "" and "error: 2 image(s) got no class: the model's outputs are not numbers" in err


def test_evaluate_of_a_model_saved_without_compile_shows_no_loss(tmp_path, capsys):
    """A sigmoid output gives probabilities without a loss: the summary line raised a
    TypeError formatting the loss None (--json gave null)."""
    from PIL import Image

    from glassnet.cli import main

    Sequential([layers.Flatten(), layers.Dense(1, activation="sigmoid")], input_shape=(3, 4, 4), seed=1,
               class_names=["a", "b"]).save(path := tmp_path / "model.glassnet")
    for name, colour in (("a", (200, 0, 0)), ("b", (0, 0, 200))):
        (tmp_path / "photos" / name).mkdir(parents=True)
        Image.new("RGB", (4, 4), colour).save(tmp_path / "photos" / name / "0.png")
    assert main(["evaluate", str(path), "--dataset", str(tmp_path / "photos"), "--threads", "1",
                 "--no-cache"]) == 0
    assert "photos/all (2 images): loss n/a (the model has none), accuracy " in capsys.readouterr().out


def test_a_prediction_row_with_any_nan_names_no_class():
    """A NaN sorts anywhere: a row with one NaN (the others numbers) is no answer either."""
    from glassnet.cli.predict import _result

    for row in ([0.7, np.nan, 0.3], [np.nan, 0.6, 0.4], [np.nan] * 3):
        result = _result("photo.png", np.array(row), ["a", "b", "c"], top=2)
        assert result["class"] is None and result["probability"] is None and result["top"] == []
    assert _result("photo.png", np.array([0.2, 0.5, 0.3]), ["a", "b", "c"], top=2)["class"] == "b"


@pytest.mark.parametrize("command", [["export", "{m}", "--onnx", "{m}"],
                                     ["evaluate", "{m}", "--report", "{m}"]], ids=["export", "evaluate"])
def test_an_output_path_that_is_the_model_itself_is_refused(tmp_path, command, capsys):
    from glassnet.cli import main

    _, path = small_model(tmp_path)
    before = path.read_bytes()
    assert main([part.format(m=path) for part in command]) == 1
    assert "is the model file itself; writing there would replace the model" in capsys.readouterr().err
    assert path.read_bytes() == before


def test_what_searches_and_folders_save_still_loads(tmp_path):
    """A searched batch size is stored as "full", an image size as [h, w]: both are valid."""
    from glassnet.runs import RunConfig

    config = RunConfig.from_dict({"batch_size": "full", "image_size": [16, 24], "hidden": [8]})
    assert (config.batch_size, config.image_size) == ("full", [16, 24])
    model, path = small_model(tmp_path)
    model.training_summary = {"batch_size": "full", "epochs": 2, "final": {"loss": None}}
    model.save(path)
    assert load_model(path).training_summary["batch_size"] == "full"


@pytest.mark.parametrize("field,value,message", [
    ("epochs", True, r"epochs = True, which is not an integer"),
    ("hidden", [8, True], r"hidden = \[8, True\], which is not a list of integers or null"),
    ("batch_size", False, r"batch_size = False, which is not an integer, null or 'full'"),
])
def test_true_and_false_are_not_numbers_in_a_saved_configuration(field, value, message):
    """JSON's true is Python's True, an int to isinstance: epochs = true would train 1 epoch."""
    from glassnet.runs import RunConfig

    with pytest.raises(ConfigError, match=f"^the saved run configuration has {message}$"):
        RunConfig.from_dict({field: value})


def test_long_lists_of_names_in_messages_are_cut_after_the_eighth():
    from glassnet.json_checks import short_list

    names = [f"{i}.W" for i in range(9)]
    assert short_list(names[:8]) == repr(names[:8])
    assert short_list(names) == f"{names[:8]!r} and 1 more"


def test_a_users_layer_that_changes_the_shape_only_in_build_still_loads(tmp_path):
    class Widen(layers.Layer):
        """Doubles the features and, as the protocol allows, says so only in build."""

        def build(self, input_shape, rng, dtype):
            super().build(input_shape, rng, dtype)
            self.output_shape = (2 * input_shape[0],)
            return self.output_shape

        def forward(self, x, training=False):
            return np.concatenate([x, x], axis=1)

        def backward(self, dy):
            half = dy.shape[1] // 2
            return dy[:, :half] + dy[:, half:]

    model = Sequential([layers.Dense(4), Widen(), layers.Dense(2)], input_shape=(3,), seed=0)
    model.save(tmp_path / "m.glassnet")
    try:
        loaded = load_model(tmp_path / "m.glassnet")
        assert loaded.get_weights()["2.W"].shape == (8, 2)
    finally:
        del layers.LAYER_CLASSES["Widen"]


def test_a_users_layer_with_weights_of_its_own_round_trips(tmp_path):
    """Its weights' shapes are known only once it is built: they are checked after building,
    with the layers after it, not refused before as arrays the architecture lacks."""
    try:
        class FormatTestGain(layers.Layer):
            def build(self, input_shape, rng, dtype):
                self.params = {"g": rng.standard_normal(input_shape).astype(dtype)}
                self._init_grads()
                return super().build(input_shape, rng, dtype)

            def forward(self, x, training=False):
                return x * self.params["g"]

        model = Sequential([layers.Dense(4), FormatTestGain(), layers.Dense(2)], input_shape=(3,), seed=0)
        model.save(tmp_path / "m.glassnet")
        loaded = load_model(tmp_path / "m.glassnet")
        for key, value in model.get_weights().items():
            np.testing.assert_array_equal(loaded.get_weights()[key], value, err_msg=key)
        assert "1.g" in loaded.get_weights()
    finally:
        layers.LAYER_CLASSES.pop("FormatTestGain", None)


def test_a_softmax_over_one_output_is_refused(tmp_path):
    """Softmax over one output is always 1: such a file would load and predict nothing."""
    model = Sequential([layers.Dense(1)], input_shape=(3,), seed=0)
    path = tmp_path / "m.glassnet"
    model.save(path)
    edit_config(path, lambda c: c["model"].update(output_activation="softmax"))
    with pytest.raises(ModelFormatError, match=r"output_activation 'softmax' does not fit a model with "
                                               r"1 output\(s\)"):
        load_model(path)


@pytest.mark.parametrize("name", ["../escape", "0/../../escape", "a b"])
def test_an_array_name_that_is_no_plain_path_is_refused_at_save(tmp_path, name):
    with pytest.raises(ConfigError, match=rf"array name '{re.escape(name)}' cannot be stored"):
        archive.write_archive(tmp_path / "m.glassnet", {"format_version": 1}, {name: np.zeros(2)})
    assert not (tmp_path / "m.glassnet").exists()


def test_info_describes_a_training_summary_without_a_learning_rate(tmp_path, capsys):
    """The summary's optimizer may lack an lr (a file written by hand or by an older glassnet)."""
    from glassnet.cli import main

    model, path = small_model(tmp_path)
    model.training_summary = {"epochs": 2, "optimizer": {"name": "sgd"}}
    model.save(path)
    assert main(["info", str(path)]) == 0
    assert "training: 2 epochs, optimizer sgd\n" in capsys.readouterr().out


# -- review of 2026-12-06 (session 13) ----------------------------------------------------------
def test_a_zip_bomb_spread_over_many_entries_is_refused_before_reading_them(tmp_path):
    """Each entry stayed under the per-entry inflation limit: 1,000 entries of 1 MB of zeros
    in a 1.2 MB file took about 1 GB of memory before the extra arrays were refused."""
    _, path = small_model(tmp_path)
    zeros = npy_bytes(np.zeros(2**18 - 16, np.float32))
    with zipfile.ZipFile(path, "a", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for i in range(40):
            zf.writestr(f"arrays/x{i}.npy", zeros)
    assert os.path.getsize(path) < 2**20 // 2
    with pytest.raises(DamagedFileError, match=r"its arrays would inflate from .* far more than "
                                                r"weights ever compress"):
        load_model(path)


def test_an_oversized_config_is_refused_before_it_is_parsed(tmp_path):
    """A config.json of more than MAX_CONFIG_BYTES is refused by its size: otherwise any
    JSON object, however large, is read whole and parsed (and this one would even load)."""
    _, path = small_model(tmp_path)
    edit_config(path, lambda c: c.update(notes=" " * archive.MAX_CONFIG_BYTES))
    with pytest.raises(DamagedFileError, match=r"config\.json is \d+ bytes, far more than any "
                                                r"model needs; the file was not loaded"):
        load_model(path)


def test_a_newer_format_with_entries_this_version_does_not_know_is_called_newer(tmp_path):
    _, path = small_model(tmp_path)
    rewrite(path, {"metadata/notes.json": b"{}"})
    edit_config(path, lambda c: c.update(format_version=archive.FORMAT_VERSION + 1))
    with pytest.raises(NewerFormatError, match="upgrade glassnet"):
        load_model(path)


@pytest.mark.parametrize("edit,error", [
    (lambda c: c["model"].update(output_activation=["softmax"]), "unknown output_activation"),
    (lambda c: c.update(glassnet_version=10 ** 5000), "not valid JSON"),
], ids=["activation as a list", "5000-digit integer"])
def test_crafted_configs_are_clear_errors_not_tracebacks(edit, error, tmp_path):
    _, path = small_model(tmp_path)
    with zipfile.ZipFile(path) as zf:
        config = json.loads(zf.read("config.json"))
    edit(config)
    import sys

    limit = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(0)  # to write the number at all
    try:
        text = json.dumps(config).encode()
    finally:
        sys.set_int_max_str_digits(limit)
    rewrite(path, {"config.json": text})
    with pytest.raises(ModelFormatError, match=error):
        load_model(path)


def test_a_npy_header_that_does_not_parse_is_a_damaged_file(tmp_path):
    _, path = small_model(tmp_path)
    good = npy_bytes(np.zeros((5,), np.float32))
    broken = good.replace(b"(5,)", b"(5,(", 1)
    rewrite(path, {"arrays/1.b.npy": broken})
    with pytest.raises(DamagedFileError, match=r"array '1.b' is not a valid .npy array"):
        load_model(path)


def test_a_negative_batchnorm_variance_is_refused(tmp_path):
    model = Sequential([layers.Dense(3), layers.BatchNorm(), layers.Dense(2)], input_shape=(4,))
    path = tmp_path / "bn.glassnet"
    model.save(path)
    rewrite(path, {"arrays/1.state.running_var.npy": npy_bytes(np.array([1, -1, 1], np.float32))})
    with pytest.raises(WeightMismatchError, match="'1.state.running_var' holds negative variances"):
        load_model(path)


def test_a_device_or_pipe_is_not_read_as_a_model_file(tmp_path):
    os.mkfifo(tmp_path / "pipe")
    for path in (tmp_path / "pipe", "/dev/zero"):
        with pytest.raises(ModelFormatError, match="is not a regular file"):
            load_model(path)


def test_a_file_the_system_will_not_let_us_read_is_not_called_damaged(tmp_path, monkeypatch):
    _, path = small_model(tmp_path)

    def refuse(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(zipfile.ZipFile, "__init__", refuse)
    with pytest.raises(ModelFormatError, match=r"could not read .*: Permission denied") as info:
        load_model(path)
    assert not isinstance(info.value, DamagedFileError)
    with pytest.raises(ModelFormatError, match="could not read .*: File name too long"):
        load_model(tmp_path / ("a" * 300 + ".glassnet"))


def test_saving_never_replaces_a_device_a_pipe_or_a_folder(tmp_path):
    model, _ = small_model(tmp_path)
    os.mkfifo(tmp_path / "pipe")
    (tmp_path / "folder").mkdir()
    for target, what in ((tmp_path / "pipe", "not a regular file"), (tmp_path / "folder", "it is a folder")):
        with pytest.raises(SaveError, match=what):
            model.save(target)
    assert stat_is_fifo(tmp_path / "pipe")


def stat_is_fifo(path) -> bool:
    import stat

    return stat.S_ISFIFO(os.stat(path).st_mode)


def test_saving_the_same_model_twice_gives_the_same_bytes(tmp_path, monkeypatch):
    import time

    model, _ = small_model(tmp_path)
    model.save(tmp_path / "one.glassnet")
    os.utime(tmp_path / "one.glassnet", (0, 0))  # a zip entry's date used to be the time of saving
    a_day_later = time.localtime(time.time() + 86400)
    monkeypatch.setattr(time, "localtime", lambda *seconds: a_day_later)  # as zipfile dates entries
    model.save(tmp_path / "two.glassnet")
    assert (tmp_path / "one.glassnet").read_bytes() == (tmp_path / "two.glassnet").read_bytes()


def test_a_file_declaring_a_huge_input_for_size_free_weights_is_refused(tmp_path):
    """cnn-bn's weights fit any image size: input_shape [3, 40000, 40000] loaded cleanly and
    then made predict resize every image to 40000 x 40000."""
    model = zoo.build("cnn-bn", (3, 8, 8), 2, seed=0)
    path = tmp_path / "m.glassnet"
    model.save(path)
    edit_config(path, lambda c: c["model"].update(input_shape=[3, 40000, 40000]))
    with pytest.raises(ModelFormatError, match=r"input_shape \[3, 40000, 40000\] .* 4,800,000,000 "
                                               r"values per sample"):
        load_model(path)


def test_a_user_layer_whose_get_config_misses_an_argument_is_refused_at_save(tmp_path):
    """It saved, and loaded with the default alpha (other predictions, silently), or not at
    all when alpha has no default."""
    class ConfigTestPower(layers.Layer):
        def __init__(self, alpha=1.0, name=None):
            super().__init__(name)
            self.alpha = alpha

        def forward(self, x, training=False):
            return x * self.alpha

    class ConfigTestScale(layers.Layer):
        def __init__(self, factor, name=None):
            super().__init__(name)
            self.factor = factor

        def forward(self, x, training=False):
            return x * self.factor

    try:
        for layer, problem in ((ConfigTestPower(alpha=3.0), r"'alpha' \(3\.0 here\): the loaded layer "
                                                            r"would have the default, 1\.0"),
                               (ConfigTestScale(2.0), r"'factor', which __init__ requires: the file "
                                                      r"could not be loaded")):
            model = Sequential([layers.Dense(2), layer], input_shape=(3,))
            with pytest.raises(ConfigError, match=rf"^layer 1 \({type(layer).__name__}\): get_config\(\) "
                                                  rf"does not return {problem}; return it from get_config"):
                model.save(str(tmp_path / "m.glassnet"))
            assert not (tmp_path / "m.glassnet").exists()
        Sequential([layers.Dense(2), ConfigTestPower()], input_shape=(3,)).save(str(tmp_path / "m.glassnet"))
    finally:
        layers.LAYER_CLASSES.pop("ConfigTestPower", None)
        layers.LAYER_CLASSES.pop("ConfigTestScale", None)



def test_a_training_summary_of_the_users_own_shapes_still_loads(tmp_path, capsys):
    """The summary is free-form beside the keys glassnet reads: an ``augment`` list or an
    ``early_stopping`` number of the user's own must not make the file unloadable; ``info``
    shows them only in the shapes ``glassnet train`` writes."""
    from glassnet.cli import main

    model = Sequential([layers.Dense(1)], input_shape=(2,))
    model.training_summary = {"augment": ["flip", "crop"], "early_stopping": 3}
    model.save(tmp_path / "m.glassnet")
    assert load_model(tmp_path / "m.glassnet").training_summary["augment"] == ["flip", "crop"]
    assert main(["info", str(tmp_path / "m.glassnet")]) == 0
    text = capsys.readouterr().out
    assert "augment" not in text and "early stopping" not in text
