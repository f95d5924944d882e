"""GPU execution: generated CUDA kernels (expr, schedule, codegen: pure Python, checked with nvcc on any
machine) and the CuPy runtime (kernels, cuBLAS, CUDA-graph replay), imported only where a GPU runs a plan."""
