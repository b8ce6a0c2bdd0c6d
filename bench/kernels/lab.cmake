# The kernel lab (bench/kernels/README.md), included by CMakeLists.txt in a checkout that has
# bench/kernels (the npm package does not ship bench/). From lab.cu and every
# bench/kernels/<family>/<family>.cu, plus the production kernels the families call:
#   pfgm_kernellab_emu   the same sources compiled as C++ over the CUDA emulator
#                        (test/native/emucuda/, x86-64): built with the addons (about 9 s of
#                        CPU on top of them)
#   pfgm_kernellab_cuda  nvcc, for a GPU: built on demand (`npm run lab:build`), since nvcc for
#                        every architecture would add a minute or more of wall time to `npm ci`
# `pfgm_kernellab` builds whichever of the two this machine can. Both link the CPU engine as a
# static archive, so only the reference ops the families call (and what they need) come in.
# Needs the CUDA toolkit (the emulator compiles against its headers); without one,
# pfgm_kernellab says so.
set(PFGM_LAB_DIR ${CMAKE_CURRENT_SOURCE_DIR}/bench/kernels)
if(NOT (PFGM_CUDA AND CMAKE_CUDA_COMPILER))
  add_custom_target(pfgm_kernellab
    COMMAND ${CMAKE_COMMAND} -E echo
      "pfgm: the kernel lab needs the CUDA toolkit (nvcc), not found here (or PFGM_CUDA=OFF)"
    COMMAND ${CMAKE_COMMAND} -E false)
  return()
endif()

file(GLOB PFGM_LAB_FAMILY_SOURCES CONFIGURE_DEPENDS ${PFGM_LAB_DIR}/*/*.cu)
set(PFGM_LAB_SOURCES ${PFGM_LAB_DIR}/lab.cu ${PFGM_LAB_FAMILY_SOURCES})
# The production files whose entry points the families call, by name (so the list holds wherever
# under cuda/ they live). A new family that calls another file adds its name here.
set(PFGM_LAB_PRODUCTION_NAMES allocator group_norm softmax_rows optim)
string(JOIN "|" PFGM_LAB_NAMES_REGEX ${PFGM_LAB_PRODUCTION_NAMES})
set(PFGM_LAB_PRODUCTION ${PFGM_CUDA_SOURCES})
list(FILTER PFGM_LAB_PRODUCTION INCLUDE REGEX "/(${PFGM_LAB_NAMES_REGEX})\\.cu$")
# Every folder under cuda/ that holds a header, so the families include production headers by
# name ("ops.h", "launch.cuh", ...).
file(GLOB_RECURSE PFGM_LAB_CUDA_HEADERS CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/cuda/*.h
  ${CMAKE_CURRENT_SOURCE_DIR}/cuda/*.cuh)
set(PFGM_LAB_CUDA_DIRS)
foreach(h ${PFGM_LAB_CUDA_HEADERS})
  get_filename_component(dir ${h} DIRECTORY)
  list(APPEND PFGM_LAB_CUDA_DIRS ${dir})
endforeach()
list(REMOVE_DUPLICATES PFGM_LAB_CUDA_DIRS)
set(PFGM_LAB_INCLUDES ${PFGM_LAB_DIR} ${PFGM_LAB_CUDA_DIRS} ${CMAKE_CURRENT_SOURCE_DIR}/src/native)

# The CPU engine (the references) as an archive of the objects the addons are made of.
add_library(pfgm_lab_engine STATIC EXCLUDE_FROM_ALL $<TARGET_OBJECTS:pfgm_common>)
set_target_properties(pfgm_lab_engine PROPERTIES LINKER_LANGUAGE CXX)
target_link_libraries(pfgm_lab_engine PUBLIC DNNL::dnnl OpenMP::OpenMP_CXX)

set(PFGM_LAB_TARGETS)

# --- on the CUDA emulator ------------------------------------------------------------------------
if(PFGM_EMUCUDA_DIR AND EXISTS ${PFGM_EMUCUDA_DIR}/emu.h
   AND CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64")
  set(PFGM_LAB_EMU_SOURCES)
  foreach(cu ${PFGM_LAB_PRODUCTION} ${PFGM_LAB_SOURCES})
    get_filename_component(stem ${cu} NAME_WE)
    if(cu IN_LIST PFGM_LAB_PRODUCTION)
      set(cc ${CMAKE_CURRENT_BINARY_DIR}/kernellab/emu/production/${stem}.cc)
    else()
      set(cc ${CMAKE_CURRENT_BINARY_DIR}/kernellab/emu/lab/${stem}.cc)
    endif()
    add_custom_command(OUTPUT ${cc}
      COMMAND ${CMAKE_COMMAND} -DIN=${cu} -DOUT=${cc} -P ${PFGM_EMUCUDA_DIR}/rewrite_launches.cmake
      DEPENDS ${cu} ${PFGM_EMUCUDA_DIR}/rewrite_launches.cmake VERBATIM)
    list(APPEND PFGM_LAB_EMU_SOURCES ${cc})
  endforeach()
  set_source_files_properties(${PFGM_LAB_EMU_SOURCES} PROPERTIES
    COMPILE_OPTIONS "-include;${PFGM_EMUCUDA_DIR}/emu.h")
  add_executable(pfgm_kernellab_emu ${PFGM_LAB_EMU_SOURCES} ${PFGM_EMUCUDA_DIR}/emu_scheduler.cc
    ${PFGM_EMUCUDA_DIR}/emu_runtime.cc ${PFGM_EMUCUDA_DIR}/emu_graphs.cc)
  target_include_directories(pfgm_kernellab_emu PRIVATE ${PFGM_LAB_INCLUDES} ${PFGM_EMUCUDA_DIR}
    ${CUDAToolkit_INCLUDE_DIRS})
  target_compile_definitions(pfgm_kernellab_emu PRIVATE PFGM_LAB_EMU=1)
  target_compile_options(pfgm_kernellab_emu PRIVATE -O2)
  target_link_libraries(pfgm_kernellab_emu PRIVATE pfgm_lab_engine)
  set_target_properties(pfgm_kernellab_emu PROPERTIES
    RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/Release)
  list(APPEND PFGM_LAB_TARGETS pfgm_kernellab_emu)
endif()

# --- on a GPU (nvcc), on demand ------------------------------------------------------------------
add_executable(pfgm_kernellab_cuda EXCLUDE_FROM_ALL ${PFGM_LAB_PRODUCTION} ${PFGM_LAB_SOURCES})
target_include_directories(pfgm_kernellab_cuda PRIVATE ${PFGM_LAB_INCLUDES})
set_target_properties(pfgm_kernellab_cuda PROPERTIES CUDA_ARCHITECTURES "${PFGM_CUDA_ARCH}"
  RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/Release)
target_compile_options(pfgm_kernellab_cuda PRIVATE
  $<$<COMPILE_LANGUAGE:CUDA>:-O3 --expt-relaxed-constexpr>)
target_link_libraries(pfgm_kernellab_cuda PRIVATE pfgm_lab_engine CUDA::cudart_static)
list(APPEND PFGM_LAB_TARGETS pfgm_kernellab_cuda)

add_custom_target(pfgm_kernellab DEPENDS ${PFGM_LAB_TARGETS})
