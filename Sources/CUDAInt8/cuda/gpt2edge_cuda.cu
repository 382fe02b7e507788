// gpt2-edge's optional CUDA int8 path: the whole GPT-2 forward pass on an NVIDIA GPU, for .gqz files whose
// matrices are int8 groups (formats/GQZ.md §4: fp16 scales for every row's groups, then int8 quants padded to
// whole groups; Sources/WeightFormat (WeightScheme, QuantizedGroup) is the Swift side of that layout, which this
// file cannot import and follows). Built by tools/cuda/build.sh into libgpt2edge_cuda.so, which Sources/CUDAInt8 loads with dlopen;
// every exported function is `g2e_impl_*` and reports failures as text in (message, message_size).
//
// Kernels, each checked on its own against a scalar loop through g2e_impl_kernel_test (Tests/GPT2Tests/
// CUDAKernelTests.swift), and together through the forward pass against the CPU int8 path (CUDAPathTests.swift):
//   embed            token row (int8, dequantized) + position row
//   layer_norm       one block per row, biased variance as PyTorch
//   quantize_rows    activations to int8 per group (scale max|x|/127), as llama.cpp's q8_0
//   matmul_q8        int8 × int8 with __dp4a, one warp per (output, token); groups meet both scales in float (decode)
//   matmul_q8_tiled  the same sum for a block of prompt tokens, 64 outputs × 32 tokens per thread block, staged
//                    through shared memory so each weight is read once per 32 tokens
//   attention        causal, one block per (head, token) over the device KV cache (float32)
//   gelu_new, add    elementwise
#include <cuda_runtime.h>
#include <cuda_fp16.h>
#include <vector>

#include "cuda_int8.h"   // g2e_kernel_case (tools/cuda/build.sh passes -I Sources/CUDAInt8/include)
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

namespace {

struct Matrix {              // int8 groups, the .gqz payload as it is
    int rows = 0, columns = 0, group = 0, groups = 0;
    __half *scales = nullptr;   // rows × groups
    int8_t *quants = nullptr;   // rows × groups·group
};

struct Layer {
    float *ln1_g = nullptr, *ln1_b = nullptr, *attn_b = nullptr, *proj_b = nullptr;
    float *ln2_g = nullptr, *ln2_b = nullptr, *fc_b = nullptr, *fc_proj_b = nullptr;
    Matrix attn, proj, fc, fc_proj;
    float *keys = nullptr, *values = nullptr;   // n_ctx × n_embd each
};

}  // namespace

struct g2e_model {
    int n_layer, n_head, n_embd, n_inner, n_ctx, n_vocab;
    float eps;
    Layer *layers;
    Matrix wte, lm_head;          // lm_head.rows == 0 when tied to wte
    float *wpe = nullptr, *lnf_g = nullptr, *lnf_b = nullptr;
    int length = 0;               // positions in the KV cache
    // Scratch for up to `capacity` tokens.
    int capacity = 0;
    int *tokens = nullptr;
    float *x = nullptr, *normed = nullptr, *qkv = nullptr, *attended = nullptr, *projected = nullptr, *hidden = nullptr, *logits = nullptr;
    int8_t *xq = nullptr;
    float *xs = nullptr;
};

static int fail(char *message, size_t size, const char *what, cudaError_t error) {
    snprintf(message, size, "%s: %s", what, cudaGetErrorString(error));
    return 1;
}

#define CHECK(call, what) do { cudaError_t e_ = (call); if (e_ != cudaSuccess) return fail(message, message_size, what, e_); } while (0)

// ---------------------------------------------------------------- kernels

__global__ void embed(const int *tokens, int past, const __half *scales, const int8_t *quants, int groups, int group,
                      const float *wpe, int width, float *out) {
    int t = blockIdx.x;
    int token = tokens[t];
    for (int c = threadIdx.x; c < width; c += blockDim.x) {
        float w = __half2float(scales[(size_t)token * groups + c / group]) * quants[(size_t)token * groups * group + c];
        out[(size_t)t * width + c] = w + wpe[(size_t)(past + t) * width + c];
    }
}

__global__ void layer_norm(const float *in, const float *gain, const float *bias, int width, float eps, float *out) {
    extern __shared__ float shared[];
    const float *x = in + (size_t)blockIdx.x * width;
    float *y = out + (size_t)blockIdx.x * width;
    float sum = 0;
    for (int i = threadIdx.x; i < width; i += blockDim.x) sum += x[i];
    shared[threadIdx.x] = sum;
    __syncthreads();
    for (int s = blockDim.x / 2; s > 0; s >>= 1) { if (threadIdx.x < s) shared[threadIdx.x] += shared[threadIdx.x + s]; __syncthreads(); }
    float mean = shared[0] / width;
    __syncthreads();
    float squares = 0;
    for (int i = threadIdx.x; i < width; i += blockDim.x) { float d = x[i] - mean; squares += d * d; }
    shared[threadIdx.x] = squares;
    __syncthreads();
    for (int s = blockDim.x / 2; s > 0; s >>= 1) { if (threadIdx.x < s) shared[threadIdx.x] += shared[threadIdx.x + s]; __syncthreads(); }
    float inverse = rsqrtf(shared[0] / width + eps);
    for (int i = threadIdx.x; i < width; i += blockDim.x) y[i] = (x[i] - mean) * inverse * gain[i] + bias[i];
}

// One thread per (token, group): scale = max|x| / 127, q = round(x / scale); padding past `columns` is 0.
__global__ void quantize_rows(const float *x, int columns, int group, int groups, int tokens, int8_t *q, float *scales) {
    int index = blockIdx.x * blockDim.x + threadIdx.x;
    if (index >= tokens * groups) return;
    int t = index / groups, g = index % groups;
    const float *row = x + (size_t)t * columns;
    float maximum = 0;
    for (int j = 0; j < group; j++) { int c = g * group + j; if (c < columns) maximum = fmaxf(maximum, fabsf(row[c])); }
    float scale = maximum / 127.0f, inverse = scale > 0 ? 1.0f / scale : 0.0f;
    scales[index] = scale;
    for (int j = 0; j < group; j++) {
        int c = g * group + j;
        q[(size_t)t * groups * group + c] = c < columns ? (int8_t)rintf(row[c] * inverse) : 0;
    }
}

// y[t, o] = bias[o] + Σ_g ws[o, g] · xs[t, g] · Σ_j w[o, g·G + j] · xq[t, g·G + j]; one warp per (o, t).
// Each lane loads 16 bytes at a time, consecutive lanes consecutive chunks, so a warp reads 512 contiguous bytes
// of the row per step (a chunk never straddles two groups: G is a multiple of 16).
__global__ void matmul_q8(const __half *scales, const int8_t *quants, int rows, int groups, int group,
                          const int8_t *xq, const float *xs, const float *bias, int tokens, float *y) {
    int warp = (blockIdx.x * blockDim.x + threadIdx.x) / 32, lane = threadIdx.x % 32;
    int t = blockIdx.y;
    if (warp >= rows || t >= tokens) return;
    const int4 *w = (const int4 *)(quants + (size_t)warp * groups * group);
    const int4 *x = (const int4 *)(xq + (size_t)t * groups * group);
    int chunks = groups * group / 16, chunks_per_group = group / 16;
    float sum = 0;
    for (int c = lane; c < chunks; c += 32) {
        int4 a = w[c], b = x[c];
        int products = __dp4a(a.x, b.x, 0);
        products = __dp4a(a.y, b.y, products);
        products = __dp4a(a.z, b.z, products);
        products = __dp4a(a.w, b.w, products);
        int g = c / chunks_per_group;
        sum += (float)products * __half2float(scales[(size_t)warp * groups + g]) * xs[(size_t)t * groups + g];
    }
    for (int offset = 16; offset > 0; offset >>= 1) sum += __shfl_down_sync(0xffffffff, sum, offset);
    if (lane == 0) y[(size_t)t * rows + warp] = sum + (bias ? bias[warp] : 0.0f);
}

// The same y[t, o] as matmul_q8, for several tokens: a block of 16 × 16 threads computes 64 outputs × 32 tokens
// (4 × 2 per thread), one group at a time, with the group's int8 weights and activations staged in shared memory
// (rows padded by one word against bank conflicts), so each weight byte leaves global memory once per 32 tokens.
constexpr int TILE_ROWS = 64, TILE_TOKENS = 32;

__global__ void matmul_q8_tiled(const __half *scales, const int8_t *quants, int rows, int groups, int group,
                                const int8_t *xq, const float *xs, const float *bias, int tokens, float *y) {
    extern __shared__ int staged[];   // TILE_ROWS weight rows, then TILE_TOKENS activation rows, `stride` words each
    int words = group / 4, stride = words + 1;
    int *w_tile = staged, *x_tile = staged + TILE_ROWS * stride;
    int tx = threadIdx.x, ty = threadIdx.y, id = ty * 16 + tx;
    int o0 = blockIdx.x * TILE_ROWS, t0 = blockIdx.y * TILE_TOKENS;
    float sum[4][2] = {};
    for (int g = 0; g < groups; g++) {
        for (int i = id; i < TILE_ROWS * words; i += 256) {
            int r = i / words, k = i % words, o = o0 + r;
            w_tile[r * stride + k] = o < rows ? ((const int *)(quants + ((size_t)o * groups + g) * group))[k] : 0;
        }
        for (int i = id; i < TILE_TOKENS * words; i += 256) {
            int r = i / words, k = i % words, t = t0 + r;
            x_tile[r * stride + k] = t < tokens ? ((const int *)(xq + ((size_t)t * groups + g) * group))[k] : 0;
        }
        __syncthreads();
        for (int a = 0; a < 4; a++) {
            int o = o0 + tx + 16 * a;
            float ws = o < rows ? __half2float(scales[(size_t)o * groups + g]) : 0.0f;
            for (int b = 0; b < 2; b++) {
                int t = t0 + ty + 16 * b;
                if (t >= tokens) continue;
                const int *wr = w_tile + (tx + 16 * a) * stride, *xr = x_tile + (ty + 16 * b) * stride;
                int products = 0;
                for (int k = 0; k < words; k++) products = __dp4a(wr[k], xr[k], products);
                sum[a][b] += (float)products * ws * xs[(size_t)t * groups + g];
            }
        }
        __syncthreads();
    }
    for (int a = 0; a < 4; a++)
        for (int b = 0; b < 2; b++) {
            int o = o0 + tx + 16 * a, t = t0 + ty + 16 * b;
            if (o < rows && t < tokens) y[(size_t)t * rows + o] = sum[a][b] + (bias ? bias[o] : 0.0f);
        }
}

// Query t (position past + t) of head h attends to positions 0…past + t; one block per (h, t).
__global__ void attention(const float *qkv, int width, int heads, int head_dim, int past, const float *keys, const float *values,
                          float scale, float *out) {
    extern __shared__ float scores[];   // past + t + 1 floats, then blockDim.x for reductions
    int h = blockIdx.x, t = blockIdx.y;
    int visible = past + t + 1;
    float *reduce = scores + visible;
    const float *q = qkv + (size_t)t * 3 * width + h * head_dim;
    for (int j = threadIdx.x; j < visible; j += blockDim.x) {
        const float *k = keys + (size_t)j * width + h * head_dim;
        float s = 0;
        for (int d = 0; d < head_dim; d++) s += q[d] * k[d];
        scores[j] = s * scale;
    }
    __syncthreads();
    float maximum = -INFINITY;
    for (int j = threadIdx.x; j < visible; j += blockDim.x) maximum = fmaxf(maximum, scores[j]);
    reduce[threadIdx.x] = maximum;
    __syncthreads();
    for (int s = blockDim.x / 2; s > 0; s >>= 1) { if (threadIdx.x < s) reduce[threadIdx.x] = fmaxf(reduce[threadIdx.x], reduce[threadIdx.x + s]); __syncthreads(); }
    maximum = reduce[0];
    __syncthreads();
    float sum = 0;
    for (int j = threadIdx.x; j < visible; j += blockDim.x) { scores[j] = expf(scores[j] - maximum); sum += scores[j]; }
    reduce[threadIdx.x] = sum;
    __syncthreads();
    for (int s = blockDim.x / 2; s > 0; s >>= 1) { if (threadIdx.x < s) reduce[threadIdx.x] += reduce[threadIdx.x + s]; __syncthreads(); }
    float inverse = 1.0f / reduce[0];
    for (int d = threadIdx.x; d < head_dim; d += blockDim.x) {
        float value = 0;
        for (int j = 0; j < visible; j++) value += scores[j] * values[(size_t)j * width + h * head_dim + d];
        out[(size_t)t * width + h * head_dim + d] = value * inverse;
    }
}

__global__ void store_kv(const float *qkv, int width, int tokens, int past, float *keys, float *values) {
    int t = blockIdx.x;
    for (int c = threadIdx.x; c < width; c += blockDim.x) {
        keys[(size_t)(past + t) * width + c] = qkv[(size_t)t * 3 * width + width + c];
        values[(size_t)(past + t) * width + c] = qkv[(size_t)t * 3 * width + 2 * width + c];
    }
}

__global__ void gelu_new(float *x, size_t count) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < count) { float v = x[i]; x[i] = 0.5f * v * (1.0f + tanhf(0.7978845608028654f * (v + 0.044715f * v * v * v))); }
}

__global__ void add(float *x, const float *y, size_t count) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < count) x[i] += y[i];
}

// ---------------------------------------------------------------- host side

static int linear(g2e_model *m, const Matrix &w, const float *bias, const float *in, int tokens, float *out, char *message, size_t message_size) {
    int threads = 256;
    quantize_rows<<<(tokens * w.groups + threads - 1) / threads, threads>>>(in, w.columns, w.group, w.groups, tokens, m->xq, m->xs);
    if (tokens == 1) {   // decode: reading the weights once is the whole cost; a warp per output streams them
        dim3 grid((w.rows * 32 + threads - 1) / threads, tokens);
        matmul_q8<<<grid, threads>>>(w.scales, w.quants, w.rows, w.groups, w.group, m->xq, m->xs, bias, tokens, out);
        CHECK(cudaGetLastError(), "matmul_q8");
    } else {
        dim3 grid((w.rows + TILE_ROWS - 1) / TILE_ROWS, (tokens + TILE_TOKENS - 1) / TILE_TOKENS);
        size_t shared = (size_t)(TILE_ROWS + TILE_TOKENS) * (w.group / 4 + 1) * 4;
        matmul_q8_tiled<<<grid, dim3(16, 16), shared>>>(w.scales, w.quants, w.rows, w.groups, w.group, m->xq, m->xs, bias, tokens, out);
        CHECK(cudaGetLastError(), "matmul_q8_tiled");
    }
    return 0;
}

static int reserve(g2e_model *m, int tokens, char *message, size_t message_size) {
    if (tokens <= m->capacity) return 0;
    cudaFree(m->tokens); cudaFree(m->x); cudaFree(m->normed); cudaFree(m->qkv); cudaFree(m->attended);
    cudaFree(m->projected); cudaFree(m->hidden); cudaFree(m->xq); cudaFree(m->xs);
    size_t c = m->n_embd, widest = m->n_inner > c ? m->n_inner : c;
    CHECK(cudaMalloc(&m->tokens, tokens * sizeof(int)), "cudaMalloc");
    CHECK(cudaMalloc(&m->x, tokens * c * 4), "cudaMalloc");
    CHECK(cudaMalloc(&m->normed, tokens * c * 4), "cudaMalloc");
    CHECK(cudaMalloc(&m->qkv, tokens * 3 * c * 4), "cudaMalloc");
    CHECK(cudaMalloc(&m->attended, tokens * c * 4), "cudaMalloc");
    CHECK(cudaMalloc(&m->projected, tokens * c * 4), "cudaMalloc");
    CHECK(cudaMalloc(&m->hidden, tokens * m->n_inner * 4), "cudaMalloc");
    CHECK(cudaMalloc(&m->xq, tokens * (widest + 128)), "cudaMalloc");
    CHECK(cudaMalloc(&m->xs, tokens * (widest / 32 + 4) * 4), "cudaMalloc");
    m->capacity = tokens;
    return 0;
}

extern "C" {

int g2e_impl_device_status(char *message, size_t message_size) {
    int count = 0;
    cudaError_t error = cudaGetDeviceCount(&count);
    if (error != cudaSuccess) return fail(message, message_size, "cudaGetDeviceCount", error);
    if (count == 0) { snprintf(message, message_size, "no CUDA device is visible"); return 1; }
    cudaDeviceProp properties;
    CHECK(cudaGetDeviceProperties(&properties, 0), "cudaGetDeviceProperties");
    if (properties.major * 10 + properties.minor < 75) {
        snprintf(message, message_size, "%s (compute %d.%d) is older than the library's targets (7.5 and newer; tools/cuda/build.sh --arch)",
                 properties.name, properties.major, properties.minor);
        return 1;
    }
    snprintf(message, message_size, "%s, compute %d.%d, %.1f GiB", properties.name, properties.major, properties.minor,
             properties.totalGlobalMem / 1073741824.0);
    return 0;
}

g2e_model *g2e_impl_create(int n_layer, int n_head, int n_embd, int n_inner, int n_ctx, int n_vocab, float eps,
                           char *message, size_t message_size) {
    g2e_model *m = (g2e_model *)calloc(1, sizeof(g2e_model));
    m->n_layer = n_layer; m->n_head = n_head; m->n_embd = n_embd; m->n_inner = n_inner; m->n_ctx = n_ctx; m->n_vocab = n_vocab; m->eps = eps;
    m->layers = new Layer[n_layer];
    for (int i = 0; i < n_layer; i++) {
        if (cudaMalloc(&m->layers[i].keys, (size_t)n_ctx * n_embd * 4) != cudaSuccess ||
            cudaMalloc(&m->layers[i].values, (size_t)n_ctx * n_embd * 4) != cudaSuccess) {
            snprintf(message, message_size, "cannot allocate the KV cache on the GPU");
            return nullptr;
        }
    }
    if (cudaMalloc(&m->logits, (size_t)n_vocab * 4) != cudaSuccess) { snprintf(message, message_size, "cannot allocate logits"); return nullptr; }
    return m;
}

// Checks an int8 .gqz matrix payload (fp16 scales for every row's groups, then the quants) against its shape and
// copies it to the device as `target`.
static int upload_matrix(Matrix *target, const char *name, const void *data, size_t bytes, int rows, int columns, int group,
                         char *message, size_t message_size) {
    if (group <= 0 || group % 16) { snprintf(message, message_size, "%s: group size %d is not a multiple of 16", name, group); return 1; }
    target->rows = rows; target->columns = columns; target->group = group; target->groups = (columns + group - 1) / group;
    size_t scale_bytes = (size_t)rows * target->groups * 2, quant_bytes = (size_t)rows * target->groups * group;
    if (bytes != scale_bytes + quant_bytes) { snprintf(message, message_size, "%s: %zu bytes, expected %zu", name, bytes, scale_bytes + quant_bytes); return 1; }
    CHECK(cudaMalloc(&target->scales, scale_bytes), "cudaMalloc");
    CHECK(cudaMalloc(&target->quants, quant_bytes), "cudaMalloc");
    CHECK(cudaMemcpy(target->scales, data, scale_bytes, cudaMemcpyHostToDevice), "cudaMemcpy");
    CHECK(cudaMemcpy(target->quants, (const char *)data + scale_bytes, quant_bytes, cudaMemcpyHostToDevice), "cudaMemcpy");
    return 0;
}

// Uploads one tensor by its .gqz name: f32 vectors/tables as floats, matrices as the int8 payload (rows, columns, group).
int g2e_impl_upload(g2e_model *m, const char *name, const void *data, size_t bytes, int rows, int columns, int group,
                    char *message, size_t message_size) {
    auto vector = [&](float **target) -> int {
        CHECK(cudaMalloc(target, bytes), "cudaMalloc");
        CHECK(cudaMemcpy(*target, data, bytes, cudaMemcpyHostToDevice), "cudaMemcpy");
        return 0;
    };
    auto matrix = [&](Matrix *target) { return upload_matrix(target, name, data, bytes, rows, columns, group, message, message_size); };
    if (!strcmp(name, "wte.weight")) return matrix(&m->wte);
    if (!strcmp(name, "lm_head.weight")) return matrix(&m->lm_head);
    if (!strcmp(name, "wpe.weight")) return vector(&m->wpe);
    if (!strcmp(name, "ln_f.weight")) return vector(&m->lnf_g);
    if (!strcmp(name, "ln_f.bias")) return vector(&m->lnf_b);
    int layer = -1, used = 0;
    if (sscanf(name, "h.%d.%n", &layer, &used) != 1 || layer < 0 || layer >= m->n_layer) {
        snprintf(message, message_size, "unknown tensor %s", name);
        return 1;
    }
    Layer &l = m->layers[layer];
    const char *role = name + used;
    if (!strcmp(role, "ln_1.weight")) return vector(&l.ln1_g);
    if (!strcmp(role, "ln_1.bias")) return vector(&l.ln1_b);
    if (!strcmp(role, "attn.c_attn.weight")) return matrix(&l.attn);
    if (!strcmp(role, "attn.c_attn.bias")) return vector(&l.attn_b);
    if (!strcmp(role, "attn.c_proj.weight")) return matrix(&l.proj);
    if (!strcmp(role, "attn.c_proj.bias")) return vector(&l.proj_b);
    if (!strcmp(role, "ln_2.weight")) return vector(&l.ln2_g);
    if (!strcmp(role, "ln_2.bias")) return vector(&l.ln2_b);
    if (!strcmp(role, "mlp.c_fc.weight")) return matrix(&l.fc);
    if (!strcmp(role, "mlp.c_fc.bias")) return vector(&l.fc_b);
    if (!strcmp(role, "mlp.c_proj.weight")) return matrix(&l.fc_proj);
    if (!strcmp(role, "mlp.c_proj.bias")) return vector(&l.fc_proj_b);
    snprintf(message, message_size, "unknown tensor %s", name);
    return 1;
}

// Runs `count` tokens at positions length…, appends their keys and values, and writes the last position's logits.
int g2e_impl_forward(g2e_model *m, const int *tokens, int count, float *logits, char *message, size_t message_size) {
    if (count <= 0 || m->length + count > m->n_ctx) {
        snprintf(message, message_size, "%d positions needed but the context holds %d", m->length + count, m->n_ctx);
        return 1;
    }
    if (reserve(m, count, message, message_size)) return 1;
    int c = m->n_embd, past = m->length, head_dim = c / m->n_head;
    CHECK(cudaMemcpy(m->tokens, tokens, count * sizeof(int), cudaMemcpyHostToDevice), "cudaMemcpy tokens");
    embed<<<count, 256>>>(m->tokens, past, m->wte.scales, m->wte.quants, m->wte.groups, m->wte.group, m->wpe, c, m->x);
    size_t elements = (size_t)count * c, inner = (size_t)count * m->n_inner;
    for (int i = 0; i < m->n_layer; i++) {
        Layer &l = m->layers[i];
        layer_norm<<<count, 256, 256 * 4>>>(m->x, l.ln1_g, l.ln1_b, c, m->eps, m->normed);
        if (linear(m, l.attn, l.attn_b, m->normed, count, m->qkv, message, message_size)) return 1;
        store_kv<<<count, 256>>>(m->qkv, c, count, past, l.keys, l.values);
        size_t shared = (size_t)(past + count + 128) * 4;
        attention<<<dim3(m->n_head, count), 128, shared>>>(m->qkv, c, m->n_head, head_dim, past, l.keys, l.values,
                                                            1.0f / sqrtf((float)head_dim), m->attended);
        if (linear(m, l.proj, l.proj_b, m->attended, count, m->projected, message, message_size)) return 1;
        add<<<(elements + 255) / 256, 256>>>(m->x, m->projected, elements);
        layer_norm<<<count, 256, 256 * 4>>>(m->x, l.ln2_g, l.ln2_b, c, m->eps, m->normed);
        if (linear(m, l.fc, l.fc_b, m->normed, count, m->hidden, message, message_size)) return 1;
        gelu_new<<<(inner + 255) / 256, 256>>>(m->hidden, inner);
        if (linear(m, l.fc_proj, l.fc_proj_b, m->hidden, count, m->projected, message, message_size)) return 1;
        add<<<(elements + 255) / 256, 256>>>(m->x, m->projected, elements);
    }
    const float *last = m->x + (size_t)(count - 1) * c;
    layer_norm<<<1, 256, 256 * 4>>>(last, m->lnf_g, m->lnf_b, c, m->eps, m->normed);
    const Matrix &head = m->lm_head.rows ? m->lm_head : m->wte;
    if (linear(m, head, nullptr, m->normed, 1, m->logits, message, message_size)) return 1;
    CHECK(cudaMemcpy(logits, m->logits, (size_t)m->n_vocab * 4, cudaMemcpyDeviceToHost), "forward");
    m->length += count;
    return 0;
}

void g2e_impl_reset(g2e_model *m) { m->length = 0; }

// One kernel on host arrays (cuda_int8.h describes each case), for tests against the CPU references.
int g2e_impl_kernel_test(const g2e_kernel_case *c, char *message, size_t message_size) {
    std::vector<void *> device;
    auto release = [&] { for (void *p : device) cudaFree(p); };
    auto allocate = [&](size_t bytes) -> void * {
        void *p = nullptr;
        if (cudaMalloc(&p, bytes ? bytes : 4) != cudaSuccess) return nullptr;
        device.push_back(p);
        return p;
    };
    auto upload = [&](const void *host, size_t bytes) -> void * {
        void *p = allocate(bytes);
        if (p && host) cudaMemcpy(p, host, bytes, cudaMemcpyHostToDevice);
        return p;
    };
    int status = 0;
    size_t output_count = 0;
    float *out = nullptr;
    if (!strcmp(c->kernel, "linear")) {
        Matrix w;
        status = upload_matrix(&w, "linear", c->weights, c->weight_bytes, c->rows, c->columns, c->group, message, message_size);
        device.push_back(w.scales);
        device.push_back(w.quants);
        if (status) { release(); return status; }
        g2e_model m = {};
        m.xq = (int8_t *)allocate((size_t)c->tokens * w.groups * w.group);
        m.xs = (float *)allocate((size_t)c->tokens * w.groups * 4);
        float *in = (float *)upload(c->input, (size_t)c->tokens * c->columns * 4);
        float *bias = c->bias ? (float *)upload(c->bias, (size_t)c->rows * 4) : nullptr;
        output_count = (size_t)c->tokens * c->rows;
        out = (float *)allocate(output_count * 4);
        status = linear(&m, w, bias, in, c->tokens, out, message, message_size);
    } else if (!strcmp(c->kernel, "layer_norm")) {
        output_count = (size_t)c->rows * c->columns;
        float *in = (float *)upload(c->input, output_count * 4);
        float *gain = (float *)upload(c->gain, (size_t)c->columns * 4), *bias = (float *)upload(c->bias, (size_t)c->columns * 4);
        out = (float *)allocate(output_count * 4);
        layer_norm<<<c->rows, 256, 256 * 4>>>(in, gain, bias, c->columns, c->eps, out);
    } else if (!strcmp(c->kernel, "gelu_new")) {
        output_count = (size_t)c->rows * c->columns;
        out = (float *)upload(c->input, output_count * 4);
        gelu_new<<<(output_count + 255) / 256, 256>>>(out, output_count);
    } else if (!strcmp(c->kernel, "attention")) {
        size_t positions = (size_t)c->past + c->tokens;
        float *qkv = (float *)upload(c->input, (size_t)c->tokens * 3 * c->columns * 4);
        float *keys = (float *)upload(c->keys, positions * c->columns * 4), *values = (float *)upload(c->values, positions * c->columns * 4);
        output_count = (size_t)c->tokens * c->columns;
        out = (float *)allocate(output_count * 4);
        attention<<<dim3(c->heads, c->tokens), 128, (positions + 128) * 4>>>(qkv, c->columns, c->heads, c->head_dim, c->past,
                                                                             keys, values, c->scale, out);
    } else {
        snprintf(message, message_size, "unknown kernel %s", c->kernel);
        return 1;
    }
    if (status == 0) {
        cudaError_t error = cudaGetLastError();
        if (error == cudaSuccess) error = cudaMemcpy(c->output, out, output_count * 4, cudaMemcpyDeviceToHost);
        if (error != cudaSuccess) status = fail(message, message_size, c->kernel, error);
    }
    release();
    return status;
}

void g2e_impl_destroy(g2e_model *m) {
    if (!m) return;
    for (int i = 0; i < m->n_layer; i++) {
        Layer &l = m->layers[i];
        float *vectors[] = {l.ln1_g, l.ln1_b, l.attn_b, l.proj_b, l.ln2_g, l.ln2_b, l.fc_b, l.fc_proj_b, l.keys, l.values};
        for (float *v : vectors) cudaFree(v);
        Matrix *matrices[] = {&l.attn, &l.proj, &l.fc, &l.fc_proj};
        for (Matrix *w : matrices) { cudaFree(w->scales); cudaFree(w->quants); }
    }
    delete[] m->layers;
    cudaFree(m->wte.scales); cudaFree(m->wte.quants); cudaFree(m->lm_head.scales); cudaFree(m->lm_head.quants);
    cudaFree(m->wpe); cudaFree(m->lnf_g); cudaFree(m->lnf_b); cudaFree(m->logits);
    cudaFree(m->tokens); cudaFree(m->x); cudaFree(m->normed); cudaFree(m->qkv); cudaFree(m->attended);
    cudaFree(m->projected); cudaFree(m->hidden); cudaFree(m->xq); cudaFree(m->xs);
    free(m);
}

}  // extern "C"
