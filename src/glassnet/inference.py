"""``evaluate`` and ``predict``: the forward pass alone, over bounded batches, and its
outputs as probabilities or classes.

Inference runs each layer with ``training=False`` (dropout off, BatchNorm's running
statistics) and keeps nothing for a backward pass. Inputs are checked and preprocessed
one batch at a time, so memory stays bounded whatever the number of samples; with no
``batch_size`` given (``"auto"``), a batch holds :data:`BATCH_SIZE` samples, or fewer when
their activations would take more than :data:`BATCH_BYTES` (big images).
:class:`~glassnet.model.Sequential`'s ``evaluate``, ``predict_logits``, ``predict``,
``probabilities``, ``predict_classes`` and ``classes_of`` call these functions.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from . import backend
from ._checks import require_labels
from .backend import Array, to_numpy
from .errors import ConfigError
from .functional import batch_slices, count_within, sigmoid, softmax
from .metrics import predicted_classes
from .training.fit_checks import check_batch_size, check_finite
from .training.progress import InferenceProgress

if TYPE_CHECKING:
    from .model import Sequential

#: samples per batch of predict and evaluate when the caller gives no batch size and the
#: samples are small (every size of CIFAR-10 and the cat set: the batch size before 2026-12-06)
BATCH_SIZE = 256
#: bytes one such batch may hold in a layer's input and output at once: 256 MiB keeps 256
#: samples of 64x64 RGB for the zoo's cnn-keras (0.66 MB a sample) and takes 11 of 384x384
#: (24 MB a sample), where 256 would hold 6 GB; ten such images still make GEMMs of a
#: million columns, so the speed stays. An estimate of the activations only: the layers'
#: temporaries (BatchNorm's centred copy, a convolution's group of columns) come on top:
#: benchmarks/inference_peak.py measures the peak (1.35x this for cnn-keras, 2.40x for
#: cnn-bn at 384x384 on 2026-12-06)
BATCH_BYTES = 256 * 2**20


def evaluate(model: Sequential, x: Any, y: Any = None, batch_size: int | str | None = "auto",
             verbose: Any = 0) -> dict[str, float]:
    """Mean loss (with the L2 term, like the training loss) and metrics over
    ``x: (N, *input_shape)`` and its labels ``y`` (or one sample without the batch axis
    and its label, as :func:`predict_logits` takes it)."""
    model._require_compiled(need_optimizer=False)
    x, single = model.check_input(x)  # first: a Dataset given whole is named (y is then missing)
    require_labels(y, "evaluate")
    y = model.check_labels(x, to_numpy(y)[None] if single else y)  # one sample: its label alone
    total_loss, correct = 0.0, 0
    batches = inference_batches(model, len(x), batch_size)
    progress = InferenceProgress("evaluate", len(batches), len(x), verbose)
    forward = inference_forward(model)
    for part in batches:
        # batch by batch: memory stays bounded, as the rest
        check_finite(x[part], "x", model.dtype, model.preprocessing)
        xb, yb = model.preprocess(x[part]), model.on_device(y[part])
        out = forward(xb)
        total_loss += model.loss.forward(out, yb) * len(xb)
        correct += int((model.classes_of(out) == yb).sum())
        progress.update()
    n = max(len(x), 1)
    results = {"loss": total_loss / n + model.regularization_loss()}
    if "accuracy" in model.metrics:
        results["accuracy"] = correct / n
    progress.close(results)
    return results


def predict_logits(model: Sequential, x: Any, batch_size: int | str | None = "auto",
                   verbose: Any = 0) -> np.ndarray:
    """Raw outputs of the last layer ``(N, *output_shape)`` as NumPy; a single sample
    without the batch axis gives a result without it."""
    if not model.built:
        # fit and evaluate build the model from their batch; here x may be one sample
        raise ConfigError("the model is not built yet, so it cannot tell one sample from a "
                          "batch: give input_shape to Sequential(...), call "
                          "model.build(input_shape) or fit it first")
    x, single = model.check_input(x)
    batches = inference_batches(model, len(x), batch_size)
    progress = InferenceProgress("predict", len(batches), len(x), verbose)
    outs, forward = [], inference_forward(model)
    for part in batches:
        check_finite(x[part], "x", model.dtype, model.preprocessing)  # batch by batch: bounded memory
        outs.append(to_numpy(forward(model.preprocess(x[part]))))
        progress.update()
    progress.close()
    out = np.concatenate(outs) if outs else np.zeros((0, *model.output_shape), model.dtype)
    return out[0] if single else out


def probabilities(model: Sequential, outputs: Array) -> Array:
    """``model``'s last layer's outputs ``(N, C)`` (or ``(N, 1)``) with its loss's
    sigmoid or softmax (``model.output_activation``) applied; unchanged without one."""
    if model.output_activation == "sigmoid":
        return sigmoid(outputs)
    if model.output_activation == "softmax":
        return softmax(outputs, axis=-1)
    return outputs


def predict_classes(model: Sequential, x: Any, batch_size: int | str | None = "auto",
                    verbose: Any = 0) -> np.ndarray:
    """Predicted class indices ``(N,)`` of ``x`` (see :func:`predict_logits`); a single
    sample without the batch axis gives one index."""
    outputs = model.predict_logits(x, batch_size, verbose)
    single = outputs.ndim == len(model.output_shape)  # a single sample: no batch axis
    classes = model.classes_of(outputs[None] if single else outputs)
    return classes[0] if single else classes


def classes_of(model: Sequential, outputs: Array) -> Array:
    """Class indices ``(N,)`` from ``model``'s last layer's outputs ``(N, C)`` or ``(N, 1)``:
    the largest of several; for one output, a logit above 0 when the loss applies a sigmoid
    or the outputs are raw scores, else a probability above 0.5."""
    logits = model.output_activation == "sigmoid" or not model.outputs_probabilities
    return predicted_classes(outputs, "sigmoid" if logits else None)


def inference_forward(model: Sequential) -> Callable[[Array], Array]:
    """``model.forward`` for predict and evaluate: each batch split over the threads that
    :func:`glassnet.backend.set_threads` allows (see :mod:`glassnet.training.shards`)."""
    from .training.shards import ShardedForward, sharded

    for layer in model.layers:  # as forward(training=False) does (and frees that memory)
        layer.clear_cache()
    return sharded(model, ShardedForward, backend.get_threads()) or model.forward


def inference_batches(model: Sequential, n: int, batch_size: Any) -> list[slice]:
    """Slices of ``n`` samples for predict and evaluate: ``batch_size`` a positive integer,
    ``None`` for all at once, or ``"auto"`` for :func:`batch_size_for` the built ``model``."""
    if isinstance(batch_size, str) and batch_size == "auto":
        return batch_slices(n, batch_size_for(model))
    try:
        size = check_batch_size(batch_size)
    except ConfigError:
        raise ConfigError(f"batch_size must be a positive integer, None (all at once) or 'auto' "
                          f"(the default: sized to the samples), got {batch_size!r}") from None
    return batch_slices(n, size or max(n, 1))


def batch_size_for(model: Sequential) -> int:
    """Samples per batch when the caller gives none (``batch_size="auto"``): :data:`BATCH_SIZE`,
    or fewer, at least one, so that a batch's largest layer input and output together
    (``model.dtype``) take at most :data:`BATCH_BYTES`. ``glassnet predict`` and
    ``evaluate`` batch with it too."""
    sample_bytes = model.dtype.itemsize * max(
        math.prod(layer.input_shape) + math.prod(layer.output_shape) for layer in model.layers)
    return count_within(BATCH_BYTES, sample_bytes, BATCH_SIZE)
