/* rope.c: rotary frequencies, shared by the inference and training forwards. */
#include "internal.h"

#include <math.h>

/* Rotary frequencies for a chunk ending at position `end` (dynamic scaling
 * depends on how long the sequence has grown). */
void hw_rope_inv_freq(float *inv_freq, const hw_config *cfg, int rot, int end) {
    float theta = cfg->rope_theta;
    if (cfg->rope_scaling == HW_ROPE_SCALE_DYNAMIC && end > cfg->rope_orig_ctx) {
        float f = cfg->rope_factor;
        theta *= powf(f * end / cfg->rope_orig_ctx - (f - 1.0f), (float)rot / (rot - 2));
    }
    for (int i = 0; i < rot / 2; i++) {
        float fr = 1.0f / powf(theta, (float)(2 * i) / (float)rot);
        if (cfg->rope_scaling == HW_ROPE_SCALE_LINEAR) fr /= cfg->rope_factor;
        if (cfg->rope_scaling == HW_ROPE_SCALE_LLAMA3) {
            /* Llama 3.1: long wavelengths slowed by factor, short kept, a smooth ramp between. */
            const float pi = 3.14159265358979f;
            float wavelen = 2.0f * pi / fr;
            float low_wl = cfg->rope_orig_ctx / cfg->rope_low_freq_factor;
            float high_wl = cfg->rope_orig_ctx / cfg->rope_high_freq_factor;
            if (wavelen > low_wl) {
                fr /= cfg->rope_factor;
            } else if (wavelen >= high_wl) {
                float smooth = (cfg->rope_orig_ctx / wavelen - cfg->rope_low_freq_factor) /
                               (cfg->rope_high_freq_factor - cfg->rope_low_freq_factor);
                fr = (1.0f - smooth) * fr / cfg->rope_factor + smooth * fr;
            }
        }
        inv_freq[i] = fr;
    }
}

