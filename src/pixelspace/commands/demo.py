"""``pixelspace demo``: the shipped demo campaign into ``./pixelspace-demo/`` (or a chosen folder), then its report."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from pixelspace.campaign.config import CampaignConfig, load_config
from pixelspace.campaign.runner import CampaignSummary, run_campaign

DEMO_FILE = "demo.toml"


def demo_config_path() -> Path:
    """The demo campaign shipped in the package (``campaigns/demo.toml`` in the repository links to it)."""
    return Path(str(resources.files("pixelspace") / "assets" / DEMO_FILE))


@dataclass(frozen=True)
class DemoOutcome:
    """The campaign summary and the report files."""

    summary: CampaignSummary
    report_md: Path
    report_html: Path


def demo_config(out_dir: str | Path) -> CampaignConfig:
    """The demo campaign with its store placed in ``out_dir``."""
    config = load_config(demo_config_path())
    campaign = dataclasses.replace(config.campaign, store=str(Path(out_dir) / "store.sqlite"))
    return dataclasses.replace(config, campaign=campaign)


def run_demo(out_dir: str | Path = "pixelspace-demo", progress: bool = True) -> DemoOutcome:
    """Run (or resume) the demo campaign into ``out_dir`` and write its report to ``out_dir/report``."""
    from pixelspace.outputs import check_output_dir
    from pixelspace.report import write_report

    check_output_dir(out_dir, files=["store.sqlite"], folders=["report"])  # before the campaign runs
    config = demo_config(out_dir)
    summary = run_campaign(config, progress=progress)
    paths = write_report(config.campaign.store, Path(out_dir) / "report")
    return DemoOutcome(summary, paths.markdown, paths.html)
