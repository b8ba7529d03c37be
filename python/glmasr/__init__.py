"""glmasr: speech recognition with GLM-ASR-Nano-2512 from Python.

    import glmasr
    model = glmasr.Model("path/to/GLM-ASR-Nano-2512")
    segments, info = model.transcribe("audio.wav")
    for segment in segments:        # yielded as each segment is decoded
        print(f"[{segment.start:.2f} -> {segment.end:.2f}] {segment.text}")
    print(info.duration, info.timings)

Built on libglmasr.so's C API with ctypes; the interpreter lock is released while the engine
works, and several threads may transcribe on one Model at once (they share its decoding batch).
"""

from glmasr._errors import Error
from glmasr._model import Model, Segment, TranscriptionInfo
from glmasr._version import __version__
from glmasr._library import library_version

__all__ = ["Error", "Model", "Segment", "TranscriptionInfo", "library_version", "__version__"]
