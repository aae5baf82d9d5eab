"""``images.shift``: the translation experiment chooses images as without a shift, then attacks them moved."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pixelspace.campaign import run_campaign
from pixelspace.campaign.store import decode_mask_png
from pixelspace.data.cifar10 import decode_png
from pixelspace.data.shift import place_images, shift_images
from pixelspace.errors import ConfigError


def _images(store: Path) -> list[tuple[str, int, bytes, str, str | None]]:
    with contextlib.closing(sqlite3.connect(f"file:{store}?mode=ro", uri=True)) as conn:
        return conn.execute("SELECT image_id, pool_index, png, status, reason FROM images ORDER BY pool_index").fetchall()


def _masks(store: Path) -> dict[tuple[str, str], np.ndarray]:
    with contextlib.closing(sqlite3.connect(f"file:{store}?mode=ro", uri=True)) as conn:
        return {(i, r): decode_mask_png(png) for i, r, png in conn.execute("SELECT image_id, region, png FROM masks")}


def _predictions(store: Path) -> dict[str, int]:
    with contextlib.closing(sqlite3.connect(f"file:{store}?mode=ro", uri=True)) as conn:
        return dict(conn.execute("SELECT image_id, predicted FROM predictions").fetchall())


@pytest.mark.parametrize("shift", [[1, 1], [-2, 1]])
def test_shifted_campaign_attacks_the_unshifted_choice_moved(make_config: Any, tiny_data: dict[str, Any],
                                                            shift: list[int]) -> None:
    plain = make_config("plain.sqlite", **{"attack.search": ["scan"], "regions.names": ["whole", "foreground"]})
    moved = make_config("moved.sqlite", **{"attack.search": ["scan"], "regions.names": ["whole", "foreground"],
                                          "images.shift": shift})
    run_campaign(plain, progress=False)
    run_campaign(moved, progress=False)
    a, b = _images(Path(plain.campaign.store)), _images(Path(moved.campaign.store))
    assert [r[0] for r in a] == [r[0] for r in b]  # the same pool images looked at, in the same order
    attacked_plain = {r[0] for r in a if r[3] == "attacked"}
    attacked_moved = {r[0] for r in b if r[3] == "attacked"}
    excluded = {r[0] for r in b if r[3] == "skipped" and r[4] and r[4].startswith(f"shifted by {shift}")}
    assert attacked_moved and attacked_moved <= attacked_plain  # the loops below check at least one image
    assert attacked_moved | excluded == attacked_plain  # excluded, not replaced
    labels = dict(zip(tiny_data["ids"], tiny_data["labels"].tolist(), strict=True))
    preds = _predictions(Path(moved.campaign.store))
    ids = list(tiny_data["ids"])
    for image_id, _, png, status, _ in b:
        i = ids.index(image_id)
        expected = shift_images(tiny_data["images"][i][None], (shift[0], shift[1]))[0]
        np.testing.assert_array_equal(decode_png(png), expected)  # stored (and attacked) shifted
        if status == "attacked":
            assert preds[image_id] == labels[image_id]
    masks = _masks(Path(moved.campaign.store))
    for image_id in attacked_moved:
        fg = tiny_data["fg"][ids.index(image_id)]
        np.testing.assert_array_equal(masks[(image_id, "foreground")], shift_images(fg[None], (shift[0], shift[1]))[0])


@pytest.mark.parametrize(("mode", "words"), [("move", "shifted by [1, 0]"), ("in-place", "shifted by [1, 0] in place")])
def test_a_shift_that_misclassifies_excludes_the_image_and_says_why(make_config: Any, tiny_data: dict[str, Any],
                                                                  mode: str, words: str) -> None:
    import torch

    from pixelspace.campaign.prepare import Dataset, LoadedModel, select_images

    cfg = make_config(**{"images.shift": [1, 0], "images.shift_mode": mode, "regions.names": ["whole"]})  # count 4
    images, labels, ids = tiny_data["images"], tiny_data["labels"], tiny_data["ids"]
    classes = tuple(f"class{c}" for c in range(10))
    plain = Dataset(images, labels, ids, classes, "tiny")
    moved = Dataset(place_images(images, (1, 0), mode), labels, ids, classes, "tiny")  # type: ignore[arg-type]
    keep = int(np.random.default_rng(0).permutation(len(ids))[0])  # the first pool image stays right
    truth = {images[i].tobytes(): int(labels[i]) for i in range(len(ids))} | {
        moved.images[i].tobytes(): int(labels[i]) if i == keep else (int(labels[i]) + 1) % 10 for i in range(len(ids))}

    class Net(torch.nn.Module):  # right on every unshifted image, wrong on every shifted one but ``keep``
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            u8 = (x * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
            out = torch.zeros(len(x), 10)
            for j, im in enumerate(u8):
                out[j, truth[im.tobytes()]] = 10.0
            return out

    models = {"m": LoadedModel("m", Net().eval(), "x")}
    fg = {i: np.ones((8, 8), dtype=bool) for i in ids}
    sel = select_images(cfg, plain, models, "cpu", fg.__getitem__, attacked=moved, attacked_foreground=fg.__getitem__)
    assert [i for i, s in sel.status.items() if s == "attacked"] == [ids[keep]]
    excluded = [i for i, r in sel.reasons.items() if r and r.startswith(f"{words}: misclassified by m (as ")]
    # the quota (4) is spent on the 4 images chosen unshifted: one attacked, 3 excluded, none replaced
    assert len(sel.considered) == 4 and len(excluded) == 3
    for i in excluded:  # the stored prediction is the shifted image's
        assert sel.predictions[(i, "m")][0] == (int(labels[ids.index(i)]) + 1) % 10


def test_shift_changes_the_hash_only_when_set(make_config: Any) -> None:
    assert make_config().config_hash() == make_config(**{"images.shift": [0, 0]}).config_hash()
    assert make_config().config_hash() != make_config(**{"images.shift": [4, 4]}).config_hash()
    with pytest.raises(ConfigError, match="images.shift"):
        make_config(**{"images.shift": [4]})


def test_report_compares_a_shifted_store_with_its_baseline(make_config: Any, tmp_path: Path) -> None:
    from pixelspace.report import write_report

    plain = make_config("plain.sqlite", **{"attack.search": ["scan"], "regions.names": ["whole", "foreground",
                                                                                        "centre"]})
    moved = make_config("moved.sqlite", **{"attack.search": ["scan"], "regions.names": ["whole", "foreground",
                                                                                        "centre"],
                                          "images.shift": [1, 1]})
    run_campaign(plain, progress=False)
    run_campaign(moved, progress=False)
    attacked = sum(1 for r in _images(Path(moved.campaign.store)) if r[3] == "attacked")
    text = write_report(moved.campaign.store, tmp_path / "r", baseline=plain.campaign.store,
                        second_masks={}).markdown.read_text(encoding="utf-8")
    section = text[text.index("## Object or position?"):]
    assert "**The translation experiment** (shift [1, 1] px" in section
    assert f"| tiny | {attacked} |" in section  # the content-or-position row: the images in both stores
    assert "| tiny | centre |" in section and "| tiny | foreground |" in section  # each region before and after
    assert "fewer than the 30 the per-pixel model needs" in section
    plain_text = write_report(plain.campaign.store, tmp_path / "p").markdown.read_text(encoding="utf-8")
    assert "The translation experiment" not in plain_text and "## Object or position?" in plain_text


def test_a_shifted_campaign_replays_and_resumes(make_config: Any) -> None:
    from pixelspace.campaign.status import replay_attack

    cfg = make_config(**{"images.shift": [-1, 2]})  # DE rows: the attack reads the stored (shifted) image
    first = run_campaign(cfg, progress=False)
    again = run_campaign(cfg, progress=False)
    assert first.attacks_run > 0 and again.attacks_run == 0 and again.complete
    with contextlib.closing(sqlite3.connect(f"file:{cfg.campaign.store}?mode=ro", uri=True)) as conn:
        key = conn.execute("SELECT key FROM attacks ORDER BY key LIMIT 1").fetchone()[0]
    rep = replay_attack(cfg.campaign.store, key)
    assert rep.identical, rep.differences


def test_report_command_reads_a_second_mask_folder(make_config: Any, tiny_data: dict[str, Any], tmp_path: Path) -> None:
    from click.testing import CliRunner

    from pixelspace.cli import cli
    from pixelspace.segment import save_masks

    cfg = make_config(**{"attack.search": ["scan"]})
    run_campaign(cfg, progress=False)
    second = np.zeros_like(tiny_data["fg"])
    second[:, 1:7, 1:7] = True  # a larger outline than the stored one
    save_masks(second, list(tiny_data["ids"]), tmp_path / "other")
    out = CliRunner().invoke(cli, ["report", str(cfg.campaign.store), "--out", str(tmp_path / "r"),
                                   "--second-masks", str(tmp_path / "other")])
    assert out.exit_code == 0, out.output
    md = (tmp_path / "r" / "report.md").read_text(encoding="utf-8")
    assert "| tiny | other masks |" in md and "| tiny | as stored, on the 4 images with other masks |" in md
    bad = CliRunner().invoke(cli, ["report", str(cfg.campaign.store), "--out", str(tmp_path / "r2"),
                                   "--second-masks", str(tmp_path / "absent")])
    assert bad.exit_code != 0 and "neither 'auto', 'none' nor a mask folder" in bad.output


def test_the_in_place_control_attacks_the_kept_content_where_it_was(make_config: Any, tiny_data: dict[str, Any]) -> None:
    regions = {"attack.search": ["scan"], "regions.names": ["whole", "foreground"]}
    moved = make_config("moved.sqlite", **regions, **{"images.shift": [1, -1]})
    here = make_config("here.sqlite", **regions, **{"images.shift": [1, -1], "images.shift_mode": "in-place"})
    run_campaign(moved, progress=False)
    run_campaign(here, progress=False)
    a, b = _images(Path(moved.campaign.store)), _images(Path(here.campaign.store))
    assert [r[0] for r in a] == [r[0] for r in b]
    ids = list(tiny_data["ids"])
    stored_moved = {r[0]: decode_png(r[2]) for r in a}
    for image_id, _, png, status, reason in b:
        x = tiny_data["images"][ids.index(image_id)][None]
        np.testing.assert_array_equal(decode_png(png), place_images(x, (1, -1), "in-place")[0])
        # the moved store's image is this one moved pixel for pixel
        np.testing.assert_array_equal(shift_images(decode_png(png)[None], (1, -1))[0], stored_moved[image_id])
        if status == "skipped" and reason and reason.startswith("shifted"):
            assert reason.startswith("shifted by [1, -1] in place: ")
    masks = _masks(Path(here.campaign.store))
    attacked = [r[0] for r in b if r[3] == "attacked"]
    assert attacked
    for image_id in attacked:
        fg = tiny_data["fg"][ids.index(image_id)]
        np.testing.assert_array_equal(masks[(image_id, "foreground")], place_images(fg[None], (1, -1), "in-place")[0])


def test_shift_mode_enters_the_hash_only_as_the_control(make_config: Any) -> None:
    moved = make_config(**{"images.shift": [4, 4]})
    assert moved.config_hash() == make_config(**{"images.shift": [4, 4], "images.shift_mode": "move"}).config_hash()
    assert moved.config_hash() != make_config(**{"images.shift": [4, 4], "images.shift_mode": "in-place"}).config_hash()
    with pytest.raises(ConfigError, match="needs a non-zero images.shift"):
        make_config(**{"images.shift_mode": "in-place"})
    with pytest.raises(ConfigError, match="shift_mode"):
        make_config(**{"images.shift": [4, 4], "images.shift_mode": "inplace"})


def test_report_compares_a_moved_store_with_its_in_place_control(make_config: Any, tmp_path: Path) -> None:
    from pixelspace.report import write_report

    regions = {"attack.search": ["scan"], "regions.names": ["whole", "foreground", "centre"]}
    moved = make_config("moved.sqlite", **regions, **{"images.shift": [1, 1]})
    here = make_config("here.sqlite", **regions, **{"images.shift": [1, 1], "images.shift_mode": "in-place"})
    plain = make_config("plain.sqlite", **regions)
    for cfg in (moved, here, plain):
        run_campaign(cfg, progress=False)
    text = write_report(moved.campaign.store, tmp_path / "r", baseline=here.campaign.store,
                        second_masks={}).markdown.read_text(encoding="utf-8")
    section = text[text.index("## Object or position?"):]
    assert "**The translation experiment** (shift [1, 1] px" in section
    assert "The baseline here is the in-place control of shift [1, 1]" in section
    both = ({r[0] for r in _images(Path(moved.campaign.store)) if r[3] == "attacked"}
            & {r[0] for r in _images(Path(here.campaign.store)) if r[3] == "attacked"})
    assert f"| tiny | {len(both)} |" in section  # the content-or-position row: the images in both stores
    # the control against the unshifted store: the strip's half of the shift, at equal position (no content or
    # position table, no model of both placements: nothing moved)
    same = write_report(here.campaign.store, tmp_path / "h", baseline=plain.campaign.store,
                        second_masks={}).markdown.read_text(encoding="utf-8")
    assert "**The strip control** (the in-place control of shift [1, 1]" in same
    assert "**The translation experiment**" not in same and "Does vulnerability follow the content" not in same
    assert "| tiny | centre |" in same and "the mirror strip that replaced the content the shift pushes out" in same
    assert "Each region with and without the strip" in same and "Does each contrast survive the strip?" in same
    assert "Each region before and after the shift" not in same  # the moved pair's captions say the object moves
    # a baseline that is itself moved, or the control of another shift, is refused with a note
    other = make_config("other.sqlite", **regions, **{"images.shift": [1, -1], "images.shift_mode": "in-place"})
    moved_back = make_config("back.sqlite", **regions, **{"images.shift": [-1, -1]})
    for cfg in (other, moved_back):
        run_campaign(cfg, progress=False)
    wrong = write_report(moved.campaign.store, tmp_path / "o", baseline=other.campaign.store,
                         second_masks={}).markdown.read_text(encoding="utf-8")
    assert "in-place control of shift [1, -1], this store is shifted by [1, 1]" in wrong
    assert "**The translation experiment**" not in wrong
    both_moved = write_report(moved.campaign.store, tmp_path / "b", baseline=moved_back.campaign.store,
                              second_masks={}).markdown.read_text(encoding="utf-8")
    assert "themselves moved by [-1, -1]" in both_moved and "**The translation experiment**" not in both_moved
    # and the unshifted baseline reads as before (no control sentence)
    before = write_report(moved.campaign.store, tmp_path / "p", baseline=plain.campaign.store,
                          second_masks={}).markdown.read_text(encoding="utf-8")
    assert "**The translation experiment** (shift [1, 1] px" in before and "in-place control" not in before


def test_an_in_place_shift_of_half_the_image_is_refused_by_name(make_config: Any, tiny_data: dict[str, Any]) -> None:
    h = int(tiny_data["images"].shape[1])
    cfg = make_config(**{"images.shift": [h // 2, 0], "images.shift_mode": "in-place"})
    with pytest.raises(ConfigError, match=r"in-place' needs a shift under half the"):
        run_campaign(cfg, progress=False)
    assert not Path(cfg.campaign.store).exists()  # refused before anything is written
