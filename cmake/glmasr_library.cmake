# libglmasr.so: the C API (include/glmasr/glmasr.h, src/capi/) over the static libraries, and its
# installation as a CMake package (glmasr::glmasr) and a pkg-config module (glmasr.pc).
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

# The SONAME carries the major version: libglmasr.so.0 (a 0.x minor may still break the ABI,
# which the package version file below accounts for).

# The static libraries end up inside a shared object.
set_target_properties(glmasr_core glmasr_engine PROPERTIES POSITION_INDEPENDENT_CODE ON)
if(GLMASR_HAVE_CUDA)
  set_target_properties(glmasr_cuda PROPERTIES POSITION_INDEPENDENT_CODE ON)
endif()

file(GLOB GLMASR_CAPI_SOURCES CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/src/capi/*.cpp)
set(GLMASR_CAPI_EXPORTS ${PROJECT_SOURCE_DIR}/src/capi/exports.map)
add_library(glmasr_shared SHARED ${GLMASR_CAPI_SOURCES})
add_library(glmasr::glmasr ALIAS glmasr_shared)
target_include_directories(glmasr_shared PUBLIC
  $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include> $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
target_compile_options(glmasr_shared PRIVATE ${GLMASR_WARNINGS})
target_compile_definitions(glmasr_shared PRIVATE GLMASR_BUILDING_LIBRARY=1
                           GLMASR_VERSION="${PROJECT_VERSION}")
target_link_libraries(glmasr_shared PRIVATE ${GLMASR_ENGINE_LIBS})
# Only the C API leaves the library: hidden by default, exported by GLMASR_API, and the version
# script keeps everything the static libraries bring local.
target_link_options(glmasr_shared PRIVATE "LINKER:--version-script=${GLMASR_CAPI_EXPORTS}"
                    "LINKER:--no-undefined")
set_target_properties(glmasr_shared PROPERTIES
  OUTPUT_NAME glmasr
  EXPORT_NAME glmasr
  VERSION ${PROJECT_VERSION}
  SOVERSION ${PROJECT_VERSION_MAJOR}
  C_VISIBILITY_PRESET hidden
  CXX_VISIBILITY_PRESET hidden
  VISIBILITY_INLINES_HIDDEN ON
  LINK_DEPENDS ${GLMASR_CAPI_EXPORTS}
  LIBRARY_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR})

install(TARGETS glmasr_shared EXPORT glmasrTargets
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(FILES ${PROJECT_SOURCE_DIR}/include/glmasr/glmasr.h
              ${PROJECT_SOURCE_DIR}/include/glmasr/glmasr.hpp
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/glmasr)

set(GLMASR_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/glmasr)
install(EXPORT glmasrTargets NAMESPACE glmasr:: DESTINATION ${GLMASR_CMAKE_DIR})
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/glmasrConfig.cmake.in
  ${PROJECT_BINARY_DIR}/glmasrConfig.cmake INSTALL_DESTINATION ${GLMASR_CMAKE_DIR})
# 0.x: a minor release may change the API, so only the same major.minor satisfies a request.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/glmasrConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/glmasrConfig.cmake
              ${PROJECT_BINARY_DIR}/glmasrConfigVersion.cmake
        DESTINATION ${GLMASR_CMAKE_DIR})

# Relocatable: the prefix is found from the .pc file's own place, so `cmake --install --prefix P`
# gives a correct file wherever P is.
file(RELATIVE_PATH GLMASR_PC_TO_PREFIX /prefix/${CMAKE_INSTALL_LIBDIR}/pkgconfig /prefix)
string(REGEX REPLACE "/$" "" GLMASR_PC_TO_PREFIX "${GLMASR_PC_TO_PREFIX}")
configure_file(${PROJECT_SOURCE_DIR}/cmake/glmasr.pc.in ${PROJECT_BINARY_DIR}/glmasr.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/glmasr.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

# Every test depends on the glmasr binary; the library tests (C/C++ consumers, Python) need the
# shared library as well.
add_dependencies(glmasr glmasr_shared)
