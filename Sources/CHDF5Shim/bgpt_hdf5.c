#include "bgpt_hdf5.h"
#include <hdf5.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

void bgpt_h5_silence_errors(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

bgpt_hid bgpt_h5_create_file(const char *path) {
    return H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
}

bgpt_hid bgpt_h5_open_file_readonly(const char *path) {
    htri_t ok = H5Fis_hdf5(path);
    if (ok <= 0) return -1;
    return H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
}

int bgpt_h5_close_file(bgpt_hid file) { return H5Fclose(file) < 0 ? -1 : 0; }

bgpt_hid bgpt_h5_create_group(bgpt_hid loc, const char *name) {
    hid_t gcpl = H5Pcreate(H5P_GROUP_CREATE);
    if (gcpl < 0) return -1;
    H5Pset_link_creation_order(gcpl, H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED);
    hid_t g = H5Gcreate2(loc, name, H5P_DEFAULT, gcpl, H5P_DEFAULT);
    H5Pclose(gcpl);
    return g;
}

bgpt_hid bgpt_h5_open_group(bgpt_hid loc, const char *name) { return H5Gopen2(loc, name, H5P_DEFAULT); }
int bgpt_h5_close_group(bgpt_hid group) { return H5Gclose(group) < 0 ? -1 : 0; }

int bgpt_h5_exists(bgpt_hid loc, const char *name) {
    htri_t r = H5Lexists(loc, name, H5P_DEFAULT);
    return r < 0 ? -1 : (int)r;
}

int64_t bgpt_h5_child_count(bgpt_hid group) {
    H5G_info_t info;
    if (H5Gget_info(group, &info) < 0) return -1;
    return (int64_t)info.nlinks;
}

int64_t bgpt_h5_child_name(bgpt_hid group, uint64_t idx, char *buf, size_t cap) {
    ssize_t n = H5Lget_name_by_idx(group, ".", H5_INDEX_CRT_ORDER, H5_ITER_INC, idx, buf, cap, H5P_DEFAULT);
    if (n < 0) n = H5Lget_name_by_idx(group, ".", H5_INDEX_NAME, H5_ITER_INC, idx, buf, cap, H5P_DEFAULT);
    return (int64_t)n;
}

int bgpt_h5_write_float_2d(bgpt_hid loc, const char *name, const float *data,
                           uint64_t rows, uint64_t cols, int compress) {
    hsize_t dims[2] = {rows, cols};
    hid_t space = H5Screate_simple(2, dims, NULL);
    if (space < 0) return -1;
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    if (compress && rows > 0 && cols > 0 && H5Zfilter_avail(H5Z_FILTER_DEFLATE) > 0) {
        H5Pset_chunk(dcpl, 2, dims);
        H5Pset_shuffle(dcpl);
        H5Pset_deflate(dcpl, 4);
    }
    hid_t ds = H5Dcreate2(loc, name, H5T_IEEE_F32LE, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    H5Pclose(dcpl);
    if (ds < 0) { H5Sclose(space); return -1; }
    herr_t st = 0;
    if (rows > 0 && cols > 0) st = H5Dwrite(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, data);
    H5Dclose(ds);
    H5Sclose(space);
    return st < 0 ? -1 : 0;
}

int bgpt_h5_dataset_dims(bgpt_hid loc, const char *name, uint64_t *dims, int max_rank) {
    hid_t ds = H5Dopen2(loc, name, H5P_DEFAULT);
    if (ds < 0) return -1;
    hid_t space = H5Dget_space(ds);
    int rank = H5Sget_simple_extent_ndims(space);
    if (rank >= 0 && rank <= max_rank) {
        hsize_t d[32];
        H5Sget_simple_extent_dims(space, d, NULL);
        for (int i = 0; i < rank; i++) dims[i] = d[i];
    } else rank = -1;
    H5Sclose(space);
    H5Dclose(ds);
    return rank;
}

int bgpt_h5_read_float(bgpt_hid loc, const char *name, float *out, uint64_t count) {
    hid_t ds = H5Dopen2(loc, name, H5P_DEFAULT);
    if (ds < 0) return -1;
    hid_t space = H5Dget_space(ds);
    hssize_t n = H5Sget_simple_extent_npoints(space);
    H5Sclose(space);
    hid_t type = H5Dget_type(ds);
    H5T_class_t cls = H5Tget_class(type);
    H5Tclose(type);
    if (n < 0 || (uint64_t)n != count || (cls != H5T_FLOAT && cls != H5T_INTEGER)) { H5Dclose(ds); return -2; }
    herr_t st = count == 0 ? 0 : H5Dread(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, out);
    H5Dclose(ds);
    return st < 0 ? -1 : 0;
}

static hid_t vlen_utf8(void) {
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    return t;
}

int bgpt_h5_write_string_array(bgpt_hid loc, const char *name, const char *const *strings, uint64_t count) {
    hsize_t dims[1] = {count};
    hid_t space = H5Screate_simple(1, dims, NULL);
    hid_t t = vlen_utf8();
    hid_t ds = H5Dcreate2(loc, name, t, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    herr_t st = -1;
    if (ds >= 0) {
        st = count == 0 ? 0 : H5Dwrite(ds, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, strings);
        H5Dclose(ds);
    }
    H5Tclose(t);
    H5Sclose(space);
    return st < 0 ? -1 : 0;
}

void bgpt_free_strings(char **strings, uint64_t count) {
    if (!strings) return;
    for (uint64_t i = 0; i < count; i++) free(strings[i]);
    free(strings);
}

int bgpt_h5_read_string_array(bgpt_hid loc, const char *name, char ***out_strings, uint64_t *out_count) {
    *out_strings = NULL; *out_count = 0;
    hid_t ds = H5Dopen2(loc, name, H5P_DEFAULT);
    if (ds < 0) return -1;
    hid_t ftype = H5Dget_type(ds);
    hid_t space = H5Dget_space(ds);
    hssize_t n = H5Sget_simple_extent_npoints(space);
    int rc = -2;
    if (H5Tget_class(ftype) == H5T_STRING && n >= 0) {
        char **result = calloc((size_t)(n > 0 ? n : 1), sizeof(char *));
        if (H5Tis_variable_str(ftype) > 0) {
            char **raw = calloc((size_t)(n > 0 ? n : 1), sizeof(char *));
            hid_t mem = vlen_utf8();
            if (n == 0 || H5Dread(ds, mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, raw) >= 0) {
                for (hssize_t i = 0; i < n; i++) result[i] = strdup(raw[i] ? raw[i] : "");
                if (n > 0) H5Dvlen_reclaim(mem, space, H5P_DEFAULT, raw);
                rc = 0;
            }
            H5Tclose(mem);
            free(raw);
        } else {
            size_t sz = H5Tget_size(ftype);
            char *buf = calloc((size_t)(n > 0 ? n : 1), sz + 1);
            hid_t mem = H5Tcopy(H5T_C_S1);
            H5Tset_size(mem, sz + 1);
            if (n == 0 || H5Dread(ds, mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0) {
                for (hssize_t i = 0; i < n; i++) {
                    char *s = buf + (size_t)i * (sz + 1);
                    s[sz] = 0;
                    result[i] = strdup(s);
                }
                rc = 0;
            }
            H5Tclose(mem);
            free(buf);
        }
        if (rc == 0) { *out_strings = result; *out_count = (uint64_t)n; }
        else free(result);
    }
    H5Sclose(space);
    H5Tclose(ftype);
    H5Dclose(ds);
    return rc;
}

int bgpt_h5_write_string_attr(bgpt_hid obj, const char *name, const char *value) {
    if (H5Aexists(obj, name) > 0) H5Adelete(obj, name);
    hid_t space = H5Screate(H5S_SCALAR);
    hid_t t = vlen_utf8();
    hid_t a = H5Acreate2(obj, name, t, space, H5P_DEFAULT, H5P_DEFAULT);
    herr_t st = -1;
    if (a >= 0) { st = H5Awrite(a, t, &value); H5Aclose(a); }
    H5Tclose(t);
    H5Sclose(space);
    return st < 0 ? -1 : 0;
}

int bgpt_h5_write_double_attr(bgpt_hid obj, const char *name, double value) {
    if (H5Aexists(obj, name) > 0) H5Adelete(obj, name);
    hid_t space = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(obj, name, H5T_IEEE_F64LE, space, H5P_DEFAULT, H5P_DEFAULT);
    herr_t st = -1;
    if (a >= 0) { st = H5Awrite(a, H5T_NATIVE_DOUBLE, &value); H5Aclose(a); }
    H5Sclose(space);
    return st < 0 ? -1 : 0;
}

int64_t bgpt_h5_attr_count(bgpt_hid obj) {
    H5O_info_t info;
    if (H5Oget_info2(obj, &info, H5O_INFO_NUM_ATTRS) < 0) return -1;
    return (int64_t)info.num_attrs;
}

int64_t bgpt_h5_attr_name(bgpt_hid obj, uint64_t idx, char *buf, size_t cap) {
    return (int64_t)H5Aget_name_by_idx(obj, ".", H5_INDEX_NAME, H5_ITER_INC, idx, buf, cap, H5P_DEFAULT);
}

int bgpt_h5_attr_kind(bgpt_hid obj, const char *name) {
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    if (a < 0) return -1;
    hid_t t = H5Aget_type(a);
    H5T_class_t cls = H5Tget_class(t);
    H5Tclose(t);
    H5Aclose(a);
    if (cls == H5T_STRING) return 1;
    if (cls == H5T_FLOAT || cls == H5T_INTEGER) return 2;
    return 0;
}

int bgpt_h5_read_string_attr(bgpt_hid obj, const char *name, char **out) {
    *out = NULL;
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    if (a < 0) return -1;
    hid_t ftype = H5Aget_type(a);
    int rc = -2;
    if (H5Tget_class(ftype) == H5T_STRING) {
        if (H5Tis_variable_str(ftype) > 0) {
            hid_t mem = vlen_utf8();
            char *raw = NULL;
            if (H5Aread(a, mem, &raw) >= 0) {
                *out = strdup(raw ? raw : "");
                hid_t space = H5Aget_space(a);
                H5Dvlen_reclaim(mem, space, H5P_DEFAULT, &raw);
                H5Sclose(space);
                rc = 0;
            }
            H5Tclose(mem);
        } else {
            size_t sz = H5Tget_size(ftype);
            char *buf = calloc(sz + 1, 1);
            hid_t mem = H5Tcopy(H5T_C_S1);
            H5Tset_size(mem, sz + 1);
            if (H5Aread(a, mem, buf) >= 0) { buf[sz] = 0; *out = buf; rc = 0; } else free(buf);
            H5Tclose(mem);
        }
    }
    H5Tclose(ftype);
    H5Aclose(a);
    return rc;
}

int bgpt_h5_read_double_attr(bgpt_hid obj, const char *name, double *out) {
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    if (a < 0) return -1;
    hid_t space = H5Aget_space(a);
    hssize_t n = H5Sget_simple_extent_npoints(space);
    H5Sclose(space);
    int rc = -2;
    if (n >= 1) {
        double *buf = calloc((size_t)n, sizeof(double));
        if (H5Aread(a, H5T_NATIVE_DOUBLE, buf) >= 0) { *out = buf[0]; rc = 0; }
        free(buf);
    }
    H5Aclose(a);
    return rc;
}

int bgpt_gunzip(const uint8_t *input, size_t input_len, uint8_t **output, size_t *output_len) {
    *output = NULL; *output_len = 0;
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (inflateInit2(&zs, 15 + 32) != Z_OK) return -1;  // +32: detect gzip or zlib header
    size_t cap = input_len * 4 + 1024, used = 0;
    uint8_t *buf = malloc(cap);
    zs.next_in = (Bytef *)input;
    zs.avail_in = (uInt)input_len;
    int ret = Z_OK;
    for (;;) {
        if (used == cap) { cap *= 2; buf = realloc(buf, cap); }
        zs.next_out = buf + used;
        zs.avail_out = (uInt)(cap - used);
        ret = inflate(&zs, Z_NO_FLUSH);
        used = cap - zs.avail_out;
        if (ret == Z_STREAM_END) {
            // Concatenated gzip members: continue with the next one.
            if (zs.avail_in > 0) { inflateReset(&zs); continue; }
            break;
        }
        if (ret != Z_OK && ret != Z_BUF_ERROR) break;
        if (ret == Z_BUF_ERROR && zs.avail_in == 0) break;  // truncated input
    }
    inflateEnd(&zs);
    if (ret != Z_STREAM_END) { free(buf); return -2; }
    *output = buf;
    *output_len = used;
    return 0;
}

int bgpt_inflate_raw(const uint8_t *input, size_t input_len, uint8_t *out, size_t out_len) {
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (inflateInit2(&zs, -15) != Z_OK) return -1;
    zs.next_in = (Bytef *)input;
    zs.avail_in = (uInt)input_len;
    zs.next_out = out;
    zs.avail_out = (uInt)out_len;
    int ret = inflate(&zs, Z_FINISH);
    size_t produced = out_len - zs.avail_out;
    inflateEnd(&zs);
    return (ret == Z_STREAM_END && produced == out_len) ? 0 : -2;
}

uint32_t bgpt_crc32(const uint8_t *data, size_t len) { return (uint32_t)crc32(0L, data, (uInt)len); }
void bgpt_free(void *p) { free(p); }
