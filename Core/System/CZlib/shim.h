#include <zlib.h>

// inflateInit2 is a macro Swift cannot call; -15 window bits: raw deflate, as in a zip entry.
static inline int czlib_inflate_init_raw(z_streamp stream) { return inflateInit2(stream, -15); }
