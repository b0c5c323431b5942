"""--channels auto:N: each term dreams the channels the image itself makes strongest."""
from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image

from pipeline.run import main, run
from tests.conftest import read_jsonl
from transforms.dream.channel_pick import ChannelPick, pick_channels
from transforms.dream.engine import Dreamer
from transforms.dream.params import DreamParams
from transforms.dream.preprocessing import INCEPTION
from transforms.parquet_schema import from_parquet_row

PARAMS = DreamParams(octaves=2, octave_scale=1.3, iterations=3, step=5.0, jitter=4, max_loss=None, seed=5)


def _images() -> list[np.ndarray]:
    """Noise, and smooth colour ramps: images that different channels answer."""
    noise = np.random.default_rng(0).integers(0, 256, (64, 96, 3), dtype=np.uint8)
    yy, xx = np.mgrid[0:64, 0:96]
    ramps = np.stack([xx * 255 / 95, yy * 255 / 63, 255 - xx * 255 / 95], axis=-1).astype(np.uint8)
    return [noise, ramps]


def test_the_pick_follows_each_channels_mean_activation():
    means = np.array([[0.5, 3.0, 1.0, 3.0, 0.0], [9.0, 0.0, 1.0, 2.0, 0.5]])
    assert pick_channels(means, ChannelPick(2)).tolist() == [[1, 3], [0, 3]]
    # The weakest that respond: silent channels (mean 0) cannot grow and come last.
    assert pick_channels(means, ChannelPick(2, "weak")).tolist() == [[0, 2], [2, 4]]
    assert pick_channels(means, ChannelPick(5, "weak")).tolist() == [[0, 1, 2, 3, 4]] * 2
    random = pick_channels(means, ChannelPick(3, "random"), seed=1)
    assert random[0].tolist() == random[1].tolist() == pick_channels(means, ChannelPick(3, "random"), seed=1)[0].tolist()
    assert any(pick_channels(means, ChannelPick(3, "random"), seed=s)[0].tolist() != random[0].tolist()
               for s in range(2, 6))
    assert pick_channels(means, ChannelPick(9)).shape == (2, 5)  # at most every channel
    for text in ("auto:0", "auto", "top:3", "auto:3:loud"):
        with pytest.raises(ValueError):
            ChannelPick.parse(text)


def test_parse_reads_count_rule_and_capture():
    assert ChannelPick.parse(" auto:8 ") == ChannelPick(8, "strong", "once")
    assert ChannelPick.parse("auto:3:weak", "octave") == ChannelPick(3, "weak", "octave")
    assert ChannelPick.parse("auto:2:random").rule == "random"
    with pytest.raises(ValueError) as refused:
        ChannelPick.parse("top:3")
    assert str(refused.value) == "channels must be auto:N, auto:N:weak or auto:N:random (e.g. auto:8), got 'top:3'"


def test_a_picked_dream_is_the_dream_of_those_channels_named(tiny_model):
    photo = _images()[0]
    picked = Dreamer(tiny_model, "conv3:1", INCEPTION, channel_pick=ChannelPick(3)).dream(photo, PARAMS)
    (once,) = picked.picked_channels
    channels = once["conv3"]
    extractor = Dreamer(tiny_model, "conv3:1", INCEPTION)._extractor
    means = np.asarray(extractor(INCEPTION.preprocess(photo))["conv3"])[:, 2:-2, 2:-2].mean(axis=(0, 1, 2))
    assert channels == sorted(np.argsort(-means)[:3].tolist())  # the strongest on the input
    named = Dreamer(tiny_model, f"conv3[{','.join(map(str, channels))}]:1", INCEPTION).dream(photo, PARAMS)
    assert np.array_equal(picked.image, named.image)
    whole = Dreamer(tiny_model, "conv3:1", INCEPTION).dream(photo, PARAMS)
    assert not np.array_equal(picked.image, whole.image)


def test_picks_per_image_per_octave_and_alone_as_in_a_batch(tiny_model):
    images = _images()
    dreamer = Dreamer(tiny_model, "conv3:1,conv2[1,2]:0.5", INCEPTION, channel_pick=ChannelPick(3, capture="octave"))
    batch = dreamer.dream_batch(images, PARAMS)
    for photo, result in zip(images, batch, strict=True):
        assert len(result.picked_channels) == 2  # picked again at the second octave
        assert all(set(picks) == {"conv3"} and len(picks["conv3"]) == 3 for picks in result.picked_channels)
        alone = dreamer.dream(photo, PARAMS)
        assert np.array_equal(alone.image, result.image) and alone.picked_channels == result.picked_channels
    assert batch[0].picked_channels[0] != batch[1].picked_channels[0]  # each image its own


def test_the_job_records_what_it_picked(model_file, tmp_path, capsys):
    Image.fromarray(_images()[0]).save(tmp_path / "cat.png")
    common = [f"--input={tmp_path / 'cat.png'}", f"--model={model_file}", "--layers=conv3:1", "--iterations=2",
              "--octaves=2", "--runner", "FnApiRunner"]
    out = tmp_path / "out"
    summary = run([*common, f"--output={out}", "--channels=auto:2:weak", "--channel_capture=octave",
                   "--metadata_format=both"])
    assert (summary.dreamed, summary.failed) == (1, 0)
    (record,) = read_jsonl(out / "metadata.jsonl")
    assert (record["channels"], record["channel_capture"]) == ("auto:2:weak", "octave")
    assert [len(picks["conv3"]) for picks in record["picked_channels"]] == [2, 2]
    (row,) = pq.read_table(out / "metadata.parquet").to_pylist()  # Parquet alone loses nothing
    assert from_parquet_row(row) == record
    assert main([*common, f"--output={tmp_path / 'never'}", "--channels=auto:0"]) == 2
    assert "auto:N needs N >= 1" in capsys.readouterr().err
    assert main([*common, f"--output={tmp_path / 'never'}", "--channels=auto:2",
                 f"--guide={tmp_path / 'cat.png'}"]) == 2
    assert "do not combine" in capsys.readouterr().err
    assert not (tmp_path / "never").exists()
