// OpenEXR frames through OpenEXR's C API (OpenEXRCore), from and to memory: the batch layer
// reads whole files itself (never blocking on a FIFO) and writes outputs atomically.
#include "cexr.h"
#include <OpenEXR/openexr.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { max_side = 1 << 15 };

/// A read or write stream over memory, and where the library's last error message goes.
struct stream {
    const unsigned char *data;  // reading
    unsigned char *buffer;      // writing: grown as the library writes at its offsets
    size_t size, capacity;
    char *err;
    size_t errlen;
};

static void on_error(exr_const_context_t ctxt, exr_result_t code, const char *msg) {
    struct stream *s = NULL;
    if (exr_get_user_data(ctxt, (void **)&s) != EXR_ERR_SUCCESS || !s) return;
    snprintf(s->err, s->errlen, "EXR: %s", msg && *msg ? msg : exr_get_default_error_message(code));
}

static int64_t read_memory(exr_const_context_t ctxt, void *user, void *buffer, uint64_t sz, uint64_t offset,
                           exr_stream_error_func_ptr_t error_cb) {
    (void)ctxt; (void)error_cb;
    struct stream *s = user;
    if (offset >= s->size) return 0;
    size_t n = sz < s->size - offset ? (size_t)sz : s->size - (size_t)offset;
    memcpy(buffer, s->data + offset, n);
    return (int64_t)n;
}

static int64_t size_memory(exr_const_context_t ctxt, void *user) {
    (void)ctxt;
    return (int64_t)((struct stream *)user)->size;
}

static int64_t write_memory(exr_const_context_t ctxt, void *user, const void *buffer, uint64_t sz, uint64_t offset,
                            exr_stream_error_func_ptr_t error_cb) {
    struct stream *s = user;
    if (offset > SIZE_MAX - sz) return error_cb(ctxt, EXR_ERR_OUT_OF_MEMORY, "output too large"), -1;
    size_t end = (size_t)(offset + sz);
    if (end > s->capacity) {
        size_t capacity = s->capacity ? s->capacity : 1 << 16;
        while (capacity < end) {
            if (capacity > SIZE_MAX / 2) return error_cb(ctxt, EXR_ERR_OUT_OF_MEMORY, "output too large"), -1;
            capacity *= 2;
        }
        unsigned char *grown = realloc(s->buffer, capacity);
        if (!grown) return error_cb(ctxt, EXR_ERR_OUT_OF_MEMORY, "out of memory"), -1;
        memset(grown + s->capacity, 0, capacity - s->capacity);
        s->buffer = grown; s->capacity = capacity;
    }
    memcpy(s->buffer + offset, buffer, (size_t)sz);
    if (end > s->size) s->size = end;
    return (int64_t)sz;
}

/// Opens EXR bytes for reading; on failure err holds why.
static exr_result_t open_read(struct stream *s, exr_context_t *ctxt) {
    static const unsigned char magic[4] = {0x76, 0x2f, 0x31, 0x01};
    if (s->size < 4 || memcmp(s->data, magic, 4) != 0) {
        snprintf(s->err, s->errlen, "EXR: not an OpenEXR file (no magic number)");
        return EXR_ERR_FILE_BAD_HEADER;
    }
    exr_context_initializer_t init = EXR_DEFAULT_CONTEXT_INITIALIZER;
    init.error_handler_fn = on_error;
    init.user_data = s;
    init.read_fn = read_memory;
    init.size_fn = size_memory;
    init.max_image_width = init.max_image_height = max_side;
    init.max_tile_width = init.max_tile_height = max_side;
    init.flags = EXR_CONTEXT_FLAG_SILENT_HEADER_PARSE;
    exr_result_t rc = exr_start_read(ctxt, "<memory>", &init);
    if (rc != EXR_ERR_SUCCESS && !s->err[0]) snprintf(s->err, s->errlen, "EXR: %s", exr_get_default_error_message(rc));
    return rc;
}

static const char *compression_name(exr_compression_t c) {
    static const char *names[] = {"none", "RLE", "ZIPS", "ZIP", "PIZ", "PXR24", "B44", "B44A", "DWAA", "DWAB"};
    return (unsigned)c < sizeof names / sizeof *names ? names[c] : "unknown";
}

int cexr_header(const unsigned char *data, size_t size, char *out, size_t outlen, cexr_windows *windows) {
    struct stream s = { .data = data, .size = size, .err = out, .errlen = outlen };
    out[0] = 0;
    exr_context_t ctxt = NULL;
    const exr_attr_chlist_t *channels = NULL;
    exr_attr_box2i_t dw, display;
    exr_result_t rc = open_read(&s, &ctxt);
    if (rc == EXR_ERR_SUCCESS && !(rc = exr_get_channels(ctxt, 0, &channels)) && !(rc = exr_get_data_window(ctxt, 0, &dw))
        && !(rc = exr_get_display_window(ctxt, 0, &display))) {
        size_t used = 0;
        for (int i = 0; i < channels->num_channels && used < outlen; i++)
            used += (size_t)snprintf(out + used, outlen - used, "%s%s", i ? "," : "", channels->entries[i].name.str);
        *windows = (cexr_windows){ {dw.min.x, dw.min.y, dw.max.x, dw.max.y}, {display.min.x, display.min.y, display.max.x, display.max.y} };
    } else if (!out[0]) {
        snprintf(out, outlen, "EXR: %s", exr_get_default_error_message(rc));
    }
    exr_finish(&ctxt);
    return rc != EXR_ERR_SUCCESS;
}

/// How a part's pixels split into chunks: scanline blocks of `lines` rows (nx = 1), or tiles.
struct grid { int tiled, lines, nx, ny; uint32_t tile_w, tile_h; };

static exr_result_t chunk_grid(exr_const_context_t ctxt, int part, exr_storage_t storage, int width, int height,
                               struct grid *g) {
    *g = (struct grid){ .tiled = storage == EXR_STORAGE_TILED, .lines = 1, .nx = 1 };
    exr_result_t rc;
    if (!g->tiled) {
        rc = exr_get_scanlines_per_chunk(ctxt, part, &g->lines);
        if (rc == EXR_ERR_SUCCESS && g->lines < 1) rc = EXR_ERR_INVALID_ATTR;
        if (rc == EXR_ERR_SUCCESS) g->ny = (height + g->lines - 1) / g->lines;
        return rc;
    }
    exr_tile_level_mode_t level; exr_tile_round_mode_t round;
    rc = exr_get_tile_descriptor(ctxt, part, &g->tile_w, &g->tile_h, &level, &round);
    if (rc == EXR_ERR_SUCCESS && (g->tile_w == 0 || g->tile_h == 0)) rc = EXR_ERR_INVALID_ATTR;
    if (rc == EXR_ERR_SUCCESS) {
        g->nx = (int)(((uint32_t)width + g->tile_w - 1) / g->tile_w);
        g->ny = (int)(((uint32_t)height + g->tile_h - 1) / g->tile_h);
    }
    return rc;
}

/// Points a coding channel's user buffer at plane `plane` of `planes` (floats, width*height
/// each) at the chunk's origin (x0, y0) within the data window.
static void point_at(exr_coding_channel_info_t *ch, const float *planes, int plane, int width, int height, int x0, int y0) {
    ch->decode_to_ptr = (uint8_t *)(planes + ((size_t)plane * height + y0) * width + x0);
    ch->user_pixel_stride = 4;
    ch->user_line_stride = 4 * width;
    ch->user_data_type = EXR_PIXEL_FLOAT;
    ch->user_bytes_per_element = 4;
}

/// Reads the chunks of part 0 into `planes` (count planes of width*height floats); `which[k]`
/// is the file's channel index of plane k. Returns an exr_result_t.
static exr_result_t read_chunks(exr_context_t ctxt, exr_storage_t storage, exr_attr_box2i_t dw, int count,
                                const int *which, float *planes) {
    int width = dw.max.x - dw.min.x + 1, height = dw.max.y - dw.min.y + 1;
    exr_decode_pipeline_t decoder = EXR_DECODE_PIPELINE_INITIALIZER;
    struct grid g;
    exr_result_t rc = chunk_grid(ctxt, 0, storage, width, height, &g);
    int started = 0;
    for (int ty = 0; rc == EXR_ERR_SUCCESS && ty < g.ny; ty++) {
        for (int tx = 0; rc == EXR_ERR_SUCCESS && tx < g.nx; tx++) {
            exr_chunk_info_t cinfo;
            rc = g.tiled ? exr_read_tile_chunk_info(ctxt, 0, tx, ty, 0, 0, &cinfo)
                         : exr_read_scanline_chunk_info(ctxt, 0, dw.min.y + ty * g.lines, &cinfo);
            if (rc != EXR_ERR_SUCCESS) break;
            rc = started ? exr_decoding_update(ctxt, 0, &cinfo, &decoder) : exr_decoding_initialize(ctxt, 0, &cinfo, &decoder);
            if (rc != EXR_ERR_SUCCESS) break;
            int x0 = tx * (int)g.tile_w, y0 = g.tiled ? ty * (int)g.tile_h : ty * g.lines;
            if (x0 + cinfo.width > width || y0 + cinfo.height > height) { rc = EXR_ERR_CORRUPT_CHUNK; break; }
            for (int c = 0; c < decoder.channel_count; c++) {
                decoder.channels[c].decode_to_ptr = NULL;
                for (int k = 0; k < count; k++)
                    if (which[k] == c) point_at(&decoder.channels[c], planes, k, width, height, x0, y0);
            }
            if (!started) {
                rc = exr_decoding_choose_default_routines(ctxt, 0, &decoder);
                started = 1;
            }
            if (rc == EXR_ERR_SUCCESS) rc = exr_decoding_run(ctxt, 0, &decoder);
        }
    }
    if (started) exr_decoding_destroy(ctxt, &decoder);
    return rc;
}

int cexr_decode(const unsigned char *data, size_t size, const char *const *names, int count,
                float **pixels, int *width, int *height, cexr_windows *windows, char *err, size_t errlen) {
    struct stream s = { .data = data, .size = size, .err = err, .errlen = errlen };
    err[0] = 0;
    exr_context_t ctxt = NULL;
    float *planes = NULL;
    int *which = NULL;
    exr_result_t rc = open_read(&s, &ctxt);
    if (rc != EXR_ERR_SUCCESS) goto fail;
    exr_storage_t storage;
    exr_compression_t compression;
    const exr_attr_chlist_t *channels = NULL;
    exr_attr_box2i_t dw, display;
    if ((rc = exr_get_storage(ctxt, 0, &storage)) || (rc = exr_get_compression(ctxt, 0, &compression))
        || (rc = exr_get_channels(ctxt, 0, &channels)) || (rc = exr_get_data_window(ctxt, 0, &dw))
        || (rc = exr_get_display_window(ctxt, 0, &display))) goto fail;
    if (storage != EXR_STORAGE_SCANLINE && storage != EXR_STORAGE_TILED) {
        snprintf(err, errlen, "EXR: deep images are not supported");
        goto fail;
    }
    int64_t w = (int64_t)dw.max.x - dw.min.x + 1, h = (int64_t)dw.max.y - dw.min.y + 1;
    if (w < 1 || h < 1 || w > max_side || h > max_side) {
        snprintf(err, errlen, "EXR: data window %lldx%lld is empty or over %d pixels a side", (long long)w, (long long)h, max_side);
        goto fail;
    }
    which = calloc((size_t)(count > 0 ? count : 1), sizeof *which);
    planes = malloc((size_t)count * (size_t)w * (size_t)h * sizeof *planes);
    if (!which || !planes) { snprintf(err, errlen, "EXR: out of memory for a %lldx%lld frame", (long long)w, (long long)h); goto fail; }
    for (int k = 0; k < count; k++) {
        which[k] = -1;
        for (int c = 0; c < channels->num_channels; c++)
            if (strcmp(channels->entries[c].name.str, names[k]) == 0) which[k] = c;
        if (which[k] < 0) {
            int used = snprintf(err, errlen, "EXR: no channel '%s' (the file has ", names[k]);
            for (int c = 0; c < channels->num_channels && used > 0 && (size_t)used < errlen; c++)
                used += snprintf(err + used, errlen - (size_t)used, "%s%s", c ? ", " : "", channels->entries[c].name.str);
            if (used > 0 && (size_t)used < errlen) snprintf(err + used, errlen - (size_t)used, ")");
            goto fail;
        }
        const exr_attr_chlist_entry_t *e = &channels->entries[which[k]];
        if (e->x_sampling != 1 || e->y_sampling != 1) {
            snprintf(err, errlen, "EXR: channel '%s' is subsampled (%dx%d); only full-resolution channels are read",
                     names[k], e->x_sampling, e->y_sampling);
            goto fail;
        }
    }
    rc = read_chunks(ctxt, storage, dw, count, which, planes);
    if (rc != EXR_ERR_SUCCESS) {
        if (rc == EXR_ERR_FEATURE_NOT_IMPLEMENTED)
            snprintf(err, errlen, "EXR: %s compression is not supported by this OpenEXR", compression_name(compression));
        goto fail;
    }
    exr_finish(&ctxt);
    free(which);
    *pixels = planes; *width = (int)w; *height = (int)h;
    *windows = (cexr_windows){ {dw.min.x, dw.min.y, dw.max.x, dw.max.y}, {display.min.x, display.min.y, display.max.x, display.max.y} };
    return 0;
fail:
    if (!err[0]) snprintf(err, errlen, "EXR: %s", exr_get_default_error_message(rc));
    exr_finish(&ctxt);
    free(which); free(planes);
    return 1;
}

int cexr_encode(const float *pixels, int width, int height, int count, const char *const *names, int half,
                const cexr_windows *windows, const unsigned char *header, size_t headerSize,
                void **out, size_t *outSize, char *err, size_t errlen) {
    err[0] = 0;
    if ((int64_t)windows->data[2] - windows->data[0] + 1 != width || (int64_t)windows->data[3] - windows->data[1] + 1 != height) {
        snprintf(err, errlen, "EXR: the data window is not %dx%d", width, height);
        return 1;
    }
    struct stream src = { .data = header, .size = headerSize, .err = err, .errlen = errlen };
    struct stream sink = { .err = err, .errlen = errlen };
    exr_context_t source = NULL, ctxt = NULL;
    exr_encode_pipeline_t encoder = EXR_ENCODE_PIPELINE_INITIALIZER;
    int started = 0, part = 0;
    exr_compression_t compression = EXR_COMPRESSION_ZIP;
    exr_storage_t storage = EXR_STORAGE_SCANLINE;
    uint32_t tile_w = 0, tile_h = 0;
    exr_result_t rc = EXR_ERR_SUCCESS;
    if (header && (rc = open_read(&src, &source)) == EXR_ERR_SUCCESS) {
        // The source's layout where this library writes it: its compression, its tiles (one level).
        exr_compression_t c;
        exr_tile_level_mode_t level; exr_tile_round_mode_t round;
        if (exr_get_compression(source, 0, &c) == EXR_ERR_SUCCESS && c < EXR_COMPRESSION_DWAA) compression = c;
        if (exr_get_storage(source, 0, &storage) != EXR_ERR_SUCCESS || storage != EXR_STORAGE_TILED
            || exr_get_tile_descriptor(source, 0, &tile_w, &tile_h, &level, &round) != EXR_ERR_SUCCESS)
            storage = EXR_STORAGE_SCANLINE;
    }
    if (rc != EXR_ERR_SUCCESS) goto done;
    exr_context_initializer_t init = EXR_DEFAULT_CONTEXT_INITIALIZER;
    init.error_handler_fn = on_error;
    init.user_data = &sink;
    init.write_fn = write_memory;
    if ((rc = exr_start_write(&ctxt, "<memory>", EXR_WRITE_FILE_DIRECTLY, &init))) goto done;
    exr_attr_box2i_t dw = { .min = { .x = windows->data[0], .y = windows->data[1] },
                            .max = { .x = windows->data[2], .y = windows->data[3] } };
    exr_attr_box2i_t display = { .min = { .x = windows->display[0], .y = windows->display[1] },
                                 .max = { .x = windows->display[2], .y = windows->display[3] } };
    exr_attr_v2f_t center = { .x = 0, .y = 0 };
    if ((rc = exr_add_part(ctxt, "", storage, &part))
        || (rc = exr_initialize_required_attr(ctxt, part, &display, &dw, 1.0f, &center, 1.0f, EXR_LINEORDER_INCREASING_Y, compression)))
        goto done;
    if (storage == EXR_STORAGE_TILED) rc = exr_set_tile_descriptor(ctxt, part, tile_w, tile_h, EXR_TILE_ONE_LEVEL, EXR_TILE_ROUND_DOWN);
    for (int k = 0; k < count && rc == EXR_ERR_SUCCESS; k++)
        rc = exr_add_channel(ctxt, part, names[k], half ? EXR_PIXEL_HALF : EXR_PIXEL_FLOAT, EXR_PERCEPTUALLY_LINEAR, 1, 1);
    if (rc == EXR_ERR_SUCCESS && source) rc = exr_copy_unset_attributes(ctxt, part, source, 0);
    if (rc == EXR_ERR_SUCCESS) rc = exr_write_header(ctxt);
    struct grid g;
    if (rc == EXR_ERR_SUCCESS) rc = chunk_grid(ctxt, part, storage, width, height, &g);
    for (int ty = 0; rc == EXR_ERR_SUCCESS && ty < g.ny; ty++) {
        for (int tx = 0; rc == EXR_ERR_SUCCESS && tx < g.nx; tx++) {
            exr_chunk_info_t cinfo;
            rc = g.tiled ? exr_write_tile_chunk_info(ctxt, part, tx, ty, 0, 0, &cinfo)
                         : exr_write_scanline_chunk_info(ctxt, part, dw.min.y + ty * g.lines, &cinfo);
            if (rc) break;
            rc = started ? exr_encoding_update(ctxt, part, &cinfo, &encoder) : exr_encoding_initialize(ctxt, part, &cinfo, &encoder);
            if (rc) break;
            int x0 = tx * (int)g.tile_w, y0 = g.tiled ? ty * (int)g.tile_h : ty * g.lines;
            for (int c = 0; c < encoder.channel_count; c++)
                for (int k = 0; k < count; k++)
                    if (strcmp(encoder.channels[c].channel_name, names[k]) == 0)
                        point_at(&encoder.channels[c], pixels, k, width, height, x0, y0);
            if (!started) { rc = exr_encoding_choose_default_routines(ctxt, part, &encoder); started = 1; }
            if (rc == EXR_ERR_SUCCESS) rc = exr_encoding_run(ctxt, part, &encoder);
        }
    }
    if (started) exr_encoding_destroy(ctxt, &encoder);
    if (rc == EXR_ERR_SUCCESS) { rc = exr_finish(&ctxt); ctxt = NULL; }
done:
    if (ctxt) exr_finish(&ctxt);
    if (source) exr_finish(&source);
    if (rc != EXR_ERR_SUCCESS) {
        if (!err[0]) snprintf(err, errlen, "EXR: %s", exr_get_default_error_message(rc));
        free(sink.buffer);
        return 1;
    }
    *out = sink.buffer; *outSize = sink.size;
    return 0;
}
