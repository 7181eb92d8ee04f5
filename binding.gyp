{
  # Built by scripts/build-native.mjs (npm install / npm run build), which finds OpenBLAS and passes its
  # directories as -Dopenblas_include=... -Dopenblas_libdir=...; both may be empty for the compiler's defaults.
  "variables": {
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
      "target_name": "modelfab_gemm",
      "sources": ["native/gemm.c"],
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
}
