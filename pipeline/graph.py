"""The Beam graph of the DeepDream job, assembled in one place."""
from __future__ import annotations

import json
from typing import Any, Callable

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from pipeline.config import JobConfig
from pipeline.result_files import ERRORS_FILE, METADATA_FILE, METADATA_PARQUET, SEQUENCES_FILE
from transforms.decode import DecodeImage
from transforms.dreaming import BatchSameSize, Dream, DreamBatch, DreamStage
from transforms.elements import ImageToDream, SequenceToDream
from transforms.frames import is_video, zoom_info
from transforms.parquet_schema import METADATA_SCHEMA, to_parquet_row
from transforms.read import CheckPreset, FindInputs, ReadBytes, read_manifest_header
from transforms.resume import DONE, SkipFinished, settings_keys
from transforms.sequence_settings import ZOOM_FPS, SequenceSettings
from transforms.sequences import (
    SEQUENCES,
    DreamSegments,
    ProbeFolder,
    ProbeVideo,
    SplitAnimations,
    WriteSequences,
    plan_segments,
)
from transforms.stages import ERRORS
from transforms.write import WriteDream


def _write_jsonl(records: beam.PCollection, path: str, label: str) -> None:
    """One JSON object per line in a single file at `path`, published when the job ends."""
    (
        records
        | f"{label}ToJson" >> beam.Map(lambda record: json.dumps(record, ensure_ascii=False))
        # Nothing to write writes nothing: an empty object cannot be uploaded through
        # Beam's S3 filesystem (a multipart upload needs a part). The launcher writes the
        # empty file itself once the job is done (pipeline/empty_results.py).
        | f"Write{label}" >> beam.io.WriteToText(path, shard_name_template="", skip_if_empty=True)
    )


class _Split(beam.PartitionFn):
    """Partition `part_of(element)`."""

    def __init__(self, part_of: Callable[[Any], int]) -> None:
        self._part_of = part_of

    def partition_for(self, element: Any, num_partitions: int, *args: Any, **kwargs: Any) -> int:
        return self._part_of(element)


def _on_accelerator(dofn: beam.DoFn, config: JobConfig) -> beam.ParDo:
    dream = beam.ParDo(dofn)
    if config.dream_accelerator:
        dream.with_resource_hints(accelerator=config.dream_accelerator)  # on this ParDo only
    return dream


def build_pipeline(pipeline: beam.Pipeline, config: JobConfig) -> None:
    """inputs -> read -> decode -> dream -> write image + record; sequences (videos,
    animations, frame folders) -> probe -> segments -> dream -> write; failures -> errors.

    Every input ends as exactly one line of metadata.jsonl (an image, dreamed now or by an
    earlier run with the same settings), of sequences.jsonl (a sequence), or of errors.jsonl.
    """
    jobs = {name: config.job_metadata(preset) for name, preset in config.presets.items()}
    keys, sequence_keys = settings_keys(jobs, config.sequence.as_record())
    error_sets: list[beam.PCollection] = []

    headers = {m: h for m in config.input_lists if (h := read_manifest_header(m)) is not None}
    found = pipeline | "FindInputs" >> FindInputs(
        config.inputs, config.input_lists, config.sequence_folders, config.launch_folder, headers)
    # A manifest row may name its own preset; unknown names become error records here.
    checked_presets = found["ok"] | "CheckPreset" >> beam.ParDo(
        CheckPreset(config.presets, config.preset.name)
    ).with_outputs(ERRORS, main="ok")
    error_sets += [found[ERRORS], checked_presets[ERRORS]]
    inputs = checked_presets.ok
    finished_earlier: list[beam.PCollection] = []
    if config.skip_existing:
        checked = inputs | "SkipFinished" >> beam.ParDo(
            SkipFinished(config.output, keys, sequence_keys)
        ).with_outputs(DONE, main="todo")
        inputs, finished_earlier = checked.todo, [checked[DONE]]

    # Break fusion so that reading and dreaming spread over all workers.
    todo = inputs | "Reshuffle" >> beam.Reshuffle()
    # Videos are never read whole: they stream from their files, frame by frame.
    folders, videos, others = todo | "FoldersVideosOrFiles" >> beam.Partition(
        _Split(lambda f: 0 if f.folder else 1 if is_video(f.uri) else 2), 3)
    read = others | "ReadBytes" >> beam.ParDo(
        ReadBytes(config.max_bytes, config.http_timeout, config.allow_private_urls, config.http_retries)
    ).with_outputs(ERRORS, main="ok")
    split = read.ok | "SplitAnimations" >> beam.ParDo(SplitAnimations(config.sequence)).with_outputs(
        ERRORS, SEQUENCES, main="ok")
    decoded = split.ok | "Decode" >> beam.ParDo(
        DecodeImage(config.max_pixels, config.max_size)
    ).with_outputs(ERRORS, main="ok")
    error_sets += [read[ERRORS], split[ERRORS], decoded[ERRORS]]
    new_sequences = [split[SEQUENCES]]
    if config.sequence.zoom_frames:  # every still becomes a zoom animation instead
        new_sequences.append(decoded.ok | "ZoomFromStills" >> beam.Map(_zoom_of, config.sequence))
        images = pipeline | "NoStills" >> beam.Create([])
    else:
        images = _dream_stills(decoded.ok, config, jobs, keys, error_sets)

    sequences, sequence_errors = _sequences(
        folders, videos, new_sequences | "NewSequences" >> beam.Flatten(pipeline=pipeline), config, jobs,
        sequence_keys)
    error_sets += sequence_errors

    earlier = finished_earlier | "FinishedEarlier" >> beam.Flatten(pipeline=pipeline)
    earlier_images, earlier_sequences = earlier | "ImagesOrSequences" >> beam.Partition(
        _Split(lambda record: 1 if record.get("kind") == "sequence" else 0), 2)
    records = [images, earlier_images] | "AllRecords" >> beam.Flatten()
    _write_image_records(records, config)
    all_sequences = [sequences, earlier_sequences] | "AllSequenceRecords" >> beam.Flatten()
    _write_jsonl(all_sequences, FileSystems.join(config.output, SEQUENCES_FILE), "SequenceRecords")
    errors = error_sets | "CollectErrors" >> beam.Flatten(pipeline=pipeline)
    _write_jsonl(errors, FileSystems.join(config.output, ERRORS_FILE), "Errors")


def _dream_stills(
    decoded: beam.PCollection, config: JobConfig, jobs: dict[str, dict[str, Any]], keys: dict[str, str],
    error_sets: list[beam.PCollection],
) -> beam.PCollection:
    """Decoded images -> their records (errors added to error_sets)."""
    to_dream = decoded
    stage: DreamStage
    if config.batch_size > 1:
        to_dream = to_dream | "BatchSameSize" >> BatchSameSize(config.batch_size)
        stage = DreamBatch(config.recipes, config.untiled_max_pixels, config.require_gpu)
    else:
        stage = Dream(config.recipes, config.untiled_max_pixels, config.require_gpu)
    dreamed = to_dream | "Dream" >> _on_accelerator(stage, config).with_outputs(ERRORS, main="ok")
    written = dreamed.ok | "WriteImage" >> beam.ParDo(
        WriteDream(config.output, config.image_format, config.quality, jobs, keys, config.stamps(jobs, keys))
    ).with_outputs(ERRORS, main="ok")
    error_sets += [dreamed[ERRORS], written[ERRORS]]
    return written.ok


def _zoom_of(image: ImageToDream, settings: SequenceSettings) -> SequenceToDream:
    height, width = image.rgb.shape[:2]
    return SequenceToDream(image.source, zoom_info(width, height, settings.zoom_frames, settings.zoom_format,
                                                   ZOOM_FPS))


def _sequences(
    folders: beam.PCollection, videos: beam.PCollection, animations: beam.PCollection, config: JobConfig,
    jobs: dict[str, dict[str, Any]], sequence_keys: dict[str, str],
) -> tuple[beam.PCollection, list[beam.PCollection]]:
    """Sequences -> their records (and their error records)."""
    probed_videos = videos | "ProbeVideo" >> beam.ParDo(ProbeVideo(config.sequence)).with_outputs(ERRORS, main="ok")
    probed_folders = folders | "ProbeFolder" >> beam.ParDo(
        ProbeFolder(config.sequence, config.max_pixels)).with_outputs(ERRORS, main="ok")
    segment_frames = config.sequence.segment_frames
    dreamed = (
        (animations, probed_videos.ok, probed_folders.ok)
        | "AllSequences" >> beam.Flatten()
        | "PlanSegments" >> beam.FlatMap(plan_segments, segment_frames)
        # Segments of one sequence spread over workers.
        | "ReshuffleSegments" >> beam.Reshuffle()
        | "DreamSegments" >> _on_accelerator(DreamSegments(
            config.recipes, config.sequence, config.output, sequence_keys, config.max_size,
            config.max_pixels, config.max_bytes, config.untiled_max_pixels, config.require_gpu), config)
    )
    written = (
        dreamed
        | "BySequence" >> beam.Map(lambda d: (d.segment.source.stem, d))
        | "GroupSegments" >> beam.GroupByKey()
        | "WriteSequences" >> beam.ParDo(WriteSequences(
            config.output, jobs, sequence_keys, config.sequence,
            config.stamps(jobs, sequence_keys, config.sequence.as_record())))
        .with_outputs(ERRORS, main="ok")
    )
    return written.ok, [probed_videos[ERRORS], probed_folders[ERRORS], written[ERRORS]]


def _write_image_records(records: beam.PCollection, config: JobConfig) -> None:
    if config.metadata_format in ("jsonl", "both"):
        _write_jsonl(records, FileSystems.join(config.output, METADATA_FILE), "Metadata")
    if config.metadata_format in ("parquet", "both"):
        (
            records
            | "MetadataToParquetRows" >> beam.Map(to_parquet_row)
            | "WriteMetadataParquet" >> beam.io.WriteToParquet(
                FileSystems.join(config.output, METADATA_PARQUET), METADATA_SCHEMA,
                shard_name_template="",
            )
        )
