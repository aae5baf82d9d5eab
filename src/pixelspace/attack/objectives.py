"""Attack objectives (criteria): fitness to minimise and success, computed from probabilities.

``Untargeted(labels)``: fitness is the probability of the class of interest ``y`` (the paper's Eq. 3 uses
the model's clean prediction), success when the predicted class differs from ``y``.
``Targeted(labels, targets)``: fitness ``1 - p_t``, success only when the predicted class equals ``t``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from pixelspace.errors import ObjectiveError


def _as_classes(values: Any, name: str) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().numpy()
    arr = np.asarray(values)
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1:
        raise ObjectiveError(f"{name} must be one class index per image, shape (N,); got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        if not np.all(np.equal(np.mod(arr, 1), 0)):
            raise ObjectiveError(f"{name} must hold integer class indices, got dtype {arr.dtype}")
    arr = arr.astype(np.int64)
    if arr.size and arr.min() < 0:
        raise ObjectiveError(f"{name} must be >= 0; got {int(arr.min())}")
    return arr


class Objective:
    """Base class: ``labels`` (A,) classes of interest, ``targets`` (A,) target classes (-1: untargeted)."""

    mode: str = ""
    labels: np.ndarray
    targets: np.ndarray

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def fitness(self, probs: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        """Fitness (B,) of probabilities (B, K) whose attack indices are ``rows`` (B,); lower is better."""
        raise NotImplementedError

    def is_success(self, probs: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        """Bool (B,): does each row meet the criterion?"""
        raise NotImplementedError

    def interest(self, probs: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        """The probability the objective is about: p_y (untargeted) or p_t (targeted), (B,)."""
        raise NotImplementedError

    def check_classes(self, num_classes: int) -> None:
        """Raise when a label or target is not below ``num_classes``."""
        for name, arr in (("labels", self.labels), ("targets", self.targets)):
            if arr.size and arr.max() >= num_classes:
                raise ObjectiveError(f"{name} must be < {num_classes} (the model's classes); got {int(arr.max())}")

    def subset(self, index: np.ndarray) -> Objective:
        """The objective restricted to some attacks."""
        raise NotImplementedError


class Untargeted(Objective):
    """Untargeted criterion: succeed when the prediction leaves the class of interest.

    Args:
        labels: class of interest per image (N,), normally the model's clean prediction.
    """

    mode = "untargeted"

    def __init__(self, labels: Sequence[int] | np.ndarray | torch.Tensor) -> None:
        self.labels = _as_classes(labels, "labels")
        self.targets = np.full_like(self.labels, -1)

    def fitness(self, probs: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        return self.interest(probs, rows)

    def interest(self, probs: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        y = torch.as_tensor(self.labels, device=probs.device)[rows]
        return probs.gather(1, y[:, None])[:, 0]

    def is_success(self, probs: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        y = torch.as_tensor(self.labels, device=probs.device)[rows]
        return probs.argmax(1) != y

    def subset(self, index: np.ndarray) -> Untargeted:
        return Untargeted(self.labels[index])

    def __repr__(self) -> str:
        return f"Untargeted({len(self)} labels)"


class Targeted(Objective):
    """Targeted criterion: succeed only when the prediction becomes the target (another class is a failure).

    Args:
        labels: class of interest per image (N,); the target must differ from it.
        targets: target class per image (N,).
    """

    mode = "targeted"

    def __init__(
        self, labels: Sequence[int] | np.ndarray | torch.Tensor, targets: Sequence[int] | np.ndarray | torch.Tensor
    ) -> None:
        self.labels = _as_classes(labels, "labels")
        self.targets = _as_classes(targets, "targets")
        if self.targets.shape != self.labels.shape:
            raise ObjectiveError(f"targets has {self.targets.size} entries but labels has {self.labels.size}")
        same = np.flatnonzero(self.targets == self.labels)
        if same.size:
            raise ObjectiveError(
                f"target equals the class of interest for image(s) {same[:10].tolist()} "
                f"(class {int(self.labels[same[0]])}); a targeted attack needs another class"
            )

    def fitness(self, probs: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        return 1.0 - self.interest(probs, rows)

    def interest(self, probs: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        t = torch.as_tensor(self.targets, device=probs.device)[rows]
        return probs.gather(1, t[:, None])[:, 0]

    def is_success(self, probs: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        t = torch.as_tensor(self.targets, device=probs.device)[rows]
        return probs.argmax(1) == t

    def subset(self, index: np.ndarray) -> Targeted:
        return Targeted(self.labels[index], self.targets[index])

    def __repr__(self) -> str:
        return f"Targeted({len(self)} label/target pairs)"


class Margin(Objective):
    """Another objective's criterion with the margin loss as fitness (what :mod:`pixelspace.attack.sparse_rs`
    minimises).

    Untargeted: ``log p_y - max_{j != y} log p_j``; targeted: ``max_{j != t} log p_j - log p_t``. Both are the
    logit margins (log-softmax shifts all logits equally) and are below 0 exactly when the wrapped objective
    succeeds, ties aside. Probabilities are floored at 1e-300 before the log (float32 softmax underflows to 0).
    Success, interest, labels and targets are the wrapped objective's.

    Args:
        base: ``Untargeted(...)`` or ``Targeted(...)``.
    """

    base: Objective

    def __init__(self, base: Objective) -> None:
        self.base = base.base if isinstance(base, Margin) else base
        self.mode = self.base.mode
        self.labels = self.base.labels
        self.targets = self.base.targets

    def fitness(self, probs: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        logp = probs.double().clamp_min(1e-300).log()
        cls = torch.as_tensor(self.labels if self.mode == "untargeted" else self.targets, device=probs.device)[rows]
        own = logp.gather(1, cls[:, None])[:, 0]
        others = logp.scatter(1, cls[:, None], float("-inf")).max(dim=1).values
        return own - others if self.mode == "untargeted" else others - own

    def interest(self, probs: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        return self.base.interest(probs, rows)

    def is_success(self, probs: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        return self.base.is_success(probs, rows)

    def subset(self, index: np.ndarray) -> Margin:
        return Margin(self.base.subset(index))

    def __repr__(self) -> str:
        return f"Margin({self.base!r})"
