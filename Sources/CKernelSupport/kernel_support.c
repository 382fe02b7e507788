// The target is header-only (include/kernel_support.h); SwiftPM needs one source file to build it.
#include "kernel_support.h"
