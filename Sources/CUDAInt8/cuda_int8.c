// Loads libgpt2edge_cuda.so with dlopen and forwards the C API to it (see include/cuda_int8.h).
#include "cuda_int8.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

static const char *const symbol_names[] = {
    "g2e_impl_device_status", "g2e_impl_create", "g2e_impl_upload", "g2e_impl_forward", "g2e_impl_reset", "g2e_impl_destroy",
};
enum { symbol_total = 6 };

int g2e_cuda_symbol_count(void) { return symbol_total; }
const char *g2e_cuda_symbol(int index) { return index >= 0 && index < symbol_total ? symbol_names[index] : NULL; }

static struct {
    void *library;
    int (*device_status)(char *, size_t);
    g2e_model *(*create)(int, int, int, int, int, int, float, char *, size_t);
    int (*upload)(g2e_model *, const char *, const void *, size_t, int, int, int, char *, size_t);
    int (*forward)(g2e_model *, const int32_t *, int, float *, char *, size_t);
    void (*reset)(g2e_model *);
    void (*destroy)(g2e_model *);
} api;

static int not_loaded(char *message, size_t message_size) {
    snprintf(message, message_size, "the CUDA library is not loaded (build it with tools/build-cuda)");
    return 1;
}

int g2e_cuda_load(const char *path, char *message, size_t message_size) {
    if (api.library) return 0;
    if (!path) path = getenv("GPT2EDGE_CUDA_LIBRARY");
    if (!path) path = ".build/cuda/libgpt2edge_cuda.so";
    void *library = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!library) {
        snprintf(message, message_size, "cannot load the CUDA library %s (%s); build it with tools/build-cuda or set GPT2EDGE_CUDA_LIBRARY",
                 path, dlerror());
        return 1;
    }
    void *symbols[symbol_total];
    for (int i = 0; i < symbol_total; i++) {
        symbols[i] = dlsym(library, symbol_names[i]);
        if (!symbols[i]) {
            snprintf(message, message_size, "%s does not export %s (rebuild it with tools/build-cuda)", path, symbol_names[i]);
            dlclose(library);
            return 1;
        }
    }
    api.device_status = (int (*)(char *, size_t))symbols[0];
    api.create = (g2e_model * (*)(int, int, int, int, int, int, float, char *, size_t)) symbols[1];
    api.upload = (int (*)(g2e_model *, const char *, const void *, size_t, int, int, int, char *, size_t))symbols[2];
    api.forward = (int (*)(g2e_model *, const int32_t *, int, float *, char *, size_t))symbols[3];
    api.reset = (void (*)(g2e_model *))symbols[4];
    api.destroy = (void (*)(g2e_model *))symbols[5];
    api.library = library;
    return 0;
}

int g2e_cuda_device_status(char *message, size_t message_size) {
    return api.library ? api.device_status(message, message_size) : not_loaded(message, message_size);
}

g2e_model *g2e_cuda_create(int n_layer, int n_head, int n_embd, int n_inner, int n_ctx, int n_vocab, float eps,
                           char *message, size_t message_size) {
    if (!api.library) { not_loaded(message, message_size); return NULL; }
    return api.create(n_layer, n_head, n_embd, n_inner, n_ctx, n_vocab, eps, message, message_size);
}

int g2e_cuda_upload(g2e_model *model, const char *name, const void *data, size_t bytes, int rows, int columns, int group,
                    char *message, size_t message_size) {
    return api.library ? api.upload(model, name, data, bytes, rows, columns, group, message, message_size) : not_loaded(message, message_size);
}

int g2e_cuda_forward(g2e_model *model, const int32_t *tokens, int count, float *logits, char *message, size_t message_size) {
    return api.library ? api.forward(model, tokens, count, logits, message, message_size) : not_loaded(message, message_size);
}

void g2e_cuda_reset(g2e_model *model) { if (api.library) api.reset(model); }

void g2e_cuda_destroy(g2e_model *model) { if (api.library && model) api.destroy(model); }
