"""Conv2D, MaxPool2D, AvgPool2D, GlobalAveragePooling2D and im2col/col2im: equality with
torch.nn.functional (forward and backward, float64) over a grid of shapes, strides,
paddings, odd sizes and batch 1; a naive loop convolution; float32; clear errors."""

import json

import numpy as np
import pytest

from glassnet import functional as F
from glassnet import layers
from glassnet import scratch as scratch_module
from glassnet.errors import ConfigError, ShapeError
from glassnet.gradcheck import rel_error
from glassnet.layers import conv as conv_module


def _build(layer, shape, dtype=np.float64):
    layer.build(shape, np.random.default_rng(0), dtype)
    return layer


def _run(layer, x, dy):
    y = layer.forward(x, training=True)
    return y, layer.backward(dy)


def _torch_pad(torch, tx, pads):
    top, bottom, left, right = pads
    return torch.nn.functional.pad(tx, (left, right, top, bottom))


# (N, C, H, W, filters, kernel, stride, padding)
CONV_GRID = [
    (2, 3, 8, 8, 4, 3, 1, "same"),
    (1, 3, 7, 9, 5, 3, 1, "valid"),
    (3, 2, 9, 7, 4, (3, 2), 2, "same"),
    (2, 4, 6, 6, 3, 1, 1, "valid"),
    (1, 1, 5, 5, 2, 5, 1, "valid"),
    (2, 3, 10, 11, 4, 4, 3, 2),
    (2, 2, 7, 8, 3, (2, 3), (2, 1), (1, 2)),
    (1, 3, 6, 6, 2, 2, 2, "same"),
    (4, 8, 16, 16, 16, 3, 1, 1),
    # stride 1 with no more filters than channels: backward unfolds dz, not x
    (2, 5, 7, 6, 4, 3, 1, "same"),
    (2, 3, 6, 5, 3, 2, 1, "same"),        # pads (0, 1, 0, 1): uneven
    (2, 4, 5, 6, 3, (1, 3), 1, (2, 1)),   # padding wider than the kernel
    # rows of the unfolding: uneven left and right zeros, and rows needing the output's width
    (2, 3, 6, 7, 5, 4, 1, "same"),        # pads (1, 2, 1, 2), backward unfolds x
    (2, 5, 6, 7, 3, 4, 1, "same"),        # the same, backward unfolds dz
    (2, 3, 5, 4, 3, (3, 1), 1, (1, 2)),   # 1-wide kernel, 2 zeros each side: OW = W + 4
    (2, 2, 5, 4, 4, (2, 2), 1, (0, 3)),   # 3 zeros each side of a 2-wide kernel
    (2, 1, 4, 1, 3, (1, 5), 1, "same"),   # a row no shorter than KW - 1: 4, not 1 + 2
    (2, 3, 4, 1, 2, (3, 5), 1, "same"),   # the same, backward unfolds dz
]
UNFOLDING_DZ = [case for case in CONV_GRID if case[6] == 1 and case[4] <= case[1] and case[5] != 1]


@pytest.mark.parametrize("n,c,h,w,f,k,s,pad", CONV_GRID)
@pytest.mark.parametrize("use_bias,activation", [(True, None), (False, None), (True, "relu"),
                                                 (False, "tanh")])
@pytest.mark.parametrize("one_image_per_group", [False, True])
def test_conv2d_matches_torch(torch, rng, monkeypatch, n, c, h, w, f, k, s, pad, use_bias,
                              activation, one_image_per_group):
    if one_image_per_group:  # the batch is unfolded image by image; sums add up over groups
        monkeypatch.setattr(conv_module, "GROUP_BYTES", 1)
    layer = layers.Conv2D(f, k, strides=s, padding=pad, use_bias=use_bias, activation=activation)
    _build(layer, (c, h, w))
    _assert_conv_matches_torch(torch, layer, rng.standard_normal((n, c, h, w)), rng)


def _assert_conv_matches_torch(torch, layer, x, rng):
    """The layer's output and gradients (``dx`` where it computes it, ``dW``, ``db``) for
    ``x`` and a random ``dy`` equal PyTorch's for the same kernel, bias and activation."""
    dy = rng.standard_normal((len(x), *layer.output_shape))
    y, dx = _run(layer, x, dy)
    tx = torch.tensor(x, requires_grad=True)
    tW = torch.tensor(layer.params["W"], requires_grad=True)
    tb = torch.tensor(layer.params["b"], requires_grad=True) if layer.use_bias else None
    ty = torch.nn.functional.conv2d(_torch_pad(torch, tx, layer.pads), tW, tb, stride=layer.strides)
    if layer.activation is not None:
        ty = getattr(ty, type(layer.activation).__name__.lower())()  # relu, tanh
    ty.backward(torch.tensor(dy))
    pairs = [(y, ty), (layer.grads["W"], tW.grad)]
    pairs += [(dx, tx.grad)] if layer.input_grad else []
    pairs += [(layer.grads["b"], tb.grad)] if layer.use_bias else []
    for ours, theirs in pairs:
        assert ours.shape == tuple(theirs.shape)
        assert rel_error(ours, theirs.detach().numpy()) < 1e-9


def _nan_fenced_padding(monkeypatch):
    """Make every padded image a view of a buffer followed by NaNs: an unfolding that reads
    past an image's padded copy (into memory that may hold anything) then shows up as NaN
    in the gradients instead of passing unnoticed whenever that memory happens to be finite."""
    real = F.pad_images

    def fenced(x, pads, value=0.0, scratch=False):  # always a fresh copy: scratch is ignored
        padded = real(x, pads, value)
        buffer = np.full(padded.size + 64, np.nan, dtype=padded.dtype)
        buffer[:padded.size] = padded.ravel()
        return buffer[:padded.size].reshape(padded.shape)

    monkeypatch.setattr(F, "pad_images", fenced)


def _poisoned_scratch(monkeypatch):
    """Fill every scratch array with NaN when it is handed out (the same memory as before,
    glassnet.scratch): a value read before it was written, or a scratch array still in use
    when its slot is asked for again, then shows up as NaN."""
    real = scratch_module.scratch

    def poisoned(xp, slot, shape, dtype):
        array = real(xp, slot, shape, dtype)
        array[...] = np.nan
        return array

    monkeypatch.setattr(F, "scratch_array", poisoned)
    monkeypatch.setattr(conv_module, "scratch", poisoned)


@pytest.mark.parametrize("seed,fenced", [(0, True), (1, True), (2, True), (3, False), (4, False)])
def test_conv2d_matches_torch_on_random_layers(torch, monkeypatch, seed, fenced):
    """Random shapes, kernels up to 7 wide, any padding the layer accepts (narrow images
    included: a 5-wide kernel on a 1-wide image once read past the padded copy), both
    backward ways, one image per group or many; float64, against PyTorch. Scratch arrays
    are poisoned with NaN; the padded copies are either NaN-fenced fresh arrays or, without
    the fence, the layers' own scratch-memory padding."""
    if fenced:
        _nan_fenced_padding(monkeypatch)
    _poisoned_scratch(monkeypatch)
    rng = np.random.default_rng(seed)
    checked = 0
    for _ in range(60):
        n, c, f = (int(v) for v in rng.integers(1, 4, 3))
        h, w = (int(v) for v in rng.integers(1, 8, 2))
        k = tuple(int(v) for v in rng.integers(1, 8, 2))
        choice = rng.integers(0, 4)
        pad = ("same", "valid", tuple(int(v) for v in rng.integers(0, 8, 2)), 1)[choice]
        strides = 1 if rng.random() < 0.75 else tuple(int(v) for v in rng.integers(1, 3, 2))
        layer = layers.Conv2D(f, k, strides=strides, padding=pad,
                              activation=None if rng.random() < 0.5 else "relu")
        try:
            _build(layer, (c, h, w))
        except (ShapeError, ConfigError):
            continue  # a kernel larger than the padded image, padding of only zeros
        layer.input_grad = bool(rng.random() < 0.8)
        monkeypatch.setattr(conv_module, "GROUP_BYTES", int(rng.choice([1, 4 * 2**20])))
        _assert_conv_matches_torch(torch, layer, rng.standard_normal((n, c, h, w)), rng)
        checked += 1
    assert checked >= 30  # most draws make a valid layer


@pytest.mark.parametrize("seed", range(3))
def test_pools_match_torch_on_random_layers_with_many_ties(torch, seed):
    """Random pool sizes, strides and padding, inputs full of ties (small integers, ReLU-like
    zeros, one value everywhere): outputs and gradients equal PyTorch's, ties included (the
    gradient goes to the first maximum of a window in row-major order)."""
    rng = np.random.default_rng(seed)
    inputs = [lambda shape: rng.standard_normal(shape), lambda shape: rng.integers(-2, 3, shape) * 1.0,
              lambda shape: np.maximum(rng.standard_normal(shape), 0), lambda shape: np.full(shape, 0.5)]
    checked = 0
    for _ in range(60):
        pool = tuple(int(v) for v in rng.integers(1, 6, 2))
        strides = None if rng.random() < 0.4 else tuple(int(v) for v in rng.integers(1, 4, 2))
        padding = tuple(int(rng.integers(0, k // 2 + 1)) for k in pool)
        cls, torch_pool = ((layers.MaxPool2D, torch.nn.functional.max_pool2d) if rng.random() < 0.6
                           else (layers.AvgPool2D, torch.nn.functional.avg_pool2d))
        n, c, h, w = (int(v) for v in (*rng.integers(1, 4, 2), *rng.integers(1, 10, 2)))
        try:
            layer = _build(cls(pool, strides, padding=padding), (c, h, w))
        except ShapeError:
            continue  # a window larger than the padded image
        x = inputs[rng.integers(len(inputs))]((n, c, h, w))
        dy = rng.standard_normal((n, *layer.output_shape))
        y, dx = _run(layer, x, dy)
        tx = torch.tensor(x, requires_grad=True)
        ty = torch_pool(tx, pool, strides or pool, padding)
        ty.backward(torch.tensor(dy))
        assert rel_error(y, ty.detach().numpy()) < 1e-12, (cls.__name__, pool, strides, padding)
        assert rel_error(dx, tx.grad.numpy()) < 1e-12, (cls.__name__, pool, strides, padding)
        checked += 1
    assert checked >= 30  # most draws make a valid layer


@pytest.mark.parametrize("n,c,h,w,f,k,s,pad", UNFOLDING_DZ)
@pytest.mark.parametrize("activation", [None, "relu"])
def test_both_ways_of_computing_dw_agree(rng, monkeypatch, n, c, h, w, f, k, s, pad, activation):
    """With stride 1 and F <= C, backward unfolds dz when dx is needed and x when it is not
    (a model's first layer): dW and db must be the same either way, whatever the grouping."""
    monkeypatch.setattr(conv_module, "GROUP_BYTES", 1)
    ways = []
    for name in ("_backward_stride_1", "_backward_by_unfolding_x"):
        way = getattr(layers.Conv2D, name)
        monkeypatch.setattr(layers.Conv2D, name, lambda self, *args, way=way, name=name:
                            ways.append(name) or way(self, *args))
    layer = _build(layers.Conv2D(f, k, padding=pad, activation=activation), (c, h, w))
    x = rng.standard_normal((n, c, h, w))
    dy = rng.standard_normal((n, *layer.output_shape))
    grads = []
    for input_grad in (True, False):
        layer.input_grad = input_grad
        _run(layer, x, dy)
        grads.append({key: grad.copy() for key, grad in layer.grads.items()})
    assert ways == ["_backward_stride_1", "_backward_by_unfolding_x"]
    for key in grads[0]:
        assert rel_error(grads[0][key], grads[1][key]) < 1e-12


@pytest.mark.parametrize("k,pad", [(3, "same"), ((2, 3), (1, 2)), (3, 3)])
def test_dx_of_a_stride_1_convolution_is_a_convolution_of_dy_with_the_flipped_kernel(rng, k, pad):
    """The identity the backward pass uses (docs/layers/conv2d.md), checked with the layer
    itself: dx = conv(dy padded by KH-1-top... (cropped where negative), W flipped in both
    axes, channels swapped); (3, 3): padding wider than the kernel."""
    layer = _build(layers.Conv2D(3, k, padding=pad, use_bias=False), (4, 7, 6))
    assert layer._unfolds_dz()  # F <= C: the backward pass that uses it
    x = rng.standard_normal((2, 4, 7, 6))
    dy = rng.standard_normal((2, *layer.output_shape))
    _, dx = _run(layer, x, dy)
    (kh, kw), (top, bottom, left, right) = layer.kernel_size, layer.pads
    full = [(kh - 1 - top, kh - 1 - bottom), (kw - 1 - left, kw - 1 - right)]
    crop = tuple(slice(max(-a, 0), n - max(-b, 0)) for (a, b), n in zip(full, dy.shape[2:], strict=True))
    padded = np.pad(dy[:, :, crop[0], crop[1]], ((0, 0), (0, 0), *[(max(a, 0), max(b, 0)) for a, b in full]))
    flipped = _build(layers.Conv2D(4, layer.kernel_size, use_bias=False), padded.shape[1:])
    flipped.params["W"][...] = layer.params["W"][:, :, ::-1, ::-1].transpose(1, 0, 2, 3)
    assert rel_error(flipped.forward(padded), dx) < 1e-12


@pytest.mark.parametrize("f,c,k,pad,expected", [
    (32, 32, 3, "same", True), (16, 32, 3, "same", True), (64, 32, 3, "same", False),
    (32, 32, 1, 0, False),       # 1x1: no overlapping windows for col2im to add up
    (16, 16, 9, "valid", False),  # dz's unfolding (16x16 positions) larger than x's (8x8)
    (16, 16, 3, 1, True), (8, 16, 3, (1, 2), True),
])
def test_backward_unfolds_dz_only_where_that_unfolding_is_the_smaller(f, c, k, pad, expected):
    assert _build(layers.Conv2D(f, k, padding=pad), (c, 16, 16))._unfolds_dz() is expected
    assert not _build(layers.Conv2D(8, 3, strides=2, padding=1), (16, 16, 16))._unfolds_dz()


def test_conv2d_same_padding_is_keras_and_symmetric_padding_is_torch(torch, rng):
    # stride 1, odd kernel: "same" is PyTorch's padding="same" too
    layer = _build(layers.Conv2D(3, 3, padding="same"), (2, 5, 6))
    x = rng.standard_normal((2, 2, 5, 6))
    ty = torch.nn.functional.conv2d(torch.tensor(x), torch.tensor(layer.params["W"]),
                                    torch.tensor(layer.params["b"]), padding="same")
    assert rel_error(layer.forward(x), ty.numpy()) < 1e-10
    # stride 2 on an even size: Keras pads 0 on top, 1 at the bottom → output ceil(6 / 2)
    assert _build(layers.Conv2D(1, 3, strides=2, padding="same"), (1, 6, 6)).pads == (0, 1, 0, 1)
    assert _build(layers.Conv2D(1, 3, strides=2, padding="same"), (1, 6, 6)).output_shape == (1, 3, 3)


def _naive_conv(x, W, b, stride, pads):
    """Reference: the definition, one output pixel at a time."""
    x = np.pad(x, ((0, 0), (0, 0), (pads[0], pads[1]), (pads[2], pads[3])))
    n, _, h, w = x.shape
    f, _, kh, kw = W.shape
    oh, ow = (h - kh) // stride[0] + 1, (w - kw) // stride[1] + 1
    out = np.zeros((n, f, oh, ow))
    for i in range(oh):
        for j in range(ow):
            patch = x[:, :, i * stride[0]:i * stride[0] + kh, j * stride[1]:j * stride[1] + kw]
            out[:, :, i, j] = np.tensordot(patch, W, axes=([1, 2, 3], [1, 2, 3])) + b
    return out


@pytest.mark.parametrize("k,s,pad", [(3, 1, "same"), ((2, 3), (2, 1), 1), (3, 2, "valid")])
def test_conv2d_matches_a_naive_loop(rng, k, s, pad):
    layer = _build(layers.Conv2D(3, k, strides=s, padding=pad), (2, 7, 6))
    layer.params["b"][:] = rng.standard_normal(3)
    x = rng.standard_normal((2, 2, 7, 6))
    expected = _naive_conv(x, layer.params["W"], layer.params["b"], layer.strides, layer.pads)
    assert rel_error(layer.forward(x), expected) < 1e-10


def test_col2im_is_the_adjoint_of_im2col(rng):
    # <im2col(x), c> == <x, col2im(c)> for any x, c: col2im is exactly im2col's transpose
    x = rng.standard_normal((2, 3, 7, 8))
    for kernel, stride, pads in [((3, 3), (1, 1), (1, 1, 1, 1)), ((2, 3), (2, 3), (0, 1, 2, 0))]:
        cols = F.im2col(x, kernel, stride, pads)
        c = rng.standard_normal(cols.shape)
        back = F.col2im(c, x.shape, kernel, stride, pads)
        assert back.shape == x.shape
        assert abs((cols * c).sum() - (x * back).sum()) < 1e-9


# (kernel, pads, positions per row for an image 6 wide): a row's right zeros double as the
# next row's left ones, so a row needs only the wider side's, or the output's width if more
ROW_CASES = [((3, 3), (1, 1, 1, 1), 7), ((2, 3), (0, 1, 2, 0), 8), ((1, 1), (0, 0, 0, 0), 6),
             ((5, 5), (2, 2, 2, 2), 8), ((3, 2), (0, 0, 0, 0), 6), ((3, 3), (1, 1, 0, 2), 8),
             ((2, 2), (3, 3, 3, 3), 11), ((3, 1), (0, 2, 1, 1), 8)]


@pytest.mark.parametrize("kernel,pads,width", ROW_CASES)
def test_im2col_rows_holds_im2col_in_the_first_ow_columns_of_each_row(rng, kernel, pads, width):
    x = rng.standard_normal((3, 2, 7, 6))
    cols = F.im2col(x, kernel, (1, 1), pads)
    rows, row_width = F.im2col_rows(x, kernel, pads)
    oh = F.output_size(7, kernel[0], 1, *pads[:2])
    ow = F.output_size(6, kernel[1], 1, *pads[2:])
    assert row_width == width and rows.flags.c_contiguous
    real = rows.reshape(len(rows), 3, oh, width)[..., :ow].reshape(len(rows), -1)
    np.testing.assert_array_equal(real, cols)


# (kernel width, pads, positions per row for images 1 and 2 wide)
@pytest.mark.parametrize("kernel,pads,widths", [(3, (1, 1, 1, 1), (2, 3)), (5, (2, 2, 2, 2), (4, 4)),
                                                (7, (0, 0, 3, 3), (6, 6)), (4, (0, 0, 1, 2), (3, 4))])
def test_rows_are_never_shorter_than_the_kernel_less_one(rng, kernel, pads, widths):
    """The last windows of an image run KW-2 positions past its last row, into one spare row:
    on images narrower than the kernel a row of W + max(left, right) can be too short (a
    5-wide kernel on a 1-wide image: 3), and the windows would read past the image's padded
    copy."""
    for image_width, width in zip((1, 2), widths, strict=True):
        assert F.rows_width(image_width, kernel, *pads[2:]) == width
        x = rng.standard_normal((2, 2, 3, image_width))
        rows, row_width = F.im2col_rows(x, (1, kernel), pads)
        ow = F.output_size(image_width, kernel, 1, *pads[2:])
        real = rows.reshape(kernel * 2, 2, 3 + pads[0] + pads[1], row_width)[..., :ow]
        np.testing.assert_array_equal(real.reshape(len(rows), -1), F.im2col(x, (1, kernel), (1, 1), pads))
        back = F.col2im_rows(np.ones_like(rows), x.shape, (1, kernel), pads)
        assert back.shape == x.shape


@pytest.mark.parametrize("kernel,pads", [case[:2] for case in ROW_CASES])
def test_col2im_rows_is_the_adjoint_of_im2col_rows_and_equals_col2im(rng, kernel, pads):
    x = rng.standard_normal((2, 3, 6, 7))
    rows, width = F.im2col_rows(x, kernel, pads)
    oh = F.output_size(6, kernel[0], 1, *pads[:2])
    ow = F.output_size(7, kernel[1], 1, *pads[2:])
    c = rng.standard_normal(rows.shape).reshape(len(rows), 2, oh, width)
    c[..., ow:] = 0  # the wrapped columns carry no gradient
    back = F.col2im_rows(c.reshape(len(rows), -1), x.shape, kernel, pads)
    assert back.shape == x.shape
    assert abs((rows * c.reshape(rows.shape)).sum() - (x * back).sum()) < 1e-9
    plain = F.col2im(c[..., :ow].reshape(len(rows), -1), x.shape, kernel, (1, 1), pads)
    assert rel_error(back, plain) < 1e-12


def test_im2col_rows_follow_the_kernel_layout():
    x = np.arange(2 * 4 * 4, dtype=np.float32).reshape(1, 2, 4, 4)
    x = np.concatenate([x, x + 100])  # two images
    cols = F.im2col(x, (2, 2), (2, 2))
    assert cols.shape == (8, 8) and cols.flags.c_contiguous and cols.dtype == np.float32
    # first window of image 0, channel 0: pixels (0,0), (0,1), (1,0), (1,1)
    np.testing.assert_array_equal(cols[:4, 0], [0, 1, 4, 5])
    # last window of image 0, channel 1; then the same window of image 1
    np.testing.assert_array_equal(cols[4:, 3], [26, 27, 30, 31])
    np.testing.assert_array_equal(cols[4:, 7], [126, 127, 130, 131])


# (N, C, H, W, pool, stride, padding)
POOL_GRID = [
    (2, 3, 8, 8, 2, None, 0),
    (1, 2, 7, 9, 2, None, 0),
    (2, 2, 9, 7, 3, 2, 1),
    (3, 1, 6, 5, (2, 3), (1, 2), 0),
    (1, 4, 5, 5, 3, 1, 1),
    (2, 2, 11, 10, 4, 3, (2, 1)),
]


@pytest.mark.parametrize("n,c,h,w,k,s,pad", POOL_GRID)
@pytest.mark.parametrize("kind", ["max", "avg"])
def test_pooling_matches_torch(torch, rng, kind, n, c, h, w, k, s, pad):
    cls = layers.MaxPool2D if kind == "max" else layers.AvgPool2D
    layer = _build(cls(k, s, padding=pad), (c, h, w))
    x = rng.standard_normal((n, c, h, w))
    dy = rng.standard_normal((n, *layer.output_shape))
    y, dx = _run(layer, x, dy)
    tx = torch.tensor(x, requires_grad=True)
    fn = torch.nn.functional.max_pool2d if kind == "max" else torch.nn.functional.avg_pool2d
    ty = fn(tx, layer.pool_size, layer.strides, (layer.pads[0], layer.pads[2]))
    ty.backward(torch.tensor(dy))
    assert y.shape == tuple(ty.shape)
    assert rel_error(y, ty.detach().numpy()) < 1e-12
    assert rel_error(dx, tx.grad.numpy()) < 1e-12


def _docs_code(page_name: str) -> dict:
    """The plain reference code shown on a docs/layers page (its first Python block), run as
    it is written: what it defines."""
    from pathlib import Path

    page = (Path(__file__).parents[1] / "docs" / "layers" / page_name).read_text()
    code = page.split("```python\n", 1)[1].split("```", 1)[0]
    names = {"np": np}
    exec(code, names)
    return names


@pytest.mark.parametrize("k,s,pad", [(3, 1, 1), (3, 2, 0), (2, 1, 0)])
def test_the_docs_plain_convolution_is_the_layer(rng, k, s, pad):
    docs = _docs_code("conv2d.md")
    layer = _build(layers.Conv2D(3, k, strides=s, padding=pad), (2, 7, 6))
    layer.params["b"][:] = rng.standard_normal(3)
    x = rng.standard_normal((2, 2, 7, 6))
    dy = rng.standard_normal((2, *layer.output_shape))
    y, dx = _run(layer, x, dy)
    W, b = layer.params["W"], layer.params["b"]
    assert rel_error(y, docs["conv_reference"](x, W, b, s, pad)) < 1e-12
    dx_ref, dW_ref, db_ref = docs["conv_backward_reference"](dy, x, W, s, pad)
    assert max(rel_error(dx, dx_ref), rel_error(layer.grads["W"], dW_ref),
               rel_error(layer.grads["b"], db_ref)) < 1e-12


@pytest.mark.parametrize("k,s", [(2, 2), (3, 2), (3, 1)])
def test_the_docs_plain_max_pool_is_the_layer_ties_included(rng, k, s):
    docs = _docs_code("pooling.md")
    layer = _build(layers.MaxPool2D(k, s), (3, 7, 7))
    x = rng.integers(0, 2, (2, 3, 7, 7)).astype(np.float64)  # many ties
    dy = rng.standard_normal((2, *layer.output_shape))
    y, dx = _run(layer, x, dy)
    y_ref, argmax = docs["max_pool_reference"](x, k, s)
    np.testing.assert_array_equal(y, y_ref)
    dx_ref = docs["max_pool_backward_reference"](dy, argmax, x.shape, k, s)
    np.testing.assert_allclose(dx, dx_ref, rtol=0, atol=1e-12)  # overlaps add in another order
    assert np.array_equal(dx != 0, dx_ref != 0)


@pytest.mark.parametrize("k,s,pad", [(2, None, 0), (3, 2, 1), (3, 1, 1)])
def test_max_pool_ties_send_the_gradient_to_one_element_like_torch(torch, rng, k, s, pad):
    layer = _build(layers.MaxPool2D(k, s, padding=pad), (3, 8, 8))
    x = rng.integers(0, 2, (2, 3, 8, 8)).astype(np.float64)  # many ties; all-equal windows too
    x[0, 0] = 1.0
    dy = rng.standard_normal((2, *layer.output_shape))
    y, dx = _run(layer, x, dy)
    tx = torch.tensor(x, requires_grad=True)
    ty = torch.nn.functional.max_pool2d(tx, k, s or k, pad)
    ty.backward(torch.tensor(dy))
    np.testing.assert_array_equal(y, ty.detach().numpy())
    np.testing.assert_allclose(dx, tx.grad.numpy(), rtol=0, atol=1e-12)
    if s is None:  # non-overlapping windows: exactly one element per window gets a gradient
        assert np.count_nonzero(dx) == dy.size


def test_global_average_pooling_matches_torch(torch, rng):
    layer = _build(layers.GlobalAveragePooling2D(), (4, 5, 3))
    x = rng.standard_normal((2, 4, 5, 3))
    dy = rng.standard_normal((2, 4))
    y, dx = _run(layer, x, dy)
    tx = torch.tensor(x, requires_grad=True)
    ty = torch.nn.functional.adaptive_avg_pool2d(tx, 1).flatten(1)
    ty.backward(torch.tensor(dy))
    assert rel_error(y, ty.detach().numpy()) < 1e-12
    assert rel_error(dx, tx.grad.numpy()) < 1e-12


@pytest.mark.parametrize("layer,shape", [
    (layers.Conv2D(4, 3, padding="same", activation="relu"), (3, 8, 8)),
    (layers.MaxPool2D(2), (3, 8, 8)), (layers.AvgPool2D(2), (3, 8, 8)),
    (layers.GlobalAveragePooling2D(), (3, 8, 8)),
])
def test_float32_end_to_end(layer, shape, rng):
    _build(layer, shape, np.float32)
    x = rng.standard_normal((2, *shape)).astype(np.float32)
    y = layer.forward(x, training=True)
    dx = layer.backward(np.ones_like(y))
    assert y.dtype == np.float32 and dx.dtype == np.float32
    assert all(g.dtype == np.float32 for g in layer.grads.values())


def test_conv_backward_does_not_change_dy(rng):
    layer = _build(layers.Conv2D(2, 3, padding=1, activation="relu"), (2, 5, 5))
    y = layer.forward(rng.standard_normal((2, 2, 5, 5)), training=True)
    dy = rng.standard_normal(y.shape)
    kept = dy.copy()
    layer.backward(dy)
    np.testing.assert_array_equal(dy, kept)


def test_config_round_trip():
    """Through JSON, as in a model file: a padding pair given as a tuple comes back a list."""
    for layer in [layers.Conv2D(8, (3, 2), strides=2, padding=(1, 0), activation="relu",
                                use_bias=False), layers.MaxPool2D(3, 2, padding=1),
                  layers.AvgPool2D((2, 3), padding=(1, 0)), layers.GlobalAveragePooling2D()]:
        config = layer.get_config()
        assert json.loads(json.dumps(config)) == config
        again = layers.layer_from_config(type(layer).__name__, config)
        assert again.get_config() == config


def test_kernel_initializers_get_the_keras_fans():
    """fan_in = C*KH*KW and fan_out = F*KH*KW for a kernel (F, C, KH, KW), as in Keras (the
    Glorot and He variances depend on them); a Dense kernel (D, U) has D and U."""
    seen = []

    def init(shape, fan_in, fan_out, rng):
        seen.append((tuple(shape), fan_in, fan_out))
        return np.zeros(shape)

    _build(layers.Conv2D(5, (3, 2), kernel_initializer=init), (4, 8, 8))
    _build(layers.Dense(6, kernel_initializer=init), (7,))
    assert seen == [((5, 4, 3, 2), 4 * 3 * 2, 5 * 3 * 2), ((7, 6), 7, 6)]


@pytest.mark.parametrize("size,kernel,stride", [(6, 1, 2), (10, 1, 4), (11, 2, 4)])
def test_same_padding_is_never_negative_when_the_stride_skips_the_last_pixels(rng, size, kernel, stride):
    """Keras' "same" pads max(total, 0): with a kernel smaller than the stride the windows
    that give ceil(size / stride) outputs need no padding, and none may be taken off."""
    assert F.same_padding(size, kernel, stride) == (0, 0)
    same = _build(layers.Conv2D(2, kernel, strides=stride, padding="same"), (3, size, size + 1))
    valid = _build(layers.Conv2D(2, kernel, strides=stride), (3, size, size + 1))
    assert same.output_shape == valid.output_shape == (2, -(-size // stride), -(-(size + 1) // stride))
    x = rng.standard_normal((2, 3, size, size + 1))
    np.testing.assert_array_equal(same.forward(x), valid.forward(x))


def test_a_max_pool_output_is_a_new_array_even_for_one_pixel_windows(rng):
    """A 1x1 window (strided subsampling) computes no maximum: the output was returned as a
    view of the input, which writing into the output then changed."""
    pool = _build(layers.MaxPool2D(1, strides=2), (2, 5, 5))
    x = rng.standard_normal((3, 2, 5, 5))
    for training in (False, True):
        y = pool.forward(x, training=training)
        np.testing.assert_array_equal(y, x[:, :, ::2, ::2])
        assert not np.shares_memory(y, x)


def test_kernel_larger_than_padded_input_is_a_clear_error():
    with pytest.raises(ShapeError, match=r"kernel 5x5 is larger than the padded input 4x4"):
        _build(layers.Conv2D(2, 5), (3, 4, 4))
    with pytest.raises(ShapeError, match="larger than the padded input"):
        _build(layers.MaxPool2D(4), (3, 3, 8))
    _build(layers.Conv2D(2, 5, padding=1), (3, 3, 3))  # 5x5 fits the padded 5x5


def test_wrong_input_shape_or_channels_is_a_clear_error(rng):
    conv = _build(layers.Conv2D(2, 3), (3, 8, 8))
    with pytest.raises(ShapeError, match=r"built for inputs \(N, 3, 8, 8\), got \(2, 1, 8, 8\)"):
        conv.forward(rng.standard_normal((2, 1, 8, 8)))
    with pytest.raises(ShapeError, match=r"expects images \(N, C, H, W\)"):
        _build(layers.Conv2D(2, 3), (12,))
    with pytest.raises(ShapeError, match="no training pass before it"):
        _build(layers.MaxPool2D(), (1, 4, 4)).backward(np.ones((1, 1, 2, 2)))


@pytest.mark.parametrize("factory,match", [
    (lambda: layers.Conv2D(0, 3), "filters must be a positive integer, got 0"),
    (lambda: layers.Conv2D(4, (3, 3, 3)), r"kernel_size must be an integer or a pair"),
    (lambda: layers.Conv2D(4, 3, strides=0), "strides must be a positive integer, got 0"),
    (lambda: layers.Conv2D(4, 3, padding="full"), "padding must be 'valid', 'same'.*'full'"),
    (lambda: layers.Conv2D(4, 3, padding=-1), "got -1"),
    (lambda: layers.Conv2D(4, 3, padding=True), "an integer >= 0 or a pair, got True"),
    (lambda: layers.MaxPool2D(2, padding="same"), "^MaxPool2D padding must be 'valid', an integer >= 0 "
                                                  "or a pair, got 'same'$"),
    # pools never offer 'same', which they refuse
    (lambda: layers.MaxPool2D(2, padding=-1), "^MaxPool2D padding must be 'valid', an integer >= 0 or a "
                                              "pair, got -1$"),
    (lambda: layers.AvgPool2D(2, padding=(1,)), r"^AvgPool2D padding must be 'valid', an integer >= 0 "
                                                r"or a pair, got \(1,\)$"),
    (lambda: layers.Conv2D(4, np.array([3, 3, 3])), r"kernel_size must be an integer or a pair"),
    (lambda: layers.MaxPool2D(2, padding=2), "more than half the pool size"),
    (lambda: layers.AvgPool2D((3, 2), padding=(1, 2)), r"\(1, 2\) is more than half the pool size \(3, 2\)"),
    (lambda: layers.AvgPool2D(2.5), "got 2.5"),
])
def test_bad_arguments_are_clear_errors(factory, match):
    with pytest.raises(ConfigError, match=match):
        factory()


def test_sizes_may_be_numpy_arrays_and_save_as_plain_numbers():
    """Sizes computed with NumPy (np.array([3, 2]), np.int64(1)) are taken as pairs and
    integers, and the config holds plain ints (NumPy integers would not save as JSON)."""
    conv = layers.Conv2D(2, np.array([3, 2]), strides=np.array([1, 2]), padding=np.array([1, 0]))
    pool = layers.MaxPool2D(np.array([2, 2]), padding=np.int64(1))
    assert (conv.kernel_size, conv.strides, pool.pool_size) == ((3, 2), (1, 2), (2, 2))
    for layer in (conv, pool):
        config = json.loads(json.dumps(layer.get_config()))
        assert config == layer.get_config()
        assert type(layer).from_config(config).get_config() == config
    assert conv.get_config()["padding"] == [1, 0] and pool.get_config()["padding"] == 1
    zero_d = layers.Conv2D(2, np.array(3), padding=np.array(1))  # a 0-d array is a number
    assert zero_d.kernel_size == (3, 3) and zero_d.get_config()["padding"] == 1


@pytest.mark.parametrize("make", [lambda: layers.Conv2D(3, 1, activation="softmax"), layers.Softmax],
                         ids=["conv-softmax", "softmax-layer"])
def test_softmax_on_images_is_refused_since_it_would_normalise_the_width(make):
    from glassnet import Sequential

    with pytest.raises(ShapeError, match=r"Softmax normalises class scores \(N, C\), got inputs "
                                         r"\(N, (3|4), 5, 5\); put Flatten or GlobalAveragePooling2D"):
        Sequential([layers.Conv2D(4, 1), make()], input_shape=(2, 5, 5))


@pytest.mark.parametrize("factory,shape", [
    (lambda: layers.Conv2D(4, 3, padding="same"), (3, 8, 8)),
    (lambda: layers.Conv2D(4, 3, activation="relu"), (3, 8, 8)),
    (lambda: layers.MaxPool2D(2), (3, 8, 8)),
    (lambda: layers.AvgPool2D(2), (3, 8, 8)),
    (layers.GlobalAveragePooling2D, (3, 8, 8)),
    (layers.BatchNorm, (3, 8, 8)),
    (lambda: layers.Dense(4), (6,)),
], ids=["Conv2D", "Conv2D(relu)", "MaxPool2D", "AvgPool2D", "GAP", "BatchNorm", "Dense"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_layer_on_its_own_computes_in_its_dtype_whatever_the_input_dtype(factory, shape, dtype, rng):
    """uint8 pixels used to wrap around in Conv2D and truncate to 0 in AvgPool2D; float64
    inputs made a float32 layer compute (and answer) in float64."""
    layer = _build(factory(), shape, dtype)
    pixels = rng.integers(0, 256, (2, *shape)).astype(np.uint8)
    expected = layer.forward(pixels.astype(dtype))
    for x in (pixels, pixels.astype(np.float64), pixels.astype(np.int64)):
        y = layer.forward(x)
        assert y.dtype == np.dtype(dtype)
        np.testing.assert_array_equal(y, expected)


@pytest.mark.parametrize("make", [
    lambda: layers.Conv2D(4, 3, strides=2, padding="same"),  # col2im
    lambda: layers.Conv2D(6, 3, padding="same"),  # more filters than channels: col2im
    lambda: layers.Conv2D(2, 3, padding="same", activation="relu"),  # dz unfolded
], ids=["strided", "F>C", "F<=C"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_conv2d_backward_computes_in_its_dtype_whatever_the_dtype_of_dy(make, dtype, rng):
    """A layer used alone may get a dy of another dtype (float32 on a float64 layer, float64
    on a float32 one, integers): backward takes it in the layer's dtype, as forward takes x
    (the weight gradient of a float64 layer was summed in float32 when dy was float32, a
    scratch array in dy's dtype rounded dx too, and integer numbers were refused)."""
    layer = _build(make(), (4, 8, 8), dtype)
    y = layer.forward(rng.standard_normal((3, 4, 8, 8)), training=True)
    for dy in (rng.standard_normal(y.shape).astype(np.float32), rng.standard_normal(y.shape),
               rng.integers(-3, 4, y.shape)):
        expected = layer.backward(dy.astype(dtype))
        expected_dW = layer.grads["W"].copy()
        dx = layer.backward(dy)
        assert dx.dtype == np.dtype(dtype)
        np.testing.assert_array_equal(dx, expected)
        np.testing.assert_array_equal(layer.grads["W"], expected_dW)


def test_max_pooling_over_windows_wider_than_256_trains_and_predicts(rng):
    """The winning offsets were uint8: a 300-wide window was an OverflowError, in predict too."""
    x = rng.standard_normal((2, 1, 3, 300))
    pool = _build(layers.MaxPool2D((1, 300)), (1, 3, 300))
    np.testing.assert_array_equal(pool.forward(x), x.max(axis=3, keepdims=True))
    y = pool.forward(x, training=True)
    dx = pool.backward(np.ones_like(y))
    np.testing.assert_array_equal(dx, x == x.max(axis=3, keepdims=True))


def test_padding_beyond_the_kernel_and_the_image_is_refused_when_built(rng):
    """A model file could ask for a million rows of padding: predict then allocated terabytes.
    Padding past the kernel is legitimate (PyTorch: a 1x1 kernel with padding 1)."""
    wide = _build(layers.Conv2D(2, 1, padding=1), (3, 4, 4))
    assert wide.forward(rng.standard_normal((1, 3, 4, 4))).shape == (1, 2, 6, 6)
    with pytest.raises(ShapeError, match=r"padding 1000000 along the height is more than both the "
                                         r"kernel \(3\) and the input \(16\)"):
        _build(layers.Conv2D(2, 3, padding=1_000_000), (3, 16, 16))
    assert _build(layers.Conv2D(2, 3, padding=3), (1, 2, 2)).output_shape == (2, 6, 6)  # as PyTorch
    # a huge kernel with as much padding on a tiny image: 10,000,000,000 columns per image
    with pytest.raises(ShapeError, match=r"would compute 10,000,000,000 values per image"):
        _build(layers.Conv2D(1, (100_000, 1), padding=(99_999, 0)), (1, 1, 1))
    with pytest.raises(ShapeError, match="values per image"):
        _build(layers.Conv2D(64, 1, padding=16_384), (1, 16_384, 16_384))
    assert _build(layers.Conv2D(1024, 3, padding="same"), (3, 512, 512)).output_shape == (1024, 512, 512)


@pytest.mark.parametrize("input_grad,c,f", [(True, 3, 32), (False, 3, 32), (True, 8, 4)])
def test_groups_of_images_are_sized_by_everything_they_hold(rng, monkeypatch, input_grad, c, f):
    """GROUP_BYTES bounds all a group holds at once: forward its columns and the GEMM's
    output; backward (unfolding x) columns, dz and, when needed, dx's columns; backward
    (unfolding dz, F <= C) dz's columns, x in their positions and the GEMM's output."""
    layer = _build(layers.Conv2D(f, 3, padding="same"), (c, 6, 6))
    layer.input_grad = input_grad
    positions = 6 * 7  # OH * the row width of im2col_rows (6 and one zero between rows)
    unfolded_x = c * 9 * (2 if input_grad else 1)
    per_image = {"forward": (c * 9 + f) * positions,
                 "backward": ((f * 9 + 2 * c) * positions if layer._unfolds_dz() and input_grad
                              else (unfolded_x + f) * positions)}
    sizes = []
    real_groups = layers.Conv2D._image_groups
    monkeypatch.setattr(layers.Conv2D, "_image_groups", lambda self, x, values: sizes.append(
        values) or real_groups(self, x, values))
    images_per_group = 3
    monkeypatch.setattr(conv_module, "GROUP_BYTES", per_image["forward"] * 8 * images_per_group)
    y = layer.forward(rng.standard_normal((7, c, 6, 6)), training=True)
    layer.backward(np.ones_like(y))
    assert sizes == [per_image["forward"], per_image["backward"]]
    assert [s.stop - s.start for s in layer._image_groups(y, per_image["forward"])] == [3, 3, 1]


@pytest.mark.parametrize("pool,strides,padding", [(3, 2, 1), ((5, 3), None, (2, 1)), ((1, 4), 1, 0)])
def test_max_pooling_for_inference_equals_torch_and_the_training_pass(torch, rng, pool, strides, padding):
    """Inference takes its own path (no winning offsets kept): with windows of 3 or more along
    an axis it must still see every offset, as the training pass and PyTorch do (only the
    ONNX tests, skipped without onnxruntime, caught a mutant that skipped the third)."""
    layer = _build(layers.MaxPool2D(pool, strides, padding=padding), (2, 9, 8))
    x = rng.standard_normal((3, 2, 9, 8))
    expected = torch.nn.functional.max_pool2d(torch.tensor(x), pool, strides or pool, padding).numpy()
    assert rel_error(layer.forward(x, training=False), expected) < 1e-12
    assert rel_error(layer.forward(x, training=True), expected) < 1e-12
