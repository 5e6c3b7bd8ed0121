"""ONNX export (optional extra ``glassnet[onnx]``: ``onnx`` and ``onnxruntime``).

The exported graph takes what ``Sequential.predict`` takes and returns what it returns:

- input ``input``: float32 ``(N, *input_shape)``, e.g. raw pixel values 0..255 as
  ``(N, 3, 64, 64)``; the model's preprocessing ``(x * scale - mean) / std`` (per channel,
  axis 1) is the first part of the graph, so no preprocessing is needed outside it;
- output ``probabilities``: ``(N, 1)`` sigmoid for two classes (the probability of class
  1), ``(N, C)`` softmax otherwise; a model with no output activation (never compiled with
  a cross-entropy loss, no final sigmoid/softmax layer) outputs its raw ``scores`` instead.

The model's metadata (``metadata_props``) records the class names, input layout,
preprocessing and output meaning. Weights are exported as float32.

Each layer class has one exporter function in :data:`EXPORTERS`; a layer without one is
a clear :class:`~glassnet.errors.ConfigError` naming it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .._files import write_bytes
from ..backend import to_numpy
from ..data.images import RESIZE_MODES
from ..errors import ConfigError, require_extra
from ..model import Sequential  # at run time: typing.get_type_hints(export_onnx) resolves
from .format import UNRECORDED_RESIZE, training_resize

if TYPE_CHECKING:
    import onnx  # an optional extra: imported where an export needs it

OPSET = 17
#: a protobuf message (an ONNX file without external data) cannot exceed 2 GiB
MAX_PROTO_BYTES = 2**31 - 1
INPUT_NAME = "input"
OUTPUT_NAMES = {True: "probabilities", False: "scores"}  # does the model end in sigmoid/softmax?


class GraphBuilder:
    """Collects ONNX nodes and float32 initializers with unique names."""

    def __init__(self) -> None:
        self.onnx = require_extra("onnx", "onnx")
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self._count = 0

    def _name(self, hint: str) -> str:
        self._count += 1
        return f"{hint}_{self._count}"

    def const(self, hint: str, value: Any, dtype: Any = np.float32) -> str:
        """An initializer holding ``value`` (as ``dtype``); returns its name."""
        name = self._name(hint)
        array = np.ascontiguousarray(np.asarray(to_numpy(value), dtype=dtype))
        self.initializers.append(self.onnx.numpy_helper.from_array(array, name))
        return name

    def node(self, op: str, inputs: list[str], output: str | None = None, **attrs: Any) -> str:
        """Add ``op(inputs)`` with attributes; returns the name of its (single) output."""
        output = output or self._name(op.lower())
        self.nodes.append(self.onnx.helper.make_node(op, inputs, [output], name=output, **attrs))
        return output


Exporter = Callable[[GraphBuilder, Any, str], str]
EXPORTERS: dict[str, Exporter] = {}


def exporter(*class_names: str) -> Callable[[Exporter], Exporter]:
    """Register ``fn(graph, layer, x) -> y`` as the ONNX export of the named layer classes."""

    def wrap(fn: Exporter) -> Exporter:
        for name in class_names:
            EXPORTERS[name] = fn
        return fn

    return wrap


def export_layer(graph: GraphBuilder, layer: Any, x: str) -> str:
    """Add ``layer``'s ONNX nodes (its class's :func:`exporter`) to ``graph`` after the value
    named ``x``; returns the name of their output, or a :class:`ConfigError` for a layer
    class without one."""
    name = type(layer).__name__
    if name not in EXPORTERS:
        raise ConfigError(f"layer {name} has no ONNX export; exportable: {sorted(EXPORTERS)}")
    return EXPORTERS[name](graph, layer, x)


# -- layer exporters ------------------------------------------------------------------------
@exporter("ReLU", "Sigmoid", "Tanh")
def _elementwise(graph, layer, x):
    return graph.node({"ReLU": "Relu"}.get(type(layer).__name__, type(layer).__name__), [x])


@exporter("LeakyReLU")
def _leaky_relu(graph, layer, x):
    return graph.node("LeakyRelu", [x], alpha=float(layer.alpha))


@exporter("Softmax")
def _softmax(graph, layer, x):
    return graph.node("Softmax", [x], axis=-1)


@exporter("Dense")
def _dense(graph, layer, x):
    W = graph.const("W", layer.params["W"])
    if layer.use_bias:
        y = graph.node("Gemm", [x, W, graph.const("b", layer.params["b"])])
    else:
        y = graph.node("MatMul", [x, W])
    return export_layer(graph, layer.activation, y) if layer.activation is not None else y


@exporter("Flatten")
def _flatten(graph, layer, x):
    if layer.channels_last and len(layer.input_shape) == 3:
        x = graph.node("Transpose", [x], perm=[0, 2, 3, 1])
    return graph.node("Flatten", [x], axis=1)


@exporter("Conv2D")
def _conv(graph, layer, x):
    top, bottom, left, right = layer.pads
    inputs = [x, graph.const("W", layer.params["W"])]
    if layer.use_bias:
        inputs.append(graph.const("b", layer.params["b"]))
    y = graph.node("Conv", inputs, kernel_shape=list(layer.kernel_size), strides=list(layer.strides),
                   pads=[top, left, bottom, right])
    return export_layer(graph, layer.activation, y) if layer.activation is not None else y


@exporter("MaxPool2D", "AvgPool2D")
def _pool(graph, layer, x):
    top, bottom, left, right = layer.pads
    attrs = {"kernel_shape": list(layer.pool_size), "strides": list(layer.strides),
             "pads": [top, left, bottom, right]}
    if type(layer).__name__ == "AvgPool2D":
        return graph.node("AveragePool", [x], count_include_pad=1, **attrs)
    return graph.node("MaxPool", [x], **attrs)


@exporter("GlobalAveragePooling2D")
def _global_average(graph, layer, x):
    return graph.node("Flatten", [graph.node("GlobalAveragePool", [x])], axis=1)


@exporter("BatchNorm")
def _batch_norm(graph, layer, x):
    """Inference form: ``gamma * (x - running_mean) / sqrt(running_var + eps) + beta``."""
    inputs = [graph.const("gamma", layer.params["gamma"]), graph.const("beta", layer.params["beta"]),
              graph.const("running_mean", layer.state["running_mean"]),
              graph.const("running_var", layer.state["running_var"])]
    return graph.node("BatchNormalization", [x, *inputs], epsilon=float(layer.eps))


@exporter("Dropout")
def _dropout(graph, layer, x):
    return x  # identity at inference


# -- the model ------------------------------------------------------------------------------
def _preprocessing(graph: GraphBuilder, model, x: str) -> str:
    p = model.preprocessing
    per_channel = (1, -1) + (1,) * (len(model.input_shape) - 1)
    if p["scale"] != 1.0:
        x = graph.node("Mul", [x, graph.const("scale", p["scale"])])
    if p["mean"] is not None:
        x = graph.node("Sub", [x, graph.const("mean", np.reshape(p["mean"], per_channel))])
    if p["std"] is not None:
        x = graph.node("Div", [x, graph.const("std", np.reshape(p["std"], per_channel))])
    return x


def metadata(model: Sequential) -> dict[str, str]:
    """What a user of the ONNX file needs to know, as ``metadata_props`` strings."""
    from .. import __version__

    resize = training_resize(model.training_summary)
    if resize is not None and resize not in RESIZE_MODES:  # (an edited file, or a newer glassnet's)
        raise ConfigError(f"the model records an unknown resize mode {resize!r} (how its training "
                          f"images were fitted: {'/'.join(RESIZE_MODES)}); the ONNX metadata would "
                          "tell its users something no glassnet does")
    names = model.class_names or []
    # which class "class 1" is: a reader of a folder model ("cat", "other") would guess wrong
    second = f" ({names[1]!r})" if len(names) == 2 else ""
    outputs = {"sigmoid": f"probability of class 1{second} (sigmoid), shape (N, 1)",
               "softmax": "class probabilities (softmax), shape (N, C)"}
    return {
        "glassnet_version": __version__,
        "model_name": model.name,
        "class_names": json.dumps(model.class_names),
        "input": f"float32 (N, {', '.join(map(str, model.input_shape))}); {_input_values(model)}, "
                 "before preprocessing",
        "preprocessing": json.dumps(model.preprocessing),
        "preprocessing_in_graph": "true: (x * scale - mean) / std per channel is applied inside the graph",
        # how training images were fitted to the input size (squash: stretched)
        "resize": resize or UNRECORDED_RESIZE,
        "output": outputs.get(model.probability_activation, "raw outputs of the last layer"),
    }


def _input_values(model) -> str:
    """What the graph's input holds. Pixel values 0..255 only when glassnet trained the model
    on an image data set (its loaders give uint8 pixels); a model built in Python takes the
    values it was given in training, which the file cannot know."""
    shape = model.input_shape
    if len(shape) != 3:
        return "raw feature values"
    channels = {1: "grayscale", 3: "RGB"}.get(shape[0], f"{shape[0]} channels")
    if "dataset" in (model.training_summary or {}):
        return f"images NCHW ({channels}) as raw pixel values 0..255"
    return f"images NCHW ({channels}), the values model.predict takes"


def output_name(model: Sequential) -> str:
    """``"probabilities"``, or ``"scores"`` for a model whose outputs are raw."""
    return OUTPUT_NAMES[model.outputs_probabilities]


def to_onnx(model: Sequential, opset: int = OPSET) -> onnx.ModelProto:
    """The ``onnx.ModelProto`` of a built ``model`` (see the module docstring for its interface)."""
    if not model.built:
        raise ConfigError("build or train the model before exporting it")
    weight_bytes = 4 * sum(int(a.size) for layer in model.layers  # exported as float32
                           for a in (*layer.params.values(), *layer.state.values()))
    if weight_bytes + 2**20 > MAX_PROTO_BYTES:  # 1 MiB for the graph and metadata
        raise ConfigError(f"the model's weights take {weight_bytes / 2**30:.2f} GiB as float32; an "
                          "ONNX file (one protobuf message) is limited to 2 GiB, so this model "
                          "cannot be exported")
    graph = GraphBuilder()
    helper, TensorProto = graph.onnx.helper, graph.onnx.TensorProto
    x = _preprocessing(graph, model, INPUT_NAME)
    for layer in model.layers:
        x = export_layer(graph, layer, x)
    final = {"sigmoid": "Sigmoid", "softmax": "Softmax"}.get(model.output_activation)
    output = output_name(model)
    if final == "Softmax":
        graph.node("Softmax", [x], output, axis=-1)
    else:
        graph.node(final or "Identity", [x], output)
    inputs = [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, ["N", *model.input_shape])]
    outputs = [helper.make_tensor_value_info(output, TensorProto.FLOAT, ["N", *model.output_shape])]
    onnx_graph = helper.make_graph(graph.nodes, model.name, inputs, outputs, graph.initializers)
    opsets, props = [helper.make_opsetid("", opset)], metadata(model)
    # The oldest IR version that carries this opset, not the installed onnx's newest (IR 14
    # with onnx 1.23): runtimes refuse files of a newer IR than they know, whatever the
    # opset (onnxruntime 1.17: "Unsupported model IR version: 14, max supported IR version: 9").
    proto = helper.make_model(onnx_graph, opset_imports=opsets,
                              ir_version=helper.find_min_ir_version_for(opsets),
                              producer_name="glassnet", producer_version=props["glassnet_version"])
    helper.set_model_props(proto, props)
    graph.onnx.checker.check_model(proto, full_check=True)
    return proto


def export_onnx(model: Sequential, path: str | Path, opset: int = OPSET,
                check: Callable[[bytes], Any] | None = None) -> Any:
    """Write ``model`` as an ONNX file at ``path`` (checked with ``onnx.checker``; atomic).

    ``check(data)``, if given, sees the file's bytes before anything is written; an error
    it raises leaves ``path`` as it was (``glassnet export --check``: a file that fails the
    comparison with onnxruntime never replaces a good one). Returns what ``check`` returned."""
    data = to_onnx(model, opset).SerializeToString()
    checked = check(data) if check is not None else None
    write_bytes(path, data)
    return checked


def run_onnx(model: str | Path | bytes, x: np.ndarray) -> np.ndarray:
    """Run an exported file (its path, or its bytes) with onnxruntime on ``x``
    ``(N, *input_shape)`` → its one output (``probabilities`` or ``scores``)."""
    return _run(model if isinstance(model, bytes) else str(model), x)[0]


def run_onnx_with_logits(model: bytes, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`run_onnx` of an exported file's bytes, and the last layer's raw outputs, which
    the graph's final node (its sigmoid, softmax or identity) reads: ``--check`` compares
    both, since a trained model's sigmoid is 0 or 1 on random inputs and hides a wrong graph."""
    onnx = require_extra("onnx", "onnx")
    proto = onnx.load_from_string(model)
    logits = proto.graph.node[-1].input[0]
    proto.graph.output.append(onnx.helper.make_tensor_value_info(logits, onnx.TensorProto.FLOAT, None))
    outputs, raw = _run(proto.SerializeToString(), x)
    return outputs, raw


def _run(source: str | bytes, x: np.ndarray) -> list[np.ndarray]:
    """Every output of the ONNX file ``source`` (a path, or the bytes) on ``x``."""
    ort = require_extra("onnxruntime", "onnx")
    session = ort.InferenceSession(source, providers=["CPUExecutionProvider"])
    return session.run(None, {INPUT_NAME: np.asarray(x, dtype=np.float32)})
