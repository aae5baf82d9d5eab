"""The command use-cases: what ``pixelspace attack``, ``scan`` and ``demo`` do, as functions the CLI calls.

They sit above the campaign and the report and may use both (the demo runs a campaign, then writes its
report; attacking one image draws a figure); nothing but :mod:`pixelspace.cli` imports them, so the campaign
never imports the report (``tests/test_layering.py``).
"""
