/* test_hfconfig.c: config.json of each family to hw_config, defaults, and
 * every kind of bad config. */
#include "check.h"
#include "hf_files.h"
#include "io/hfconfig.h"

static hw_status parse(hw_config *c, const char *json) {
    return hw_hf_config_parse(c, json, strlen(json), "dir/config.json");
}

/* The published gpt2 config.json, trimmed of keys headwise ignores. */
static void test_gpt2(void) {
    hw_config c;
    hw_status st = parse(&c, "{\"activation_function\": \"gelu_new\", \"architectures\": "
                             "[\"GPT2LMHeadModel\"], \"bos_token_id\": 50256, \"eos_token_id\": 50256,"
                             "\"layer_norm_epsilon\": 1e-05, \"n_ctx\": 1024, \"n_embd\": 768, "
                             "\"n_head\": 12, \"n_layer\": 12, \"n_positions\": 1024, "
                             "\"vocab_size\": 50257, \"model_type\": \"gpt2\"}");
    CHECK(st == HW_OK, "%s", hw_last_error());
    CHECK(strcmp(c.arch, "gpt2") == 0, "arch %s", c.arch);
    CHECK(c.d_model == 768 && c.n_layer == 12 && c.n_head == 12 && c.n_kv_head == 12, "dims");
    CHECK(c.head_dim == 64 && c.d_ff == 3072 && c.vocab_size == 50257 && c.n_ctx == 1024, "dims2");
    CHECK(c.norm == HW_NORM_LAYER && c.norm_eps == 1e-5f && c.norm_bias, "norm");
    CHECK(c.pos == HW_POS_LEARNED && c.act == HW_ACT_GELU_TANH, "pos, act");
    CHECK(c.qkv_bias && c.out_bias && c.mlp_bias && !c.parallel_residual, "biases");
    CHECK(c.tied_embeddings && c.bos_id == 50256 && c.eos_id == 50256, "tied, tokens");
    /* n_inner, exact GELU, untied. */
    st = parse(&c, "{\"architectures\":[\"GPT2LMHeadModel\"],\"n_embd\":64,\"n_head\":4,\"n_layer\":2,"
                   "\"vocab_size\":100,\"n_positions\":32,\"n_inner\":100,\"activation_function\":"
                   "\"gelu\",\"tie_word_embeddings\":false}");
    CHECK(st == HW_OK && c.d_ff == 100 && c.act == HW_ACT_GELU_EXACT && !c.tied_embeddings &&
          c.n_ctx == 32 && c.bos_id == -1, "variant: %s", hw_last_error());
    st = parse(&c, "{\"architectures\":[\"GPT2LMHeadModel\"],\"n_embd\":64,\"n_head\":4,\"n_layer\":2,"
                   "\"vocab_size\":100,\"scale_attn_by_inverse_layer_idx\":true}");
    CHECK(st == HW_ERR_UNSUPPORTED && strstr(hw_last_error(), "scale_attn"), "%s", hw_last_error());
    st = parse(&c, "{\"architectures\":[\"GPT2LMHeadModel\"],\"n_embd\":64,\"n_head\":5,\"n_layer\":2,"
                   "\"vocab_size\":100}");
    CHECK(st == HW_ERR_FORMAT && strstr(hw_last_error(), "n_head"), "%s", hw_last_error());
}

/* A Pythia-70m style config. */
static void test_gpt_neox(void) {
    hw_config c;
    hw_status st = parse(&c, "{\"architectures\":[\"GPTNeoXForCausalLM\"],\"bos_token_id\":0,"
                             "\"eos_token_id\":0,\"hidden_act\":\"gelu\",\"hidden_size\":512,"
                             "\"intermediate_size\":2048,\"layer_norm_eps\":1e-05,"
                             "\"max_position_embeddings\":2048,\"num_attention_heads\":8,"
                             "\"num_hidden_layers\":6,\"rotary_emb_base\":10000,\"rotary_pct\":0.25,"
                             "\"tie_word_embeddings\":false,\"use_parallel_residual\":true,"
                             "\"vocab_size\":50304}");
    CHECK(st == HW_OK, "%s", hw_last_error());
    CHECK(strcmp(c.arch, "gpt_neox") == 0 && c.head_dim == 64 && c.n_kv_head == 8, "dims");
    CHECK(c.pos == HW_POS_ROTARY && c.rope_layout == HW_ROPE_HALVES && c.rotary_frac == 0.25f &&
          c.rope_theta == 10000, "rotary");
    CHECK(c.parallel_residual && !c.tied_embeddings && c.act == HW_ACT_GELU_EXACT, "residual");
    CHECK(c.qkv_bias && c.out_bias && c.mlp_bias && c.norm == HW_NORM_LAYER && c.norm_bias, "bias");
    CHECK(c.rope_scaling == HW_ROPE_SCALE_NONE && c.n_ctx == 2048, "scaling");
    /* Defaults of GPTNeoXConfig where keys are absent. */
    st = parse(&c, "{\"architectures\":[\"GPTNeoXForCausalLM\"],\"hidden_size\":64,"
                   "\"intermediate_size\":128,\"num_attention_heads\":4,\"num_hidden_layers\":1,"
                   "\"vocab_size\":10,\"use_parallel_residual\":false,\"rope_theta\":500.0}");
    CHECK(st == HW_OK && c.rotary_frac == 0.25f && c.rope_theta == 500 && !c.parallel_residual &&
          c.norm_eps == 1e-5f, "defaults: %s", hw_last_error());
    /* rotary_pct 0.1 of 16 gives 1 rotary dimension: cannot pair. */
    st = parse(&c, "{\"architectures\":[\"GPTNeoXForCausalLM\"],\"hidden_size\":64,"
                   "\"intermediate_size\":128,\"num_attention_heads\":4,\"num_hidden_layers\":1,"
                   "\"vocab_size\":10,\"rotary_pct\":0.1}");
    CHECK(st == HW_ERR_UNSUPPORTED && strstr(hw_last_error(), "rotary"), "%s", hw_last_error());
}

static void test_llama(void) {
    hw_config c;
    /* GQA, head_dim with H * Dh != D, llama3 scaling, eos list. */
    hw_status st = parse(&c, "{\"architectures\":[\"LlamaForCausalLM\"],\"hidden_size\":128,"
                             "\"intermediate_size\":200,\"num_attention_heads\":6,"
                             "\"num_key_value_heads\":2,\"head_dim\":24,\"num_hidden_layers\":3,"
                             "\"vocab_size\":300,\"rms_norm_eps\":1e-5,\"rope_theta\":500000.0,"
                             "\"max_position_embeddings\":8192,\"bos_token_id\":1,"
                             "\"eos_token_id\":[2,7],\"rope_scaling\":{\"factor\":8.0,"
                             "\"low_freq_factor\":1.0,\"high_freq_factor\":4.0,"
                             "\"original_max_position_embeddings\":64,\"rope_type\":\"llama3\"}}");
    CHECK(st == HW_OK, "%s", hw_last_error());
    CHECK(strcmp(c.arch, "llama") == 0 && c.n_head == 6 && c.n_kv_head == 2 && c.head_dim == 24,
          "heads");
    CHECK(c.d_model == 128 && c.d_ff == 200 && c.n_layer == 3 && c.vocab_size == 300, "dims");
    CHECK(c.norm == HW_NORM_RMS && c.norm_eps == 1e-5f && !c.norm_bias, "norm");
    CHECK(c.rope_theta == 500000 && c.rotary_frac == 1 && c.rope_layout == HW_ROPE_HALVES, "rope");
    CHECK(c.rope_scaling == HW_ROPE_SCALE_LLAMA3 && c.rope_factor == 8 &&
          c.rope_low_freq_factor == 1 && c.rope_high_freq_factor == 4 && c.rope_orig_ctx == 64,
          "llama3 scaling");
    CHECK(c.act == HW_ACT_SILU_GATED && !c.qkv_bias && !c.out_bias && !c.mlp_bias, "mlp");
    CHECK(!c.tied_embeddings && c.bos_id == 1 && c.eos_id == 2 && c.n_ctx == 8192, "misc");
    /* attention_bias and mlp_bias; older "type" key; linear and dynamic. */
    st = parse(&c, "{\"architectures\":[\"LlamaForCausalLM\"],\"hidden_size\":64,"
                   "\"intermediate_size\":100,\"num_attention_heads\":4,\"num_hidden_layers\":1,"
                   "\"vocab_size\":10,\"attention_bias\":true,\"mlp_bias\":true,"
                   "\"rope_scaling\":{\"type\":\"linear\",\"factor\":2.0}}");
    CHECK(st == HW_OK && c.qkv_bias && c.out_bias && c.mlp_bias && c.n_kv_head == 4 &&
          c.head_dim == 16 && c.rope_scaling == HW_ROPE_SCALE_LINEAR && c.rope_factor == 2 &&
          c.norm_eps == 1e-6f && c.rope_theta == 10000 && c.n_ctx == 2048,
          "biases, linear: %s", hw_last_error());
    st = parse(&c, "{\"architectures\":[\"LlamaForCausalLM\"],\"hidden_size\":64,"
                   "\"intermediate_size\":100,\"num_attention_heads\":4,\"num_hidden_layers\":1,"
                   "\"vocab_size\":10,\"max_position_embeddings\":512,"
                   "\"rope_scaling\":{\"rope_type\":\"dynamic\",\"factor\":4}}");
    CHECK(st == HW_OK && c.rope_scaling == HW_ROPE_SCALE_DYNAMIC && c.rope_factor == 4 &&
          c.rope_orig_ctx == 512, "dynamic: %s", hw_last_error());
    const char *bad_scaling[][2] = {
        {"{\"rope_type\":\"yarn\",\"factor\":4}", "yarn"},
        {"{\"rope_type\":\"linear\"}", "factor"},
        {"{\"rope_type\":\"llama3\",\"factor\":8,\"low_freq_factor\":1,\"high_freq_factor\":4}",
         "original_max_position_embeddings"},
        {"{\"rope_type\":\"llama3\",\"factor\":8,\"low_freq_factor\":4,\"high_freq_factor\":1,"
         "\"original_max_position_embeddings\":64}", "high_freq_factor"},
        {"[1]", "rope_scaling"},
    };
    for (size_t i = 0; i < sizeof bad_scaling / sizeof bad_scaling[0]; i++) {
        char json[512];
        snprintf(json, sizeof json, "{\"architectures\":[\"LlamaForCausalLM\"],\"hidden_size\":64,"
                 "\"intermediate_size\":100,\"num_attention_heads\":4,\"num_hidden_layers\":1,"
                 "\"vocab_size\":10,\"rope_scaling\":%s}", bad_scaling[i][0]);
        st = parse(&c, json);
        CHECK(st != HW_OK && strstr(hw_last_error(), bad_scaling[i][1]) &&
              strstr(hw_last_error(), "dir/config.json"), "scaling %s: %s", bad_scaling[i][0],
              hw_last_error());
    }
}

static void test_mistral_qwen2(void) {
    hw_config c;
    hw_status st = parse(&c, "{\"architectures\":[\"MistralForCausalLM\"],\"hidden_size\":64,"
                             "\"intermediate_size\":100,\"num_attention_heads\":8,"
                             "\"num_key_value_heads\":2,\"num_hidden_layers\":2,\"vocab_size\":50,"
                             "\"sliding_window\":null,\"rope_theta\":1000000.0}");
    CHECK(st == HW_OK && strcmp(c.arch, "mistral") == 0 && c.head_dim == 8 && c.n_kv_head == 2 &&
          c.rope_theta == 1e6f && !c.qkv_bias && !c.out_bias && c.n_ctx == 131072,
          "mistral: %s", hw_last_error());
    CHECK(c.sliding_window == 0, "sliding_window null gave a window of %d", c.sliding_window);
    st = parse(&c, "{\"architectures\":[\"MistralForCausalLM\"],\"hidden_size\":64,"
                   "\"intermediate_size\":100,\"num_attention_heads\":8,\"num_hidden_layers\":2,"
                   "\"vocab_size\":50}");
    CHECK(st == HW_OK && c.sliding_window == 4096 && c.sliding_window_from == 0,
          "mistral without the key: window %d from %d", c.sliding_window, c.sliding_window_from);
    st = parse(&c, "{\"architectures\":[\"Qwen2ForCausalLM\"],\"hidden_size\":64,"
                   "\"intermediate_size\":100,\"num_attention_heads\":4,\"num_key_value_heads\":2,"
                   "\"num_hidden_layers\":2,\"vocab_size\":50,\"tie_word_embeddings\":true,"
                   "\"hidden_act\":\"silu\"}");
    CHECK(st == HW_OK && strcmp(c.arch, "qwen2") == 0 && c.qkv_bias && !c.out_bias && !c.mlp_bias &&
          c.tied_embeddings && c.n_ctx == 32768, "qwen2: %s", hw_last_error());
    CHECK(c.sliding_window == 0, "qwen2 without use_sliding_window has window %d", c.sliding_window);
    st = parse(&c, "{\"architectures\":[\"Qwen2ForCausalLM\"],\"hidden_size\":64,"
                   "\"intermediate_size\":100,\"num_attention_heads\":4,\"num_hidden_layers\":2,"
                   "\"vocab_size\":50,\"use_sliding_window\":true,\"max_window_layers\":1}");
    CHECK(st == HW_OK && c.sliding_window == 4096 && c.sliding_window_from == 1,
          "qwen2 windowed: window %d from %d", c.sliding_window, c.sliding_window_from);
}

static void test_bad_configs(void) {
    hw_config c;
    const char *cases[][3] = {
        /* json, expected status name, text the message must contain */
        {"{\"architectures\":[\"BertModel\"]}", "unsupported", "BertModel"},
        {"{\"architectures\":\"FalconForCausalLM\"}", "unsupported", "FalconForCausalLM"},
        {"{\"hidden_size\":64}", "malformed input", "architectures"},
        {"not json", "malformed input", "JSON"},
        {"{\"architectures\":[\"LlamaForCausalLM\"],\"num_attention_heads\":4,"
         "\"num_hidden_layers\":1,\"intermediate_size\":8,\"vocab_size\":10}",
         "malformed input", "hidden_size"},
        {"{\"architectures\":[\"LlamaForCausalLM\"],\"hidden_size\":\"64\",\"num_attention_heads\":4,"
         "\"num_hidden_layers\":1,\"intermediate_size\":8,\"vocab_size\":10}",
         "malformed input", "hidden_size"},
        {"{\"architectures\":[\"LlamaForCausalLM\"],\"hidden_size\":-64,\"num_attention_heads\":4,"
         "\"num_hidden_layers\":1,\"intermediate_size\":8,\"vocab_size\":10}",
         "malformed input", "hidden_size"},
        {"{\"architectures\":[\"LlamaForCausalLM\"],\"hidden_size\":64.5,\"num_attention_heads\":4,"
         "\"num_hidden_layers\":1,\"intermediate_size\":8,\"vocab_size\":10}",
         "malformed input", "hidden_size"},
        {"{\"architectures\":[\"LlamaForCausalLM\"],\"hidden_size\":64,\"num_attention_heads\":6,"
         "\"num_key_value_heads\":4,\"num_hidden_layers\":1,\"intermediate_size\":8,"
         "\"vocab_size\":10,\"head_dim\":8}", "malformed input", "num_key_value_heads"},
        /* 64 / 6 is not whole: head_dim must then be given. */
        {"{\"architectures\":[\"LlamaForCausalLM\"],\"hidden_size\":64,\"num_attention_heads\":6,"
         "\"num_hidden_layers\":1,\"intermediate_size\":8,\"vocab_size\":10}",
         "malformed input", "head_dim"},
        {"{\"architectures\":[\"LlamaForCausalLM\"],\"hidden_size\":64,\"num_attention_heads\":4,"
         "\"num_hidden_layers\":1,\"intermediate_size\":8,\"vocab_size\":10,\"hidden_act\":\"gelu\"}",
         "unsupported", "gelu"},
        {"{\"architectures\":[\"GPT2LMHeadModel\"],\"n_embd\":64,\"n_head\":4,\"n_layer\":2,"
         "\"vocab_size\":100,\"activation_function\":\"relu\"}", "unsupported", "relu"},
        {"{\"architectures\":[\"LlamaForCausalLM\"],\"hidden_size\":64,\"num_attention_heads\":4,"
         "\"num_hidden_layers\":1,\"intermediate_size\":8,\"vocab_size\":10,\"rms_norm_eps\":-1}",
         "malformed input", "rms_norm_eps"},
        {"{\"architectures\":[\"LlamaForCausalLM\"],\"hidden_size\":64,\"num_attention_heads\":4,"
         "\"num_hidden_layers\":1,\"intermediate_size\":8,\"vocab_size\":10,"
         "\"tie_word_embeddings\":1}", "malformed input", "tie_word_embeddings"},
        {"{\"architectures\":[\"LlamaForCausalLM\"],\"hidden_size\":64,\"num_attention_heads\":4,"
         "\"num_hidden_layers\":1,\"intermediate_size\":8,\"vocab_size\":10,"
         "\"head_dim\":100000000}", "malformed input", "head_dim"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        hw_status st = parse(&c, cases[i][0]);
        CHECK(strcmp(hw_status_str(st), cases[i][1]) == 0, "case %zu: status %s, want %s (%s)", i,
              hw_status_str(st), cases[i][1], hw_last_error());
        CHECK(strstr(hw_last_error(), cases[i][2]) && strstr(hw_last_error(), "dir/config.json"),
              "case %zu: message %s", i, hw_last_error());
    }
}

static void test_load_file(void) {
    char *dir = hf_tempdir();
    CHECK(dir != NULL, "tempdir");
    if (!dir) return;
    hw_config c;
    const char *p = hf_path(dir, "config.json");
    hw_status st = hw_hf_config_load(&c, p);
    CHECK(st == HW_ERR_IO && strstr(hw_last_error(), p), "missing: %s", hw_last_error());
    const char *j = "{\"architectures\":[\"Qwen2ForCausalLM\"],\"hidden_size\":32,"
                    "\"intermediate_size\":64,\"num_attention_heads\":2,\"num_hidden_layers\":1,"
                    "\"vocab_size\":20}";
    hf_write(p, j, strlen(j));
    st = hw_hf_config_load(&c, p);
    CHECK(st == HW_OK && c.d_model == 32 && c.head_dim == 16, "load: %s", hw_last_error());
    hf_write(p, "", 0);
    st = hw_hf_config_load(&c, p);
    CHECK(st == HW_ERR_FORMAT, "empty file: %s", hw_last_error());
    hf_rmdir(dir);
}

int main(void) {
    RUN(test_gpt2);
    RUN(test_gpt_neox);
    RUN(test_llama);
    RUN(test_mistral_qwen2);
    RUN(test_bad_configs);
    RUN(test_load_file);
    CHECK_DONE();
}
