"""glmasr.Model.transcribe: the CLI's text, every audio form alike, threads, errors."""

import threading
import wave

import numpy as np
import pytest

import glmasr

AUDIO_FILES = ["jfk.wav", "1272-128104-0000.flac", "bcn_weather.mp3"]


def transcribe_all(model, audio, **options):
    segments, info = model.transcribe(audio, **options)
    return list(segments), info


def read_wav_int16(path):
    with wave.open(str(path)) as w:
        assert w.getsampwidth() == 2
        frames = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
        return frames.reshape(-1, w.getnchannels()), w.getframerate()


@pytest.mark.parametrize("name", AUDIO_FILES)
def test_text_equals_the_cli(model, model_dir, audio_dir, cli, name):
    path = audio_dir / name
    segments, info = transcribe_all(model, str(path))
    expected = cli("transcribe", "--quiet", "--device", "cpu", "--model", model_dir, path)
    assert info.render("txt") == expected
    assert info.text + "\n" == expected
    assert segments, "at least one segment"


def test_json_formats_equal_the_cli(model, model_dir, audio_dir, cli):
    path = audio_dir / "jfk.wav"
    _, info = transcribe_all(model, str(path))
    for fmt in ["json", "verbose_json", "srt", "vtt"]:
        expected = cli("transcribe", "--quiet", "--device", "cpu", "--format", fmt, "--model",
                       model_dir, path)
        assert info.render(fmt) == expected, fmt


def test_segments_match_the_verbose_json(model, audio_dir):
    import json

    segments, info = transcribe_all(model, audio_dir / "jfk.wav")
    document = json.loads(info.render("verbose_json"))
    assert [s.id for s in segments] == list(range(len(segments)))
    assert [s.text for s in segments] == [s["text"] for s in document["segments"]]
    assert [list(s.tokens) for s in segments] == [s["tokens"] for s in document["segments"]]
    assert info.duration == pytest.approx(document["duration"])
    assert set(info.timings) == {"decode_audio", "transcribe"}
    assert all(t >= 0 for t in info.timings.values())


def test_numpy_and_bytes_equal_the_file(model, audio_dir):
    path = audio_dir / "jfk.wav"
    from_file, _ = transcribe_all(model, path)
    samples, rate = read_wav_int16(path)
    mono = samples[:, 0]
    as_float = (mono.astype(np.float32) / 32768.0)
    for audio in [mono, as_float, np.stack([mono, mono], axis=1), path.read_bytes()]:
        segments, _ = transcribe_all(model, audio, rate=rate)
        assert segments == from_file


def test_numpy_at_another_rate_is_resampled(model, audio_dir):
    samples, rate = read_wav_int16(audio_dir / "jfk.wav")
    doubled = np.repeat(samples[:, 0], 2)  # the same sound at twice the rate
    segments, info = transcribe_all(model, doubled, rate=2 * rate)
    assert info.duration == pytest.approx(len(samples) / rate, abs=1e-3)
    assert segments


def test_two_threads_at_once_equal_one_at_a_time(model, audio_dir):
    paths = [audio_dir / "jfk.wav", audio_dir / "1272-128104-0000.flac"]
    expected = [transcribe_all(model, p)[0] for p in paths]
    got = [None, None]
    errors = []

    def work(i):
        try:
            for _ in range(2):
                got[i] = transcribe_all(model, paths[i])[0]
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert got == expected


def test_bad_input_raises_and_the_model_stays_usable(model, audio_dir, tmp_path):
    missing = tmp_path / "missing.wav"
    with pytest.raises(glmasr.Error) as e:
        model.transcribe(missing)
    assert e.value.status == "input" and str(missing) in e.value.message
    with pytest.raises(glmasr.Error, match="cannot be decoded"):
        model.transcribe(b"this is not audio")
    with pytest.raises(glmasr.Error, match="float32 or int16"):
        model.transcribe(np.zeros(16000, dtype=np.int32))
    with pytest.raises(glmasr.Error, match="sample_rate"):
        model.transcribe(np.zeros(16000, dtype=np.float32), rate=0)
    with pytest.raises(glmasr.Error, match="finite"):
        model.transcribe(np.full(16000, np.nan, dtype=np.float32))
    with pytest.raises(glmasr.Error, match="max_new_tokens"):
        list(model.transcribe(audio_dir / "jfk.wav", max_new_tokens=100000)[0])
    too_short = model.transcribe(np.zeros(10, dtype=np.float32))[0]
    with pytest.raises(glmasr.Error):
        list(too_short)
    with pytest.raises(TypeError):
        model.transcribe(42)
    segments, _ = transcribe_all(model, audio_dir / "jfk.wav")
    assert segments


def test_segments_are_yielded_while_later_ones_are_still_decoding(model_dir, audio_dir):
    samples, rate = read_wav_int16(audio_dir / "jfk.wav")
    gap = np.zeros(2 * rate, dtype=np.int16)
    long = np.concatenate([samples[:, 0], gap] * 6)  # 78 s: several segments of <= 30 s
    # One sequence at a time: the last segment is decoded well after the first is final.
    with glmasr.Model(model_dir, device="cpu", max_batch=1) as one_at_a_time:
        segments, info = one_at_a_time.transcribe(long, rate=rate)
        first = next(segments)
        assert first.id == 0
        assert not info.done
        rest = list(segments)
        assert info.done
        assert rest and [s.id for s in rest] == list(range(1, len(rest) + 1))


def test_an_abandoned_iterator_leaves_the_model_usable(model, audio_dir):
    segments, _ = model.transcribe(audio_dir / "jfk.wav")
    next(segments)
    segments.close()
    again, _ = transcribe_all(model, audio_dir / "jfk.wav")
    assert again


def test_prompt_and_max_new_tokens_are_passed(model, audio_dir):
    short, _ = transcribe_all(model, audio_dir / "jfk.wav", max_new_tokens=3, loop_guard=False)
    assert all(len(s.tokens) <= 3 for s in short)
    default, _ = transcribe_all(model, audio_dir / "jfk.wav")
    prompted, _ = transcribe_all(model, audio_dir / "jfk.wav", prompt="Transcribe: JFK")
    assert prompted != default  # the tiny random model's output depends on every prompt token


def test_opening_a_missing_folder_raises(tmp_path):
    with pytest.raises(glmasr.Error) as e:
        glmasr.Model(tmp_path / "nowhere", device="cpu")
    assert e.value.status == "model" and "nowhere" in e.value.message
    with pytest.raises(glmasr.Error, match="device"):
        glmasr.Model(tmp_path, device="tpu")


def test_versions_agree(cli):
    assert glmasr.__version__ == glmasr.library_version()
    assert cli("--version") == f"glmasr {glmasr.__version__}\n"
