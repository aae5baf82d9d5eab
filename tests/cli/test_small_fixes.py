"""Issue 33 item 8: a failed attack writes no "adversarial" image, and the output folder is checked before the
heavy imports (`status --keys` and key case: tests/campaign/test_keys_listing.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from tests.campaign.conftest import REPO

from pixelspace.cli import cli
from pixelspace.data.cifar10 import encode_png
from pixelspace.data.samples import load_cifar10_sample
from pixelspace.errors import OutputError
from pixelspace.outputs import check_output_dir


def test_a_failed_attack_writes_its_best_attempt_not_an_adversarial_image(tmp_path: Path) -> None:
    img = tmp_path / "img.png"
    img.write_bytes(encode_png(load_cifar10_sample().images[0]))
    out = CliRunner().invoke(cli, ["attack", str(img), "--model", "cnn8-cifar10", "--population", "4",
                                   "--generations", "1", "--out", str(tmp_path / "out"), "--no-progress"])
    assert out.exit_code == 0, out.output
    assert out.output.startswith("failure:"), out.output  # this budget fails on this image (seed 0)
    assert not (tmp_path / "out" / "img-adversarial.png").exists()
    assert (tmp_path / "out" / "img-best-attempt.png").is_file()
    assert "img-best-attempt.png (the best candidate found; the attack failed)" in out.output


def test_an_output_folder_the_os_refuses_is_found_before_any_work(tmp_path: Path) -> None:
    if not Path("/proc/self").is_dir():
        pytest.skip("no /proc")
    with pytest.raises(OutputError, match="/proc/x"):
        check_output_dir("/proc/x")  # /proc exists and looks writable to root, but takes no folder
    check_output_dir(tmp_path / "new" / "sub")  # a folder that can be made
    assert not (tmp_path / "new").exists()  # and nothing is made


_PROBE = """
import sys
from pixelspace.cli import main
try:
    main(sys.argv[1:])
except SystemExit as exc:
    print("exit", exc.code, "torch" in sys.modules)
"""


@pytest.mark.parametrize("command", ["attack", "scan", "demo"])
def test_the_output_folder_is_checked_before_the_heavy_imports(command: str, tmp_path: Path) -> None:
    img = tmp_path / "img.png"
    img.write_bytes(b"x")
    a_file = tmp_path / "typo.txt"
    a_file.write_text("x")
    args = {"attack": ["attack", str(img)], "scan": ["scan", str(img)], "demo": ["demo"]}[command]
    res = subprocess.run([sys.executable, "-c", _PROBE, *args, "--out", str(a_file)], capture_output=True,
                         text=True, cwd=REPO, timeout=300)
    assert f"output folder {a_file} is a file" in res.stderr, res.stderr
    assert res.stdout.strip() == "exit 1 False", (res.stdout, res.stderr)  # torch was never imported
