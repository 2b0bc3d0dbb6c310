# Compiler flags shared by every r2q target.

if(CMAKE_CXX_COMPILER_ID MATCHES "Clang|GNU")
  add_compile_options(-Wall -Wextra -Wno-unused-parameter)
  if(R2Q_WERROR)
    add_compile_options(-Werror)
  endif()
endif()

if(R2Q_SANITIZE)
  set(R2Q_SANITIZER_FLAGS
      -fsanitize=address,undefined -fno-sanitize-recover=all
      -fno-omit-frame-pointer)
  add_compile_options(${R2Q_SANITIZER_FLAGS})
  add_link_options(${R2Q_SANITIZER_FLAGS})
endif()

if(R2Q_FUZZ)
  # Coverage for libFuzzer in every r2q library; the fuzz targets link the
  # fuzzer runtime themselves.
  add_compile_options(-fsanitize=fuzzer-no-link)
endif()

find_program(R2Q_CCACHE ccache)
if(R2Q_CCACHE)
  set(CMAKE_C_COMPILER_LAUNCHER ${R2Q_CCACHE})
  set(CMAKE_CXX_COMPILER_LAUNCHER ${R2Q_CCACHE})
endif()
