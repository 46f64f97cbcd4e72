// Thin C wrappers over libpng and libjpeg(-turbo): both report errors by longjmp, which
// Swift cannot catch, so the setjmp lives here and errors come back as text.
#include "cimage.h"
#include <png.h>
#include <jpeglib.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>

void cimage_free(void *p) { free(p); }

// ---- PNG ----
struct png_source { const unsigned char *data; size_t size, offset; };
struct png_failure { jmp_buf jump; char *err; size_t errlen; };

static void png_read_memory(png_structp png, png_bytep out, png_size_t count) {
    struct png_source *src = png_get_io_ptr(png);
    if (count > src->size - src->offset) png_error(png, "file ended early (truncated PNG)");
    memcpy(out, src->data + src->offset, count);
    src->offset += count;
}

static void png_fail(png_structp png, png_const_charp message) {
    struct png_failure *f = png_get_error_ptr(png);
    snprintf(f->err, f->errlen, "PNG: %s", message);
    longjmp(f->jump, 1);
}

static void png_warn(png_structp png, png_const_charp message) { (void)png; (void)message; }

static int decode_png(const unsigned char *data, size_t size, void **pixels,
                      int *width, int *height, int *bits, char *err, size_t errlen) {
    struct png_failure failure = { .err = err, .errlen = errlen };
    struct png_source src = { data, size, 0 };
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &failure, png_fail, png_warn);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info) { snprintf(err, errlen, "PNG: out of memory"); png_destroy_read_struct(&png, NULL, NULL); return 1; }
    unsigned char *volatile buffer = NULL;
    png_bytep *volatile rows = NULL;
    if (setjmp(failure.jump)) {
        free(buffer); free(rows);
        png_destroy_read_struct(&png, &info, NULL);
        return 1;
    }
    png_set_read_fn(png, &src, png_read_memory);
    png_set_user_limits(png, 1 << 15, 1 << 15);
    png_read_info(png, info);
    int depth = png_get_bit_depth(png, info), type = png_get_color_type(png, info);
    png_set_expand(png);                       // palette → RGB, grey < 8 bits → 8 bits, tRNS → alpha
    if (type == PNG_COLOR_TYPE_GRAY || type == PNG_COLOR_TYPE_GRAY_ALPHA) png_set_gray_to_rgb(png);
    png_set_strip_alpha(png);
    int out_bits = depth == 16 ? 16 : 8;
    if (out_bits == 16) {
        uint16_t probe = 1;
        if (*(unsigned char *)&probe == 1) png_set_swap(png);  // PNG is big-endian
    }
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    png_uint_32 w = png_get_image_width(png, info), h = png_get_image_height(png, info);
    size_t stride = png_get_rowbytes(png, info);
    if (stride != (size_t)w * 3 * (out_bits / 8)) png_error(png, "unexpected row size after conversion");
    buffer = malloc(stride * h);
    rows = malloc(sizeof(png_bytep) * h);
    if (!buffer || !rows) png_error(png, "out of memory");
    for (png_uint_32 y = 0; y < h; y++) rows[y] = buffer + y * stride;
    png_read_image(png, rows);
    png_read_end(png, NULL);
    free(rows);
    png_destroy_read_struct(&png, &info, NULL);
    *pixels = buffer; *width = (int)w; *height = (int)h; *bits = out_bits;
    return 0;
}

struct png_sink { unsigned char *data; size_t size, capacity; };

static void png_write_memory(png_structp png, png_bytep data, png_size_t count) {
    struct png_sink *sink = png_get_io_ptr(png);
    if (count > sink->capacity - sink->size) {
        size_t capacity = sink->capacity ? sink->capacity : 1 << 16;
        while (count > capacity - sink->size) {
            if (capacity > SIZE_MAX / 2) png_error(png, "out of memory");
            capacity *= 2;
        }
        unsigned char *grown = realloc(sink->data, capacity);
        if (!grown) png_error(png, "out of memory");
        sink->data = grown; sink->capacity = capacity;
    }
    memcpy(sink->data + sink->size, data, count);
    sink->size += count;
}

static void png_flush_memory(png_structp png) { (void)png; }

int cimage_encode_png(const void *pixels, int width, int height, int channels, int bits,
                      void **out, size_t *outSize, char *err, size_t errlen) {
    struct png_failure failure = { .err = err, .errlen = errlen };
    struct png_sink sink = { NULL, 0, 0 };
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &failure, png_fail, png_warn);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info) { snprintf(err, errlen, "PNG: out of memory"); png_destroy_write_struct(&png, NULL); return 1; }
    if (setjmp(failure.jump)) {
        free(sink.data);
        png_destroy_write_struct(&png, &info);
        return 1;
    }
    png_set_write_fn(png, &sink, png_write_memory, png_flush_memory);
    png_set_IHDR(png, info, (png_uint_32)width, (png_uint_32)height, bits,
                 channels == 3 ? PNG_COLOR_TYPE_RGB : PNG_COLOR_TYPE_GRAY,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_set_sRGB_gAMA_and_cHRM(png, info, PNG_sRGB_INTENT_PERCEPTUAL);
    // zlib's fastest level: a 16-bit 4K frame took 72 s to write at the default (6), 15 s at
    // 1, on a loaded 2-core machine, where its tiled inference took about 30 s.
    png_set_compression_level(png, 1);
    png_write_info(png, info);
    if (bits == 16) {
        uint16_t probe = 1;
        if (*(unsigned char *)&probe == 1) png_set_swap(png);  // PNG is big-endian
    }
    size_t stride = (size_t)width * (size_t)channels * (size_t)(bits / 8);
    for (int y = 0; y < height; y++) png_write_row(png, (png_const_bytep)pixels + (size_t)y * stride);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    *out = sink.data; *outSize = sink.size;
    return 0;
}

// ---- JPEG ----
struct jpeg_failure { struct jpeg_error_mgr mgr; jmp_buf jump; };

static void jpeg_fail(j_common_ptr cinfo) {
    struct jpeg_failure *f = (struct jpeg_failure *)cinfo->err;
    longjmp(f->jump, 1);
}

static void jpeg_silence(j_common_ptr cinfo, int level) { (void)cinfo; (void)level; }

static int decode_jpeg(const unsigned char *data, size_t size, void **pixels,
                       int *width, int *height, int *bits, char *err, size_t errlen) {
    struct jpeg_decompress_struct cinfo;
    struct jpeg_failure failure;
    unsigned char *volatile buffer = NULL;
    cinfo.err = jpeg_std_error(&failure.mgr);
    failure.mgr.error_exit = jpeg_fail;
    failure.mgr.emit_message = jpeg_silence;
    if (setjmp(failure.jump)) {
        char message[JMSG_LENGTH_MAX];
        failure.mgr.format_message((j_common_ptr)&cinfo, message);
        snprintf(err, errlen, "JPEG: %s", message);
        free(buffer);
        jpeg_destroy_decompress(&cinfo);
        return 1;
    }
    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, data, (unsigned long)size);
    jpeg_read_header(&cinfo, TRUE);
    cinfo.out_color_space = JCS_RGB;
    jpeg_start_decompress(&cinfo);
    size_t stride = (size_t)cinfo.output_width * 3;
    buffer = malloc(stride * cinfo.output_height);
    if (!buffer) { snprintf(err, errlen, "JPEG: out of memory"); jpeg_destroy_decompress(&cinfo); return 1; }
    while (cinfo.output_scanline < cinfo.output_height) {
        JSAMPROW row = buffer + cinfo.output_scanline * stride;
        jpeg_read_scanlines(&cinfo, &row, 1);
    }
    if (failure.mgr.num_warnings > 0) {
        snprintf(err, errlen, "JPEG: corrupt data (%ld warnings)", failure.mgr.num_warnings);
        free(buffer);
        jpeg_destroy_decompress(&cinfo);
        return 1;
    }
    jpeg_finish_decompress(&cinfo);
    *width = (int)cinfo.output_width; *height = (int)cinfo.output_height; *bits = 8;
    jpeg_destroy_decompress(&cinfo);
    *pixels = buffer;
    return 0;
}

int cimage_decode(const unsigned char *data, size_t size, void **pixels,
                  int *width, int *height, int *bits, char *err, size_t errlen) {
    static const unsigned char png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    if (size >= 8 && memcmp(data, png_sig, 8) == 0) return decode_png(data, size, pixels, width, height, bits, err, errlen);
    if (size >= 3 && data[0] == 0xff && data[1] == 0xd8 && data[2] == 0xff) return decode_jpeg(data, size, pixels, width, height, bits, err, errlen);
    snprintf(err, errlen, "not a PNG or JPEG file");
    return 1;
}
