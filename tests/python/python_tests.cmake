# The Python package's pytest suite (tests/python) against the built libglmasr.so. It runs with
# the interpreter that Debian's python3-pytest and python3-numpy belong to (install_deps.sh), not
# whatever python3 comes first on PATH (a pyenv one would lack them).
if(EXISTS /usr/bin/python3)
  set(GLMASR_PYTHON_DEFAULT /usr/bin/python3)
else()
  find_program(GLMASR_PYTHON_DEFAULT python3)
endif()
set(GLMASR_PYTHON ${GLMASR_PYTHON_DEFAULT} CACHE FILEPATH "Python for the glmasr package tests")
execute_process(COMMAND ${GLMASR_PYTHON} -c "import pytest, numpy"
                RESULT_VARIABLE GLMASR_PYTHON_MISSING OUTPUT_QUIET ERROR_QUIET)
if(GLMASR_PYTHON AND NOT GLMASR_PYTHON_MISSING)
  add_test(NAME python_glmasr
           COMMAND ${GLMASR_PYTHON} -m pytest -q -p no:cacheprovider ${CMAKE_CURRENT_LIST_DIR})
  set_tests_properties(python_glmasr PROPERTIES LABELS e2e TIMEOUT 600 ENVIRONMENT
    "GLMASR_LIBRARY=$<TARGET_FILE:glmasr_shared>;GLMASR_BINARY=$<TARGET_FILE:glmasr>;PYTHONPATH=${PROJECT_SOURCE_DIR}/python;PYTHONDONTWRITEBYTECODE=1")
else()
  message(STATUS "glmasr: ${GLMASR_PYTHON} lacks pytest or numpy, the Python tests are not registered")
endif()
