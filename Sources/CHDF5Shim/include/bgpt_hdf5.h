// Small C helpers over HDF5 and zlib for the MotionData target.
//
// HDF5's type and property-list constants (H5T_NATIVE_FLOAT, H5P_DEFAULT, ...) are macros
// over C globals that Swift cannot import safely, so every call that needs one lives here.
// All functions return a negative value on failure and never print (errors are silenced
// with bgpt_h5_silence_errors()).
#ifndef BGPT_HDF5_H
#define BGPT_HDF5_H

#include <stddef.h>
#include <stdint.h>

typedef int64_t bgpt_hid;

/// Turns off HDF5's automatic error-stack printing for this process.
void bgpt_h5_silence_errors(void);

bgpt_hid bgpt_h5_create_file(const char *path);
bgpt_hid bgpt_h5_open_file_readonly(const char *path);
int bgpt_h5_close_file(bgpt_hid file);

/// Creates a group that tracks the creation order of its links (so trials keep their order).
bgpt_hid bgpt_h5_create_group(bgpt_hid loc, const char *name);
bgpt_hid bgpt_h5_open_group(bgpt_hid loc, const char *name);
int bgpt_h5_close_group(bgpt_hid group);
/// 1 when `name` is a link in `loc`, 0 when not, negative on error.
int bgpt_h5_exists(bgpt_hid loc, const char *name);

/// Number of links in a group; negative on error.
int64_t bgpt_h5_child_count(bgpt_hid group);
/// Name of the idx-th child (in creation order when tracked, else by name) into buf.
/// Returns the full length of the name (may exceed cap-1: then call again larger), negative on error.
int64_t bgpt_h5_child_name(bgpt_hid group, uint64_t idx, char *buf, size_t cap);

/// Writes a rows x cols float32 dataset (chunked and deflate-compressed when `compress`).
int bgpt_h5_write_float_2d(bgpt_hid loc, const char *name, const float *data,
                           uint64_t rows, uint64_t cols, int compress);
/// Rank and dimensions (up to 8) of a dataset; returns the rank or negative.
int bgpt_h5_dataset_dims(bgpt_hid loc, const char *name, uint64_t *dims, int max_rank);
/// Reads a whole numeric dataset converted to float32 into out (capacity `count` elements).
int bgpt_h5_read_float(bgpt_hid loc, const char *name, float *out, uint64_t count);

/// Writes a 1-D dataset of variable-length UTF-8 strings.
int bgpt_h5_write_string_array(bgpt_hid loc, const char *name, const char *const *strings, uint64_t count);
/// Reads a 1-D string dataset (fixed or variable length). On success *out_strings is a
/// malloc'ed array of *out_count malloc'ed NUL-terminated strings: free with bgpt_free_strings.
int bgpt_h5_read_string_array(bgpt_hid loc, const char *name, char ***out_strings, uint64_t *out_count);
void bgpt_free_strings(char **strings, uint64_t count);

/// Attributes on an object (file, group or dataset).
int bgpt_h5_write_string_attr(bgpt_hid obj, const char *name, const char *value);
int bgpt_h5_write_double_attr(bgpt_hid obj, const char *name, double value);
/// Number of attributes; negative on error.
int64_t bgpt_h5_attr_count(bgpt_hid obj);
/// Name of the idx-th attribute (by name order); returns full length or negative.
int64_t bgpt_h5_attr_name(bgpt_hid obj, uint64_t idx, char *buf, size_t cap);
/// 1 string, 2 number (integer or float), 0 other, negative on error.
int bgpt_h5_attr_kind(bgpt_hid obj, const char *name);
/// Reads a scalar string attribute (fixed or variable length) into a malloc'ed string
/// (free with free()); negative on error.
int bgpt_h5_read_string_attr(bgpt_hid obj, const char *name, char **out);
/// Reads a numeric attribute (first element) as double.
int bgpt_h5_read_double_attr(bgpt_hid obj, const char *name, double *out);

/// Decompresses gzip or zlib data (auto-detected) into a malloc'ed buffer.
/// Returns 0 on success, negative on a corrupt or truncated stream.
int bgpt_gunzip(const uint8_t *input, size_t input_len, uint8_t **output, size_t *output_len);
/// Inflates a raw deflate stream (zip entries) of known uncompressed size into out.
int bgpt_inflate_raw(const uint8_t *input, size_t input_len, uint8_t *out, size_t out_len);
/// CRC-32 as zip and gzip compute it.
uint32_t bgpt_crc32(const uint8_t *data, size_t len);
void bgpt_free(void *p);

#endif
