"""The command line before any work: every option known (ours and Beam's), bare flags
completed, the closest option named for a typo. Light to import: no TensorFlow."""
from __future__ import annotations

import argparse
import difflib
import sys
from functools import lru_cache
from typing import NoReturn, Sequence

from apache_beam.options.pipeline_options import PipelineOptions, _BeamArgumentParser

from pipeline.config import ConfigError
from pipeline.options import DreamOptions
from pipeline.runners.choice import DASK_REFUSAL, check_runner

# Beam flags that take a value but that users write bare (Beam itself needs --dry_run=True).
BARE_FLAGS = {"--dry_run": "--dry_run=True"}


class _HelpWithDefaults(argparse.HelpFormatter):
    """--help states each option's default where its own text does not."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if ("(default" in text.lower() or not action.option_strings
                or action.default in (None, False, argparse.SUPPRESS) or action.default == []):
            return text
        return text + " (default: %(default)s)"


class _OneLineParser(_BeamArgumentParser):
    """A value argparse rejects (`--iterations two`, a bare `--iterations`) is one line, as
    every other start error, instead of the usage and a Python program's name."""

    def error(self, message: str) -> NoReturn:
        raise ConfigError(message)


@lru_cache(maxsize=1)
def option_parser() -> argparse.ArgumentParser:
    """One parser holding this job's options, then every Beam option (runner, Dataflow, ...).

    Beam's own parser class is used because some option classes add value-provider
    arguments that only it understands.
    """
    parser = _OneLineParser(
        prog="python -m pipeline",
        usage="python -m pipeline --input PATTERN --output DIR [options]",
        description="DeepDream over image collections on Apache Beam.",
        formatter_class=_HelpWithDefaults,
        allow_abbrev=False,
    )
    # Option classes declare into any argparse container; groups take the same calls.
    DreamOptions._add_argparse_args(parser.add_argument_group("DeepDream options"))  # type: ignore[arg-type]
    beam_options = parser.add_argument_group("Beam pipeline options")
    beam_options.add_value_provider_argument = parser.add_value_provider_argument  # type: ignore[attr-defined]
    for cls in PipelineOptions.__subclasses__():
        if cls is not DreamOptions:
            try:
                cls._add_argparse_args(beam_options)  # type: ignore[arg-type]
            except argparse.ArgumentError:  # a flag two option classes share: listed once
                pass
    return parser


def help_text() -> str:
    """--help: this job's options first, then Beam's."""
    return option_parser().format_help()


def known_options() -> list[str]:
    return [flag for action in option_parser()._actions for flag in action.option_strings
            if flag.startswith("--")]


@lru_cache(maxsize=1)
def _flags() -> frozenset[str]:
    """Options that take no value (`--force`, `--jit`, Beam's `--streaming`, ...)."""
    return frozenset(flag for action in option_parser()._actions if action.nargs == 0
                     for flag in action.option_strings)


def complete_bare_flags(args: Sequence[str]) -> list[str]:
    """`--dry_run` alone means `--dry_run=True` (Beam's parser would stop at it)."""
    return [BARE_FLAGS.get(arg, arg) for arg in args]


def check_known_options(args: Sequence[str]) -> None:
    """Stop at an option nobody declares: Beam would drop it with a warning and run the job
    on defaults (`--iteration 1` would dream 30 steps)."""
    known = set(known_options())
    for arg in args:
        if not arg.startswith("--") or arg == "--":
            continue
        name = arg.split("=", 1)[0]
        if name in known:
            continue
        if name.startswith("--dask_"):  # DaskOptions exist only where dask is installed
            raise ConfigError(f"{name}: {DASK_REFUSAL}")
        # A prefix of one option means that option ('--iter' is --iterations, not --jitter).
        extended = sorted(option for option in known if option.startswith(name))
        close = extended[:1] if len(extended) == 1 else difflib.get_close_matches(name, known, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]}?" if close else "; see --help"
        raise ConfigError(f"unknown option {name}{hint}")


def check_no_stray_arguments(args: Sequence[str], leftover: Sequence[str]) -> None:
    """Stop at a word no option takes: Beam would drop it with a warning. Mostly an unquoted
    pattern the shell expanded (`--input photos/*.jpg` becomes `--input a.jpg b.jpg ...`),
    which would dream the first file alone, or a value given to a flag (`--force true`)."""
    stray = [arg for arg in leftover if not arg.startswith("-")]
    if stray:
        where = list(args).index(stray[0])
        before = args[where - 1].split("=", 1)[0] if where else ""
        if before in _flags():
            raise ConfigError(f"{before} is a flag and takes no value: drop {stray[0]!r}")
        more = f" (and {len(stray) - 1} more)" if len(stray) > 1 else ""
        raise ConfigError(
            f"unexpected argument {stray[0]!r}{more}: each option takes one value; quote a pattern "
            "so the shell does not expand it (--input 'photos/*.jpg'), or repeat --input"
        )


def is_dry_run(value: object) -> bool:
    """Beam keeps --dry_run as text: '--dry_run=False' must not mean a dry run."""
    if isinstance(value, str):
        return value.strip().lower() not in ("", "false", "0", "no")
    return bool(value)


def early_answer(args: Sequence[str]) -> int | None:
    """Answer what needs no model (and so no TensorFlow): --help, unknown options, missing
    or out-of-range options. An exit code, or None when the job should go on."""
    if "-h" in args or "--help" in args:
        print(help_text())
        return 0
    try:
        check_known_options(args)
        _, leftover = option_parser().parse_known_args(complete_bare_flags(args))  # values argparse rejects
        check_no_stray_arguments(args, leftover)
        pipeline_options = PipelineOptions(complete_bare_flags(args))
        options = pipeline_options.view_as(DreamOptions)
        if not (options.list_layers or options.list_classes):
            check_job_options(options)
            check_runner(pipeline_options)
            check_presets(options)
    except ConfigError as exc:
        print(f"beam-deepdream: error: {exc}", file=sys.stderr)
        return 2
    return None


def check_presets(options: DreamOptions) -> None:
    """Unknown presets, mistyped settings, a bad local params file: found before TensorFlow
    loads. A params file elsewhere (a bucket) waits for the job's storage options."""
    from pipeline.config import resolve_presets
    from transforms.fetch import is_local

    settings_file = options.params or options.params_from
    if settings_file and not is_local(settings_file):
        return
    try:
        resolve_presets(options, complete=False)
    except ConfigError:
        raise
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc


def check_job_options(options: DreamOptions) -> None:
    """The checks of single options, before any preset, model or file is looked at."""
    if not options.input and not options.input_list and not options.sequence:
        raise ConfigError("--input PATTERN, --input_list FILE or --sequence 'FOLDERS/*/' is required")
    if not options.output:
        raise ConfigError("--output is required: a directory for the results")
    if options.params and options.params_from:
        raise ConfigError("--params and --params_from cannot be combined: give the file's settings as options")
    if options.quality is not None and not 1 <= options.quality <= 100:
        raise ConfigError(f"--quality must be 1-100, got {options.quality}")
    for name in ("max_pixels", "max_size", "max_bytes", "http_timeout", "batch_size",
                 "untiled_max_pixels", "lease_seconds"):
        value = getattr(options, name)
        if value is not None and value <= 0:
            raise ConfigError(f"--{name} must be > 0, got {value}")
    if options.http_retries < 0:
        raise ConfigError(f"--http_retries must be >= 0, got {options.http_retries}")
    ratio = options.max_failure_ratio
    if ratio is not None and not 0 <= ratio <= 1:
        raise ConfigError(f"--max_failure_ratio must be within [0, 1], got {ratio}")
