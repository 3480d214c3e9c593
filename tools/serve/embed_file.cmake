# Write a C file that holds the bytes of a file, for the encore executable to
# serve without reading anything at run time:
#   cmake -DIN=file -DOUT=file.c -DNAME=symbol -P embed_file.cmake
# gives `const unsigned char NAME[]` (the bytes and a NUL) and
# `const size_t NAME_len`.
file(READ "${IN}" hex HEX)
string(LENGTH "${hex}" n)
math(EXPR len "${n} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
file(WRITE "${OUT}" "/* Generated from ${IN} by embed_file.cmake: do not edit. */\n#include <stddef.h>\n"
     "extern const unsigned char ${NAME}[];\nextern const size_t ${NAME}_len;\n"
     "const unsigned char ${NAME}[] = {${bytes}0x00};\nconst size_t ${NAME}_len = ${len};\n")
