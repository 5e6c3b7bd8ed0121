"""ONNX export: every layer type and zoo model checks and matches glassnet on real images."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

from conftest import run_cli
from glassnet import Sequential, layers, zoo
from glassnet.errors import ConfigError, GlassnetWarning, MissingExtraError
from layer_zoo import conv_gap_model, conv_model, dense_model, layer_types, perturbed

onnx = pytest.importorskip("onnx", reason="the onnx extra is not installed: pip install 'glassnet[onnx]'")
pytest.importorskip("onnxruntime", reason="the onnx extra is not installed: pip install 'glassnet[onnx]'")

from glassnet.io.onnx import EXPORTERS, export_onnx, run_onnx, to_onnx  # noqa: E402

IMAGE_STATS = {"scale": 1 / 255, "mean": [0.48, 0.45, 0.40], "std": [0.23, 0.22, 0.24]}


def assert_matches(model: Sequential, images: np.ndarray, tmp_path) -> onnx.ModelProto:
    path = tmp_path / "model.onnx"
    export_onnx(model, path)
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto, full_check=True)
    expected = model.predict(images)
    got = run_onnx(path, images)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5)
    return proto


@pytest.mark.parametrize("name", zoo.names())
@pytest.mark.parametrize("dataset", ["cats", "cifar10"])
def test_every_zoo_model_exports_and_matches_on_real_images(name, dataset, real_images, tmp_path):
    images, classes = real_images[dataset]
    model = perturbed(zoo.build(name, images.shape[1:], classes, seed=2))
    model.compile(loss=zoo.loss_for(classes), optimizer="sgd")
    model.set_preprocessing(**IMAGE_STATS)
    assert_matches(model, images, tmp_path)


def test_conv_model_matches_on_cifar_images(real_images, tmp_path):
    images, classes = real_images["cifar10"]
    model = perturbed(conv_model(images.shape[1:], classes))
    model.compile(loss="categorical_crossentropy", optimizer="sgd")
    model.set_preprocessing(**IMAGE_STATS)
    assert_matches(model, images, tmp_path)


MODELS = {"dense": (dense_model, "categorical_crossentropy"),
          "conv": (conv_model, "categorical_crossentropy"),
          "conv-gap": (conv_gap_model, "binary_crossentropy")}


def test_the_test_models_use_every_exportable_layer():
    assert set().union(*(layer_types(factory()) for factory, _ in MODELS.values())) == set(EXPORTERS)


@pytest.mark.parametrize("name", MODELS)
def test_every_layer_type_exports_and_matches(name, cats, tmp_path):
    factory, loss = MODELS[name]
    model = perturbed(factory())
    model.compile(loss=loss, optimizer="sgd")
    model.set_preprocessing(**IMAGE_STATS)
    assert_matches(model, cats["test"].x, tmp_path)


def test_every_layer_class_has_an_exporter():
    missing = set(layers.LAYER_CLASSES) - set(EXPORTERS) - {"Layer"}
    assert not missing, f"add ONNX exporters for {sorted(missing)}"


def test_float64_model_exports_as_float32_and_matches(cats, tmp_path):
    model = zoo.build("mlp", cats["test"].image_shape, 2, seed=1, dtype="float64", hidden=(20, 7, 5))
    model.compile(loss="binary_crossentropy", optimizer="sgd")
    model.set_preprocessing(scale=1 / 255)
    assert_matches(model, cats["test"].x, tmp_path)


def test_metadata_documents_classes_and_preprocessing(cats):
    model = zoo.build("mlp", cats["test"].image_shape, 2)
    model.compile(loss="binary_crossentropy", optimizer="sgd")
    model.set_preprocessing(**IMAGE_STATS)
    model.class_names = ["non-cat", "cat"]
    props = {p.key: p.value for p in to_onnx(model).metadata_props}
    assert json.loads(props["class_names"]) == ["non-cat", "cat"]
    assert json.loads(props["preprocessing"]) == model.preprocessing
    assert props["preprocessing_in_graph"].startswith("true")
    assert "sigmoid" in props["output"]
    # trained in Python: glassnet does not know how its images were fitted, and says so
    assert props["resize"] == "squash (assumed: not recorded for a model trained in Python)"
    for summary, resize in (({"resize": "crop"}, "crop"),  # as a run on an image folder records it
                            ({"dataset": "cats"}, "squash")):  # a named set's images come at their size
        model.training_summary = summary
        assert {p.key: p.value for p in to_onnx(model).metadata_props}["resize"] == resize
    model.training_summary = {"resize": "stretch"}  # an edited file: predict refuses it too
    with pytest.raises(ConfigError, match=r"the model records an unknown resize mode 'stretch' \(how "
                                          r"its training images were fitted: squash/crop/pad\)"):
        to_onnx(model)


def test_a_layer_without_exporter_is_named():
    class Custom(layers.ReLU):
        pass

    model = Sequential([layers.Dense(3), Custom()], input_shape=(4,))
    try:
        with pytest.raises(ConfigError, match="layer Custom has no ONNX export"):
            to_onnx(model)
    finally:
        del layers.LAYER_CLASSES["Custom"]


def test_missing_extra_names_the_pip_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)
    model = Sequential([layers.Dense(3)], input_shape=(4,))
    with pytest.raises(MissingExtraError, match=r"pip install 'glassnet\[onnx\]'"):
        to_onnx(model)


def test_cli_export_checks_with_onnxruntime(cats, tmp_path):
    model = zoo.build("mlp", cats["test"].image_shape, 2, hidden=(5,))
    model.compile(loss="binary_crossentropy", optimizer="sgd")
    model.set_preprocessing(scale=1 / 255)
    model.class_names = ["non-cat", "cat"]
    model.save(tmp_path / "m.glassnet")
    result = run_cli("export", str(tmp_path / "m.glassnet"), "--onnx", str(tmp_path / "m.onnx"), "--check")
    assert result.returncode == 0, result.stderr
    assert "onnxruntime matches glassnet" in result.stdout
    onnx.checker.check_model(onnx.load(str(tmp_path / "m.onnx")))


def raw_output_model(cats, tmp_path, scale: float):
    """A model without an output activation whose outputs reach about ``scale``."""
    model = Sequential([layers.Flatten(), layers.Dense(3)], input_shape=cats["test"].image_shape, seed=0)
    model.set_weights({"1.W": model.get_weights()["1.W"] * scale, "1.b": np.zeros(3, np.float32)})
    model.save(tmp_path / "raw.glassnet")
    return model


def test_export_check_tolerance_is_relative_to_the_outputs_size(cats, tmp_path, capsys):
    from glassnet.cli import main

    model = raw_output_model(cats, tmp_path, scale=50.0)
    assert np.abs(model.predict(cats["test"].x[:8].astype(np.float32))).max() > 1e3
    assert main(["export", str(tmp_path / "raw.glassnet"), "--onnx", str(tmp_path / "raw.onnx"),
                 "--check"]) == 0, capsys.readouterr().err
    assert "onnxruntime matches glassnet" in capsys.readouterr().out


def test_export_check_holds_outputs_below_one_to_the_absolute_tolerance(cats, tmp_path, capsys, monkeypatch):
    """The tolerance is 1e-5 times the largest output only above 1: outputs of 0.01 are held
    to 1e-5, not to 1e-7, which float32's rounding alone can exceed."""
    import glassnet.io.onnx as onnx_module
    from glassnet.cli import main

    model = raw_output_model(cats, tmp_path, scale=1e-3)
    assert np.abs(model.predict(cats["test"].x[:8].astype(np.float32))).max() < 0.5
    # (a raw model's outputs are its last layer's: both the same)
    monkeypatch.setattr(onnx_module, "run_onnx_with_logits", lambda path, x: (model.predict(x) + 5e-6,) * 2)
    assert main(["export", str(tmp_path / "raw.glassnet"), "--onnx", str(tmp_path / "raw.onnx"),
                 "--check"]) == 0, capsys.readouterr().err
    assert "onnxruntime matches glassnet to 5.0e-06" in capsys.readouterr().out


def test_export_check_reports_the_difference_of_the_outputs(cats, tmp_path, capsys, monkeypatch):
    """The raw outputs are compared too, but the number shown is that of the outputs the
    file gives (its probabilities), as before."""
    import glassnet.io.onnx as onnx_module
    from glassnet.cli import main

    model = Sequential([layers.Flatten(), layers.Dense(3)], input_shape=cats["test"].image_shape, seed=0,
                       preprocessing={"scale": 1 / 255})
    model.compile("categorical_crossentropy", "sgd")
    model.save(tmp_path / "m.glassnet")
    monkeypatch.setattr(onnx_module, "run_onnx_with_logits",
                        lambda path, x: (model.predict(x) + 2e-6, model.predict_logits(x) + 8e-6))
    assert main(["export", str(tmp_path / "m.glassnet"), "--onnx", str(tmp_path / "m.onnx"),
                 "--check"]) == 0, capsys.readouterr().err
    assert "onnxruntime matches glassnet to 2.0e-06" in capsys.readouterr().out


def test_export_check_fails_when_onnxruntime_disagrees(cats, tmp_path, capsys, monkeypatch):
    import glassnet.io.onnx as onnx_module
    from glassnet.cli import main

    raw_output_model(cats, tmp_path, scale=1.0)
    good = tmp_path / "raw.onnx"
    good.write_bytes(b"an earlier export that passed")
    monkeypatch.setattr(onnx_module, "run_onnx_with_logits",
                        lambda path, x: (np.zeros((len(x), 3), np.float32),) * 2)
    assert main(["export", str(tmp_path / "raw.glassnet"), "--onnx", str(good), "--check"]) == 1
    assert capsys.readouterr().err.endswith(f"; {good} was not written\n")
    # the file that failed never replaced the good one, and nothing is left beside it
    assert good.read_bytes() == b"an earlier export that passed"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["raw.glassnet", "raw.onnx"]


def test_export_check_refuses_a_model_whose_outputs_are_not_finite(cats, tmp_path, capsys):
    from glassnet.cli import main

    model = raw_output_model(cats, tmp_path, scale=1.0)
    with pytest.warns(GlassnetWarning, match=r"set_weights: arrays \['1.b'\] hold NaN"):
        model.set_weights({**model.get_weights(), "1.b": np.full(3, np.nan, np.float32)})
    model.save(tmp_path / "nan.glassnet")
    assert main(["export", str(tmp_path / "nan.glassnet"), "--onnx", str(tmp_path / "nan.onnx"),
                 "--check"]) == 1
    err = capsys.readouterr().err
    assert "the model's outputs are not finite (NaN or infinite)" in err and "nan.onnx was not written" in err
    assert "differs" not in err and not (tmp_path / "nan.onnx").exists()


@pytest.mark.parametrize("broken", ["ReLU", "GlobalAveragePool"])
def test_export_check_catches_a_wrong_graph_that_a_saturated_sigmoid_hides(cats, tmp_path, capsys,
                                                                           monkeypatch, broken):
    """On random noise a trained cat model's sigmoid is 1e-16 or 1 - 1e-16: a ReLU exported as
    a pass-through, or global average pooling as max pooling, passed --check though 14-16%
    of real test images changed class. The last layer's raw outputs give it away."""
    import glassnet.io.onnx as onnx_module
    from glassnet.cli import main

    model = Sequential([layers.Conv2D(4, 3), layers.ReLU(), layers.GlobalAveragePooling2D(), layers.Dense(1)],
                       input_shape=cats["test"].image_shape, seed=0, preprocessing={"scale": 1 / 255})
    model.compile("binary_crossentropy", "sgd")
    weights = model.get_weights()
    model.set_weights({**weights, "3.W": weights["3.W"] * 1e3})  # saturated, as trained ones are
    model.save(tmp_path / "m.glassnet")
    x = np.random.default_rng(0).integers(0, 256, (8, *model.input_shape)).astype(np.float32)
    assert np.all((model.predict(x) < 1e-6) | (model.predict(x) > 1 - 1e-6))
    wrong = {"ReLU": ("ReLU", lambda graph, layer, x: graph.node("Identity", [x])),
             "GlobalAveragePool": ("GlobalAveragePooling2D", lambda graph, layer, x: graph.node(
                 "Flatten", [graph.node("GlobalMaxPool", [x])], axis=1))}
    monkeypatch.setitem(onnx_module.EXPORTERS, *wrong[broken])
    assert main(["export", str(tmp_path / "m.glassnet"), "--onnx", str(tmp_path / "m.onnx"), "--check"]) == 1
    assert "in the last layer's raw outputs" in capsys.readouterr().err
    assert not (tmp_path / "m.onnx").exists()


def test_the_output_is_named_after_what_it_holds(cats, tmp_path):
    raw = raw_output_model(cats, tmp_path, scale=1.0)  # never compiled, no final activation
    props = {p.key: p.value for p in to_onnx(raw).metadata_props}
    assert [o.name for o in to_onnx(raw).graph.output] == ["scores"]
    assert props["output"] == "raw outputs of the last layer"
    ends_in_softmax = Sequential([layers.Flatten(), layers.Dense(3), layers.Softmax()],
                                 input_shape=cats["test"].image_shape, seed=0)
    assert [o.name for o in to_onnx(ends_in_softmax).graph.output] == ["probabilities"]
    images = cats["test"].x[:4].astype(np.float32)
    for model in (raw, ends_in_softmax):
        model.set_preprocessing(scale=1 / 255)  # outputs of order 1: the absolute 1e-5 applies
        assert_matches(model, images, tmp_path)


def test_ir_version_is_the_oldest_for_the_opset_so_older_runtimes_load_it():
    # onnxruntime 1.17 (the extra's minimum) refuses IR versions above 9, and onnx 1.23's
    # make_model writes IR 14 unless told: the file must carry the IR of opset 17 (8).
    model = Sequential([layers.Flatten(), layers.Dense(3)], input_shape=(3, 4, 4))
    proto = to_onnx(model)
    assert proto.ir_version == onnx.helper.find_min_ir_version_for(list(proto.opset_import)) == 8


def test_a_model_too_large_for_one_protobuf_is_a_clear_error(monkeypatch):
    import glassnet.io.onnx as onnx_module

    model = Sequential([layers.Flatten(), layers.Dense(300), layers.BatchNorm(), layers.Dense(3)],
                       input_shape=(3, 8, 8))
    monkeypatch.setattr(onnx_module, "MAX_PROTO_BYTES", 2**20 + 4 * 300 * 200)
    with pytest.raises(ConfigError, match="limited to 2 GiB"):
        to_onnx(model)


def test_metadata_input_describes_images_or_features():
    images = Sequential([layers.Flatten(), layers.Dense(3)], input_shape=(3, 4, 4))
    features = Sequential([layers.Dense(3)], input_shape=(4,))

    def described(model):
        return {p.key: p.value for p in to_onnx(model).metadata_props}["input"]

    # built in Python: nothing says its inputs were pixels 0..255
    assert described(images) == ("float32 (N, 3, 4, 4); images NCHW (RGB), the values "
                                 "model.predict takes, before preprocessing")
    images.training_summary = {"dataset": "cats", "seed": 0}  # as a glassnet run records it
    assert described(images) == ("float32 (N, 3, 4, 4); images NCHW (RGB) as raw pixel values "
                                 "0..255, before preprocessing")
    two = Sequential([layers.Flatten(), layers.Dense(3)], input_shape=(2, 4, 4))
    assert "(2 channels)" in described(two)
    assert described(features) == "float32 (N, 4); raw feature values, before preprocessing"


def test_export_check_without_onnxruntime_writes_nothing(cats, tmp_path, monkeypatch, capsys):
    from glassnet.cli import main

    raw_output_model(cats, tmp_path, scale=1.0)
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    assert main(["export", str(tmp_path / "raw.glassnet"), "--onnx", str(tmp_path / "raw.onnx"),
                 "--check"]) == 1
    assert "pip install 'glassnet[onnx]'" in capsys.readouterr().err
    assert not (tmp_path / "raw.onnx").exists()


def test_metadata_names_the_class_a_sigmoid_output_is_the_probability_of():
    model = Sequential([layers.Dense(1)], input_shape=(4,))
    model.compile("binary_crossentropy")
    model.class_names = ["cat", "other"]  # a folder's sorted names: class 1 is not the cat
    props = {p.key: p.value for p in to_onnx(model).metadata_props}
    assert props["output"].startswith("probability of class 1 ('other') (sigmoid)")
