// The settings are a header-only inline function (include/allocator_settings.h); SwiftPM needs a source file.
#include "allocator_settings.h"
