"""Model and transcribe(): the faster-whisper shape, `segments, info = model.transcribe(audio)`,
over the C API. Audio is decoded on the calling thread (bad input raises there); the engine then
works on a helper thread while the returned iterator yields each segment as it is decoded."""

import ctypes
import os
import queue
import threading
import time
from typing import NamedTuple, Tuple

from glmasr import _library
from glmasr._errors import Error
from glmasr._library import check, lib


class Segment(NamedTuple):
    id: int
    start: float  # seconds from the start of the audio
    end: float
    text: str
    tokens: Tuple[int, ...]
    avg_logprob: float

    @classmethod
    def _from_view(cls, view):
        return cls(
            id=view.id,
            start=view.start,
            end=view.end,
            text=(view.text or b"").decode("utf-8", "replace"),
            tokens=tuple(view.tokens[i] for i in range(view.token_count)),
            avg_logprob=view.avg_logprob,
        )


class TranscriptionInfo:
    """What is known about a transcription: `duration` (seconds of audio) at once; `text` (the
    segment texts joined), `timings` (seconds: decode_audio, transcribe) and render() once it
    has finished; reading them waits for that (and raises its Error if it failed)."""

    def __init__(self, duration, decode_seconds, job):
        self.duration = duration
        self._decode_seconds = decode_seconds
        self._job = job

    @property
    def done(self):
        """Whether the transcription has finished (every segment decoded, or it failed)."""
        return self._job._done.is_set()

    @property
    def text(self):
        return self._job.wait().text

    @property
    def timings(self):
        return {"decode_audio": self._decode_seconds, "transcribe": self._job.wait().seconds}

    def render(self, format="txt"):
        """The whole document `glmasr transcribe --format FORMAT` writes: "txt", "json",
        "verbose_json", "srt" or "vtt"."""
        return self._job.render(format)


class _Finished(NamedTuple):
    text: str
    seconds: float


_END = object()


class _Job:
    """One transcription on a helper thread; its segments and its end go through a queue."""

    def __init__(self, model_handle, audio_handle, options):
        self.segments = queue.Queue()
        self.stop = threading.Event()  # set when the caller no longer wants segments
        self._done = threading.Event()
        self._finished = None
        self._error = None
        self._result = ctypes.c_void_p()  # freed with the job, so render() works until then
        self._callback = _library.SegmentCallback(self._on_segment)  # alive as long as the job
        options.on_segment = self._callback
        self._thread = threading.Thread(
            target=self._run, args=(model_handle, audio_handle, options), daemon=True
        )
        self._thread.start()

    def _on_segment(self, view, user_data):
        try:
            self.segments.put(Segment._from_view(view.contents))
        except BaseException as e:  # nothing may propagate into C
            self._error = e
            return 1
        return 1 if self.stop.is_set() else 0

    def _run(self, model_handle, audio_handle, options):
        result = self._result
        try:
            try:
                check(lib.glmasr_transcribe(model_handle, audio_handle, ctypes.byref(options),
                                            ctypes.byref(result)))
            finally:
                lib.glmasr_audio_free(audio_handle)
            self._finished = _Finished(
                text=lib.glmasr_result_text(result).decode("utf-8", "replace"),
                seconds=lib.glmasr_result_seconds(result),
            )
        except BaseException as e:
            if self._error is None:
                self._error = e
        finally:
            self._done.set()
            self.segments.put(_END)

    def wait(self):
        self._done.wait()
        if self._error is not None:
            raise self._error
        return self._finished

    def render(self, format):
        self.wait()
        document = ctypes.c_char_p()
        check(lib.glmasr_result_render(self._result, format.encode(), ctypes.byref(document)))
        return document.value.decode("utf-8", "replace")

    def __del__(self):
        if self._result:
            lib.glmasr_result_free(self._result)
            self._result = ctypes.c_void_p()

    def join(self):
        self._thread.join()

    def iterate(self):
        try:
            while True:
                item = self.segments.get()
                if item is _END:
                    break
                yield item
            self.wait()  # raises the transcription's error, if any
        finally:
            self.stop.set()  # an abandoned iterator stops the transcription at the next segment


class Model:
    """A loaded model. model_dir None: $GLMASR_MODEL, else ~/.cache/glmasr/GLM-ASR-Nano-2512.
    device: "auto", "cpu" or "cuda"; weights: "bf16", "fp16" (GPU) or "fp8" (E4M3 decoder
    weights quantized at load, bf16 activations). max_new_tokens: the most
    a transcribe() call may ask for per segment (the KV cache is sized for it)."""

    def __init__(self, model_dir=None, device="auto", weights="bf16", max_batch=0,
                 max_new_tokens=500, kv_cache_gb=0.0, threads=0):
        options = _library.ModelOptions()
        lib.glmasr_model_options_init(ctypes.byref(options))
        options.device = device.encode()
        options.weights = weights.encode()
        options.max_batch = max_batch
        options.max_new_tokens = max_new_tokens
        options.kv_cache_gb = kv_cache_gb
        options.threads = threads
        handle = ctypes.c_void_p()
        directory = None if model_dir is None else os.fsencode(model_dir)
        check(lib.glmasr_model_open(directory, ctypes.byref(options), ctypes.byref(handle)))
        self._handle = handle
        self._jobs_lock = threading.Lock()
        self._jobs = []

    @property
    def device(self):
        """The engine in words, e.g. "cpu (float32, 16 threads)"."""
        return lib.glmasr_model_describe(self._require()).decode()

    def transcribe(self, audio, prompt=None, max_new_tokens=500, rate=16000, loop_guard=True):
        """audio: a path, the bytes of an encoded file (WAV, FLAC, Ogg, MP3), or a NumPy array
        of samples at `rate` Hz (float32 in [-1, 1] or int16; shape (n,) or (n, channels)).
        Returns (segments, info): segments an iterator yielding Segment as each is decoded."""
        handle = self._require()
        started = time.perf_counter()
        audio_handle = _decode(audio, rate)
        decode_seconds = time.perf_counter() - started
        options = _library.TranscribeOptions()
        lib.glmasr_transcribe_options_init(ctypes.byref(options))
        options.prompt = None if prompt is None else prompt.encode()
        options.max_new_tokens = max_new_tokens
        options.loop_guard = 1 if loop_guard else 0
        duration = lib.glmasr_audio_seconds(audio_handle)
        job = _Job(handle, audio_handle, options)
        with self._jobs_lock:
            self._jobs = [j for j in self._jobs if not j._done.is_set()] + [job]
        return job.iterate(), TranscriptionInfo(duration, decode_seconds, job)

    def close(self):
        """Finishes the transcriptions in flight, then frees the model."""
        if getattr(self, "_handle", None) is None:
            return
        with self._jobs_lock:
            jobs, self._jobs = self._jobs, []
        for job in jobs:
            job.join()
        lib.glmasr_model_close(self._handle)
        self._handle = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    def _require(self):
        if self._handle is None:
            raise Error("invalid_argument", "the model is closed")
        return self._handle


def _decode(audio, rate):
    """A glmasr_audio handle for a path, encoded bytes or a NumPy array."""
    handle = ctypes.c_void_p()
    if isinstance(audio, (str, os.PathLike)):
        check(lib.glmasr_audio_from_file(os.fsencode(audio), ctypes.byref(handle)))
        return handle
    if isinstance(audio, (bytes, bytearray, memoryview)):
        data = bytes(audio)
        check(lib.glmasr_audio_from_encoded(data, len(data), b"bytes", ctypes.byref(handle)))
        return handle
    try:
        import numpy as np
    except ImportError:  # pragma: no cover - without NumPy only paths and bytes exist
        np = None
    if np is not None and isinstance(audio, np.ndarray):
        if audio.ndim not in (1, 2):
            raise Error("input", f"audio array: expected shape (n,) or (n, channels), got {audio.shape}")
        channels = 1 if audio.ndim == 1 else audio.shape[1]
        if audio.dtype == np.int16:
            samples = np.ascontiguousarray(audio)
            make = lib.glmasr_audio_from_s16
        elif audio.dtype in (np.float32, np.float64):
            samples = np.ascontiguousarray(audio, dtype=np.float32)
            make = lib.glmasr_audio_from_f32
        else:
            raise Error("input", f"audio array: expected float32 or int16 samples, got {audio.dtype}")
        check(make(samples.ctypes.data, audio.shape[0], int(rate), channels, ctypes.byref(handle)))
        return handle
    raise TypeError(f"audio: expected a path, bytes or a NumPy array, got {type(audio).__name__}")
