"""Beam stages for sequences: find and probe them, cut them into segments dreamed in
parallel (each resumable on its own), then put each sequence back together.

  videos, animations, frame folders -> probe -> PlanSegments -> DreamSegments
      -> (by sequence) WriteSequences -> the dreamed video / animation + one record

A segment's frames are PNGs under `<output>/.deepdream/segments/<name>/<segment>/`, its
marker `<segment>.json` written last; a rerun with the same settings reuses every segment
whose marker is there. The sequence's record is written after its file; then its segment
frames are removed.
"""
from __future__ import annotations

import itertools
import json
import os
import tempfile
import time
from typing import Any, Iterable, Iterator, Mapping

import apache_beam as beam
import numpy as np
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics

from transforms.dream.devices import describe_device
from transforms.dream.sequence import dream_frames
from transforms.dream.temporal import TemporalParams
from transforms.dream.zoom import zoom_frames
from transforms.dreaming import DreamStage
from transforms.elements import DreamedSegment, ImageBytes, InputFile, Segment, SequenceToDream
from transforms.fetch import read_bytes
from transforms.frames import (
    SequenceError,
    SequenceInfo,
    is_animation,
    probe_animation,
    probe_folder,
    probe_video,
    read_frames,
)
from transforms.imaging import decode_image, encode_image, fit_within, fitted_size
from transforms.mask_frames import mask_frames
from transforms.recipe import Recipe
from transforms.records import error_record
from transforms.resume import read_record, record_path
from transforms.sequence_output import is_animated_image, output_suffix, write_animation, write_video
from transforms.sequence_settings import SequenceSettings
from transforms.settings_stamp import stamp_text
from transforms.stages import ERRORS, METRICS_NAMESPACE, FallibleStage
from transforms.storage_retries import retrying
from transforms.write import publish_file, write_atomically

SEQUENCES = "sequences"  # output tag of inputs that are sequences
SEGMENTS_DIR = ".deepdream/segments"


class IncompleteSequenceError(RuntimeError):
    """A segment of the sequence failed; the segments that did not are kept for a rerun."""


def segment_dir(output_dir: str, stem: str, index: int) -> str:
    return FileSystems.join(output_dir, SEGMENTS_DIR, stem, f"{index:05d}")


def segment_marker(output_dir: str, stem: str, index: int) -> str:
    return FileSystems.join(output_dir, SEGMENTS_DIR, stem, f"{index:05d}.json")


def frame_path(output_dir: str, stem: str, segment: int, frame: int) -> str:
    return FileSystems.join(segment_dir(output_dir, stem, segment), f"{frame:06d}.png")


def frame_record_path(output_dir: str, stem: str, segment: int, frame: int) -> str:
    """A zoom frame's record, written after its PNG: a zoom resumes frame by frame."""
    return FileSystems.join(segment_dir(output_dir, stem, segment), f"{frame:06d}.json")


def warm_path(output_dir: str, stem: str, segment: int, frame: int) -> str:
    """A warm-up frame: the segment's own dream of a frame the segment before it owns."""
    return FileSystems.join(segment_dir(output_dir, stem, segment), f"warm-{frame:06d}.png")


class SplitAnimations(FallibleStage):
    """ImageBytes -> the same, for stills; animated images go to SEQUENCES, probed."""

    stage, outcome = "probe", "probed"

    def __init__(self, settings: SequenceSettings) -> None:
        super().__init__()
        self._settings = settings

    def uri_of(self, element: ImageBytes) -> str:
        return element.source.uri

    def run(self, element: ImageBytes) -> Iterable[Any]:
        if not is_animation(element.data):
            yield element
            return
        info = probe_animation(element.source.uri, element.data, self._settings.max_frames,
                               self._settings.frame_step)
        yield beam.pvalue.TaggedOutput(SEQUENCES, SequenceToDream(element.source, info))


class ProbeVideo(FallibleStage):
    """InputFile of a video -> SequenceToDream (frames counted without decoding them)."""

    stage, outcome = "probe", "probed"

    def __init__(self, settings: SequenceSettings) -> None:
        super().__init__()
        self._settings = settings

    def uri_of(self, element: InputFile) -> str:
        return element.uri

    def run(self, element: InputFile) -> Iterable[SequenceToDream]:
        yield SequenceToDream(element, probe_video(element.uri, self._settings.max_frames,
                                                   self._settings.frame_step))


class ProbeFolder(FallibleStage):
    """InputFile of a folder -> SequenceToDream, its files the frames in natural order."""

    stage, outcome = "probe", "probed"

    def __init__(self, settings: SequenceSettings, max_pixels: int) -> None:
        super().__init__()
        self._settings = settings
        self._max_pixels = max_pixels

    def uri_of(self, element: InputFile) -> str:
        return element.uri

    def run(self, element: InputFile) -> Iterable[SequenceToDream]:
        matched = FileSystems.match([FileSystems.join(element.uri, "*")])[0].metadata_list
        frames = [m.path for m in matched]
        yield SequenceToDream(element, probe_folder(element.uri, frames, self._settings.max_frames,
                                                    self._settings.frame_step, self._max_pixels))


def plan_segments(sequence: SequenceToDream, segment_frames: int) -> list[Segment]:
    """Segments of segment_frames frames; a zoom is one segment (each frame grows from the
    one before, so it cannot start anywhere else; it resumes frame by frame instead)."""
    total = sequence.info.frame_count
    if sequence.info.kind == "zoom":
        segment_frames = total
    count = (total + segment_frames - 1) // segment_frames
    return [
        Segment(sequence.source, sequence.info, i, i * segment_frames, min(total, (i + 1) * segment_frames), count)
        for i in range(count)
    ]


class DreamSegments(DreamStage):
    """Segment -> DreamedSegment: its frames dreamed in order from `warmup` frames before its
    start, each carried to the next (temporal coherence), written as PNGs. A failure is
    carried to WriteSequences, which makes it the sequence's one error record."""

    def __init__(
        self, recipes: Mapping[str, Recipe], settings: SequenceSettings, output_dir: str,
        sequence_keys: Mapping[str, str], max_size: int | None, max_pixels: int, max_bytes: int,
        untiled_max_pixels: int | None = None, require_gpu: bool = False,
    ) -> None:
        super().__init__(recipes, untiled_max_pixels, require_gpu)
        self._settings = settings
        self._mask_uris = {name: recipe.preset.mask for name, recipe in recipes.items()}
        self._output_dir = output_dir
        self._keys = dict(sequence_keys)
        self._max_size, self._max_pixels, self._max_bytes = max_size, max_pixels, max_bytes
        self._temporal = TemporalParams(settings.temporal, settings.blend, settings.flow)
        self._resumed = Metrics.counter(METRICS_NAMESPACE, "segments_resumed")
        self._dreamed_segments = Metrics.counter(METRICS_NAMESPACE, "segments_dreamed")

    def uri_of(self, element: Segment) -> str:
        return element.source.uri

    def process(self, element: Segment) -> Iterable[Any]:
        try:
            yield from retrying(lambda: list(self.run(element)), "dream this segment")
        except Exception as exc:  # the sequence's writer turns it into one error record
            yield DreamedSegment(element, (), False, "", "", f"{type(exc).__name__}: {exc}")

    def run(self, element: Segment) -> Iterable[DreamedSegment]:
        if element.source.mask:
            raise ValueError("a manifest row's mask applies to a still; a sequence takes --mask (one for all frames)")
        source, key = element.source, self._keys[element.source.recipe]
        marker = read_record(segment_marker(self._output_dir, source.stem, element.number))
        if marker and marker.get("settings_key") == key and marker.get("stop") == element.stop:
            self._resumed.inc()
            yield DreamedSegment(element, tuple(marker["frames"]), True, marker["device"], marker["worker"],
                                 warm_frames=tuple(marker.get("warm_frames", ())))
            return
        assert self._loaded is not None, "setup() loads the models"
        handler = self._handlers[source.recipe]
        dreamer = self._loaded.get(source.recipe)
        # Tiles or not by the size the frames are dreamed at (after --max_size).
        params = handler.params_for_size(*fitted_size(element.info.height, element.info.width, self._max_size))
        records: list[dict] = []
        device = ""
        if element.info.kind == "zoom":
            dreamed_frames = self._zoom(element, dreamer, params, records)
        else:
            first = max(0, element.start - self._settings.warmup)
            data = read_bytes(source.uri, self._max_bytes) if element.info.kind == "animation" else None
            frames = read_frames(source.uri, element.info, first, element.stop, self._settings.frame_step,
                                 self._max_size, self._max_pixels, data)
            masks = self._mask_frames(element, first, self._settings.frame_step)
            dreamed_frames = dream_frames(dreamer, frames, params, self._temporal, self._settings.warm_iterations,
                                          self._settings.schedule, masks)
        warm_frames: list[int] = []
        for dreamed in dreamed_frames:
            image = encode_image(dreamed.result.image, "png")
            if dreamed.index < element.start:  # warm-up: kept only to cross-fade the join
                write_atomically(warm_path(self._output_dir, source.stem, element.number, dreamed.index), image,
                                 self._output_dir)
                warm_frames.append(dreamed.index)
                continue
            write_atomically(frame_path(self._output_dir, source.stem, element.number, dreamed.index), image,
                             self._output_dir)
            device = describe_device(dreamed.result.device)
            record = {
                "frame": dreamed.index, "segment": element.number, "warm": dreamed.warm,
                "occluded": round(dreamed.occluded, 4), "seconds": round(dreamed.result.seconds, 3),
                "final_loss": dreamed.result.octaves[-1].losses[-1] if dreamed.result.octaves[-1].losses else None,
                "losses": [octave.losses for octave in dreamed.result.octaves],
                **({"settings": dreamed.settings} if dreamed.settings is not None else {}),
            }
            records.append(record)
            if element.info.kind == "zoom":  # a zoom resumes frame by frame
                write_atomically(frame_record_path(self._output_dir, source.stem, element.number, dreamed.index),
                                 json.dumps(record).encode("utf-8"), self._output_dir)
        if len(records) != element.stop - element.start:
            raise SequenceError(f"{source.uri}: segment {element.number} ended after {len(records)} of "
                                f"{element.stop - element.start} frames")
        worker = self._loaded.worker
        marker_record = {"settings_key": key, "start": element.start, "stop": element.stop,
                         "frames": records, "warm_frames": warm_frames, "device": device, "worker": worker}
        write_atomically(segment_marker(self._output_dir, source.stem, element.number),
                         json.dumps(marker_record).encode("utf-8"), self._output_dir)
        self._dreamed_segments.inc()
        yield DreamedSegment(element, tuple(records), False, device, worker, warm_frames=tuple(warm_frames))

    def _zoom(self, element: Segment, dreamer: Any, params: Any, records: list[dict]) -> Iterator[Any]:
        """The zoom's frames, from the first frame a killed run did not finish (`records`
        gets the finished ones)."""
        source = element.source
        still = fit_within(decode_image(read_bytes(source.uri, self._max_bytes), self._max_pixels,
                                        fit_to=self._max_size).rgb, self._max_size)
        folder = segment_dir(self._output_dir, source.stem, element.number)
        done = {}
        for metadata in FileSystems.match([FileSystems.join(folder, "*.json")])[0].metadata_list:
            record = read_record(metadata.path)
            if record is not None:
                done[record["frame"]] = record
        start = 0
        while start in done:
            start += 1
        records.extend(done[i] for i in range(start))
        previous = None
        if start:
            previous = decode_image(read_bytes(frame_path(self._output_dir, source.stem, element.number, start - 1))).rgb
        return zoom_frames(dreamer, still, params, element.stop, self._settings.zoom_scale,
                           self._settings.warm_iterations, start, previous, self._settings.schedule,
                           self._mask_frames(element, start, 1))

    def _mask_frames(self, element: Segment, first: int, frame_step: int) -> Iterator[Any] | None:
        """The segment's masks from frame `first`, when its recipe's mask changes per frame."""
        uri = self._mask_uris.get(element.source.recipe)
        if not uri:
            return None
        return mask_frames(uri, element.info.frame_count, first, element.stop, frame_step,
                           self._settings.max_frames, self._max_pixels)


class WriteSequences(FallibleStage):
    """(name, [DreamedSegment, ...]) -> the sequence's record, once its file is written.

    Frames stream from the segments' PNGs into the encoder; a failed segment makes the
    sequence one error record naming how many frames were dreamed."""

    stage, outcome = "write", "written"

    def __init__(self, output_dir: str, jobs: Mapping[str, Mapping[str, Any]],
                 sequence_keys: Mapping[str, str], settings: SequenceSettings,
                 stamps: Mapping[str, Mapping[str, Any]] | None = None) -> None:
        """`stamps`: what each recipe's sequences (and their frames) carry (None: nothing)."""
        super().__init__()
        self._output_dir = output_dir
        self._jobs = {name: dict(job) for name, job in jobs.items()}
        self._keys = dict(sequence_keys)
        self._stamps = {name: dict(stamp) for name, stamp in (stamps or {}).items()}
        self._settings = settings
        self._failed_dream = Metrics.counter(METRICS_NAMESPACE, "failed_dream")
        self._sequences_written = Metrics.counter(METRICS_NAMESPACE, "sequences_written")

    def uri_of(self, element: tuple[str, Iterable[DreamedSegment]]) -> str:
        return next(iter(element[1])).segment.source.uri

    def process(self, element: tuple[str, Iterable[DreamedSegment]]) -> Iterable[Any]:
        dreamed = list(element[1])
        failed = [d for d in dreamed if d.error]
        if not failed:
            yield from super().process((element[0], dreamed))
            return
        # A failed segment fails the sequence, in the dream stage, as one record.
        first = dreamed[0].segment
        done = sum(len(d.frames) for d in dreamed)
        reasons = "; ".join(f"segment {d.segment.number}: {d.error}" for d in sorted(failed, key=lambda d: d.segment.number))
        exc = IncompleteSequenceError(
            f"{len(failed)} of {first.total} segments failed, {done} of {first.info.frame_count} "
            f"frames dreamed (kept for a rerun): {reasons}"
        )
        self._failed.inc()
        self._failed_dream.inc()
        yield beam.pvalue.TaggedOutput(ERRORS, error_record(first.source.uri, "dream", exc))

    def run(self, element: tuple[str, Iterable[DreamedSegment]]) -> Iterable[Any]:
        stem, dreamed = element[0], sorted(element[1], key=lambda d: d.segment.number)
        first = dreamed[0].segment
        source, info = first.source, first.info
        frames = [frame for d in dreamed for frame in d.frames]
        path = FileSystems.join(self._output_dir, stem + output_suffix(info))
        started = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="deepdream-") as scratch:
            local = os.path.join(scratch, "out" + output_suffix(info))
            change = self._encode(stem, dreamed, info, source, local)
            publish_file(local, path, self._output_dir)
        rows_path = FileSystems.join(self._output_dir, stem + ".frames.parquet")
        _write_frame_rows(rows_path, source.uri, frames, self._output_dir)
        recipe = source.recipe
        record = {
            "kind": "sequence", "input_uri": source.uri, "output_uri": path, "frames_uri": rows_path,
            "input_kind": info.kind, "input_container": info.container, "frames": info.frame_count,
            "fps": info.fps, "durations_ms": list(info.durations_ms) or None, "loop": info.loop,
            "audio": info.has_audio, "width": info.width, "height": info.height,
            **self._jobs[recipe], "sequence": self._settings.as_record(),
            "settings_key": self._keys[recipe],
            "segments": first.total, "segments_resumed": sum(d.resumed for d in dreamed),
            "dream_seconds": round(sum(f["seconds"] for f in frames), 3),
            "write_seconds": round(time.perf_counter() - started, 3),
            "mean_occluded": round(float(np.mean([f["occluded"] for f in frames])), 4),
            "mean_change_between_frames": change,
            "final_loss": frames[-1]["final_loss"],
            "device": dreamed[-1].device, "worker": dreamed[-1].worker,
        }
        write_atomically(record_path(self._output_dir, stem), json.dumps(record).encode("utf-8"), self._output_dir)
        _remove_segments(self._output_dir, stem)
        self._sequences_written.inc()
        yield record

    def _frames(self, stem: str, dreamed: list[DreamedSegment], stamp: Mapping[str, Any] | None,
                uri: str) -> Iterator[np.ndarray]:
        """The frames in order. Across each join, the earlier segment's last frames fade
        into the later segment's warm-up dreams of them, so the join is spread over the
        warm-up instead of showing as one jump."""
        fade_to: dict[int, tuple[str, float]] = {}
        for d in dreamed:
            for k, warm in enumerate(d.warm_frames):
                weight = (k + 1) / (len(d.warm_frames) + 1)
                fade_to[warm] = (warm_path(self._output_dir, stem, d.segment.number, warm), weight)
        for d in dreamed:
            for frame in d.frames:
                index = frame["frame"]
                rgb = decode_image(read_bytes(frame_path(self._output_dir, stem, d.segment.number, index))).rgb
                if index in fade_to:
                    path, weight = fade_to[index]
                    later = decode_image(read_bytes(path)).rgb.astype(np.float32)
                    rgb = np.clip(np.rint((1 - weight) * rgb + weight * later), 0, 255).astype(np.uint8)
                if self._settings.keep_frames:
                    write_atomically(FileSystems.join(self._output_dir, f"{stem}_frames", f"{index:06d}.png"),
                                     encode_image(rgb, "png", stamp=stamp_text(stamp, uri, frame=index)),
                                     self._output_dir)
                yield rgb

    def _encode(self, stem: str, dreamed: list[DreamedSegment], info: SequenceInfo, source: InputFile,
                local: str) -> float:
        """Encode the frames; returns the mean absolute change between consecutive frames
        (0-255 levels), the flicker a viewer sees."""
        changes: list[float] = []
        previous: list[np.ndarray] = []

        def measured(frames: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
            for rgb in frames:
                if previous and previous[0].shape == rgb.shape:
                    changes.append(float(np.abs(rgb.astype(np.int16) - previous[0]).mean()))
                previous[:] = [rgb]
                yield rgb

        stamp = self._stamps.get(source.recipe)
        frames = measured(self._frames(stem, dreamed, stamp, source.uri))
        if is_animated_image(info):
            write_animation(frames, info, local, stamp_text(stamp, source.uri))
        else:
            first = next(frames)
            sized = info._replace(width=first.shape[1], height=first.shape[0])  # after --max_size
            write_video(itertools.chain([first], frames), sized, source.uri if info.kind == "video" else None, local,
                        stamp_text(stamp, source.uri))
        return round(float(np.mean(changes)), 3) if changes else 0.0


def _write_frame_rows(path: str, sequence_uri: str, frames: list[dict], root: str) -> None:
    """One Parquet row per frame, keyed by sequence and frame index."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table({
        "sequence_uri": [sequence_uri] * len(frames),
        "frame": [f["frame"] for f in frames],
        "segment": [f["segment"] for f in frames],
        "warm": [f["warm"] for f in frames],
        "occluded": [f["occluded"] for f in frames],
        "seconds": [f["seconds"] for f in frames],
        "final_loss": [f["final_loss"] for f in frames],
        "losses": pa.array([f["losses"] for f in frames], pa.list_(pa.list_(pa.float64()))),
        # With a schedule: each scheduled setting's value at that frame, a column each.
        **{f"setting_{name}": [f["settings"][name] for f in frames]
           for name in ((frames[0].get("settings") or {}) if frames else {})},
    })
    with tempfile.TemporaryDirectory(prefix="deepdream-") as scratch:
        local = os.path.join(scratch, "frames.parquet")
        pq.write_table(table, local)
        publish_file(local, path, root)


def _remove_segments(output_dir: str, stem: str) -> None:
    """The segment frames and markers, once the sequence is written (best effort)."""
    folder = FileSystems.join(output_dir, SEGMENTS_DIR, stem)
    try:
        matched = FileSystems.match([FileSystems.join(folder, "**")])[0].metadata_list
        if matched:
            FileSystems.delete([m.path for m in matched])
        if FileSystems.exists(folder):
            FileSystems.delete([folder])
    except Exception:  # leftovers cost space, not correctness: a rerun skips the sequence
        pass

