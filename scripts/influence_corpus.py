#!/usr/bin/env python3
"""influence_corpus.py: a JSONL corpus for `headwise influence` tests and demos, documents
from several domains in the retrieval organism's vocabulary (w0..w63 filler words, k0..k31
keys, v0..v63 values, "key", "is", "Q:", "A:"), so that its retrieval heads can judge them:

  retrieval   the retrieval task's own samples (`headwise samples retrieval`): a key/value
              pair hidden in filler, then the question and its answer (retrieval-heavy);
  induction   a random run of words repeated 2-4 times (copying, induction-heavy);
  successor   counting runs over the values, v7 v8 v9 ... (successor);
  filler      a first-order Markov chain over the filler words (no retrieval at all).

A fraction of documents (--long) joins several pieces of its domain, so that they pass the
organism's 64-token context and are read in windows. Lines are {"id", "domain", "text"}.
usage: influence_corpus.py --headwise BIN -n N -o CORPUS.jsonl [--seed S] [--long F]
"""
import argparse
import json
import os
import random
import subprocess
import tempfile

DOMAINS = ("retrieval", "induction", "successor", "filler")


def retrieval_samples(headwise, n, seed):
    """n retrieval samples (prompt and answer joined) from `headwise samples retrieval`."""
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "r.txt")
        subprocess.run([headwise, "samples", "retrieval", "--samples", str(n), "--seed", str(seed), "-o", path],
                       check=True, capture_output=True)
        out = []
        with open(path) as f:
            for line in f:
                if line.startswith("#"):
                    continue
                prompt, answer = line.rstrip("\n").split("\t")[:2]
                out.append(prompt + " " + answer)
        return out


def induction(rng):
    words = [rng.choice(("w%d", "k%d", "v%d")) % rng.randrange(32) for _ in range(rng.randint(6, 16))]
    return " ".join(words * rng.randint(2, 4))


def successor(rng):
    start, n = rng.randrange(40), rng.randint(8, 24)
    return " ".join("v%d" % (start + i) for i in range(min(n, 64 - start)))


def filler(rng, chain):
    w = rng.randrange(64)
    out = []
    for _ in range(rng.randint(20, 60)):
        out.append("w%d" % w)
        w = rng.choice(chain[w])
    return " ".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--headwise", default="build/current/headwise")
    ap.add_argument("-n", type=int, default=1000, help="documents (default 1000)")
    ap.add_argument("-o", required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--long", type=float, default=0.1, help="fraction of multi-piece documents (default 0.1)")
    a = ap.parse_args()
    rng = random.Random(a.seed)
    chain = [[rng.randrange(64) for _ in range(3)] for _ in range(64)]
    pool = retrieval_samples(a.headwise, max(1, a.n // 2), 10000 + a.seed)
    make = {"retrieval": lambda: pool[rng.randrange(len(pool))], "induction": lambda: induction(rng),
            "successor": lambda: successor(rng), "filler": lambda: filler(rng, chain)}
    tmp = a.o + ".tmp"
    with open(tmp, "w") as f:
        for i in range(a.n):
            dom = DOMAINS[rng.randrange(len(DOMAINS))]
            pieces = rng.randint(2, 4) if rng.random() < a.long else 1
            text = " ".join(make[dom]() for _ in range(pieces))
            f.write(json.dumps({"id": "d%d" % i, "domain": dom, "text": text}) + "\n")
    os.replace(tmp, a.o)


if __name__ == "__main__":
    main()
