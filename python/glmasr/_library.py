"""Finding and loading libglmasr.so, and the C API's prototypes.

The library is looked for, in order: the file named by $GLMASR_LIBRARY; next to this package
(a copy placed there before `pip install`); the CMake build tree of a source checkout
(<repo>/build, for python/ used in place); then the system's loader path (an installed prefix).
"""

import ctypes
import os
from pathlib import Path

from glmasr._errors import Error

_SONAME = "libglmasr.so.0"
OK = 0


class SegmentView(ctypes.Structure):
    _fields_ = [
        ("id", ctypes.c_int),
        ("start", ctypes.c_double),
        ("end", ctypes.c_double),
        ("text", ctypes.c_char_p),
        ("tokens", ctypes.POINTER(ctypes.c_int32)),
        ("token_count", ctypes.c_size_t),
        ("avg_logprob", ctypes.c_double),
        ("loop_detected", ctypes.c_int),
        ("stop_reason", ctypes.c_char_p),
    ]


SegmentCallback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(SegmentView), ctypes.c_void_p)


class ModelOptions(ctypes.Structure):
    _fields_ = [
        ("device", ctypes.c_char_p),
        ("weights", ctypes.c_char_p),
        ("max_batch", ctypes.c_int),
        ("max_new_tokens", ctypes.c_int),
        ("kv_cache_gb", ctypes.c_double),
        ("threads", ctypes.c_int),
    ]


class TranscribeOptions(ctypes.Structure):
    _fields_ = [
        ("prompt", ctypes.c_char_p),
        ("max_new_tokens", ctypes.c_int),
        ("loop_guard", ctypes.c_int),
        ("on_segment", SegmentCallback),
        ("user_data", ctypes.c_void_p),
    ]


def _candidates():
    env = os.environ.get("GLMASR_LIBRARY")
    if env:
        yield Path(env)
        return  # named explicitly: nothing else may stand in for it
    here = Path(__file__).resolve().parent
    yield here / _SONAME
    yield here / "libglmasr.so"
    yield here.parent.parent / "build" / "libglmasr.so"
    yield Path(_SONAME)  # bare name: the system loader's search path


def _load():
    tried = []
    for candidate in _candidates():
        if candidate.is_absolute() and not candidate.exists():
            tried.append(f"{candidate} (absent)")
            continue
        try:
            return ctypes.CDLL(str(candidate))
        except OSError as e:
            tried.append(f"{candidate} ({e})")
    raise ImportError(
        "glmasr: libglmasr.so not found; build it (bash scripts/build.sh) and set "
        "GLMASR_LIBRARY=/path/to/build/libglmasr.so, or install it (cmake --install build). "
        "Tried: " + "; ".join(tried)
    )


def _prototypes(lib):
    p = ctypes.POINTER
    vp = ctypes.c_void_p
    status = ctypes.c_int
    table = {
        "glmasr_version": (ctypes.c_char_p, []),
        "glmasr_last_error": (ctypes.c_char_p, []),
        "glmasr_status_name": (ctypes.c_char_p, [status]),
        "glmasr_model_options_init": (None, [p(ModelOptions)]),
        "glmasr_model_open": (status, [ctypes.c_char_p, p(ModelOptions), p(vp)]),
        "glmasr_model_close": (None, [vp]),
        "glmasr_model_describe": (ctypes.c_char_p, [vp]),
        "glmasr_audio_from_file": (status, [ctypes.c_char_p, p(vp)]),
        "glmasr_audio_from_encoded": (status, [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p, p(vp)]),
        "glmasr_audio_from_f32": (status, [vp, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, p(vp)]),
        "glmasr_audio_from_s16": (status, [vp, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, p(vp)]),
        "glmasr_audio_seconds": (ctypes.c_double, [vp]),
        "glmasr_audio_free": (None, [vp]),
        "glmasr_transcribe_options_init": (None, [p(TranscribeOptions)]),
        "glmasr_transcribe": (status, [vp, vp, p(TranscribeOptions), p(vp)]),
        "glmasr_result_text": (ctypes.c_char_p, [vp]),
        "glmasr_result_duration": (ctypes.c_double, [vp]),
        "glmasr_result_seconds": (ctypes.c_double, [vp]),
        "glmasr_result_segment_count": (ctypes.c_size_t, [vp]),
        "glmasr_result_segment": (status, [vp, ctypes.c_size_t, p(SegmentView)]),
        "glmasr_result_render": (status, [vp, ctypes.c_char_p, p(ctypes.c_char_p)]),
        "glmasr_result_free": (None, [vp]),
    }
    for name, (restype, argtypes) in table.items():
        function = getattr(lib, name)
        function.restype = restype
        function.argtypes = argtypes
    return lib


lib = _prototypes(_load())


def check(status):
    """Raises Error with the library's message for a failed call (same thread: its last error)."""
    if status != OK:
        message = lib.glmasr_last_error().decode("utf-8", "replace")
        raise Error(lib.glmasr_status_name(status).decode(), message)


def library_version():
    """The loaded libglmasr's version, e.g. "0.1.0"."""
    return lib.glmasr_version().decode()
