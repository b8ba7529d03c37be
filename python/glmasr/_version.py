# The package's version; tests check it equals the library's glmasr_version() (CMake's
# project(VERSION)), so the two cannot drift apart unnoticed.
__version__ = "0.1.0"
