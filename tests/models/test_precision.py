"""Inference precision: the option reaches the model, and every reported success holds at fp32."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from pixelspace import DEConfig, PixelAttack, Untargeted
from pixelspace.attack.scan import PixelScan
from pixelspace.errors import ConfigError
from pixelspace.models.classifier import Classifier
from pixelspace.models.precision import Precision, inference_precision
from tests.helpers import PlantedModel, gray_images


class LowPrecisionLiar(nn.Module):
    """Predicts class 0 at fp32 and class 1 whenever the forward pass runs under autocast (any input): every
    candidate of a reduced-precision search looks like a success that fp32 refutes."""

    def __init__(self) -> None:
        super().__init__()
        self.probe = nn.Linear(1, 1)
        self.calls: list[torch.dtype] = []
        self.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dtype = self.probe(x[:, :1, 0, :1]).dtype
        self.calls.append(dtype)
        score = 5.0 if dtype != torch.float32 else -5.0
        return torch.stack([torch.zeros(x.shape[0]), torch.full((x.shape[0],), score)], dim=1)


def test_each_precision_runs_the_forward_pass_in_its_dtype() -> None:
    model = LowPrecisionLiar()
    clf = Classifier(model, batch_size=4)
    x = torch.zeros(2, 3, 4, 4, dtype=torch.uint8)
    for precision, dtype in (("fp32", torch.float32), ("tf32", torch.float32), ("bf16", torch.bfloat16),
                             ("fp16", torch.float16)):
        probs = clf.probabilities(x, precision=precision)  # type: ignore[arg-type]
        assert model.calls[-1] == dtype and probs.dtype == torch.float32
        assert int(probs.argmax(1)[0]) == (0 if dtype == torch.float32 else 1)
    assert Classifier(model, batch_size=4, precision="bf16").probabilities(x).argmax(1).tolist() == [1, 1]
    with inference_precision("bf16", torch.device("cpu")):
        pass
    assert not torch.is_autocast_enabled("cpu")  # restored


def test_a_reduced_precision_success_that_fp32_refutes_is_not_reported() -> None:
    model = LowPrecisionLiar()
    images = gray_images(2, 8)
    de = DEConfig(population_size=6, max_generations=3)
    result = PixelAttack(pixels=1, de=de, batch_size=16, precision="bf16")(
        model, images, Untargeted([0, 0]), seed=0)
    # every generation "succeeds" in bf16; each confirmation (fp32) refutes it, so the search runs to the end
    assert not result.success.any()
    assert result.generations.tolist() == [3, 3]
    assert (result.predicted == 0).all()  # the failed attack's fields are fp32 answers, not the bf16 "success"
    # clean + 6 x 4 evaluations (no repeats this small) + one refuted confirmation per generation + the final
    # fp32 evaluation of the best member
    assert result.queries.tolist() == [1 + 24 + 4 + 1, 1 + 24 + 4 + 1]
    assert torch.bfloat16 in model.calls and torch.float32 in model.calls


def test_reduced_precision_finds_the_planted_pixel_and_confirms_it_at_fp32() -> None:
    model = PlantedModel(size=16)
    images = gray_images(3, 16, seed=1)
    de = DEConfig(population_size=40, max_generations=20)
    full = PixelAttack(pixels=1, de=de, batch_size=64)(model, images, Untargeted([0, 0, 0]), seed=3)
    low = PixelAttack(pixels=1, de=de, batch_size=64, precision="bf16")(model, images, Untargeted([0, 0, 0]), seed=3)
    assert full.success.sum() == 3 and low.success.sum() == 3
    with torch.inference_mode():  # the reported adversarial images succeed at fp32
        x = torch.from_numpy(low.adversarial).permute(0, 3, 1, 2).float() / 255
        assert (model(x).argmax(1) == 1).all()


def test_a_reduced_precision_scan_keeps_only_fp32_flips_and_counts_the_checks() -> None:
    model = LowPrecisionLiar()
    images = gray_images(1, 4)
    low = PixelScan(batch_size=64, precision="bf16")(model, images)[0]
    full = PixelScan(batch_size=64)(model, images)[0]
    assert not low.flips.any() and not full.flips.any()
    assert full.queries == 16 * 8 + 1
    assert low.queries == full.queries + 16 * 8  # every bf16 "flip" evaluated again at fp32
    np.testing.assert_array_equal(low.predicted, full.predicted)


def test_precision_is_refused_for_a_black_box_and_checked_by_name() -> None:
    def box(x: np.ndarray) -> np.ndarray:
        return np.tile([0.5, 0.5], (x.shape[0], 1))

    with pytest.raises(ConfigError, match="torch.nn.Module"):
        Classifier(box, output="probabilities", precision="bf16")
    with pytest.raises(ConfigError, match="torch.nn.Module"):
        PixelAttack(precision="fp16")(Classifier(box, output="probabilities"), gray_images(1, 4), Untargeted([0]))
    with pytest.raises(ConfigError, match="precision must be one of"):
        PixelAttack(precision="half")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="precision must be one of"):
        PixelScan(precision="fp64")  # type: ignore[arg-type]


# -- one owner: the Classifier decides, an attack's precision is an override (issue 32) -----------------------
LIAR_DE = DEConfig(population_size=6, max_generations=3)


def test_an_attack_without_precision_searches_at_the_classifiers() -> None:
    model = LowPrecisionLiar()
    clf = Classifier(model, batch_size=16, precision="bf16")
    result = PixelAttack(pixels=1, de=LIAR_DE)(clf, gray_images(2, 8), Untargeted([0, 0]), seed=0)
    assert torch.bfloat16 in model.calls  # the search ran at the Classifier's bf16, not at a silent fp32
    # and the invariant holds: every bf16 "success" was refuted at fp32, the reported fields are fp32 answers
    assert not result.success.any() and (result.predicted == 0).all()
    assert result.queries.tolist() == [1 + 24 + 4 + 1, 1 + 24 + 4 + 1]


def test_an_attack_precision_that_contradicts_the_classifiers_is_an_error_naming_both() -> None:
    model = LowPrecisionLiar()
    with pytest.raises(ConfigError, match=r"precision='fp32'.*'bf16'"):
        PixelAttack(pixels=1, de=LIAR_DE, precision="fp32")(Classifier(model, precision="bf16"), gray_images(1, 8),
                                                            Untargeted([0]))
    assert model.calls == []  # refused before any query
    # the same value, or an override of a Classifier whose precision was never set, is no conflict
    PixelAttack(pixels=1, de=LIAR_DE, precision="bf16")(Classifier(model, precision="bf16"), gray_images(1, 8),
                                                        Untargeted([0]))
    model.calls.clear()
    PixelAttack(pixels=1, de=LIAR_DE, precision="bf16")(Classifier(model), gray_images(1, 8), Untargeted([0]))
    assert torch.bfloat16 in model.calls
    assert PixelAttack().precision is None  # None: the Classifier's


def test_sparse_rs_searches_at_the_classifiers_precision_or_its_own_and_confirms_at_fp32() -> None:
    from pixelspace import SparseRandomSearch

    cases: tuple[tuple[Precision | None, Precision | None], ...] = (("bf16", None), (None, "bf16"))
    for clf_precision, own in cases:
        model = LowPrecisionLiar()
        clf = Classifier(model, batch_size=16) if clf_precision is None else Classifier(model, batch_size=16,
                                                                                        precision="bf16")
        result = SparseRandomSearch(pixels=1, max_queries=20, precision=own)(clf, gray_images(2, 4),
                                                                            Untargeted([0, 0]), seed=0)
        assert torch.bfloat16 in model.calls, (clf_precision, own)
        assert not result.success.any() and (result.predicted == 0).all()  # no bf16 "success" stands
    with pytest.raises(ConfigError, match=r"precision='fp32'.*'bf16'"):
        SparseRandomSearch(pixels=1, max_queries=20, precision="fp32")(
            Classifier(LowPrecisionLiar(), precision="bf16"), gray_images(1, 4), Untargeted([0]))


def test_a_scan_runs_at_the_classifiers_precision_and_keeps_only_fp32_flips() -> None:
    model = LowPrecisionLiar()
    vmap = PixelScan(batch_size=64)(Classifier(model, batch_size=64, precision="bf16"), gray_images(1, 4))[0]
    assert torch.bfloat16 in model.calls and not vmap.flips.any()
    assert vmap.queries == 16 * 8 + 1 + 16 * 8  # every bf16 "flip" evaluated again at fp32
    with pytest.raises(ConfigError, match=r"precision='fp32'.*'bf16'"):
        PixelScan(precision="fp32")(Classifier(model, precision="bf16"), gray_images(1, 4))


def test_a_scan_seeded_attack_honours_the_precision_in_its_scan_and_its_de() -> None:
    from pixelspace.attack.seeded import ScanSeededAttack

    model = LowPrecisionLiar()
    result = ScanSeededAttack(pixels=1, de=DEConfig(population_size=4, max_generations=2), top=4,
                              precision="bf16")(model, gray_images(1, 4), Untargeted([0]), seed=0)
    assert torch.bfloat16 in model.calls and not result.success.any()
    assert int(result.queries[0]) > 16 * 8 + 1 + 16 * 8  # the scan re-checked its bf16 flips at fp32


def test_scan_first_refuses_a_reduced_precision_instead_of_reporting_unconfirmed_hits() -> None:
    from pixelspace.attack.scan import scan_first

    model = LowPrecisionLiar()
    with pytest.raises(ConfigError, match="scan_first.*'bf16'"):
        scan_first(Classifier(model, precision="bf16"), gray_images(1, 4), [0])
    assert scan_first(Classifier(model), gray_images(1, 4), [0]).success.tolist() == [False]
