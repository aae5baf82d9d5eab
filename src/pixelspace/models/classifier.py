"""The model boundary: device, input conversion, eval/inference mode, chunking, softmax and query counting.

The engine hands :class:`Classifier` uint8 images ``(B, 3, H, W)`` on the classifier's device and gets
float32 probabilities ``(B, K)`` back. A ``torch.nn.Module`` is taken to map float ``(B, 3, H, W)`` in [0, 1]
to logits with its normalisation inside; any other black box states its input layout, dtype and output kind,
so nothing is normalised or soft-maxed twice.
"""

from __future__ import annotations

import logging
import os
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch
from torch import nn

from pixelspace.errors import ConfigError, DTypeError, ModelOutputError, ShapeError
from pixelspace.models.precision import Precision, check_precision, inference_precision

if TYPE_CHECKING:
    from pixelspace.models.incremental import Bases, IncrementalModel

log = logging.getLogger(__name__)

Layout = Literal["NCHW", "NHWC"]
InputDType = Literal["uint8", "float"]
OutputKind = Literal["logits", "probabilities"]
ArrayKind = Literal["torch", "numpy"]


def checked_precision(value: object, fn: object, name: str = "precision") -> Precision:
    """``value`` if it names a precision that model ``fn`` can run at, else a ConfigError: the one check of a
    precision against its model (a black-box callable runs at ``"fp32"`` only)."""
    precision = check_precision(value, name)
    if precision != "fp32" and not isinstance(fn, nn.Module):
        raise ConfigError(f"{name}={precision!r} needs a torch.nn.Module; a black-box model runs at 'fp32'")
    return precision


class Classifier:
    """Wraps a model for black-box querying.

    Args:
        fn: a ``torch.nn.Module`` (float NCHW in [0, 1] → logits, normalisation inside) or any callable.
        input_layout: ``"NCHW"`` or ``"NHWC"``: what ``fn`` takes.
        input_dtype: ``"float"`` (values in [0, 1]) or ``"uint8"`` (0–255).
        output: ``"logits"`` (softmax applied here) or ``"probabilities"`` (checked to sum to one).
        array: ``"torch"`` passes tensors to ``fn``; ``"numpy"`` passes NumPy arrays (ONNX, Keras, services).
        device: where inputs are built; default: the module's parameter device, else CPU.
        batch_size: images per call to ``fn``, or ``"auto"`` to measure a few sizes once per model, device and
            image size and keep the largest of the fastest (:mod:`pixelspace.models.autobatch`).
        precision: the arithmetic of a torch module's forward pass (:mod:`pixelspace.models.precision`):
            ``"fp32"``, ``"tf32"``, ``"bf16"`` or ``"fp16"``; other black boxes take ``"fp32"`` only. None
            (default): not chosen, ``"fp32"``, and an attack's ``precision`` may choose it; a precision given
            here is the owner's choice, and an attack that asks for another is refused
            (:meth:`search_precision`). :meth:`probabilities` can override it per call.
        incremental: answer few-pixel candidates (:meth:`pixel_probabilities`) with the incremental forward
            pass (:mod:`pixelspace.models.incremental`): ``"auto"`` (default) on the CPU, where it was measured
            to be faster; ``True`` on any device; ``False`` never. Only for a module taking float NCHW input and
            returning logits whose graph it can analyse; otherwise full forward passes (said once in the log).

    Attributes:
        queries: total images passed to ``fn`` (batch-size probing excluded).
        precision: the precision of a call that names none (``"fp32"`` unless chosen).
        chosen_precision: the ``precision`` given at construction, None if none was.
    """

    def __init__(
        self,
        fn: Callable[[Any], Any],
        input_layout: Layout = "NCHW",
        input_dtype: InputDType = "float",
        output: OutputKind = "logits",
        array: ArrayKind | None = None,
        device: str | torch.device | None = None,
        batch_size: int | Literal["auto"] = "auto",
        precision: Precision | None = None,
        incremental: bool | Literal["auto"] = "auto",
    ) -> None:
        if incremental not in (True, False, "auto"):
            raise ConfigError(f"incremental must be True, False or 'auto', got {incremental!r}")
        if input_layout not in ("NCHW", "NHWC"):
            raise ConfigError(f"input_layout must be 'NCHW' or 'NHWC', got {input_layout!r}")
        if input_dtype not in ("uint8", "float"):
            raise ConfigError(f"input_dtype must be 'uint8' or 'float', got {input_dtype!r}")
        if output not in ("logits", "probabilities"):
            raise ConfigError(f"output must be 'logits' or 'probabilities', got {output!r}")
        if batch_size != "auto" and (not isinstance(batch_size, int) or batch_size < 1):
            raise ConfigError(f"batch_size must be 'auto' or an int >= 1, got {batch_size!r}")
        self.chosen_precision: Precision | None = None if precision is None else checked_precision(precision, fn)
        self.precision: Precision = self.chosen_precision or "fp32"
        self.fn = fn
        self.input_layout: Layout = input_layout
        self.input_dtype: InputDType = input_dtype
        self.output: OutputKind = output
        is_module = isinstance(fn, nn.Module)
        self.array: ArrayKind = array or ("torch" if is_module else "numpy")
        if device is None and isinstance(fn, nn.Module):
            param = next(iter(fn.parameters()), None)
            buf = next(iter(fn.buffers()), None)
            ref = param if param is not None else buf
            device = ref.device if ref is not None else torch.device("cpu")
        self.device = torch.device(device) if device is not None else torch.device("cpu")
        self.batch_size: int | Literal["auto"] = batch_size
        self._tuned: dict[tuple[int, int], tuple[int, int, float]] = {}  # (h, w) -> autobatch.Choice
        self.queries = 0
        self._warned_training = False
        self.incremental: bool | Literal["auto"] = incremental
        self._engine: IncrementalModel | None | Literal[False] = None  # False: analysed, not applicable
        # a module stored channels-last gets channels-last input (about 1.4x faster convolutions on CPU)
        self._channels_last = isinstance(fn, nn.Module) and any(
            p.ndim == 4 and not p.is_contiguous() and p.is_contiguous(memory_format=torch.channels_last)
            for p in fn.parameters()
        )

    @classmethod
    def wrap(cls, model: Classifier | nn.Module | Callable[[Any], Any], batch_size: int | Literal["auto"] = "auto") -> Classifier:
        """Return ``model`` if it already is a Classifier (its batch size kept unless one is given), else wrap it."""
        if isinstance(model, Classifier):
            if batch_size != "auto":
                model.batch_size = batch_size
            return model
        if not isinstance(model, nn.Module) and not callable(model):
            raise ConfigError(f"model must be a torch.nn.Module, a Classifier or a callable, got {type(model).__name__}")
        return cls(model, batch_size=batch_size)

    def search_precision(self, override: Precision | None = None, who: str = "the attack") -> Precision:
        """The precision a search over this classifier runs at: ``override`` (the search's own ``precision``)
        when given, else :attr:`precision`.

        Raises:
            ConfigError: ``override`` is not a precision name, is not ``"fp32"`` for a black box, or differs
                from a precision chosen at construction (the message names both; neither silently wins).
        """
        if override is None:
            return self.precision
        chosen = checked_precision(override, self.fn, f"{who}'s precision")
        if self.chosen_precision is not None and chosen != self.chosen_precision:
            raise ConfigError(
                f"{who} asks for precision={chosen!r} but its Classifier was made with "
                f"precision={self.chosen_precision!r}; choose one: leave the attack's precision None to run at the "
                "Classifier's, or make the Classifier without one"
            )
        return chosen

    # -- conversion -------------------------------------------------------------------------------------
    def _prepare(self, images: torch.Tensor) -> Any:
        x: torch.Tensor = images
        if self.input_dtype == "float":
            x = x.to(torch.float32).div_(255.0)
        if self.input_layout == "NHWC":
            x = x.permute(0, 2, 3, 1).contiguous()
        elif self._channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        if self.array == "numpy":
            return x.cpu().numpy()
        return x

    def _call(self, images: torch.Tensor, precision: Precision | None = None) -> torch.Tensor:
        if isinstance(self.fn, nn.Module):
            with inference_precision(precision or self.precision, self.device):
                out = self.fn(self._prepare(images))
        else:
            out = self.fn(self._prepare(images))
        return self._finish(out, images.shape[0])

    def _finish(self, out: Any, n: int) -> torch.Tensor:
        """Check the model's output for n images and turn it into probabilities (n, K)."""
        out_t = out if isinstance(out, torch.Tensor) else torch.as_tensor(np.asarray(out))
        out_t = out_t.to(device=self.device, dtype=torch.float32)
        if out_t.ndim != 2 or out_t.shape[0] != n:
            raise ModelOutputError(f"model returned shape {tuple(out_t.shape)} for {n} images; expected ({n}, classes)")
        if not torch.isfinite(out_t).all():
            raise ModelOutputError("model returned NaN or infinite values")
        if self.output == "logits":
            return torch.softmax(out_t, dim=1)
        sums = out_t.sum(dim=1)
        if (out_t < -1e-6).any() or not torch.allclose(sums, torch.ones_like(sums), atol=1e-3):
            raise ModelOutputError(
                f"output='probabilities' but rows sum to {sums.min().item():.4f}..{sums.max().item():.4f} "
                "(or hold negative values); use output='logits' for unnormalised scores"
            )
        return out_t

    # -- public -----------------------------------------------------------------------------------------
    def probabilities(self, images: torch.Tensor, count: bool = True, precision: Precision | None = None) -> torch.Tensor:
        """Class probabilities of uint8 images (B, 3, H, W), float32 (B, K), evaluated in chunks.

        Args:
            images: uint8 NCHW on any device (moved to the classifier's device).
            count: add B to :attr:`queries`.
            precision: this call's arithmetic (default :attr:`precision`); a black-box callable takes
                ``"fp32"`` only.
        """
        if precision is not None:
            checked_precision(precision, self.fn)
        images = images.to(self.device)
        n = images.shape[0]
        if n == 0:
            raise ValueError("no images to evaluate")
        with self._eval_mode():
            bs = self.resolve_batch_size(images.shape[2], images.shape[3], n)  # measured in eval mode too
            parts = [self._call(images[i : i + bs], precision) for i in range(0, n, bs)]
        if count:
            self.queries += n
        return parts[0] if len(parts) == 1 else torch.cat(parts)

    @contextmanager
    def _eval_mode(self) -> Iterator[None]:
        """Inference mode, with a module in training mode switched to eval mode meanwhile (warned once)."""
        module = self.fn if isinstance(self.fn, nn.Module) else None
        was_training = module.training if module is not None else False
        if was_training:
            if not self._warned_training:
                warnings.warn("model was in training mode; evaluating it in eval mode", stacklevel=4)
                self._warned_training = True
            assert module is not None
            module.eval()
        try:
            with torch.inference_mode():
                yield
        finally:
            if was_training and module is not None:
                module.train()

    def pixel_probabilities(
        self, clean: torch.Tensor, rows: np.ndarray, positions: np.ndarray, colors: np.ndarray,
        applied: np.ndarray, count: bool = True, precision: Precision | None = None,
    ) -> torch.Tensor | None:
        """Probabilities (B, K) of B few-pixel candidates by the incremental forward pass, or None where it does
        not apply (the caller then builds the images and calls :meth:`probabilities`).

        Args:
            clean: uint8 clean images (A, 3, H, W).
            rows: clean-image index of each candidate (B,).
            positions: flat pixel positions (B, k) (row * W + col); colors: uint8 (B, k, 3);
                applied: bool (B, k), False for a pixel left unchanged. Among a candidate's pixels at one
                position the last applied one wins.
            count: add B to :attr:`queries`.
            precision: this call's arithmetic (default :attr:`precision`); the incremental pass computes in
                fp32 only, so any other precision gets None (full forward passes at that precision).
        """
        if rows.shape[0] == 0 or (precision or self.precision) != "fp32":
            return None
        engine = self._incremental_engine()
        if engine is None:
            return None
        clean = clean.to(self.device)
        if self.incremental == "auto":
            from pixelspace.models.incremental import MAX_COST_SHARE

            with self._eval_mode():
                share = engine.cost_share(clean.shape[1], clean.shape[2], clean.shape[3], positions.shape[1],
                                          self.device)
            if share > MAX_COST_SHARE:
                return None
        with self._eval_mode():
            bs = self.resolve_batch_size(clean.shape[2], clean.shape[3], rows.shape[0])
            x = clean.to(torch.float32).div_(255.0)
            col = torch.as_tensor(np.ascontiguousarray(colors), device=self.device).to(torch.float32).div_(255.0)
            out = engine.outputs(x, rows, positions, col, applied, bs)
            probs = self._finish(out, rows.shape[0])
        if count:
            self.queries += rows.shape[0]
        return probs

    def pixel_bases(self, images: torch.Tensor, precision: Precision | None = None,
                    max_bytes: int | None = None) -> PixelBases:
        """Per-attack base images for candidates given as the pixels where they differ from their base.

        A search that moves from point to point (:class:`~pixelspace.attack.sparse_rs.SparseRandomSearch`)
        creates the bases at its starting points, asks :meth:`PixelBases.probabilities` for candidates given as
        their changes against their attack's current base, and moves a base with :meth:`PixelBases.commit` when
        it accepts a candidate. With the incremental pass (as for :meth:`pixel_probabilities`) the bases keep
        their activations and a candidate costs what its changed pixels can reach; otherwise every candidate is
        built and answered by full forward passes. The answers are the same either way (bit for bit on the
        shipped networks, per candidate; :mod:`pixelspace.models.incremental`).

        Args:
            images: uint8 base images (A, 3, H, W), one per attack (copied).
            precision: the arithmetic of the bases' calls (default :attr:`precision`); the incremental pass
                computes in fp32 only.
            max_bytes: bytes of base activations held at a time (default
                :data:`~pixelspace.models.incremental.MAX_CLEAN_BYTES`; at least one attack's); an attack whose
                activations were given up is recomputed when next asked.

        Raises:
            ShapeError, DTypeError: ``images`` is not uint8 (A, 3, H, W) with A >= 1.
        """
        return PixelBases(self, images, precision, max_bytes)

    def _incremental_engine(self) -> IncrementalModel | None:
        """The analysed module, or None (switched off, not on this device under "auto", or not analysable)."""
        if self.incremental is False or (self.incremental == "auto" and self.device.type != "cpu"):
            return None
        if self._engine is None:
            from pixelspace.models.incremental import IncrementalModel, NotIncremental

            reason = None
            if not isinstance(self.fn, nn.Module) or self.array != "torch":
                reason = "the model is not a torch module"
            elif self.input_layout != "NCHW" or self.input_dtype != "float" or self.output != "logits":
                reason = "the model does not take float NCHW input and return logits"
            else:
                try:
                    self._engine = IncrementalModel.of(self.fn)
                except NotIncremental as exc:
                    reason = str(exc)
            if reason is not None:
                log.info("incremental forward pass off for %s: %s; using full forward passes",
                         type(self.fn).__name__, reason)
                self._engine = False
        return self._engine or None

    def resolve_batch_size(self, height: int, width: int, needed: int | None = None,
                           budget: float | None = None) -> int:
        """The chunk size for images of this size: the explicit int, or the measured one (``"auto"``).

        ``needed`` is how many images the call at hand evaluates: a call of at most the smallest candidate
        (32) is one chunk and measures nothing; otherwise no size above the smallest candidate holding them all
        is timed, and a later call needing more measures again up to its own need. ``budget`` bounds the timed
        calls in seconds (default :data:`~pixelspace.models.autobatch.BUDGET`). A measured size is remembered
        per model object, device, image size, input handling and torch thread count, and on disk by the
        weights' hash, device, torch version and host (:mod:`pixelspace.models.autobatch`), so a new
        Classifier around the same model, or a second load of the same network, measures nothing again.
        """
        from pixelspace.models import autobatch

        if isinstance(self.batch_size, int):
            return self.batch_size
        key = (height, width)
        candidates = autobatch.candidates_for(needed)
        cap, budget = candidates[-1], autobatch.BUDGET if budget is None else budget
        tuned = self._tuned.get(key)
        if autobatch.sufficient(tuned, cap, budget):
            assert tuned is not None
            return tuned[0]
        if needed is not None and needed <= autobatch.CANDIDATES[0]:
            return tuned[0] if tuned is not None else needed  # one chunk whatever the choice: nothing to time
        where = (str(self.device), height, width, self.input_layout, self.input_dtype, self.array,
                 self._channels_last, torch.get_num_threads())
        found = autobatch.remembered(self.fn, where)
        disk_key = None
        if not autobatch.sufficient(found, cap, budget):
            fingerprint = autobatch.module_fingerprint(self.fn) if autobatch.cache_file() is not None else None
            if fingerprint is not None:
                disk_key = autobatch.cache_key(fingerprint, where, self._device_name())
                on_disk = autobatch.cached(disk_key)
                if autobatch.sufficient(on_disk, cap, budget):
                    found = on_disk
                    assert found is not None
                    autobatch.remember(self.fn, where, found)
        if found is None or not autobatch.sufficient(found, cap, budget):
            found = (self._measure_batch_size(height, width, candidates, budget), cap, budget)
            autobatch.remember(self.fn, where, found)
            if disk_key is not None:
                autobatch.cache(disk_key, found)
        self._tuned[key] = found
        return found[0]

    def _device_name(self) -> str:
        """The accelerator's name (a cache key: a measurement on one GPU model does not hold for another)."""
        if self.device.type == "cuda":
            return torch.cuda.get_device_name(self.device)
        return f"{self.device.type} x{os.cpu_count()}"

    def _measure_batch_size(self, height: int, width: int, candidates: tuple[int, ...] | None = None,
                            budget: float | None = None) -> int:
        """Time chunk sizes on random images (:func:`~pixelspace.models.autobatch.choose_batch_size`)."""
        from pixelspace.models import autobatch

        gen = torch.Generator().manual_seed(0)
        inputs: dict[int, torch.Tensor] = {}

        def seconds_per_call(bs: int) -> float:
            with torch.inference_mode():
                if bs not in inputs:
                    inputs[bs] = torch.randint(0, 256, (bs, 3, height, width), generator=gen,
                                               dtype=torch.uint8).to(self.device)
                    if len(inputs) == 1:
                        self._call(inputs[bs])  # warm-up: the model's first call does one-off set-up
                self._sync()
                t0 = time.perf_counter()
                self._call(inputs[bs])
                self._sync()
                return time.perf_counter() - t0

        t0 = time.perf_counter()
        best, rates = autobatch.choose_batch_size(seconds_per_call, candidates or autobatch.CANDIDATES,
                                                  autobatch.BUDGET if budget is None else budget)
        log.info("auto batch size for %dx%d images on %s: %d (%s images/s; measured in %.1f s)", height, width,
                 self.device, best, ", ".join(f"{b}: {r:.0f}" for b, r in rates.items()), time.perf_counter() - t0)
        return best

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)


class PixelBases:
    """Base images (one per attack) and candidates given as their pixel changes against them
    (:meth:`Classifier.pixel_bases` makes one).

    Attributes:
        images: uint8 current bases (A, 3, H, W) on the classifier's device (read them, do not write).
        incremental: whether candidates go through the incremental pass (else full forward passes).
        bytes_per_attack: bytes of one attack's kept activations (0 without the incremental pass).
    """

    def __init__(self, classifier: Classifier, images: torch.Tensor, precision: Precision | None = None,
                 max_bytes: int | None = None) -> None:
        if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8:
            raise DTypeError(f"base images must be a uint8 torch.Tensor, got "
                             f"{getattr(images, 'dtype', type(images).__name__)}")
        if images.ndim != 4 or images.shape[1] != 3 or images.shape[0] < 1:
            raise ShapeError(f"base images must have shape (A, 3, H, W) with A >= 1, got {tuple(images.shape)}")
        if precision is not None:
            checked_precision(precision, classifier.fn)
        self.classifier = classifier
        self.precision: Precision = precision or classifier.precision
        self.images = images.to(classifier.device).clone()
        self._bases: Bases | None = None
        engine = classifier._incremental_engine() if self.precision == "fp32" else None
        if engine is not None:
            from pixelspace.models.incremental import MAX_CLEAN_BYTES, Bases

            with classifier._eval_mode():
                x = self.images.to(torch.float32).div_(255.0)
                self._bases = Bases(engine, x, MAX_CLEAN_BYTES if max_bytes is None else max_bytes)
        self.incremental = self._bases is not None
        self.bytes_per_attack = self._bases.slot_bytes if self._bases is not None else 0

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def _check(self, attacks: np.ndarray, positions: np.ndarray, colors: np.ndarray, applied: np.ndarray,
               empty: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        attacks = np.asarray(attacks)
        positions = np.asarray(positions)
        colors = np.asarray(colors)
        applied = np.asarray(applied)
        if attacks.ndim != 1 or attacks.dtype.kind not in "iu":
            raise ShapeError(f"attacks must be integers of shape (B,), got {attacks.dtype} {attacks.shape}")
        b = attacks.shape[0]
        if b == 0 and not empty:
            raise ShapeError("no candidates (attacks is empty)")
        if positions.ndim != 2 or positions.shape[0] != b or positions.dtype.kind not in "iu":
            raise ShapeError(f"positions must be integers of shape ({b}, m), got {positions.dtype} {positions.shape}")
        m = positions.shape[1]
        if colors.shape != (b, m, 3) or colors.dtype != np.uint8:
            raise ShapeError(f"colors must be uint8 of shape ({b}, {m}, 3), got {colors.dtype} {colors.shape}")
        if applied.shape != (b, m) or applied.dtype != np.bool_:
            raise ShapeError(f"applied must be bool of shape ({b}, {m}), got {applied.dtype} {applied.shape}")
        if b and (attacks.min() < 0 or attacks.max() >= len(self)):
            raise ShapeError(f"attacks must lie in [0, {len(self)}), got {attacks.min()}..{attacks.max()}")
        hw = self.images.shape[2] * self.images.shape[3]
        if b and m and (positions.min() < 0 or positions.max() >= hw):
            raise ShapeError(f"positions must lie in [0, {hw}) (row * W + col), got "
                             f"{positions.min()}..{positions.max()}")
        return attacks.astype(np.int64), positions.astype(np.int64), colors, applied

    def candidates(self, attacks: np.ndarray, positions: np.ndarray, colors: np.ndarray, applied: np.ndarray
                   ) -> torch.Tensor:
        """The candidate images, uint8 (B, 3, H, W): each attack's base with the changes applied in order."""
        attacks, positions, colors, applied = self._check(attacks, positions, colors, applied)
        return self._build(attacks, positions, colors, applied)

    def _build(self, attacks: np.ndarray, positions: np.ndarray, colors: np.ndarray, applied: np.ndarray
               ) -> torch.Tensor:
        dev = self.images.device
        out = self.images[torch.as_tensor(attacks, device=dev)].clone()
        w = out.shape[3]
        col = torch.as_tensor(np.ascontiguousarray(colors), device=dev)
        for j in range(positions.shape[1]):  # the last applied entry at a position wins
            on = np.flatnonzero(applied[:, j])
            if on.size:
                p = torch.as_tensor(positions[on, j], device=dev)
                on_t = torch.as_tensor(on, device=dev)
                out[on_t, :, p // w, p % w] = col[on_t, j]
        return out

    def _use_incremental(self, pixels: int) -> bool:
        if self._bases is None:
            return False
        if self.classifier.incremental != "auto":
            return True
        from pixelspace.models.incremental import MAX_COST_SHARE

        c, h, w = self.images.shape[1:]
        with self.classifier._eval_mode():
            share = self._bases.engine.cost_share(c, h, w, pixels, self.classifier.device)
        return share <= MAX_COST_SHARE

    def base_probabilities(self, attacks: np.ndarray | None = None, count: bool = True) -> torch.Tensor:
        """Probabilities (B, K) of the current bases of ``attacks`` (B,) (default: all, in order): a search's
        evaluation of its starting points. With the incremental pass this computes the bases' activations
        (which the candidates need anyway) and answers from them, at the cost of one full forward pass.

        Args:
            attacks: attack indices (B,), repeats allowed.
            count: add B to the classifier's ``queries``.
        """
        attacks = np.arange(len(self)) if attacks is None else np.asarray(attacks)
        if attacks.ndim != 1 or attacks.dtype.kind not in "iu" or attacks.size == 0:
            raise ShapeError(f"attacks must be integers of shape (B,) with B >= 1, got {attacks.dtype} {attacks.shape}")
        if attacks.min() < 0 or attacks.max() >= len(self):
            raise ShapeError(f"attacks must lie in [0, {len(self)}), got {attacks.min()}..{attacks.max()}")
        clf = self.classifier
        if self._bases is None:
            return clf.probabilities(self.images[torch.as_tensor(attacks, device=self.images.device)], count,
                                     self.precision)
        with clf._eval_mode():
            bs = clf.resolve_batch_size(self.images.shape[2], self.images.shape[3], attacks.shape[0])
            probs = clf._finish(self._bases.base_outputs(attacks.astype(np.int64), bs), attacks.shape[0])
        if count:
            clf.queries += attacks.shape[0]
        return probs

    def probabilities(self, attacks: np.ndarray, positions: np.ndarray, colors: np.ndarray, applied: np.ndarray,
                      count: bool = True, keep: bool = False) -> torch.Tensor:
        """Probabilities (B, K) of B candidates, each given as its changes against its attack's current base.

        Args:
            attacks: the attack (base) of each candidate (B,), any order, repeats allowed.
            positions: flat pixel positions (B, m) (row * W + col) where the candidate differs from its base;
                colors: uint8 (B, m, 3), its values there (a pixel restored takes its clean value);
                applied: bool (B, m), False for an entry that changes nothing (pads a candidate with fewer
                changes). Among a candidate's entries at one position the last applied one wins.
            count: add B to the classifier's ``queries``.
            keep: keep what the previous call computed for :meth:`commit` too (by default a call replaces it).

        Raises:
            ShapeError: arrays of the wrong shape, dtype or range (the message names the argument).
        """
        attacks, positions, colors, applied = self._check(attacks, positions, colors, applied)
        clf = self.classifier
        if not self._use_incremental(positions.shape[1]):
            return clf.probabilities(self._build(attacks, positions, colors, applied), count, self.precision)
        assert self._bases is not None
        with clf._eval_mode():
            bs = clf.resolve_batch_size(self.images.shape[2], self.images.shape[3], attacks.shape[0])
            col = torch.as_tensor(np.ascontiguousarray(colors), device=clf.device).to(torch.float32).div_(255.0)
            out = self._bases.outputs(attacks, positions, col, applied, bs, append=keep)
            probs = clf._finish(out, attacks.shape[0])
        if count:
            clf.queries += attacks.shape[0]
        return probs

    def commit(self, attacks: np.ndarray, positions: np.ndarray, colors: np.ndarray, applied: np.ndarray,
               sources: np.ndarray | None = None) -> None:
        """Move the bases of ``attacks`` (B,) (distinct) to candidates given as for :meth:`probabilities`.

        A candidate evaluated by the last :meth:`probabilities` call against the same base moves its base by
        writing the windows computed then; any other is evaluated once more (not counted as a query). Either
        way the base's activations equal those of a full pass of the new base image (bit for bit on the
        shipped networks; benchmarks/incremental_exactness.py).

        Args:
            sources: the bases (B,) the candidates are given against, where not the attacks' own: each attack's
                base first becomes a copy of its source's (:meth:`copy`), then moves; the windows computed when
                the candidate was evaluated against the source are written all the same.

        Raises:
            ShapeError: as for :meth:`probabilities` (except that no attack at all is allowed: nothing moves), an
                attack given twice, or an attack among the sources.
        """
        attacks, positions, colors, applied = self._check(attacks, positions, colors, applied, empty=True)
        if attacks.size == 0:
            return
        if np.unique(attacks).size != attacks.size:
            raise ShapeError("commit takes each attack at most once; attacks holds repeats")
        if sources is not None:
            sources = self._check_sources(attacks, sources)
            self.images[torch.as_tensor(attacks, device=self.images.device)] = self.images[
                torch.as_tensor(sources, device=self.images.device)]
        dev = self.images.device
        self.images[torch.as_tensor(attacks, device=dev)] = self._build(attacks, positions, colors, applied)
        if self._bases is None:
            return
        clf = self.classifier
        with clf._eval_mode():
            bs = clf.resolve_batch_size(self.images.shape[2], self.images.shape[3], attacks.shape[0])
            col = torch.as_tensor(np.ascontiguousarray(colors), device=dev).to(torch.float32).div_(255.0)
            self._bases.commit(attacks, positions, col, applied, bs, sources)

    def _check_sources(self, attacks: np.ndarray, sources: np.ndarray) -> np.ndarray:
        sources = np.asarray(sources)
        if sources.shape != attacks.shape or sources.dtype.kind not in "iu":
            raise ShapeError(f"sources must be integers of shape {attacks.shape}, got {sources.dtype} {sources.shape}")
        if sources.size and (sources.min() < 0 or sources.max() >= len(self)):
            raise ShapeError(f"sources must lie in [0, {len(self)}), got {sources.min()}..{sources.max()}")
        if np.isin(attacks, sources).any():
            raise ShapeError("an attack cannot be among the sources it copies from")
        return sources.astype(np.int64)

    def copy(self, attacks: np.ndarray, sources: np.ndarray) -> None:
        """Make the bases of the distinct ``attacks`` (B,) copies of the bases of ``sources`` (B,) (images, and
        kept activations where held: no pass through the model).

        Raises:
            ShapeError: arrays of the wrong shape or range, an attack given twice, or an attack among the sources.
        """
        attacks = np.asarray(attacks)
        if attacks.ndim != 1 or attacks.dtype.kind not in "iu":
            raise ShapeError(f"attacks must be integers of shape (B,), got {attacks.dtype} {attacks.shape}")
        if attacks.size and (attacks.min() < 0 or attacks.max() >= len(self)):
            raise ShapeError(f"attacks must lie in [0, {len(self)}), got {attacks.min()}..{attacks.max()}")
        if np.unique(attacks).size != attacks.size:
            raise ShapeError("copy takes each attack at most once; attacks holds repeats")
        attacks = attacks.astype(np.int64)
        sources = self._check_sources(attacks, sources)
        if attacks.size == 0:
            return
        dev = self.images.device
        self.images[torch.as_tensor(attacks, device=dev)] = self.images[torch.as_tensor(sources, device=dev)]
        if self._bases is not None:
            with self.classifier._eval_mode():
                self._bases.copy(attacks, sources)
