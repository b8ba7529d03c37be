"""Fixtures of the Python package's tests: the tiny checkpoint, ../shared/audio, the glmasr CLI.
ctest sets GLMASR_LIBRARY, GLMASR_BINARY and PYTHONPATH (python_tests.cmake); run by hand with
the same three variables from the repository root."""

import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def shared_dir():
    env = os.environ.get("GLMASR_SHARED_DIR")
    return Path(env) if env else REPO.parent / "shared"


@pytest.fixture(scope="session")
def model_dir():
    return REPO / "tests" / "data" / "tiny"


@pytest.fixture(scope="session")
def audio_dir():
    directory = shared_dir() / "audio"
    if not (directory / "jfk.wav").exists():
        pytest.skip(f"{directory} has no jfk.wav (../shared is not beside the checkout)")
    return directory


@pytest.fixture(scope="session")
def model(model_dir):
    import glmasr

    with glmasr.Model(model_dir, device="cpu") as loaded:
        yield loaded


@pytest.fixture(scope="session")
def cli():
    binary = os.environ.get("GLMASR_BINARY", str(REPO / "build" / "glmasr"))

    def run(*args):
        done = subprocess.run([binary, *map(str, args)], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        return done.stdout

    return run
