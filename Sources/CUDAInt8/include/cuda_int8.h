#ifndef GPT2EDGE_CUDA_INT8_H
#define GPT2EDGE_CUDA_INT8_H

#include <stddef.h>
#include <stdint.h>

/// The optional CUDA int8 path, reached through libgpt2edge_cuda.so (built by tools/build-cuda from
/// Sources/CUDAInt8/cuda/gpt2edge_cuda.cu) and loaded at run time with dlopen, so a machine without CUDA
/// builds and runs exactly as before. Every function returns 0 on success, or 1 with the reason written to
/// (message, message_size).

typedef struct g2e_library g2e_library;
typedef struct g2e_model g2e_model;

/// Loads the library at `path` (NULL: $GPT2EDGE_CUDA_LIBRARY, then .build/cuda/libgpt2edge_cuda.so) and resolves the
/// C API; NULL on failure. Each path is loaded once and stays loaded, so calling again returns the same library.
g2e_library *g2e_cuda_load(const char *path, char *message, size_t message_size);

/// Whether a usable GPU is present (a driver, a device with __dp4a); on success `message` names it.
int g2e_cuda_device_status(const g2e_library *library, char *message, size_t message_size);

/// A model with an empty KV cache of n_ctx positions on the GPU; NULL on failure.
g2e_model *g2e_cuda_create(const g2e_library *library, int n_layer, int n_head, int n_embd, int n_inner, int n_ctx, int n_vocab, float eps,
                           char *message, size_t message_size);

/// Uploads one tensor by its .gqz name: float32 vectors and tables as floats, matrices as the int8 group payload
/// of `rows` × `columns` with `group` values per scale (formats/GQZ.md §4).
int g2e_cuda_upload(g2e_model *model, const char *name, const void *data, size_t bytes, int rows, int columns, int group,
                    char *message, size_t message_size);

/// Runs `count` tokens after those already in the KV cache; writes the last position's n_vocab logits.
int g2e_cuda_forward(g2e_model *model, const int32_t *tokens, int count, float *logits, char *message, size_t message_size);

/// Empties the KV cache.
void g2e_cuda_reset(g2e_model *model);

void g2e_cuda_destroy(g2e_model *model);

/// The names the library must export: `g2e_cuda_symbol(i)` for i in 0..<g2e_cuda_symbol_count() (for checks and tests).
int g2e_cuda_symbol_count(void);
const char *g2e_cuda_symbol(int index);

#endif
