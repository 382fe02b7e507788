// System libzstd (Debian: libzstd-dev). ZSTD_STATIC_LINKING_ONLY is not needed: we use only the stable API.
#include <zstd.h>
