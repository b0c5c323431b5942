"""A boto3 client built from the job's S3 options (as Beam's S3 filesystem builds its own),
for the few S3 calls Beam's filesystem lacks: a quick access check, conditional writes for
the lease, empty objects, and aborting uploads a failed writer left open. It retries as
transforms/storage_retries.py says."""
from __future__ import annotations

from typing import Iterable

from apache_beam.options.pipeline_options import PipelineOptions, S3Options

from pipeline.config import ConfigError, one_line
from transforms.storage_retries import botocore_config


def s3_client(options: PipelineOptions, quick: bool = False):
    """`quick`: three attempts and short timeouts, for the check at launch that tells a
    wrong endpoint or key in seconds."""
    import boto3

    s3 = options.view_as(S3Options)
    config = botocore_config(attempts=3, connect_timeout=5, read_timeout=15) if quick else botocore_config()
    return boto3.session.Session().client(
        "s3", region_name=s3.s3_region_name, api_version=s3.s3_api_version,
        use_ssl=not s3.s3_disable_ssl, verify=s3.s3_verify, endpoint_url=s3.s3_endpoint_url,
        aws_access_key_id=s3.s3_access_key_id, aws_secret_access_key=s3.s3_secret_access_key,
        aws_session_token=s3.s3_session_token, config=config,
    )


def split_s3(uri: str) -> tuple[str, str]:
    bucket, _, key = uri[len("s3://"):].partition("/")
    return bucket, key


def check_s3_access(uris: Iterable[str], options: PipelineOptions) -> None:
    """One quick HEAD per bucket the job names: missing credentials, a missing bucket or a
    refusal is one line at launch, not minutes of Beam's retries."""
    buckets = sorted({split_s3(uri)[0] for uri in uris if uri and uri.lower().startswith("s3://")})
    if not buckets:
        return
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    client = s3_client(options, quick=True)
    for bucket in buckets:
        try:
            client.head_bucket(Bucket=bucket)
        except NoCredentialsError:
            raise ConfigError(
                f"no S3 credentials for s3://{bucket}: pass --s3_access_key_id and "
                "--s3_secret_access_key, or set them the AWS way (environment, ~/.aws, role)"
            ) from None
        except ClientError as exc:
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            reason = {404: "does not exist", 403: "refuses these credentials"}.get(status, one_line(exc))
            raise ConfigError(f"bucket s3://{bucket} {reason}") from None
        except BotoCoreError as exc:  # endpoint unreachable, bad endpoint URL, ...
            raise ConfigError(f"S3 for s3://{bucket} cannot be reached: {one_line(exc)}") from None


def abort_open_uploads(output_dir: str, options: PipelineOptions) -> int:
    """Abort the multipart uploads left open under `output_dir` (a writer that failed half-way
    never completes or aborts its own; an open one is billed until aborted). Call it only
    while holding the output's lease and with no writer running: every upload under the
    output is then a stopped writer's. Returns how many."""
    bucket, prefix = split_s3(output_dir.rstrip("/") + "/")
    client = s3_client(options)
    aborted = 0
    for page in client.get_paginator("list_multipart_uploads").paginate(Bucket=bucket, Prefix=prefix):
        for upload in page.get("Uploads", []):
            client.abort_multipart_upload(Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"])
            aborted += 1
    return aborted
