"""One writer per output: a lease object under OUT/.deepdream/, renewed while the job runs.

A job takes the lease before it touches the output and renews it every quarter of
--lease_seconds; a job killed with kill -9 stops renewing and its lease lapses. Taking and
renewing are compare-and-swap writes where the store has them:

- local disk: an exclusive lock (flock) around read-compare-write;
- s3://: conditional PUTs (If-None-Match: * to create, If-Match: ETag to renew or take over);
- gs://: generation preconditions (if_generation_match);
- any other Beam filesystem: write then read back, which two jobs starting in the same
  instant could both pass (docs/buckets-and-dataflow.md says so).
"""
from __future__ import annotations

import contextlib
import datetime
import json
import logging
import os
import socket
import threading
import time
import uuid
from dataclasses import asdict, dataclass
from typing import Any, Callable, Iterator, Protocol

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions

from transforms.storage_retries import OPERATION_DEADLINE_S, retrying

LEASE_FILE = ".deepdream/lease.json"


def process_start(pid: int) -> str | None:
    """When the kernel started `pid` (Linux: /proc/PID/stat's 22nd field), None elsewhere."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


class OutputLockedError(RuntimeError):
    """Another live job holds the output's lease."""


class LeaseLostError(RuntimeError):
    """Another job took the lease over while this one ran."""


@dataclass(frozen=True)
class Holder:
    owner: str  # a random id per job start
    host: str
    pid: int
    job: str  # the job name, where the runner has one
    started: str  # ISO time the job started
    expires: float  # epoch seconds after which the lease lapses
    pid_start: str | None = None  # the kernel's start time of pid (tells a reused pid apart)

    def is_gone(self) -> bool:
        """A holder on this very host whose process has ended (or whose pid another process
        has since taken): its lease is stale, whatever its expiry says."""
        if self.host != socket.gethostname():
            return False  # another machine's processes cannot be seen from here
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:  # alive, another user's
            pass
        return self.pid_start is not None and process_start(self.pid) not in (None, self.pid_start)

    def describe(self) -> str:
        left = self.expires - time.time()
        state = f"lease expires in {left:.0f}s" if left > 0 else f"lease expired {-left:.0f}s ago"
        return f"job {self.job!r} on {self.host} (pid {self.pid}), started {self.started}, {state}"

    def encode(self) -> bytes:
        return json.dumps(asdict(self)).encode("utf-8")

    @classmethod
    def decode(cls, data: bytes) -> Holder | None:
        try:
            return cls(**json.loads(data.decode("utf-8")))
        except Exception:  # a damaged lease is treated as expired
            return None


class LeaseStore(Protocol):
    """Compare-and-swap on one small object; `version` is whatever the store compares.
    create and replace return the new version, or None when the condition failed."""

    def read(self) -> tuple[bytes, Any] | None: ...
    def create(self, data: bytes) -> Any: ...
    def replace(self, data: bytes, version: Any) -> Any: ...
    def delete(self, version: Any) -> None: ...


class LocalLeaseStore:
    def __init__(self, path: str) -> None:
        self._path = path
        self._lock_path = path + ".lock"

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        import fcntl

        os.makedirs(os.path.dirname(self._path), exist_ok=True)
        with open(self._lock_path, "a+b") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    def _read(self) -> bytes | None:
        try:
            with open(self._path, "rb") as f:
                return f.read()
        except FileNotFoundError:
            return None

    def read(self) -> tuple[bytes, Any] | None:
        data = self._read()
        return None if data is None else (data, data)

    def _write(self, data: bytes) -> None:
        partial = f"{self._path}.{uuid.uuid4().hex[:16]}.part"
        with open(partial, "wb") as f:
            f.write(data)
        os.replace(partial, self._path)

    def create(self, data: bytes) -> Any:
        with self._locked():
            if self._read() is not None:
                return None
            self._write(data)
            return data

    def replace(self, data: bytes, version: Any) -> Any:
        with self._locked():
            if self._read() != version:
                return None
            self._write(data)
            return data

    def delete(self, version: Any) -> None:
        with self._locked():
            if self._read() == version:
                os.remove(self._path)


class S3LeaseStore:
    def __init__(self, uri: str, options: PipelineOptions) -> None:
        from pipeline.storage.s3 import s3_client, split_s3

        self._client = s3_client(options)  # the job's own S3 options (endpoint, keys)
        self._bucket, self._key = split_s3(uri)

    @staticmethod
    def _precondition_failed(exc: Exception) -> bool:
        code = getattr(exc, "response", {}).get("Error", {}).get("Code", "")
        return code in ("PreconditionFailed", "ConditionalRequestConflict", "412", "409")

    def read(self) -> tuple[bytes, Any] | None:
        try:
            response = self._client.get_object(Bucket=self._bucket, Key=self._key)
        except self._client.exceptions.NoSuchKey:
            return None
        return response["Body"].read(), response["ETag"]

    def _put(self, data: bytes, **condition: str) -> Any:
        try:
            response = self._client.put_object(Bucket=self._bucket, Key=self._key, Body=data, **condition)
        except Exception as exc:
            if self._precondition_failed(exc):
                return None
            raise
        return response["ETag"]

    def create(self, data: bytes) -> Any:
        return self._put(data, IfNoneMatch="*")

    def replace(self, data: bytes, version: Any) -> Any:
        return self._put(data, IfMatch=version)

    def delete(self, version: Any) -> None:
        """Only our own lease: a conditional DELETE (If-Match), atomic where the store
        honours it (AWS S3, moto); where it refuses the condition, read-compare-delete."""
        try:
            self._client.delete_object(Bucket=self._bucket, Key=self._key, IfMatch=version)
            return
        except Exception as exc:
            if self._precondition_failed(exc):  # another job's lease now: leave it
                return
            code = getattr(exc, "response", {}).get("Error", {}).get("Code", "")
            if code not in ("NotImplemented", "InvalidArgument", "501"):
                raise
        current = self.read()
        if current is not None and current[1] == version:
            self._client.delete_object(Bucket=self._bucket, Key=self._key)


class GcsLeaseStore:
    def __init__(self, uri: str, options: PipelineOptions) -> None:
        from apache_beam.io.gcp.gcsio import create_storage_client

        bucket, _, name = uri[len("gs://"):].partition("/")
        self._blob = create_storage_client(options).bucket(bucket).blob(name)

    def read(self) -> tuple[bytes, Any] | None:
        from google.api_core.exceptions import NotFound

        try:
            data = self._blob.download_as_bytes()
        except NotFound:
            return None
        return data, self._blob.generation

    def _upload(self, data: bytes, generation: int) -> Any:
        from google.api_core.exceptions import PreconditionFailed

        try:
            self._blob.upload_from_string(data, if_generation_match=generation)
        except PreconditionFailed:
            return None
        return self._blob.generation

    def create(self, data: bytes) -> Any:
        return self._upload(data, 0)

    def replace(self, data: bytes, version: Any) -> Any:
        return self._upload(data, version)

    def delete(self, version: Any) -> None:
        from google.api_core.exceptions import NotFound, PreconditionFailed

        current = self.read()  # compared here too: not every GCS emulator honours the precondition
        if current is not None and current[1] == version:
            with contextlib.suppress(NotFound, PreconditionFailed):
                self._blob.delete(if_generation_match=version)


class BestEffortLeaseStore:
    """Any other Beam filesystem: no conditional writes, so write and read back."""

    def __init__(self, uri: str) -> None:
        self._uri = uri

    def read(self) -> tuple[bytes, Any] | None:
        if not FileSystems.exists(self._uri):
            return None
        with FileSystems.open(self._uri, compression_type=CompressionTypes.UNCOMPRESSED) as f:
            data = f.read()
        return data, data

    def _write_and_check(self, data: bytes) -> Any:
        with FileSystems.create(self._uri) as f:
            f.write(data)
        time.sleep(1.0)  # let a racing writer's object land before reading back
        current = self.read()
        return data if current is not None and current[0] == data else None

    def create(self, data: bytes) -> Any:
        return self._write_and_check(data) if self.read() is None else None

    def replace(self, data: bytes, version: Any) -> Any:
        current = self.read()
        return self._write_and_check(data) if current is not None and current[1] == version else None

    def delete(self, version: Any) -> None:
        current = self.read()
        if current is not None and current[1] == version:
            FileSystems.delete([self._uri])


def lease_store(output_dir: str, options: PipelineOptions) -> LeaseStore:
    uri = FileSystems.join(output_dir, LEASE_FILE)
    scheme = FileSystems.get_scheme(uri)
    if scheme in (None, "file"):
        return LocalLeaseStore(uri[len("file://"):] if uri.startswith("file://") else uri)
    if scheme == "s3":
        return S3LeaseStore(uri, options)
    if scheme == "gs":
        return GcsLeaseStore(uri, options)
    return BestEffortLeaseStore(uri)


class OutputLease:
    """Held from `acquire` to `release`; a daemon thread renews it every ttl/4 seconds.

    Every call to the store is retried while storage fails transiently
    (transforms/storage_retries.py); a renewal keeps trying until the lease would really
    lapse. A conditional write whose answer was lost (the write landed, the connection
    dropped, the retry's condition then failed) is recognised by reading back our own bytes.
    `lost` tells whether another job took the lease over while this one ran; `lapsed`,
    whether storage stayed down until the lease expired (another job could then have taken it).
    """

    def __init__(self, store: LeaseStore, ttl_s: float, job: str) -> None:
        self._store = store
        self._ttl = ttl_s
        self._me = Holder(
            owner=uuid.uuid4().hex, host=socket.gethostname(), pid=os.getpid(), job=job,
            started=datetime.datetime.now().astimezone().isoformat(timespec="seconds"), expires=0.0,
            pid_start=process_start(os.getpid()),
        )
        self._version: Any = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.lost: Holder | None = None
        self.lapsed = False
        self.took_over: Holder | None = None
        self._held_until = 0.0  # the expiry the store holds for us

    def _fresh(self) -> bytes:
        self._me = Holder(**{**asdict(self._me), "expires": time.time() + self._ttl})
        return self._me.encode()

    def _read(self, deadline_s: float | None = None) -> tuple[bytes, Any] | None:
        return retrying(self._store.read, "read the output's lease", deadline_s=_deadline(deadline_s))

    def _write(self, attempt: Callable[[bytes], Any], deadline_s: float | None = None) -> Any:
        """A conditional write of a fresh lease; its version, or None if the condition failed."""
        data = self._fresh()
        version = retrying(lambda: attempt(data), "write the output's lease", deadline_s=_deadline(deadline_s))
        if version is None:  # perhaps our own write landed and only its answer was lost
            current = self._read(deadline_s)
            if current is not None and current[0] == data:
                version = current[1]
        if version is not None:
            self._held_until = self._me.expires
        return version

    def acquire(self, force: bool = False) -> None:
        # A forced take-over races the live holder's renewals (each changes the version it
        # is conditioned on): read and try again, a few times.
        for _ in range(5 if force else 1):
            current = self._read()
            if current is None:
                self._version = self._write(self._store.create)
            else:
                holder = Holder.decode(current[0])
                if holder is not None and holder.expires > time.time() and not force and not holder.is_gone():
                    self._refuse(current)
                def take(data: bytes, version: Any = current[1]) -> Any:
                    return self._store.replace(data, version)

                self._version = self._write(take)
                self.took_over = holder
            if self._version is not None:
                break
        if self._version is None:  # another job won the race
            self._refuse(self._read())
        self._thread = threading.Thread(target=self._renew_until_stopped, name="lease", daemon=True)
        self._thread.start()

    def _refuse(self, current: tuple[bytes, Any] | None) -> None:
        holder = Holder.decode(current[0]) if current else None
        who = holder.describe() if holder else "another job"
        raise OutputLockedError(
            f"the output is being written by {who}; wait for it, or pass --force if that job is gone"
        )

    def _renew_until_stopped(self) -> None:
        while not self._stop.wait(self._ttl / 4):
            try:
                # Retried until the lease the store holds would lapse, and no longer.
                version = self._write(lambda data: self._store.replace(data, self._version),
                                      deadline_s=self._held_until - time.time())
            except Exception as exc:
                if time.time() < self._held_until:
                    continue  # not lapsed yet: the next beat tries again
                self.lapsed = True
                logging.error("the output's lease lapsed: storage failed for longer than "
                              "--lease_seconds (%s)", exc)
                return
            if version is None:
                current = self._read(deadline_s=max(0.0, self._held_until - time.time()))
                holder = Holder.decode(current[0]) if current else None
                if current is not None and holder is not None and holder.owner == self._me.owner:
                    self._version, self._held_until = current[1], holder.expires  # ours after all
                    continue
                self.lost = holder or self._me
                logging.error("another job took over the output: %s", self.lost.describe())
                return
            self._version = version

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self.lost is None and not self.lapsed and self._version is not None:
            with contextlib.suppress(Exception):
                retrying(lambda: self._store.delete(self._version), "release the output's lease")


def _deadline(deadline_s: float | None) -> float:
    return OPERATION_DEADLINE_S if deadline_s is None else max(0.0, deadline_s)
