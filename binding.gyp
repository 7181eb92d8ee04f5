{
  # Built by scripts/build-native.mjs (npm install / npm run build). The engine's own kernels need only a C compiler;
  # the OpenBLAS gemm is an extra target, built when the script finds OpenBLAS (-Dwith_openblas=1 with its
  # directories as -Dopenblas_include=... -Dopenblas_libdir=...; both may be empty for the compiler's defaults).
  "variables": {
    "with_openblas%": "0",
    "openblas_include%": "",
    "openblas_libdir%": "",
    "openblas_lib%": "openblas"
  },
  "targets": [
    {
      "target_name": "modelfab_kernels",
      "sources": ["native/kernels.c"],
      "cflags": ["-O3", "-ffast-math", "-march=native", "-std=gnu11", "-Wall", "-Wno-unused-parameter"],
      "libraries": ["-lmvec", "-lm"]
    },
    {
      # No -march: the SIMD micro-kernels carry their own target attributes and are chosen at run time (ops.c's
      # loops through target_clones). -fno-math-errno and -fno-trapping-math change no result; they let the
      # compiler vectorise sqrt and branch-free selects.
      "target_name": "modelfab_gemm",
      "sources": ["native/gemm.c", "native/pool.c", "native/sgemm.c", "native/sgemm-kernels.c", "native/attention.c", "native/ops.c"],
      "cflags": ["-O3", "-std=gnu11", "-ffp-contract=off", "-fno-math-errno", "-fno-trapping-math", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "xcode_settings": { "OTHER_CFLAGS": ["-O3", "-std=gnu11", "-ffp-contract=off", "-fno-math-errno", "-fno-trapping-math"] },
      "libraries": ["-lpthread", "-lm"]
    }
  ],
  "conditions": [
    ["with_openblas==1", {
      "targets": [
        {
          "target_name": "modelfab_openblas",
          "sources": ["native/openblas.c"],
          "cflags": ["-O2", "-std=gnu11", "-Wall", "-Wextra", "-Wno-unused-parameter"],
          "xcode_settings": { "OTHER_CFLAGS": ["-O2", "-std=gnu11"] },
          "conditions": [
            ["openblas_include!=''", { "include_dirs": ["<(openblas_include)"] }],
            ["openblas_libdir!=''", {
              "libraries": ["-L<(openblas_libdir)", "-Wl,-rpath,<(openblas_libdir)", "-l<(openblas_lib)"]
            }, {
              "libraries": ["-l<(openblas_lib)"]
            }]
          ]
        }
      ]
    }]
  ]
}
