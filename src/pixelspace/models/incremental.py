"""Incremental forward pass: answer few-pixel candidates by recomputing only what the changed pixels can reach.

A candidate differs from its clean image in at most a few pixels. In a chain of convolutions, poolings and
pointwise layers only a small window of each feature map can change: a kxk layer with stride s grows a changed
window by about k - 1 and divides it by s. :class:`IncrementalModel` keeps the clean image's activations (the
padded input of every spatial layer, channels last) and, for a batch of candidates, computes each layer only over
the window its changed input can reach: the window's receptive field is gathered from the clean activation with
the candidate's already-changed windows written over it (two ``index_select`` calls, no copy of the clean maps), and all candidates' windows go
through one batched call of the layer with padding 0 (the padding was gathered with the crop). Once the windows
cover most of a map the candidates switch to full maps for the rest of the chain; the head (whatever follows the
chain) always runs on full maps.

:func:`analyse` reads the module's graph with ``torch.fx``: the chain is the longest run of nodes from the input,
each consuming only the previous one, made of ``Conv2d`` (zero padding), ``MaxPool2d`` / ``AvgPool2d`` (no
``ceil_mode``), pointwise modules (``BatchNorm2d`` in eval, ReLU-like activations, ``Dropout`` in eval,
``Identity``) and pointwise arithmetic with per-channel constants (an input normalisation written as a module or
in ``forward``). Anything else ends the chain; a model it cannot trace or whose chain holds no spatial layer gets
``None`` (the caller then runs full forward passes).

:class:`Bases` answers candidates against a per-attack base instead of the clean image (a search's current
point): it keeps each base's activations in a pool of slots, takes a candidate as the pixels where it differs
from its base (a pixel restored to its clean value is one of them), and moves a base to an accepted candidate
by writing the windows computed when the candidate was evaluated into the base's activations (no full pass).

Memory: the clean activations of at most ``max_images`` images at a time and ``max_bytes`` in all, kept across
calls for the same images (an attack's generations; per 32x32 image 1.6 MB for AllConv and VGG-16, 0.9 MB for
NiN, 0.6 MB for CNN-8) plus, per batch of B candidates, B windows per layer (or B full maps
after the switch, as a full forward pass of B images would hold).
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import logging
import math
import operator
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import fx, nn
from torch.nn import functional as F

log = logging.getLogger(__name__)

Tensor = torch.Tensor

# candidates switch from windows to full maps once their windows cover this share of an output map
FULL_SHARE = 0.5
# clean activations are held for at most this many images, and this many bytes, at a time
MAX_IMAGES = 64
MAX_CLEAN_BYTES = 256 * 2**20
# the incremental pass is used only when its estimated cost is at most this share of a full forward pass
MAX_COST_SHARE = 0.8
# estimated cost of gathering one crop element, in multiply-adds
GATHER_COST = 4.0

_POINTWISE_MODULES: tuple[type[nn.Module], ...] = (
    nn.BatchNorm2d, nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.ELU, nn.GELU, nn.SiLU, nn.Sigmoid, nn.Tanh, nn.Hardtanh,
    nn.Hardswish, nn.Identity, nn.Dropout, nn.Dropout2d,
)
_POINTWISE_FUNCTIONS: set[Any] = {
    torch.relu, F.relu, F.relu6, torch.sigmoid, torch.tanh, F.gelu, F.silu, F.leaky_relu,
}
_ARITHMETIC: set[Any] = {operator.add, operator.sub, operator.mul, operator.truediv, torch.add, torch.sub, torch.mul,
                         torch.div}
_POINTWISE_METHODS = {"relu", "sigmoid", "tanh", "contiguous"}
_ARITHMETIC_METHODS = {"add", "sub", "mul", "div"}


class NotIncremental(Exception):
    """The module's graph is outside what the incremental pass handles (the reason is the message)."""


@dataclass(frozen=True)
class Pointwise:
    """A layer that maps each position on its own (BN, activations, per-channel arithmetic, 1x1 stride-1 conv)."""

    fn: Callable[[Tensor], Tensor]


@dataclass(frozen=True)
class Spatial:
    """A convolution or pooling over (kh, kw) input positions (dilation included) with stride and padding.

    ``crop_fn`` runs it with padding 0 on an already padded crop; ``full_fn`` is the layer as the model runs it.
    """

    crop_fn: Callable[[Tensor], Tensor]
    full_fn: Callable[[Tensor], Tensor]
    extent: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]
    pad_value: float


Step = Pointwise | Spatial


def _pair(v: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(v, int):
        return (v, v)
    t = tuple(int(x) for x in v)
    if len(t) != 2:
        raise NotIncremental(f"expected a pair, got {v!r}")
    return (t[0], t[1])


def _module_step(m: nn.Module) -> Step:
    """The step of a ``call_module`` node, or :class:`NotIncremental`."""
    if type(m) in _POINTWISE_MODULES:
        return Pointwise(m)
    if type(m) is nn.Conv2d:
        if m.padding_mode != "zeros":
            raise NotIncremental(f"Conv2d with padding_mode={m.padding_mode!r}")
        if isinstance(m.padding, str):
            if m.padding != "valid":
                raise NotIncremental(f"Conv2d with padding={m.padding!r}")
            pad = (0, 0)
        else:
            pad = _pair(m.padding)
        k, s, d = _pair(m.kernel_size), _pair(m.stride), _pair(m.dilation)
        if k == (1, 1) and s == (1, 1) and pad == (0, 0):
            return Pointwise(m)
        conv = m

        def crop(x: Tensor) -> Tensor:
            return F.conv2d(x, conv.weight, conv.bias, conv.stride, 0, conv.dilation, conv.groups)

        extent = ((k[0] - 1) * d[0] + 1, (k[1] - 1) * d[1] + 1)
        return Spatial(crop, m, extent, s, pad, 0.0)
    if type(m) is nn.MaxPool2d:
        if m.ceil_mode or m.return_indices:
            raise NotIncremental("MaxPool2d with ceil_mode or return_indices")
        k, d = _pair(m.kernel_size), _pair(m.dilation)
        s = _pair(m.stride if m.stride is not None else m.kernel_size)
        pool = m

        def crop_max(x: Tensor) -> Tensor:
            return F.max_pool2d(x, pool.kernel_size, pool.stride, 0, pool.dilation)

        extent = ((k[0] - 1) * d[0] + 1, (k[1] - 1) * d[1] + 1)
        return Spatial(crop_max, m, extent, s, _pair(m.padding), -math.inf)
    if type(m) is nn.AvgPool2d:
        pad = _pair(m.padding)
        if m.ceil_mode or (pad != (0, 0) and not m.count_include_pad):
            raise NotIncremental("AvgPool2d with ceil_mode or count_include_pad=False")
        k = _pair(m.kernel_size)
        s = _pair(m.stride if m.stride is not None else m.kernel_size)
        avg = m

        def crop_avg(x: Tensor) -> Tensor:
            return F.avg_pool2d(x, avg.kernel_size, avg.stride, 0, False, True, avg.divisor_override)

        return Spatial(crop_avg, m, k, s, pad, 0.0)
    raise NotIncremental(f"layer {type(m).__name__}")


def _constant(arg: Any, root: nn.Module) -> Any:
    """A number, or a per-channel tensor held by the module (a ``get_attr`` node); else NotIncremental."""
    if isinstance(arg, (int, float)):
        return arg
    if isinstance(arg, fx.Node) and arg.op == "get_attr":
        value: Any = root
        for part in str(arg.target).split("."):
            value = getattr(value, part)
        if isinstance(value, Tensor):
            shape = tuple(value.shape)
            spatial_ok = value.numel() == 1 or (len(shape) >= 3 and shape[-1] == 1 and shape[-2] == 1)
            if spatial_ok and len(shape) <= 4:
                return value
    raise NotIncremental(f"arithmetic with a non-constant or spatially varying operand {arg!r}")


def _function_step(node: fx.Node, current: fx.Node, root: nn.Module) -> Step:
    """The step of a ``call_function`` / ``call_method`` node that consumes ``current``, or NotIncremental."""
    target = node.target
    args = list(node.args)
    if any(isinstance(v, fx.Node) for v in node.kwargs.values()):
        raise NotIncremental("keyword argument from the graph")
    kwargs = dict(node.kwargs)
    pointwise = (node.op == "call_function" and target in _POINTWISE_FUNCTIONS) or (
        node.op == "call_method" and target in _POINTWISE_METHODS)
    arithmetic = (node.op == "call_function" and target in _ARITHMETIC) or (
        node.op == "call_method" and target in _ARITHMETIC_METHODS)
    if not (pointwise or arithmetic):
        raise NotIncremental(f"operation {target!r}")
    if args.count(current) != 1 or current in kwargs.values():
        raise NotIncremental(f"operation {target!r} does not take the chain once")
    where = args.index(current)
    if pointwise and where != 0:
        raise NotIncremental(f"operation {target!r}")
    consts = [None if i == where else (_constant(a, root) if arithmetic else a) for i, a in enumerate(args)]
    if pointwise and any(isinstance(a, fx.Node) for a in args[1:]):
        raise NotIncremental(f"operation {target!r} with a graph argument")
    method = str(target) if node.op == "call_method" else None
    fn_target = target

    def fn(x: Tensor) -> Tensor:
        full = [x if i == where else c for i, c in enumerate(consts)]
        if method is not None:
            return getattr(full[0], method)(*full[1:], **kwargs)  # type: ignore[no-any-return]
        return fn_target(*full, **kwargs)  # type: ignore[operator,no-any-return]

    return Pointwise(fn)


def analyse(module: nn.Module) -> tuple[list[Step], nn.Module]:
    """Split ``module`` into its leading chain of steps and the head that runs on the chain's output.

    Raises:
        NotIncremental: it cannot be traced, the graph is not a single-input chain followed by a head that uses
            only the chain's last output, or the chain holds no spatial layer.
    """
    # trace a copy that shares the parameters and buffers: tracing runs forward's Python code, and whatever it
    # does to plain attributes (a call counter, a list it appends to) must not reach the user's module
    shared = {id(t): t for t in itertools.chain(module.parameters(), module.buffers())}
    try:
        traced = fx.symbolic_trace(copy.deepcopy(module, shared))
    except Exception as exc:  # noqa: BLE001 - any tracing failure means "not analysable"
        raise NotIncremental(f"torch.fx cannot trace it ({type(exc).__name__}: {exc})") from exc
    nodes = list(traced.graph.nodes)
    inputs = [n for n in nodes if n.op == "placeholder"]
    if len(inputs) != 1:
        raise NotIncremental(f"forward takes {len(inputs)} inputs")
    modules = dict(traced.named_modules())
    steps: list[Step] = []
    chain: set[fx.Node] = {inputs[0]}
    current = inputs[0]
    for node in nodes:
        if node.op in ("placeholder", "get_attr"):
            continue
        if len(current.users) != 1 or node not in current.users:
            break
        try:
            if node.op == "call_module":
                step = _module_step(modules[str(node.target)])
                if any(a is not current for a in node.args) or node.kwargs:
                    raise NotIncremental("module called with more than the chain")
            elif node.op in ("call_function", "call_method"):
                step = _function_step(node, current, traced)
            else:
                break
        except NotIncremental:
            break
        steps.append(step)
        chain.add(node)
        current = node
    if not any(isinstance(s, Spatial) for s in steps):
        raise NotIncremental("no convolution or pooling at the start of the graph")
    graph = fx.Graph()
    env: dict[fx.Node, fx.Node] = {current: graph.placeholder("features")}
    for node in nodes:
        if node in chain:
            continue

        def lookup(n: fx.Node) -> fx.Node:
            if n not in env:
                raise NotIncremental(f"the rest of the graph uses {n.name}, not only the chain's output")
            return env[n]

        env[node] = graph.node_copy(node, lookup)
    head = fx.GraphModule(traced, graph)
    head.graph.eliminate_dead_code()
    head.recompile()
    return steps, head


# -- geometry -----------------------------------------------------------------------------------------------------
def _window_size(size: int, extent: int, stride: int, pad: int, out: int) -> int:
    """Output positions a changed run of ``size`` input positions can reach, at most (any alignment)."""
    best = 0
    for y in range(stride):
        lo = -((-(y + pad - extent + 1)) // stride)
        hi = (y + size - 1 + pad) // stride
        best = max(best, hi - lo + 1)
    return max(1, min(out, best))


def _window_origin(top: Tensor, extent: int, stride: int, pad: int, out: int, size_out: int) -> Tensor:
    """First output position of each window (int64), so that the window holds every output the change reaches."""
    lo = -torch.div(-(top + pad - extent + 1), stride, rounding_mode="floor")
    return lo.clamp(min=0, max=out - size_out)


def _gather(
    table_clean: Tensor, padded_hw: tuple[int, int], image: Tensor, windows: Tensor, tops: Tensor, lefts: Tensor,
    pad: tuple[int, int], owner: Tensor, origin_y: Tensor, origin_x: Tensor, crop_hw: tuple[int, int],
) -> Tensor:
    """Crops (n, Rh, Rw, C) of the candidates' current maps in padded coordinates.

    Args:
        table_clean: clean padded activations, channels last, flattened to (U * Hp * Wp, C).
        padded_hw: (Hp, Wp).
        image: local image index of each candidate (B,).
        windows: the candidates' changed windows, channels last (B * m, Sh, Sw, C), window j of candidate b at
            row b * m + j; where windows overlap the later one wins.
        tops, lefts: window origins (B, m) in unpadded coordinates.
        pad: the padding (ph, pw) of ``table_clean``.
        owner: the candidate of each crop (n,); origin_y, origin_x: crop origins (n,) in padded coordinates.
        crop_hw: (Rh, Rw).
    """
    hp, wp = padded_hw
    rh, rw = crop_hw
    bm, sh, sw, c = windows.shape
    m = tops.shape[1]
    dev = windows.device
    ys = origin_y[:, None] + torch.arange(rh, device=dev)  # (n, Rh) padded rows
    xs = origin_x[:, None] + torch.arange(rw, device=dev)
    src = (image[owner] * (hp * wp))[:, None, None] + ys[:, :, None] * wp + xs[:, None, :]
    from_window = torch.full_like(src, -1)  # the window element that overrides each crop element, or -1
    for j in range(m):
        ry = ys - pad[0] - tops[owner, j][:, None]
        rx = xs - pad[1] - lefts[owner, j][:, None]
        inside = ((ry >= 0) & (ry < sh))[:, :, None] & ((rx >= 0) & (rx < sw))[:, None, :]
        widx = ((owner * m + j)[:, None, None] * (sh * sw) + ry.clamp(0, sh - 1)[:, :, None] * sw
                + rx.clamp(0, sw - 1)[:, None, :])
        from_window = torch.where(inside, widx, from_window)
    # gather from the clean table, then write the changed windows over it: no copy of the whole clean table
    crops = table_clean.index_select(0, src.reshape(-1))
    flat = from_window.reshape(-1)
    changed = (flat >= 0).nonzero().squeeze(1)
    crops[changed] = windows.reshape(bm * sh * sw, c).index_select(0, flat[changed])
    return crops.view(src.shape[0], rh, rw, c)


def _run(fn: Callable[[Tensor], Tensor], x: Tensor, pad_single: bool) -> Tensor:
    """``fn(x)``; with ``pad_single`` a batch of one goes through as a batch of two (the item twice).

    PyTorch's CPU convolution takes another algorithm for a batch of one than for larger batches (its
    ``use_mkldnn`` heuristic), and the two differ in the last bits; padding keeps every call of a path on one
    algorithm, so an answer does not depend on how many candidates shared its call.
    """
    if pad_single and x.shape[0] == 1:
        return fn(torch.cat([x, x]))[:1]
    return fn(x)


def _channels_last(x: Tensor) -> Tensor:
    """(n, H, W, C) channels-last data as an NCHW view (no copy)."""
    return x.permute(0, 3, 1, 2)


def _nhwc(x: Tensor) -> Tensor:
    """An NCHW tensor as contiguous (n, H, W, C) (free when it is stored channels last)."""
    return x.permute(0, 2, 3, 1).contiguous()


class IncrementalModel:
    """The incremental forward pass of one analysed module (see the module docstring).

    Args:
        steps, head: from :func:`analyse`.
        full_share: switch a layer to full maps once the windows cover this share of its output.
        max_images, max_bytes: clean images, and bytes of their activations, held at a time (at least one image).
    """

    def __init__(self, steps: list[Step], head: nn.Module, full_share: float = FULL_SHARE,
                 max_images: int = MAX_IMAGES, max_bytes: int = MAX_CLEAN_BYTES,
                 tensors: Sequence[Tensor] | None = None) -> None:
        self.steps = steps
        # the tensors whose in-place edits invalidate kept clean activations: the analysed module's parameters
        # and buffers (the steps share them, constants of forward arithmetic included); by default the steps'
        if tensors is None:
            tensors = [t for st in steps for fn in [st.fn if isinstance(st, Pointwise) else st.full_fn]
                       if isinstance(fn, nn.Module) for t in itertools.chain(fn.parameters(), fn.buffers())]
        self._tensors = list(tensors)
        self.head = head
        self.full_share = full_share
        self.max_images = max_images
        self.max_bytes = max_bytes
        self._shapes: dict[tuple[int, int, int], list[tuple[int, int, int]]] = {}
        # clean activations of recent groups of images, most recent last, at most max_bytes in all
        self._cache: OrderedDict[tuple[Any, ...], tuple[list[Tensor], int]] = OrderedDict()

    @classmethod
    def of(cls, module: nn.Module) -> IncrementalModel:
        """Analyse ``module``; raises :class:`NotIncremental`."""
        steps, head = analyse(module)
        return cls(steps, head, tensors=list(itertools.chain(module.parameters(), module.buffers())))

    def full(self, x: Tensor) -> Tensor:
        """The plain forward pass through chain and head (float NCHW in, the module's output out)."""
        for step in self.steps:
            x = step.fn(x) if isinstance(step, Pointwise) else step.full_fn(x)
        return self.head(x)  # type: ignore[no-any-return]

    def shapes(self, channels: int, height: int, width: int, device: torch.device) -> list[tuple[int, int, int]]:
        """(C, H, W) of the input and of every step's output (one zero image through the chain, cached)."""
        key = (channels, height, width)
        if key not in self._shapes:
            x = torch.zeros(1, channels, height, width, device=device)
            shapes = [(channels, height, width)]
            for step in self.steps:
                x = step.fn(x) if isinstance(step, Pointwise) else step.full_fn(x)
                shapes.append((int(x.shape[1]), int(x.shape[2]), int(x.shape[3])))
            self._shapes[key] = shapes
        return self._shapes[key]

    def clean_bytes(self, channels: int, height: int, width: int, device: torch.device) -> int:
        """Bytes of one image's clean activations (float32), as :meth:`clean_activations` keeps them."""
        shapes = self.shapes(channels, height, width, device)
        total = shapes[-1][0] * shapes[-1][1] * shapes[-1][2]
        for i, step in enumerate(self.steps):
            if isinstance(step, Spatial):
                c, h, w = shapes[i]
                total += c * (h + 2 * step.padding[0]) * (w + 2 * step.padding[1])
        return 4 * total

    def cost_share(self, channels: int, height: int, width: int, pixels: int, device: torch.device) -> float:
        """Estimated multiply-adds (gathers included) of the incremental pass for candidates with ``pixels``
        changed pixels, as a share of the full forward pass through the chain (the head is the same in both)."""
        shapes = self.shapes(channels, height, width, device)
        m, size, windowed = pixels, (1, 1), True
        full = part = 0.0
        for i, step in enumerate(self.steps):
            (cin, hin, win), (cout, hout, wout) = shapes[i], shapes[i + 1]
            weight = getattr(step.full_fn if isinstance(step, Spatial) else step.fn, "weight", None)
            if isinstance(weight, Tensor) and weight.ndim == 4:
                per_position = float(weight.numel())
            elif isinstance(step, Spatial):
                per_position = float(cout * step.extent[0] * step.extent[1])
            else:
                per_position = float(cout)
            full += per_position * hout * wout
            if not windowed:
                part += per_position * hout * wout
            elif isinstance(step, Pointwise):
                part += per_position * m * size[0] * size[1]
            else:
                (eh, ew), (sh, sw), (ph, pw) = step.extent, step.stride, step.padding
                so = (_window_size(size[0], eh, sh, ph, hout), _window_size(size[1], ew, sw, pw, wout))
                if m * so[0] * so[1] >= self.full_share * hout * wout:
                    part += per_position * hout * wout + GATHER_COST * (hin + 2 * ph) * (win + 2 * pw) * cin
                    windowed = False
                else:
                    crop = ((so[0] - 1) * sh + eh) * ((so[1] - 1) * sw + ew)
                    part += per_position * m * so[0] * so[1] + GATHER_COST * m * crop * cin * (1 + m / 4)
                    size = so
        if windowed:
            c, h, w = shapes[-1]
            part += GATHER_COST * c * h * w
        return part / full

    def clean_activations(self, x: Tensor, pad_single: bool = False) -> list[Tensor]:
        """Per spatial step its padded input, then the chain's output; all channels last (U, H, W, C).
        ``pad_single``: run a single image as a batch of two (:func:`_run`)."""
        out = []
        for step in self.steps:
            if isinstance(step, Pointwise):
                x = _run(step.fn, x, pad_single)
            else:
                ph, pw = step.padding
                out.append(_nhwc(F.pad(x, (pw, pw, ph, ph), value=step.pad_value)))
                x = _run(step.full_fn, x, pad_single)
        out.append(_nhwc(x))
        return out

    def _weights_version(self) -> tuple[int, ...]:
        """In-place version counters of the module's parameters and buffers (an optimiser step, a
        ``load_state_dict`` or any in-place edit bumps one)."""
        return tuple(t._version for t in self._tensors)

    def _cached_activations(self, clean: Tensor, per_image: int) -> list[Tensor]:
        """:meth:`clean_activations` of ``clean`` (U, C, H, W), reused across calls on the same images.

        A DE attack calls once per generation with the same clean images, so their activations are kept
        (least recently used first out, at most ``max_bytes`` in all), keyed by the images' bytes, dtype, device
        and the weights' in-place version counters: changed weights or images never reuse stale activations.
        """
        data = clean.detach().to("cpu").contiguous().numpy()
        key = (str(clean.device), str(clean.dtype), tuple(clean.shape),
               hashlib.blake2b(data.tobytes(), digest_size=16).digest(), self._weights_version())
        hit = self._cache.get(key)
        if hit is not None:
            self._cache.move_to_end(key)
            return hit[0]
        acts = self.clean_activations(clean)
        size = per_image * clean.shape[0]
        if size <= self.max_bytes:
            self._cache[key] = (acts, size)
            total = sum(n for _, n in self._cache.values())
            while total > self.max_bytes:
                _, (_, n) = self._cache.popitem(last=False)
                total -= n
        return acts

    def outputs(self, clean: Tensor, rows: np.ndarray, positions: np.ndarray, colors: Tensor,
                applied: np.ndarray, batch_size: int) -> Tensor:
        """The module's outputs (B, ...) for B candidates, in the order given.

        Args:
            clean: float clean images (A, 3, H, W) as the module takes them.
            rows: clean-image index of each candidate (B,).
            positions: flat pixel positions (B, k); colors: float (B, k, 3) on clean's device, scaled as the
                module takes them;
                applied: bool (B, k), False for a pixel that is not changed.
            batch_size: candidates per layer call.
        """
        b = rows.shape[0]
        order = np.argsort(rows, kind="stable")
        parts: list[tuple[np.ndarray, Tensor]] = []
        sorted_rows = rows[order]
        images = np.unique(sorted_rows)
        per_image = self.clean_bytes(clean.shape[1], clean.shape[2], clean.shape[3], clean.device)
        group_size = max(1, min(self.max_images, self.max_bytes // per_image))
        for g in range(0, images.size, group_size):
            group = images[g : g + group_size]
            sel = order[(sorted_rows >= group[0]) & (sorted_rows <= group[-1])]
            acts = self._cached_activations(clean[torch.as_tensor(group, device=clean.device)], per_image)
            local = np.searchsorted(group, rows[sel])
            for s in range(0, sel.size, batch_size):
                idx = sel[s : s + batch_size]
                parts.append((idx, self._batch(acts, clean, local[s : s + batch_size], rows[idx], positions[idx],
                                               colors[torch.as_tensor(idx, device=colors.device)], applied[idx])))
        first = parts[0][1]
        out = first.new_empty((b, *first.shape[1:]))
        for idx, val in parts:
            out[torch.as_tensor(idx, device=out.device)] = val
        return out

    def _batch(self, acts: list[Tensor], clean: Tensor, local: np.ndarray, rows: np.ndarray, positions: np.ndarray,
               colors: Tensor, applied: np.ndarray, record: list[_Part] | None = None, pad_single: bool = False
               ) -> Tensor:
        """The module's outputs for one batch of candidates against the images ``clean[rows]`` whose activations
        are ``acts`` at index ``local``; with ``record``, the candidates' changed parts of every kept activation
        are appended to it, in the order of ``acts`` (what :meth:`Bases.commit` writes into a base)."""
        dev = clean.device
        b, k = positions.shape
        w = clean.shape[3]
        pos = positions.astype(np.int64).copy()
        col = colors.to(dtype=clean.dtype).clone()
        # a pixel left unchanged takes the place and final colour of the candidate's last changed pixel
        # (or, with none changed, the clean colour of pixel 0), so every window holds the candidate's true values
        last = np.where(applied.any(axis=1), k - 1 - np.argmax(applied[:, ::-1], axis=1), -1)
        for j in range(k):
            off = np.flatnonzero(~applied[:, j])
            if off.size == 0:
                continue
            has = last[off] >= 0
            src = np.where(has, last[off], 0)
            pos[off, j] = np.where(has, positions[off, src], 0)
            fallback = clean[torch.as_tensor(rows[off], device=dev), :, 0, 0]
            taken = col[torch.as_tensor(off, device=dev), torch.as_tensor(src, device=dev)]
            col[torch.as_tensor(off, device=dev), j] = torch.where(
                torch.as_tensor(has, device=dev)[:, None], taken, fallback)
        image = torch.as_tensor(local, dtype=torch.int64, device=dev)
        tops = torch.as_tensor(pos // w, device=dev)
        lefts = torch.as_tensor(pos % w, device=dev)
        m = k
        windows = col.reshape(b * m, 3)[:, :, None, None]  # NCHW (B*m, 3, 1, 1)
        size = (1, 1)
        windowed = True
        x = windows
        spatial_i = 0
        owner_w = torch.arange(b, device=dev).repeat_interleave(m)
        owner_1 = torch.arange(b, device=dev)
        zeros = torch.zeros(b, dtype=torch.int64, device=dev)
        for step in self.steps:
            if isinstance(step, Pointwise):
                x = _run(step.fn, x, pad_single)
                continue
            clean_pad = acts[spatial_i]
            spatial_i += 1
            if not windowed:
                if record is not None:
                    record.append(_Part(None, None, x, step.padding))
                x = _run(step.full_fn, x, pad_single)
                continue
            u, hp, wp, c = clean_pad.shape
            (eh, ew), (sh, sw), (ph, pw) = step.extent, step.stride, step.padding
            out_hw = ((hp - eh) // sh + 1, (wp - ew) // sw + 1)
            so = (_window_size(size[0], eh, sh, ph, out_hw[0]), _window_size(size[1], ew, sw, pw, out_hw[1]))
            table = clean_pad.reshape(u * hp * wp, c)
            vals = _nhwc(x)
            if record is not None:
                record.append(_Part(tops, lefts, vals, (ph, pw)))
            if m * so[0] * so[1] >= self.full_share * out_hw[0] * out_hw[1]:
                crops = _gather(table, (hp, wp), image, vals, tops, lefts, (ph, pw), owner_1, zeros, zeros, (hp, wp))
                x = _run(step.crop_fn, _channels_last(crops), pad_single)
                windowed = False
                continue
            oy = _window_origin(tops, eh, sh, ph, out_hw[0], so[0])
            ox = _window_origin(lefts, ew, sw, pw, out_hw[1], so[1])
            crop_hw = ((so[0] - 1) * sh + eh, (so[1] - 1) * sw + ew)
            crops = _gather(table, (hp, wp), image, vals, tops, lefts, (ph, pw), owner_w,
                            oy.reshape(-1) * sh, ox.reshape(-1) * sw, crop_hw)
            x = _run(step.crop_fn, _channels_last(crops), pad_single)
            tops, lefts, size = oy, ox, so
        if windowed:
            end = acts[-1]
            u, hh, ww, c = end.shape
            vals = _nhwc(x)
            if record is not None:
                record.append(_Part(tops, lefts, vals, (0, 0)))
            full = _gather(end.reshape(u * hh * ww, c), (hh, ww), image, vals, tops, lefts, (0, 0), owner_1,
                           zeros, zeros, (hh, ww))
            x = _channels_last(full)
        elif record is not None:
            record.append(_Part(None, None, x, (0, 0)))
        return _run(self.head, x, pad_single)


@dataclass(frozen=True)
class _Part:
    """One kept activation's changed part for a batch of B candidates (what :meth:`IncrementalModel._batch`
    records): windows, ``tops`` and ``lefts`` (B, m) int64 in unpadded coordinates with ``values``
    (B * m, Sh, Sw, C) channels last, window j of candidate b at row b * m + j; or, with ``tops`` None, full
    unpadded maps ``values`` (B, C, H, W). ``pad``: the kept activation's padding (ph, pw)."""

    tops: Tensor | None
    lefts: Tensor | None
    values: Tensor
    pad: tuple[int, int]


@dataclass(frozen=True)
class _Chunk:
    """The record of one evaluated batch: the candidates' attacks (B,) and the bases' versions they were
    evaluated against, their changes as given, and their parts (one per kept activation)."""

    attacks: np.ndarray
    versions: np.ndarray
    positions: np.ndarray
    colors: Tensor
    applied: np.ndarray
    parts: list[_Part]


def _part_bytes(parts: list[_Part]) -> int:
    return sum(p.values.numel() * p.values.element_size() for p in parts)


class Bases:
    """Per-attack base images and their activations, for candidates given as their changes against the base.

    A search keeps one current point per attack (k perturbed pixels) and proposes candidates that differ from
    it in a pixel or two. This holds each attack's base image and its activations (as :meth:`IncrementalModel.
    clean_activations` keeps them) in a pool of slots, answers candidates given as the pixels where they differ
    from their attack's base (:meth:`outputs`), and moves a base to an accepted candidate (:meth:`commit`) by
    writing the candidate's changed windows, already computed when it was evaluated, into the base's
    activations; a base whose slot was given to another attack is recomputed (one pass through the chain) when
    next needed.

    Memory: at most ``max_bytes`` of activations (``slot_bytes`` per attack, at least one attack), plus the
    record of the last :meth:`outputs` call (the candidates' changed windows, or their full maps after the
    switch; dropped above ``max_bytes / 4``).

    Args:
        engine: the analysed module.
        images: float base images (A, 3, H, W) as the module takes them (copied).
        max_bytes: bytes of activations held at a time.
        update: ``"windows"`` (default): a commit writes the evaluated windows; ``"full"``: a commit recomputes
            the base's activations with one pass through the chain (for comparison).
    """

    def __init__(self, engine: IncrementalModel, images: Tensor, max_bytes: int = MAX_CLEAN_BYTES,
                 update: str = "windows") -> None:
        assert images.ndim == 4 and images.is_floating_point()
        assert update in ("windows", "full")
        self.engine = engine
        self.images = images.clone()
        a, c, h, w = images.shape
        self.slot_bytes = engine.clean_bytes(c, h, w, images.device)
        self.capacity = max(1, min(a, max_bytes // self.slot_bytes))
        self.update = update
        self._slots: list[Tensor] = []  # per kept activation (S, Hp, Wp, C), allocated at first use
        self._slot_of = np.full(a, -1, dtype=np.int64)  # the slot holding each attack's activations, or -1
        self._held_by = np.full(self.capacity, -1, dtype=np.int64)  # the attack each slot holds, or -1
        self._last_use = np.zeros(self.capacity, dtype=np.int64)
        self._clock = 0
        self.versions = np.zeros(a, dtype=np.int64)  # commits per attack
        self._record: list[_Chunk] = []
        self._record_limit = max_bytes // 4
        self.computed = 0  # base activations computed by a pass through the chain (initial ones included)

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def nbytes(self) -> int:
        """Bytes of activations allocated now."""
        return sum(t.numel() * t.element_size() for t in self._slots)

    def _hold(self, group: np.ndarray, compute: bool = True, keep: np.ndarray | None = None) -> np.ndarray:
        """The slots of the distinct attacks ``group`` (at most ``capacity``), computing missing activations
        (unless ``compute`` is False: the caller fills them); slots of the attacks ``keep`` are not given up."""
        assert group.size <= self.capacity
        self._clock += 1
        slots = self._slot_of[group]
        missing = group[slots < 0]
        if missing.size:
            protected = group if keep is None else np.concatenate([group, keep])
            free = np.flatnonzero(~np.isin(self._held_by, protected))
            free = free[np.argsort(self._last_use[free], kind="stable")][: missing.size]  # least recently used
            gone = self._held_by[free]
            self._slot_of[gone[gone >= 0]] = -1
            self._held_by[free] = missing
            self._slot_of[missing] = free
            if compute:
                self._compute(missing)
            slots = self._slot_of[group]
        self._last_use[slots] = self._clock
        return slots

    def copy(self, attacks: np.ndarray, sources: np.ndarray) -> None:
        """Make the bases of the distinct ``attacks`` (B,) copies of the bases of ``sources`` (B,): their images
        and, where a source's activations are held, its activations (no pass through the chain; otherwise the
        copy is computed when next needed). No attack may be among the sources."""
        assert np.unique(attacks).size == attacks.size and not np.isin(attacks, sources).any()
        dev = self.images.device
        self.images[torch.as_tensor(attacks, device=dev)] = self.images[torch.as_tensor(sources, device=dev)]
        self.versions[attacks] += 1  # what the last call recorded for these attacks no longer applies
        held = (self._slot_of[sources] >= 0) & (self.capacity >= 2)  # a copy needs two slots
        gone = attacks[~held & (self._slot_of[attacks] >= 0)]  # their kept activations are stale: give them up
        self._held_by[self._slot_of[gone]] = -1
        self._slot_of[gone] = -1
        todo = np.flatnonzero(held)
        step = max(1, self.capacity // 2)
        for s in range(0, todo.size, step):
            part = todo[s : s + step]
            src_slots = self._slot_of[sources[part]]
            dst_slots = self._hold(attacks[part], compute=False, keep=sources[part])
            for table in self._slots:  # slot by slot: each a contiguous copy (an indexed assignment was slower)
                for src, dst in zip(src_slots.tolist(), dst_slots.tolist(), strict=True):
                    table[dst].copy_(table[src])

    def _compute(self, attacks: np.ndarray) -> None:
        """The activations of these attacks' base images, into their slots."""
        acts = self.engine.clean_activations(self.images[torch.as_tensor(attacks, device=self.images.device)],
                                             pad_single=True)
        if not self._slots:
            self._slots = [t.new_empty((self.capacity, *t.shape[1:])) for t in acts]
        idx = torch.as_tensor(self._slot_of[attacks], device=self.images.device)
        for table, t in zip(self._slots, acts, strict=True):
            table[idx] = t
        self.computed += attacks.size

    def base_outputs(self, attacks: np.ndarray, batch_size: int) -> Tensor:
        """The module's outputs (B, ...) for the bases of ``attacks`` (B,) themselves: their activations are
        computed where not held (a search's first evaluation of its starting points costs no more than a full
        pass), then the head runs on the kept chain output."""
        outs = []
        for g in range(0, attacks.size, min(self.capacity, batch_size)):
            group = attacks[g : g + min(self.capacity, batch_size)]
            distinct, inverse = np.unique(group, return_inverse=True)
            slots = self._hold(distinct)[inverse]
            end = self._slots[-1][torch.as_tensor(slots, device=self.images.device)]
            outs.append(_run(self.engine.head, _channels_last(end), True))
        return outs[0] if len(outs) == 1 else torch.cat(outs)

    def outputs(self, attacks: np.ndarray, positions: np.ndarray, colors: Tensor, applied: np.ndarray,
                batch_size: int, record_limit: int | None = None, append: bool = False) -> Tensor:
        """The module's outputs (B, ...) for B candidates, in the order given.

        Args:
            attacks: the attack of each candidate (B,).
            positions: flat pixel positions (B, m) where the candidate differs from its attack's base;
                colors: float (B, m, 3) on the images' device, the candidate's values there, scaled as the
                module takes them (a pixel restored takes its clean value); applied: bool (B, m), False for an
                entry that changes nothing. Among a candidate's entries at one position the last applied wins.
            batch_size: candidates per layer call.
            record_limit: keep the call's record (for :meth:`commit`) up to this many bytes (default
                ``max_bytes / 4``); a larger record is dropped.
            append: add this call's record to the previous call's (within the limit) instead of replacing it.
        """
        limit = self._record_limit if record_limit is None else record_limit
        b = attacks.shape[0]
        order = np.argsort(attacks, kind="stable")
        sorted_attacks = attacks[order]
        distinct = np.unique(sorted_attacks)
        parts: list[tuple[np.ndarray, Tensor]] = []
        previous: list[_Chunk] = list(self._record) if append else []
        record = list(previous)
        kept = sum(_part_bytes(c.parts) for c in record)
        dev = self.images.device
        for g in range(0, distinct.size, self.capacity):
            group = distinct[g : g + self.capacity]
            slots = self._hold(group)
            sel = order[(sorted_attacks >= group[0]) & (sorted_attacks <= group[-1])]
            local = slots[np.searchsorted(group, attacks[sel])]
            for s in range(0, sel.size, batch_size):
                idx = sel[s : s + batch_size]
                chunk_parts: list[_Part] = []
                col = colors[torch.as_tensor(idx, device=colors.device)]
                out = self.engine._batch(self._slots, self.images, local[s : s + batch_size], attacks[idx],
                                         positions[idx], col, applied[idx], chunk_parts, pad_single=True)
                parts.append((idx, out))
                kept += _part_bytes(chunk_parts)
                if kept <= limit:
                    record.append(_Chunk(attacks[idx], self.versions[attacks[idx]], positions[idx], col,
                                         applied[idx], chunk_parts))
        self._record = record if kept <= limit else previous
        first = parts[0][1]
        out = first.new_empty((b, *first.shape[1:]))
        for idx, val in parts:
            out[torch.as_tensor(idx, device=dev)] = val
        return out

    def commit(self, attacks: np.ndarray, positions: np.ndarray, colors: Tensor, applied: np.ndarray,
               batch_size: int, sources: np.ndarray | None = None) -> None:
        """Move the bases of the distinct ``attacks`` (B,) to the candidates given as for :meth:`outputs`.

        ``sources`` (B,): the bases the candidates were given against, where not the attacks' own: each
        attack's base first becomes a copy of its source (:meth:`copy`), then moves (the windows recorded when
        the candidate was evaluated against its source are written, as for a move of the source itself).
        """
        dev = self.images.device
        if sources is not None:
            self.copy(attacks, sources)
        b, m = positions.shape
        w = self.images.shape[3]
        a_t = torch.as_tensor(attacks, device=dev)
        for j in range(m):  # the images, in the order of the entries: the last applied one wins
            on = np.flatnonzero(applied[:, j])
            if on.size:
                on_t = torch.as_tensor(on, device=dev)
                p = torch.as_tensor(positions[on, j], device=dev)
                self.images[a_t[on_t], :, p // w, p % w] = colors[on_t, j].to(self.images.dtype)
        held = self._slot_of[attacks] >= 0
        if self.update == "full":
            if held.any():
                self._compute(attacks[held])
        else:
            todo = np.flatnonzero(held)
            found = self._write_recorded(attacks[todo], positions[todo], colors[torch.as_tensor(todo, device=dev)],
                                         applied[todo], None if sources is None else sources[todo])
            todo = todo[~found]
            # not evaluated in the last call (a memo's answer, a full pass, a record too large to keep): evaluate
            # them again, a batch at a time (all are held, so no slot changes hands), and write their windows
            for s in range(0, todo.size, batch_size):
                sub = todo[s : s + batch_size]
                sub_t = torch.as_tensor(sub, device=dev)
                self.outputs(attacks[sub], positions[sub], colors[sub_t], applied[sub], batch_size,
                             record_limit=2**62)
                found = self._write_recorded(attacks[sub], positions[sub], colors[sub_t], applied[sub])
                assert found.all()
        self.versions[attacks] += 1  # what the last call recorded for these attacks no longer applies

    def _write_recorded(self, attacks: np.ndarray, positions: np.ndarray, colors: Tensor, applied: np.ndarray,
                        sources: np.ndarray | None = None) -> np.ndarray:
        """Write the recorded parts of candidates identical to these (same base, base version and changes)
        into the attacks' slots; the base is the attack's own or, given, its source (B,). Returns which were
        found (B,) bool."""
        found = np.zeros(attacks.shape[0], dtype=bool)
        looked_up = attacks if sources is None else sources
        want = {int(a): i for i, a in enumerate(looked_up)}
        for chunk in self._record:
            rows: list[int] = []
            dest: list[int] = []
            for r, a in enumerate(chunk.attacks):
                i = want.get(int(a), -1)
                if (i < 0 or found[i] or chunk.versions[r] != self.versions[a]
                        or chunk.positions.shape[1] != positions.shape[1]
                        or not np.array_equal(chunk.positions[r], positions[i])
                        or not np.array_equal(chunk.applied[r], applied[i])
                        or not torch.equal(chunk.colors[r], colors[i])):
                    continue
                found[i] = True
                rows.append(r)
                dest.append(int(self._slot_of[attacks[i]]))
            if rows:
                self._write(chunk.parts, np.asarray(rows), np.asarray(dest))
        return found

    def _write(self, parts: list[_Part], rows: np.ndarray, slots: np.ndarray) -> None:
        """Write candidates ``rows`` of a recorded batch into ``slots`` (distinct)."""
        dev = self.images.device
        r_t = torch.as_tensor(rows, device=dev)
        s_t = torch.as_tensor(slots, device=dev)
        for table, part in zip(self._slots, parts, strict=True):
            ph, pw = part.pad
            if part.tops is None:
                vals = part.values[r_t].permute(0, 2, 3, 1)
                table[s_t, ph : ph + vals.shape[1], pw : pw + vals.shape[2]] = vals
                continue
            assert part.lefts is not None
            m = part.tops.shape[1]
            _, sh, sw, _ = part.values.shape
            ar_h, ar_w = torch.arange(sh, device=dev), torch.arange(sw, device=dev)
            for j in range(m):  # in order: where a candidate's windows overlap the later one wins, as in _gather
                ys = part.tops[r_t, j][:, None] + ph + ar_h  # (n, Sh)
                xs = part.lefts[r_t, j][:, None] + pw + ar_w
                table[s_t[:, None, None], ys[:, :, None], xs[:, None, :]] = part.values[r_t * m + j]
