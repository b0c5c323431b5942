"""Prism, Beam's Go runner (what DirectRunner runs first when it can have the binary)."""
from __future__ import annotations

import logging

from apache_beam.options.pipeline_options import PipelineOptions, PrismRunnerOptions


def quiet_prism(options: PipelineOptions) -> None:
    """Prism relays its own log (start, 'pipeline done!') at INFO to the terminal, and Beam
    announces every service it starts: only warnings and errors are shown, unless
    --prism_log_level asks for more."""
    prism = options.view_as(PrismRunnerOptions)
    if not options.get_all_options(drop_default=True).get("prism_log_level"):
        prism.prism_log_level = "warn"
    logging.getLogger("apache_beam.utils.subprocess_server").setLevel(logging.ERROR)
