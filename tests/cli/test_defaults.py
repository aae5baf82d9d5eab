"""Issue 32: the CLI's defaults are the library's, so one change in the library changes the CLI."""

from __future__ import annotations

import inspect
import subprocess
import sys
from typing import Any

import click
from tests.campaign.conftest import REPO

from pixelspace.attack import PixelAttack
from pixelspace.attack.scan import PixelScan
from pixelspace.cli import cli
from pixelspace.commands.single import attack_image, scan_image
from pixelspace.search import DEConfig


def _defaults(command: str) -> dict[str, Any]:
    cmd = cli.commands[command]
    return {p.name: p.default for p in cmd.params if isinstance(p, click.Option)}


def test_the_attack_command_defaults_are_the_libraries() -> None:
    d, lib = _defaults("attack"), inspect.signature(attack_image).parameters
    assert d["population"] == DEConfig().population_size
    assert d["generations"] == DEConfig().max_generations
    assert d["pixels"] == lib["pixels"].default == PixelAttack().pixels
    assert d["seed"] == lib["seed"].default
    assert d["region"] == lib["region"].default
    assert d["precision"] == lib["precision"].default
    de = DEConfig()
    budget = f"{de.population_size} x {de.max_generations + 1} = {de.population_size * (de.max_generations + 1):,}"
    assert budget in (cli.commands["attack"].help or "")  # the help's query budget is the default's


def test_the_scan_command_defaults_are_the_libraries() -> None:
    d, lib = _defaults("scan"), inspect.signature(scan_image).parameters
    assert d["stride"] == lib["stride"].default
    assert d["region"] == lib["region"].default
    assert d["precision"] == lib["precision"].default
    assert PixelScan().precision is None  # the command's fp32 is scan_image's, which hands it to the scan


_PROBE = """
import dataclasses
import pixelspace.search.de as de

@dataclasses.dataclass(frozen=True)
class Changed(de.DEConfig):
    population_size: int = 123
    max_generations: int = 7

de.DEConfig = Changed  # as if the library's defaults were changed
from pixelspace.cli import cli
print(sorted((p.name, p.default) for p in cli.commands["attack"].params if p.name in ("population", "generations")))
print(cli.commands["attack"].help)
"""


def test_a_change_of_the_library_default_changes_the_cli() -> None:
    res = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert res.returncode == 0, res.stderr
    defaults, help_text = res.stdout.strip().split("\n", 1)
    help_text = " ".join(help_text.split())  # click rewraps the help's paragraphs
    assert defaults == "[('generations', 7), ('population', 123)]"
    assert "up to 123 x 8 = 984 model queries" in help_text and "400" not in help_text  # the help's budget too
