"""`pip install ./python` works offline, the way the README says: into a virtual environment
that sees Debian's setuptools, with no build isolation and no package index."""

import os
import shutil
import subprocess
import sys

from conftest import REPO


def test_pip_install_into_a_venv_and_transcribe(tmp_path, model_dir, audio_dir):
    source = tmp_path / "src"
    # A copy: setuptools writes build files beside the sources, which stay untouched.
    shutil.copytree(REPO / "python", source, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", venv], check=True)
    python = venv / "bin" / "python"
    install = subprocess.run(
        [python, "-m", "pip", "install", "--no-build-isolation", "--no-index", "--quiet", source],
        capture_output=True, text=True)
    assert install.returncode == 0, install.stdout + install.stderr
    script = (
        "import glmasr, sys\n"
        "assert glmasr.__file__.startswith(sys.prefix), glmasr.__file__\n"
        f"model = glmasr.Model({str(model_dir)!r}, device='cpu')\n"
        f"segments, info = model.transcribe({str(audio_dir / 'jfk.wav')!r})\n"
        "print(len(list(segments)), info.text)\n"
    )
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)  # the installed package, not the source tree
    run = subprocess.run([python, "-c", script], capture_output=True, text=True, cwd=tmp_path,
                         env=env)
    assert run.returncode == 0, run.stderr
    count, _, text = run.stdout.partition(" ")
    assert int(count) >= 1 and text.strip()
