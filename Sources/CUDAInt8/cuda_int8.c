// Loads libgpt2edge_cuda.so builds with dlopen and forwards the C API to them (see include/cuda_int8.h). Each path is
// loaded once and kept; a model remembers the library that made it, so a real and an emulated build can be used in
// the same process.
#include "cuda_int8.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const symbol_names[] = {
    "g2e_impl_device_status", "g2e_impl_create", "g2e_impl_upload", "g2e_impl_forward", "g2e_impl_reset", "g2e_impl_destroy",
    "g2e_impl_kernel_test",
};
enum { symbol_total = 7, library_limit = 8 };

int g2e_cuda_symbol_count(void) { return symbol_total; }
const char *g2e_cuda_symbol(int index) { return index >= 0 && index < symbol_total ? symbol_names[index] : NULL; }

struct g2e_library {
    char *path;
    void *handle;
    int (*device_status)(char *, size_t);
    void *(*create)(int, int, int, int, int, int, float, char *, size_t);
    int (*upload)(void *, const char *, const void *, size_t, int, int, int, char *, size_t);
    int (*forward)(void *, const int32_t *, int, float *, char *, size_t);
    void (*reset)(void *);
    void (*destroy)(void *);
    int (*kernel_test)(const g2e_kernel_case *, char *, size_t);
};

struct g2e_model {
    const g2e_library *library;
    void *implementation;
};

static g2e_library libraries[library_limit];
static int library_count;
static pthread_mutex_t libraries_lock = PTHREAD_MUTEX_INITIALIZER;

static g2e_library *load_locked(const char *path, char *message, size_t message_size) {
    for (int i = 0; i < library_count; i++)
        if (!strcmp(libraries[i].path, path)) return &libraries[i];
    if (library_count == library_limit) {
        snprintf(message, message_size, "cannot load %s: %d CUDA libraries are already loaded", path, library_limit);
        return NULL;
    }
    void *handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
        snprintf(message, message_size, "cannot load the CUDA library %s (%s); build it with tools/cuda/build.sh or set GPT2EDGE_CUDA_LIBRARY",
                 path, dlerror());
        return NULL;
    }
    void *symbols[symbol_total];
    for (int i = 0; i < symbol_total; i++) {
        symbols[i] = dlsym(handle, symbol_names[i]);
        if (!symbols[i]) {
            snprintf(message, message_size, "%s does not export %s (rebuild it with tools/cuda/build.sh)", path, symbol_names[i]);
            dlclose(handle);
            return NULL;
        }
    }
    g2e_library *library = &libraries[library_count++];
    library->path = strdup(path);
    library->handle = handle;
    library->device_status = (int (*)(char *, size_t))symbols[0];
    library->create = (void *(*)(int, int, int, int, int, int, float, char *, size_t))symbols[1];
    library->upload = (int (*)(void *, const char *, const void *, size_t, int, int, int, char *, size_t))symbols[2];
    library->forward = (int (*)(void *, const int32_t *, int, float *, char *, size_t))symbols[3];
    library->reset = (void (*)(void *))symbols[4];
    library->destroy = (void (*)(void *))symbols[5];
    library->kernel_test = (int (*)(const g2e_kernel_case *, char *, size_t))symbols[6];
    return library;
}

g2e_library *g2e_cuda_load(const char *path, char *message, size_t message_size) {
    if (!path) path = getenv("GPT2EDGE_CUDA_LIBRARY");
    if (!path) path = ".build/cuda/libgpt2edge_cuda.so";
    pthread_mutex_lock(&libraries_lock);
    g2e_library *library = load_locked(path, message, message_size);
    pthread_mutex_unlock(&libraries_lock);
    return library;
}

int g2e_cuda_device_status(const g2e_library *library, char *message, size_t message_size) {
    return library->device_status(message, message_size);
}

g2e_model *g2e_cuda_create(const g2e_library *library, int n_layer, int n_head, int n_embd, int n_inner, int n_ctx, int n_vocab,
                           float eps, char *message, size_t message_size) {
    g2e_model *model = malloc(sizeof *model);
    if (!model) { snprintf(message, message_size, "out of memory"); return NULL; }
    model->library = library;
    model->implementation = library->create(n_layer, n_head, n_embd, n_inner, n_ctx, n_vocab, eps, message, message_size);
    if (!model->implementation) { free(model); return NULL; }
    return model;
}

int g2e_cuda_upload(g2e_model *model, const char *name, const void *data, size_t bytes, int rows, int columns, int group,
                    char *message, size_t message_size) {
    return model->library->upload(model->implementation, name, data, bytes, rows, columns, group, message, message_size);
}

int g2e_cuda_forward(g2e_model *model, const int32_t *tokens, int count, float *logits, char *message, size_t message_size) {
    return model->library->forward(model->implementation, tokens, count, logits, message, message_size);
}

void g2e_cuda_reset(g2e_model *model) { model->library->reset(model->implementation); }

void g2e_cuda_destroy(g2e_model *model) {
    if (!model) return;
    model->library->destroy(model->implementation);
    free(model);
}

int g2e_cuda_kernel_test(const g2e_library *library, const g2e_kernel_case *kernel_case, char *message, size_t message_size) {
    return library->kernel_test(kernel_case, message, message_size);
}
