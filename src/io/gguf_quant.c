/* gguf_quant.c: ggml's block formats to f32 (dequantisation): Q4_0, Q4_1, Q5_0, Q5_1,
 * Q8_0 (blocks of 32) and Q4_K, Q5_K, Q6_K (super-blocks of 256), as ggml-quants.c
 * defines them. The decoders live in src/core/quant_kernels.c, where the products read
 * matrices kept in these types; they equal a plain float32 implementation of the
 * specification bit for bit (tests/gguf_quant_ref.py is one, in numpy). */
#include "io/gguf.h"

hw_dtype hw_gguf_dtype(uint32_t type) {
    switch (type) {
    case HW_GGML_F16: return HW_F16;
    case HW_GGML_BF16: return HW_BF16;
    case HW_GGML_Q4_0: return HW_GQ4_0;
    case HW_GGML_Q4_1: return HW_GQ4_1;
    case HW_GGML_Q5_0: return HW_GQ5_0;
    case HW_GGML_Q5_1: return HW_GQ5_1;
    case HW_GGML_Q8_0: return HW_GQ8_0;
    case HW_GGML_Q4_K: return HW_GQ4_K;
    case HW_GGML_Q5_K: return HW_GQ5_K;
    case HW_GGML_Q6_K: return HW_GQ6_K;
    default: return HW_F32;
    }
}

bool hw_gguf_can_dequantize(uint32_t type) {
    hw_dtype t = hw_gguf_dtype(type);
    return t != HW_F32 && t != HW_F16 && t != HW_BF16;
}

void hw_gguf_dequantize(const hw_gguf_tensor *t, float *out) {
    if (!hw_gguf_can_dequantize(t->type)) return;
    hw_dtype d = hw_gguf_dtype(t->type);
    hw_dequant(d, t->data, t->numel / hw_dtype_block(d), out);
}
