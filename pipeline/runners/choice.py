"""The runner named by --runner, checked at launch: one line for a runner that cannot run
this job, before any input is read or the output's lease is taken."""
from __future__ import annotations

import importlib
import os
import shutil
import socket

from apache_beam.options.pipeline_options import (
    JobServerOptions,
    PipelineOptions,
    PortableOptions,
    PrismRunnerOptions,
    StandardOptions,
)

from pipeline.config import ConfigError
from pipeline.options import DreamOptions
from pipeline.runners.paths import refuse_local_paths

SUPPORTED = "DirectRunner, FnApiRunner, PrismRunner, PortableRunner, DataflowRunner"

# Beam's DaskRunner (2.77) runs only part of this graph; see docs/buckets-and-dataflow.md.
DASK_REFUSAL = (
    "Beam's DaskRunner cannot run this job (it computes only the graph's last leaf, does not "
    "separate tagged outputs, drops what finish_bundle emits and does not reshuffle); "
    f"use one of {SUPPORTED}"
)

CONNECT_TIMEOUT_S = 5.0


def runner_path(options: PipelineOptions) -> str:
    """The runner's class as Beam resolves it: 'apache_beam.runners.....DirectRunner'."""
    runner = options.view_as(StandardOptions).runner or "DirectRunner"
    if not isinstance(runner, str):  # a runner object handed in by Python code
        return f"{type(runner).__module__}.{type(runner).__name__}"
    known = {path.rsplit(".", 1)[-1].lower(): path for path in StandardOptions.ALL_KNOWN_RUNNERS}
    return known.get(runner.lower()) or known.get(runner.lower() + "runner") or runner


def check_runner(options: PipelineOptions) -> None:
    """Refuse a runner that is unknown, cannot be loaded, or cannot run this job here."""
    given = options.view_as(StandardOptions).runner
    path = runner_path(options)
    if "dask" in path.lower():
        raise ConfigError(DASK_REFUSAL)
    if isinstance(given, str):
        module, _, name = path.rpartition(".")
        if not module:
            raise ConfigError(f"unknown --runner {given!r}; use one of {SUPPORTED} (or a runner's module path)")
        try:
            getattr(importlib.import_module(module), name)
        except ImportError as exc:
            hint = " (pip install 'apache-beam[gcp]')" if "dataflow" in module else ""
            raise ConfigError(f"--runner {given!r} cannot be loaded: {exc}{hint}") from None
        except AttributeError:
            raise ConfigError(f"--runner {given!r}: {module} has no {name}") from None
    name = path.rsplit(".", 1)[-1]
    if name == "PortableRunner" and not options.view_as(PortableOptions).job_endpoint:
        raise ConfigError(
            "--runner PortableRunner needs --job_endpoint HOST:PORT, a running job service "
            "(python -m apache_beam.runners.portability.local_job_service_main --port PORT, or "
            "Flink's or Spark's job server)"
        )
    _check_environment(options, name)
    portable = options.view_as(PortableOptions)
    if name == "PortableRunner":
        _check_reachable("--job_endpoint", portable.job_endpoint)
    if (portable.environment_type or "").upper() == "EXTERNAL":
        _check_reachable("--environment_config", portable.environment_config)
    job_port = options.view_as(JobServerOptions).job_port
    if name in ("PrismRunner", "DirectRunner") and job_port:
        _check_free("--job_port", job_port)
    prism_location = options.view_as(PrismRunnerOptions).prism_location
    if prism_location and "://" not in prism_location and not os.path.isfile(prism_location):
        raise ConfigError(f"--prism_location {prism_location!r} is not a file: give Prism's binary "
                          "or its release zip (go install github.com/apache/beam/sdks/v2/go/cmd/prism@VERSION)")
    if name == "DataflowRunner":
        refuse_local_paths(options.view_as(DreamOptions), "Dataflow")


def _check_reachable(option: str, address: str | None) -> None:
    """A service the job needs answers now: gRPC would retry an unreachable one for minutes."""
    host, _, port = (address or "").rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(f"{option} must be HOST:PORT, got {address!r}")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as exc:
        raise ConfigError(f"{option} {address}: nothing answers there ({exc.strerror or exc}); "
                          "start the service first") from None


def _check_free(option: str, port: int) -> None:
    """A port the runner will serve on must be free: Prism would fail to start on it."""
    with socket.socket() as probe:
        try:
            probe.bind(("localhost", port))
        except OSError as exc:
            raise ConfigError(f"{option} {port} is in use ({exc.strerror or exc}): give another, "
                              "or leave it out (a free port is picked)") from None


def _docker_engine() -> bool:
    """A Docker engine this machine can reach (a docker command alone is not one)."""
    return shutil.which("docker") is not None and (
        bool(os.environ.get("DOCKER_HOST")) or os.path.exists("/var/run/docker.sock"))


def _check_environment(options: PipelineOptions, runner: str) -> None:
    """A DOCKER environment (PortableRunner's default) needs a Docker engine on this machine."""
    environment = (options.view_as(PortableOptions).environment_type or "").upper()
    needs_docker = environment == "DOCKER" or (not environment and runner == "PortableRunner")
    if needs_docker and not _docker_engine():
        raise ConfigError(
            f"{runner} would start SDK workers in Docker (environment DOCKER), and no Docker engine "
            "is on this machine: give --environment_type EXTERNAL --environment_config HOST:PORT "
            "(a worker pool: python -m apache_beam.runners.worker.worker_pool_main) or "
            "--environment_type LOOPBACK"
        )
