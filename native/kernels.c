/*
 * modelfab native kernels: the few elementwise loops of a training step that are bound by exp(), compiled with
 * -O3 -ffast-math so the compiler vectorises them with glibc's SIMD expf (libmvec).
 *
 * JS API (loaded by src/engine/ops/native-kernels.ts; every op keeps a plain TypeScript path beside it):
 *   softmaxRows(x, y, rows, cols, causalOffset, logz)
 *       y[r, j] = exp(x[r, j] - max_r) / sum_r for j < visible(r), 0 beyond; visible(r) = cols when causalOffset < 0,
 *       else min(cols, causalOffset + r + 1). x and y may be the same array. logz (Float32Array or null) receives
 *       max_r + log(sum_r) per row.
 *   sigmoid(x, y, n)        y = 1 / (1 + exp(-x))
 *
 * Arguments are validated: a wrong type or an array shorter than the sizes need throws; nothing is read or
 * written out of bounds.
 */
#define NAPI_VERSION 8
#include <node_api.h>
#include <math.h>
#include <stdio.h>
#include <stddef.h>

static int f32_arg(napi_env env, napi_value v, const char *fn, const char *what, float **data, size_t *len) {
  bool is;
  napi_typedarray_type type;
  void *ptr;
  char msg[128];
  if (napi_is_typedarray(env, v, &is) != napi_ok || !is ||
      napi_get_typedarray_info(env, v, &type, len, &ptr, NULL, NULL) != napi_ok || type != napi_float32_array) {
    snprintf(msg, sizeof msg, "%s: %s must be a Float32Array", fn, what);
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
    return 0;
  }
  *data = (float *)ptr;
  return 1;
}

static int int_arg(napi_env env, napi_value v, const char *fn, const char *what, long min, long *out) {
  double d;
  char msg[128];
  if (napi_get_value_double(env, v, &d) != napi_ok || d != floor(d) || d < (double)min || d > 2147483647.0) {
    snprintf(msg, sizeof msg, "%s: %s must be an integer >= %ld", fn, what, min);
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", msg);
    return 0;
  }
  *out = (long)d;
  return 1;
}

static napi_value throw_short(napi_env env, const char *fn, const char *what, size_t have, size_t need) {
  char msg[160];
  snprintf(msg, sizeof msg, "%s: %s has %zu elements, needs %zu", fn, what, have, need);
  napi_throw_range_error(env, "ERR_OUT_OF_RANGE", msg);
  return NULL;
}

static void softmax_row(const float *restrict x, float *y, long cols, long visible, float *logz) {
  float m = x[0];
  for (long j = 1; j < visible; j++) m = x[j] > m ? x[j] : m;
  float s = 0.f;
  for (long j = 0; j < visible; j++) { float e = expf(x[j] - m); y[j] = e; s += e; }
  const float inv = 1.f / s;
  for (long j = 0; j < visible; j++) y[j] *= inv;
  for (long j = visible; j < cols; j++) y[j] = 0.f;
  if (logz) *logz = m + logf(s);
}

static napi_value softmax_rows(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 6) {
    napi_throw_type_error(env, "ERR_MISSING_ARGS", "softmaxRows(x, y, rows, cols, causalOffset, logz) takes 6 arguments");
    return NULL;
  }
  float *x, *y, *logz = NULL;
  size_t nx, ny, nl = 0;
  long rows, cols, offset;
  if (!f32_arg(env, argv[0], "softmaxRows", "x", &x, &nx) || !f32_arg(env, argv[1], "softmaxRows", "y", &y, &ny) ||
      !int_arg(env, argv[2], "softmaxRows", "rows", 0, &rows) || !int_arg(env, argv[3], "softmaxRows", "cols", 1, &cols) ||
      !int_arg(env, argv[4], "softmaxRows", "causalOffset", -1, &offset)) return NULL;
  napi_valuetype t;
  napi_typeof(env, argv[5], &t);
  if (t != napi_null && t != napi_undefined && !f32_arg(env, argv[5], "softmaxRows", "logz", &logz, &nl)) return NULL;
  const size_t need = (size_t)rows * (size_t)cols;
  if (nx < need) return throw_short(env, "softmaxRows", "x", nx, need);
  if (ny < need) return throw_short(env, "softmaxRows", "y", ny, need);
  if (logz && nl < (size_t)rows) return throw_short(env, "softmaxRows", "logz", nl, (size_t)rows);
  for (long r = 0; r < rows; r++) {
    long visible = offset < 0 ? cols : (offset + r + 1 < cols ? offset + r + 1 : cols);
    softmax_row(x + r * cols, y + r * cols, cols, visible, logz ? logz + r : NULL);
  }
  return NULL;
}

static napi_value sigmoid(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 3) {
    napi_throw_type_error(env, "ERR_MISSING_ARGS", "sigmoid(x, y, n) takes 3 arguments");
    return NULL;
  }
  float *x, *y;
  size_t nx, ny;
  long n;
  if (!f32_arg(env, argv[0], "sigmoid", "x", &x, &nx) || !f32_arg(env, argv[1], "sigmoid", "y", &y, &ny) ||
      !int_arg(env, argv[2], "sigmoid", "n", 0, &n)) return NULL;
  if (nx < (size_t)n) return throw_short(env, "sigmoid", "x", nx, (size_t)n);
  if (ny < (size_t)n) return throw_short(env, "sigmoid", "y", ny, (size_t)n);
  for (long i = 0; i < n; i++) y[i] = 1.f / (1.f + expf(-x[i]));
  return NULL;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "softmaxRows", NAPI_AUTO_LENGTH, softmax_rows, NULL, &fn);
  napi_set_named_property(env, exports, "softmaxRows", fn);
  napi_create_function(env, "sigmoid", NAPI_AUTO_LENGTH, sigmoid, NULL, &fn);
  napi_set_named_property(env, exports, "sigmoid", fn);
  return exports;
}
