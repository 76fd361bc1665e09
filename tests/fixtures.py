"""Small valid profile texts shared by the bad-input tests (each test breaks one field)."""

GOOD_HARDWARE = """\
id: test-gpu
name: Test GPU
vendor: test
memory_gb: 80
hbm_bandwidth_tb_s: 2.0
bf16_dense_tflops: 300
sources:
  - fields: [memory_gb, hbm_bandwidth_tb_s, bf16_dense_tflops]
    citation: "test datasheet"
"""
