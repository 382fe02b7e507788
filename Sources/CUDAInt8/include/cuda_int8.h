#ifndef GPT2EDGE_CUDA_INT8_H
#define GPT2EDGE_CUDA_INT8_H

#include <stddef.h>
#include <stdint.h>

/// The optional CUDA int8 path, reached through libgpt2edge_cuda.so (built by tools/cuda/build.sh from
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

/// One kernel of the library on host arrays, for tests against the CPU references in Sources/Kernels:
/// - "linear": `weights` (an int8 .gqz matrix payload of rows × columns, `group` values per scale) times `tokens`
///   rows of `input` (tokens × columns), plus `bias` (rows, or NULL), into `output` (tokens × rows); the
///   activations are quantized per group as the forward pass does, one token runs the decode kernel, more the
///   tiled prompt kernel;
/// - "layer_norm": `rows` rows of `columns` from `input`, with `gain`, `bias` and `eps`, into `output`;
/// - "gelu_new": the rows × columns numbers of `input`, into `output`;
/// - "attention": `tokens` queries at positions past… (taken from `input`, laid out as the model's qkv rows of
///   3 · columns) over `keys` and `values` ((past + tokens) × columns, position by position), `heads` heads of
///   `head_dim`, scores multiplied by `scale`, into `output` (tokens × columns).
typedef struct {
    const char *kernel;
    int rows, columns, group, tokens, heads, head_dim, past;
    float eps, scale;
    const void *weights;
    size_t weight_bytes;
    const float *input, *gain, *bias, *keys, *values;
    float *output;
} g2e_kernel_case;

int g2e_cuda_kernel_test(const g2e_library *library, const g2e_kernel_case *kernel_case, char *message, size_t message_size);

/// The names the library must export: `g2e_cuda_symbol(i)` for i in 0..<g2e_cuda_symbol_count() (for checks and tests).
int g2e_cuda_symbol_count(void);
const char *g2e_cuda_symbol(int index);

#endif
