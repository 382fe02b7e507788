#ifndef GPT2EDGE_DEFAULT_MODEL_H
#define GPT2EDGE_DEFAULT_MODEL_H
#include <stddef.h>

/// The .gqz image of gpt2-edge's default model, linked into the program (see default_model.c).
const unsigned char *gpt2edge_default_model_bytes(void);
/// Its size in bytes.
size_t gpt2edge_default_model_size(void);

#endif
