// Most of this target is header-only (include/kernel_support.h); this file holds what need not inline.
#include "kernel_support.h"
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

int64_t gpt2edge_thread_wait_nanoseconds(void) {
#if defined(__linux__)
    // "/proc/thread-self/schedstat": nanoseconds on the CPU, nanoseconds runnable but waiting for one, time slices.
    int file = open("/proc/thread-self/schedstat", O_RDONLY | O_CLOEXEC);
    if (file < 0) return -1;
    char text[96];
    ssize_t length = read(file, text, sizeof text - 1);
    close(file);
    if (length <= 0) return -1;
    text[length] = 0;
    char *end;
    strtoll(text, &end, 10);
    if (end == text) return -1;
    char *waitText = end;
    long long wait = strtoll(waitText, &end, 10);
    return end == waitText ? -1 : (int64_t)wait;
#else
    return -1;
#endif
}
