// The target is header-only (include/prefetch.h); SwiftPM needs one source file to build it.
#include "prefetch.h"
