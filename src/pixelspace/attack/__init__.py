"""Pixel perturbations: candidate encoding, regions, objectives and the PixelAttack entry point."""

from pixelspace.attack.objectives import Objective, Targeted, Untargeted
from pixelspace.attack.pixel_attack import PixelAttack
from pixelspace.attack.result import AttackResult

__all__ = ["AttackResult", "Objective", "PixelAttack", "Targeted", "Untargeted"]
