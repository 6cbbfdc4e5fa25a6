"""headwise: the attention heads of transformer models, from Python.

A ctypes binding of libheadwise (no compiled extension) with NumPy arrays:

    import headwise
    m = headwise.Model("stories260K.bin", tokenizer="tok512.bin")
    r = m.run(m.encode("Once upon a time"), capture=["blocks.*.attn.hook_pattern"],
              mask_uniform=["1.2"], n_new=3)
    r.logits.shape, r.captures["blocks.3.attn.hook_pattern"].shape
    print(m.generate("Once upon a time", 64))

    s = headwise.score_retrieval(headwise.Model("organism"), task="retrieval", samples=50)
    print(s.ranking()[:5])      # [(layer, head, score), ...]

Each protocol of the CLI is one function named as its command (score_retrieval,
score_echo_induction, score_successor, score_attribution, score_dla, mask_test,
sweep_scale, facts, patch and path_patch (headwise.patching), niah: headwise.niah(m, passkey=True, kv="longheads") is `headwise niah
--passkey --kv longheads`; lens as logit_lens, subspace as head_subspace and
subspace_lowrank), its flags as keyword arguments (headwise.protocols says how). Model.run,
Model.generate and the protocols that run prompts take kv=, the KV-cache policy of
`--kv` (headwise.kv says how); Model.kv_bytes(kv, context) measures one.
headwise.atlas(m, "DIR") is `headwise atlas`: every head probed, labelled and masked, and
the KV-cache policy the labels give. headwise.gguf_file(path) lists a GGUF file's metadata
and tensors without loading it (`headwise info --gguf`); headwise.quantize(model, out, type)
writes it with its matrices in a block type (`headwise quantize`). headwise.Task gives a synthetic
task's held-out samples and counterfactuals (the clean
and corrupted runs of patching on the mcq organism) as `headwise samples` writes them.

The library is found through $HEADWISE_LIB, else the build tree this package
sits in (build/current, build/rel), else the system loader. Every failure is a
headwise.Error (a RuntimeError) carrying the library's message; arguments are
checked before any C call and refused with headwise.ArgumentError (also a
ValueError).
"""
from ._capi import ArgumentError, Error, library_path
from .kv import KVPolicy
from .atlas import atlas
from .niah import NiahGrid, niah
from .model import Config, Model, RunResult, default_tokenizer
from .scores import HeadScores, read_head_scores
from .facts import FactsResult, fact_regress, facts
from .tasks import Task
from .protocols import (Attribution, DlaResult, EchoInduction, HeadTable, MaskTestResult,
                        RetrievalScores, Successor, SweepResult, mask_test, read_prompts,
                        score_attribution, score_dla, score_echo_induction, score_retrieval,
                        score_successor, sweep_scale)
from .lens import (LensResult, LowRankResult, SubspaceResult, head_subspace, logit_lens,
                   subspace_lowrank)
from .patching import PatchResult, PathPatchResult, patch, path_patch, preserve_elements
from .gguf import gguf_file, quantize
from .cdt import CdtResult, cdt, cdt_decompose
from .influence import InfluenceScores, influence, influence_select

__version__ = "0.1.0"

__all__ = ["influence", "influence_select", "InfluenceScores", "atlas", "Model", "Config", "RunResult", "KVPolicy", "HeadScores", "read_head_scores", "Error",
           "ArgumentError", "library_path", "default_tokenizer", "set_threads", "get_threads",
           "score_retrieval", "score_echo_induction", "score_successor", "score_attribution",
           "score_dla", "mask_test", "sweep_scale", "read_prompts", "RetrievalScores",
           "HeadTable", "EchoInduction", "Successor", "Attribution", "DlaResult",
           "MaskTestResult", "SweepResult", "niah", "NiahGrid", "logit_lens", "head_subspace",
           "subspace_lowrank", "LensResult", "SubspaceResult", "LowRankResult",
           "patch", "path_patch", "preserve_elements", "PatchResult", "PathPatchResult",
           "facts", "fact_regress", "FactsResult", "Task", "gguf_file", "quantize", "cdt", "cdt_decompose",
           "CdtResult"]


def set_threads(n):
    """The library's thread count, process-wide (hw_set_threads)."""
    from . import _args
    from ._capi import lib
    lib().hw_set_threads(_args.integer(n, "threads", 1, 1024))


def get_threads():
    from ._capi import lib
    return lib().hw_get_threads()
