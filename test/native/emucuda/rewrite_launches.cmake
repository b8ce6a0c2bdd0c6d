# cmake -DIN=kernel.cu -DOUT=kernel.cc -P rewrite_launches.cmake
#
# Turns each CUDA launch `name<<<grid, block[, shared[, stream]]>>>(args)` of IN into the C++ call
# `::pfgm_emu::launch("name", grid, block[, shared[, stream]]).with([](auto... a) { name(a...); })
# (args)` (test/native/emucuda/emu.h), so the file compiles as C++ for the emulated test addon.
# White space may stand between the name and `<<<` (clang-format breaks long launches there).
# A #line keeps compiler messages pointing at the original file.
file(READ "${IN}" source)
string(REGEX REPLACE
  "([A-Za-z_][A-Za-z0-9_:]*(<[^<>;()]*>)?)[ \t\r\n]*<<<(([^>]|>[^>]|>>[^>])*)>>>"
  "::pfgm_emu::launch(\"\\1\", \\3).with([](auto... pfgm_emu_a) { \\1(pfgm_emu_a...); })"
  rewritten "${source}")
string(FIND "${rewritten}" "<<<" left)
if(NOT left EQUAL -1)
  message(FATAL_ERROR "${IN}: a kernel launch the emulator's rewrite does not understand")
endif()
file(WRITE "${OUT}.tmp" "#line 1 \"${IN}\"\n${rewritten}")
configure_file("${OUT}.tmp" "${OUT}" COPYONLY)  # rewrites OUT only when it changed
file(REMOVE "${OUT}.tmp")
