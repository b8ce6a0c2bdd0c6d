# Finds cuDNN and cuBLAS for the CUDA backend. Looks, in order, at CUDNN_ROOT / CUBLAS_ROOT (CMake
# or environment variables), the CUDA toolkit, and the layout of NVIDIA's Python wheels
# (site-packages/nvidia/<name>/{include,lib}) of the python3 on PATH. cuBLAS 13's wheel
# (nvidia-cublas for CUDA 13) unpacks into nvidia/cu13/, older ones into nvidia/cublas/; both are
# searched. Sets, per library:
#   PFGM_<NAME>_FOUND, PFGM_<NAME>_INCLUDE_DIR, PFGM_<NAME>_LIBRARY, PFGM_<NAME>_LIBRARIES (the
#   library plus what it needs at link time: cublasLt for cuBLAS), PFGM_<NAME>_LIBRARY_DIR
# Code that needs a library is compiled only when it was found (PFGM_HAVE_<NAME> is defined then).

set(_pfgm_wheel_roots "")
find_program(PFGM_PYTHON3 python3)
if(PFGM_PYTHON3)
  execute_process(
    COMMAND ${PFGM_PYTHON3} -c "import nvidia; print(';'.join(nvidia.__path__))"
    OUTPUT_VARIABLE _pfgm_nvidia_paths OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
  if(_pfgm_nvidia_paths)
    set(_pfgm_wheel_roots ${_pfgm_nvidia_paths})
  endif()
endif()

# pfgm_find_nvidia_library(NAME header library-name extra-library-or-"" wheel-folder...)
function(pfgm_find_nvidia_library name header library extra)
  set(wheels ${ARGN})
  set(roots "")
  if(DEFINED ${name}_ROOT)
    list(APPEND roots ${${name}_ROOT})
  endif()
  if(DEFINED ENV{${name}_ROOT})
    list(APPEND roots $ENV{${name}_ROOT})
  endif()
  list(APPEND roots ${CUDAToolkit_LIBRARY_ROOT} ${CUDAToolkit_TARGET_DIR})
  foreach(wheel_root ${_pfgm_wheel_roots})
    foreach(wheel ${wheels})
      list(APPEND roots ${wheel_root}/${wheel})
    endforeach()
  endforeach()
  find_path(PFGM_${name}_INCLUDE_DIR ${header} HINTS ${roots} ${CUDAToolkit_INCLUDE_DIRS}
    PATH_SUFFIXES include NO_DEFAULT_PATH)
  # Wheels ship only versioned sonames (libcudnn.so.9), so accept those too.
  find_library(PFGM_${name}_LIBRARY NAMES ${library} lib${library}.so.9 lib${library}.so.13
    lib${library}.so.12 HINTS ${roots} PATH_SUFFIXES lib lib64 NO_DEFAULT_PATH)
  set(libraries ${PFGM_${name}_LIBRARY})
  set(extra_ok TRUE)
  if(extra AND PFGM_${name}_LIBRARY)
    # Next to the main library (cublasLt beside cublas): the pair must come from one release.
    get_filename_component(lib_dir ${PFGM_${name}_LIBRARY} DIRECTORY)
    find_library(PFGM_${name}_EXTRA_LIBRARY NAMES ${extra} lib${extra}.so.13 lib${extra}.so.12
      HINTS ${lib_dir} NO_DEFAULT_PATH)
    if(PFGM_${name}_EXTRA_LIBRARY)
      list(APPEND libraries ${PFGM_${name}_EXTRA_LIBRARY})
    else()
      set(extra_ok FALSE)
    endif()
  endif()
  if(PFGM_${name}_INCLUDE_DIR AND PFGM_${name}_LIBRARY AND extra_ok)
    get_filename_component(lib_dir ${PFGM_${name}_LIBRARY} DIRECTORY)
    set(PFGM_${name}_FOUND TRUE PARENT_SCOPE)
    set(PFGM_${name}_LIBRARIES ${libraries} PARENT_SCOPE)
    set(PFGM_${name}_LIBRARY_DIR ${lib_dir} PARENT_SCOPE)
    message(STATUS "pfgm: ${name} found: ${libraries}")
  else()
    set(PFGM_${name}_FOUND FALSE PARENT_SCOPE)
    message(STATUS "pfgm: ${name} not found (set ${name}_ROOT to its folder); the parts of the "
      "CUDA backend that need it are left out")
  endif()
endfunction()

pfgm_find_nvidia_library(CUDNN cudnn.h cudnn "" cudnn)
# cuda/libs/conv.cu needs cuDNN 9 (its status codes, cudnnGetLastErrorString; the legacy convolution
# API it uses may leave in a later major version): an older or newer cuDNN found in a toolkit is
# left out with a message, rather than failing to compile or to load.
if(PFGM_CUDNN_FOUND)
  set(_pfgm_cudnn_major "")
  if(EXISTS ${PFGM_CUDNN_INCLUDE_DIR}/cudnn_version.h)
    file(STRINGS ${PFGM_CUDNN_INCLUDE_DIR}/cudnn_version.h _pfgm_cudnn_major
      REGEX "^#define CUDNN_MAJOR +[0-9]+")
    string(REGEX REPLACE "^#define CUDNN_MAJOR +([0-9]+).*" "\\1" _pfgm_cudnn_major "${_pfgm_cudnn_major}")
  endif()
  if(NOT _pfgm_cudnn_major STREQUAL "9")
    message(STATUS "pfgm: the cuDNN in ${PFGM_CUDNN_INCLUDE_DIR} is not cuDNN 9 (CUDNN_MAJOR "
      "'${_pfgm_cudnn_major}'): left out; set CUDNN_ROOT to a cuDNN 9 folder")
    set(PFGM_CUDNN_FOUND FALSE)
  endif()
endif()
pfgm_find_nvidia_library(CUBLAS cublas_v2.h cublas cublasLt cu13 cublas)
