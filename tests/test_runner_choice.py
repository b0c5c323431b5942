"""--runner checked at launch: runners that cannot run this job here are one line, exit 2,
before any input is read or anything is written; Beam's runner options are all known."""
from __future__ import annotations

import re
import socket
from pathlib import Path

import pytest

from pipeline.run import main
from tests.servers import free_port

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def photos(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.jpg").write_bytes((ROOT / "samples" / "chelsea.jpg").read_bytes())
    return tmp_path


@pytest.mark.parametrize("runner_args, says", [
    (["--runner=DaskRunner"], "DaskRunner cannot run this job"),
    (["--runner=apache_beam.runners.dask.dask_runner.DaskRunner"], "DaskRunner cannot run this job"),
    (["--runner=dask"], "DaskRunner cannot run this job"),
    (["--dask_client_address=localhost:8786"], "DaskRunner cannot run this job"),
    (["--runner=NoSuchRunner"], "unknown --runner 'NoSuchRunner'"),
    (["--runner=my.module.MyRunner"], "--runner 'my.module.MyRunner' cannot be loaded"),
    (["--runner=PortableRunner"], "needs --job_endpoint"),
    (["--runner=PortableRunner", "--job_endpoint=localhost:{port}", "--environment_type=LOOPBACK"],
     "--job_endpoint localhost:{port}: nothing answers there"),
    (["--runner=FlinkRunner", "--flink_master=[local]", "--environment_type=DOCKER"], "no Docker engine"),
    (["--runner=PortableRunner", "--job_endpoint=localhost:{port}"], "no Docker engine"),
    (["--runner=PrismRunner", "--job_port={busy}"], "--job_port {busy} is in use"),
])
def test_runner_that_cannot_run_here_is_one_line(photos, capsys, monkeypatch, runner_args, says):
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    if Path("/var/run/docker.sock").exists():
        pytest.skip("this machine has a Docker engine")
    port = free_port()
    with socket.socket() as busy:  # a port something else serves on
        busy.bind(("localhost", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        args = [f"--input={photos}/in/*.jpg", f"--output={photos}/out",
                *(arg.format(port=port, busy=taken) for arg in runner_args)]
        assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("beam-deepdream: error: ")
    assert says.format(port=port, busy=taken) in err
    assert not (photos / "out").exists()


def test_dataflow_refuses_local_paths_naming_a_bucket(photos, capsys):
    args = [f"--input={photos}/in/*.jpg", "--output=gs://bucket/out", "--runner=DataflowRunner",
            "--project=p", "--region=us-central1", "--temp_location=gs://bucket/tmp"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert re.search(r"--input '.*in/\*\.jpg' is on this machine's disk.*bucket", err)


def test_every_flink_spark_prism_and_portable_option_is_known():
    from apache_beam.options.pipeline_options import (
        FlinkRunnerOptions,
        JobServerOptions,
        PortableOptions,
        PrismRunnerOptions,
        SparkRunnerOptions,
        _BeamArgumentParser,
    )

    from pipeline.arguments import known_options

    known = set(known_options())
    for cls in (FlinkRunnerOptions, SparkRunnerOptions, PrismRunnerOptions, JobServerOptions, PortableOptions):
        parser = _BeamArgumentParser()
        cls._add_argparse_args(parser)
        flags = {flag for action in parser._actions for flag in action.option_strings if flag.startswith("--")}
        assert flags and flags <= known, (cls.__name__, flags - known)
