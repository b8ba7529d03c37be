#!/usr/bin/env python3
"""Runs a command and stamps each line of its standard error with the seconds since the start,
then the exit: with `glmasr transcribe --timings` this shows process start-up (before the
model load begins) and teardown (after the timings are printed), which the program cannot time
itself.

    python3 tools/time_phases.py glmasr transcribe --timings ... FILE
"""
import subprocess
import sys
import time


def main() -> int:
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    start = time.monotonic()
    child = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             text=True)
    assert child.stderr is not None
    for line in child.stderr:
        print(f"{time.monotonic() - start:8.3f}  {line.rstrip()}", flush=True)
    code = child.wait()
    print(f"{time.monotonic() - start:8.3f}  exit {code}")
    return code


if __name__ == "__main__":
    sys.exit(main())
