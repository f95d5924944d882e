/* The hardware's limit for the chain benchmark: tanh(0.5x + 0.1) * exp(x) + x*x - |x| written by hand as
 * one OpenMP loop, built with gcc -O3 -march=native (bench_chain.py builds it). No -ffast-math: the
 * vector variants of tanhf and expf are glibc's libmvec, declared here as gcc's math.h declares them
 * only under fast-math; they keep NaN and inf semantics. */
#include <math.h>
#include <stddef.h>

#define VECTOR __attribute__((__simd__("notinbranch")))
VECTOR float (tanhf)(float);
VECTOR float (expf)(float);

void chain(const float* restrict x, float* restrict y, ptrdiff_t n, int threads) {
  #pragma omp parallel for simd num_threads(threads) schedule(static)
  for (ptrdiff_t i = 0; i < n; i++) {
    const float v = x[i];
    y[i] = tanhf(0.5f * v + 0.1f) * expf(v) + v * v - fabsf(v);
  }
}
