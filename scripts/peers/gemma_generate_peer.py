#!/usr/bin/env python3
"""Peer measurements for `biomechgpt bench generate`: llama.cpp (llama-cpp-python) or
transformers running Gemma 3 270M from the same GGUF file on the same token ids.

Invoked by the Swift benchmark as a subprocess (one backend per process, so each peak
memory is its own):

    python scripts/peers/gemma_generate_peer.py --backend llamacpp|transformers \
        --model models/gemma-3-270m-q4_k_m.gguf --tokens ids.json --threads 2 \
        --decode-tokens 64 --answer-tokens 8 --repeats 3

`ids.json` holds {"prefill": [...], "answer": [...]} (token ids with <bos>). Prints one
JSON object on the last line of stdout: load time, prefill (best of repeats) tokens/s,
greedy decoding tokens/s, the latency of answering the `answer` prompt with exactly
`answer_tokens` new tokens (best of repeats), and the peak resident memory (VmHWM).
If the backend is not installed the object has "error".
"""
import argparse
import json
import os
import resource
import sys
import time


def peak_rss_mb():
    # VmHWM belongs to this process's own address space (ru_maxrss would carry over the
    # parent's resident size across fork + exec).
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return float(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run_llamacpp(args, ids):
    import numpy as np
    import llama_cpp
    from llama_cpp import Llama

    t0 = time.perf_counter()
    llm = Llama(model_path=args.model, n_ctx=1024, n_batch=512, n_ubatch=512, n_threads=args.threads,
                n_threads_batch=args.threads, logits_all=False, verbose=False)
    load = time.perf_counter() - t0

    n_vocab = llm.n_vocab()

    def last_argmax():
        # eval() requests logits for the last token of each batch only; read them directly.
        return int(np.argmax(np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(n_vocab,))))

    def prefill(tokens):
        llm.reset()
        llm.eval(tokens)
        return last_argmax()

    prefill(ids["prefill"][:16])  # warm-up
    best_prefill = float("inf")
    for _ in range(args.repeats):
        t = time.perf_counter(); prefill(ids["prefill"]); best_prefill = min(best_prefill, time.perf_counter() - t)

    nxt = prefill(ids["prefill"])
    t = time.perf_counter()
    for _ in range(args.decode_tokens):
        llm.eval([nxt]); nxt = last_argmax()
    decode = time.perf_counter() - t

    best_answer = float("inf")
    answer_ids = []
    for _ in range(args.repeats):
        t = time.perf_counter()
        nxt = prefill(ids["answer"]); out = [nxt]
        while len(out) < args.answer_tokens:
            llm.eval([nxt]); nxt = last_argmax(); out.append(nxt)
        best_answer = min(best_answer, time.perf_counter() - t)
        answer_ids = out
    return {"backend": "llama.cpp", "version": getattr(llama_cpp, "__version__", "?"), "load_s": load,
            "prefill_s": best_prefill, "decode_s": decode, "answer_s": best_answer, "answer_ids": answer_ids}


def run_transformers(args, ids):
    import torch
    import transformers
    from transformers import AutoModelForCausalLM

    torch.set_num_threads(args.threads)
    directory, name = os.path.split(os.path.abspath(args.model))
    t0 = time.perf_counter()
    model = AutoModelForCausalLM.from_pretrained(directory, gguf_file=name, dtype=torch.float32)
    model.eval()
    load = time.perf_counter() - t0

    def prefill(tokens):
        out = model(torch.tensor([tokens]), use_cache=True, logits_to_keep=1)
        return out.past_key_values, int(out.logits[0, -1].argmax())

    def step(past, token):
        out = model(torch.tensor([[token]]), past_key_values=past, use_cache=True, logits_to_keep=1)
        return out.past_key_values, int(out.logits[0, -1].argmax())

    with torch.inference_mode():
        prefill(ids["prefill"][:16])
        best_prefill = float("inf")
        for _ in range(args.repeats):
            t = time.perf_counter(); prefill(ids["prefill"]); best_prefill = min(best_prefill, time.perf_counter() - t)
        past, nxt = prefill(ids["prefill"])
        t = time.perf_counter()
        for _ in range(args.decode_tokens):
            past, nxt = step(past, nxt)
        decode = time.perf_counter() - t
        best_answer = float("inf")
        answer_ids = []
        for _ in range(args.repeats):
            t = time.perf_counter()
            past, nxt = prefill(ids["answer"]); out = [nxt]
            while len(out) < args.answer_tokens:
                past, nxt = step(past, nxt); out.append(nxt)
            best_answer = min(best_answer, time.perf_counter() - t)
            answer_ids = out
    return {"backend": "transformers", "version": transformers.__version__ + " / torch " + torch.__version__,
            "load_s": load, "prefill_s": best_prefill, "decode_s": decode, "answer_s": best_answer,
            "answer_ids": answer_ids}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--backend", choices=["llamacpp", "transformers"], required=True)
    p.add_argument("--model", required=True)
    p.add_argument("--tokens", required=True)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--decode-tokens", type=int, default=64)
    p.add_argument("--answer-tokens", type=int, default=8)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    with open(args.tokens) as f:
        ids = json.load(f)
    try:
        result = run_llamacpp(args, ids) if args.backend == "llamacpp" else run_transformers(args, ids)
    except ImportError as e:
        result = {"backend": args.backend, "error": f"not installed: {e}"}
    result.update({"prefill_tokens": len(ids["prefill"]), "decode_tokens": args.decode_tokens,
                   "answer_prompt_tokens": len(ids["answer"]), "answer_tokens": args.answer_tokens,
                   "peak_rss_mb": peak_rss_mb()})
    print(json.dumps(result))


if __name__ == "__main__":
    sys.exit(main())
