#ifndef CIMAGE_H
#define CIMAGE_H
#include <stddef.h>

/// Decodes PNG (8/16-bit, any colour type; alpha dropped, grey expanded) or JPEG bytes to
/// interleaved RGB. On success returns 0 and sets *pixels (free with cimage_free) to
/// width*height*3 samples of *bits (8: uint8, 16: native-endian uint16). On failure returns
/// nonzero and writes the reason into err.
int cimage_decode(const unsigned char *data, size_t size, void **pixels,
                  int *width, int *height, int *bits, char *err, size_t errlen);

/// Encodes interleaved samples of `bits` 8 (uint8) or 16 (native-endian uint16), channels
/// 1 = grey or 3 = RGB, as an sRGB PNG into *out (free with cimage_free). Returns 0, or
/// nonzero with the reason in err.
int cimage_encode_png(const void *pixels, int width, int height, int channels, int bits,
                      void **out, size_t *outSize, char *err, size_t errlen);

void cimage_free(void *p);

#include "cexr.h"  // OpenEXR frames
#endif
