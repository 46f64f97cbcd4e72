#ifndef CEXR_H
#define CEXR_H
#include <stddef.h>

/// Frame windows of an EXR part, inclusive pixel bounds: data then display window, each
/// as min x, min y, max x, max y.
typedef struct { int data[4]; int display[4]; } cexr_windows;

/// Decodes the first part of EXR bytes (flat scanline or tiled, level 0; half, float or uint
/// channels, any compression the library reads) into planar floats: the `count` channels
/// named by `names`, in that order, over the data window. On success returns 0 and sets
/// *pixels (free with cimage_free) to count*height*width floats and *windows. On failure
/// returns nonzero and writes one line naming what is wrong into err: a missing channel
/// (listing the file's), a deep or subsampled image, a truncated or corrupt file, a
/// compression the library cannot read, a frame over 32768 pixels a side.
int cexr_decode(const unsigned char *data, size_t size, const char *const *names, int count,
                float **pixels, int *width, int *height, cexr_windows *windows, char *err, size_t errlen);

/// The first part's channel names, comma-separated in the file's (sorted) order, into out and
/// its windows into *windows; returns 0, or nonzero with the reason in out.
int cexr_header(const unsigned char *data, size_t size, char *out, size_t outlen, cexr_windows *windows);

/// Encodes planar floats (count*height*width, channels named by `names`) as an EXR of half
/// (half != 0) or float channels into *out (free with cimage_free), with the given windows
/// (width and height must match the data window). When `header` (EXR bytes, may be NULL) is
/// given, its compression (unless DWA), its tile size (one level) and the attributes it has
/// that the new header does not set (chromaticities, owner, frame rate, ...) are kept; else
/// scanlines with ZIP compression. Returns 0, or nonzero with the reason in err.
int cexr_encode(const float *pixels, int width, int height, int count, const char *const *names, int half,
                const cexr_windows *windows, const unsigned char *header, size_t headerSize,
                void **out, size_t *outSize, char *err, size_t errlen);
#endif
