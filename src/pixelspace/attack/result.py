"""The batched result of a pixel attack."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class AttackResult:
    """Outcome of A attacks (all arrays are NumPy, first axis A; k = pixels, G = max generations).

    Attributes:
        success: bool (A,).
        adversarial: uint8 adversarial images in the caller's layout ((A, H, W, 3) or (A, 3, H, W)).
        pixels: int64 (A, k, 2) perturbed (row, col); (-1, -1) for a slot restrict mode restored.
        colors: uint8 (A, k, 3) RGB of each perturbed pixel.
        changed: int64 (A,) pixels whose value actually differs from the clean image.
        predicted: int64 (A,) predicted class of the adversarial image.
        confidence: float32 (A,) probability of ``predicted``.
        target_probability: float32 (A,) untargeted: of the class of interest; targeted: of the target.
        clean_probability: float32 (A,) the same class's probability on the clean image.
        labels: int64 (A,) class of interest; targets: int64 (A,) target (-1 when untargeted).
        clean_top5_classes / clean_top5_probs: (A, 5) clean top-5 classes and probabilities.
        adv_top5_classes / adv_top5_probs: (A, 5) the adversarial image's top-5.
        adv_probs_of_clean_top5: float32 (A, 5) adversarial probabilities of the clean top-5 classes.
        generations: int64 (A,) generation at which the attack stopped (0 … G).
        queries: int64 (A,) model evaluations: clean image + evaluated candidates + the confirmation.
        fitness_history: float64 (A, G+1) best fitness after each generation (NaN after the stop).
        seed: uint64-valued int64 (A,) the seed of each attack's random stream (reproduces it alone).
        mode: ``"untargeted"`` or ``"targeted"``; region_mode: ``"restrict"`` or ``"index"``.
        region_size: int64 (A,) pixels in each attack's region.
        batch_size: images per model call used.
    """

    success: np.ndarray
    adversarial: np.ndarray
    pixels: np.ndarray
    colors: np.ndarray
    changed: np.ndarray
    predicted: np.ndarray
    confidence: np.ndarray
    target_probability: np.ndarray
    clean_probability: np.ndarray
    labels: np.ndarray
    targets: np.ndarray
    clean_top5_classes: np.ndarray
    clean_top5_probs: np.ndarray
    adv_top5_classes: np.ndarray
    adv_top5_probs: np.ndarray
    adv_probs_of_clean_top5: np.ndarray
    generations: np.ndarray
    queries: np.ndarray
    fitness_history: np.ndarray
    seed: np.ndarray
    region_size: np.ndarray
    mode: str
    region_mode: str
    batch_size: int

    _SCALARS = ("mode", "region_mode", "batch_size")

    def __len__(self) -> int:
        return int(self.success.shape[0])

    def __getitem__(self, index: int | slice | np.ndarray) -> AttackResult:
        """A view of some attacks (an int keeps a batch of one)."""
        if isinstance(index, int | np.integer):
            i = int(index)
            if not -len(self) <= i < len(self):
                raise IndexError(f"attack index {i} out of range for {len(self)} attacks")
            index = slice(i, i + 1 if i != -1 else None)
        fields = {
            f.name: (getattr(self, f.name) if f.name in self._SCALARS else getattr(self, f.name)[index])
            for f in dataclasses.fields(self)
        }
        return AttackResult(**fields)

    def to_records(self, include_adversarial: bool = False) -> list[dict[str, Any]]:
        """One plain dict per attack (Python scalars and lists), as stored by campaigns.

        The adversarial image is left out unless asked for: it is the clean image plus ``pixels``/``colors``.
        """
        out = []
        for i in range(len(self)):
            hist = self.fitness_history[i]
            rec: dict[str, Any] = {
                "success": bool(self.success[i]),
                "pixels": self.pixels[i].tolist(),
                "colors": self.colors[i].tolist(),
                "changed": int(self.changed[i]),
                "predicted": int(self.predicted[i]),
                "confidence": float(self.confidence[i]),
                "target_probability": float(self.target_probability[i]),
                "clean_probability": float(self.clean_probability[i]),
                "label": int(self.labels[i]),
                "target": int(self.targets[i]),
                "clean_top5_classes": self.clean_top5_classes[i].tolist(),
                "clean_top5_probs": [float(v) for v in self.clean_top5_probs[i]],
                "adv_top5_classes": self.adv_top5_classes[i].tolist(),
                "adv_top5_probs": [float(v) for v in self.adv_top5_probs[i]],
                "adv_probs_of_clean_top5": [float(v) for v in self.adv_probs_of_clean_top5[i]],
                "generations": int(self.generations[i]),
                "queries": int(self.queries[i]),
                "fitness_history": [float(v) for v in hist[~np.isnan(hist)]],
                "seed": int(self.seed[i]),
                "region_size": int(self.region_size[i]),
                "mode": self.mode,
                "region_mode": self.region_mode,
            }
            if include_adversarial:
                rec["adversarial"] = self.adversarial[i]
            out.append(rec)
        return out
