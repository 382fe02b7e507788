// Links default.gqz (the trained KJV model at int8, see README "The default model") into the program, so
// `gpt2-edge generate` works with no model file and no network. The assembler's .incbin copies the file into
// read-only data; the path is relative to the package root, where SwiftPM runs the compiler.
// SwiftPM does not track default.gqz as an input: after replacing it, touch this file to rebuild.
#include "default_model.h"

__asm__(
    ".section gpt2edge_default_model,\"a\"\n"   /* its own read-only section: the output .rodata can be writable (another input is) */
    ".balign 64\n"
    "gpt2edge_default_model_start:\n"
    ".incbin \"" GPT2EDGE_DEFAULT_MODEL_PATH "\"\n"
    "gpt2edge_default_model_end:\n"
    ".previous\n");

extern const unsigned char gpt2edge_default_model_start[], gpt2edge_default_model_end[];

const unsigned char *gpt2edge_default_model_bytes(void) { return gpt2edge_default_model_start; }

size_t gpt2edge_default_model_size(void) {
    return (size_t)(gpt2edge_default_model_end - gpt2edge_default_model_start);
}
