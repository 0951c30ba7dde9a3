#!/usr/bin/env python3
"""PyTorch CPU baseline for bench/smoke.ts: the same fill-mask work as `azbert-release smoke --device cpu`.

Loads pytorch_model.bin (or the shards pytorch_model.bin.index.json names) with torch.load, runs
the reference BERT forward of tools/make_tiny_azbert.py (HF BertForPreTraining math: embeddings + LayerNorm, post-LN encoder
with padding mask, exact erf GELU, MLM transform + tied decoder) on the given, already
tokenized cases as one padded batch, and takes the top-k at each [MASK]. Like our engine, the
MLM head runs only on the masked rows (the full-vocabulary head at every position would be
extra work ours does not do).

usage: /usr/bin/python3 bench/torch_fill_mask.py CKPT_DIR CASES_JSON [--top-k 5] [--threads N]
CASES_JSON: {"mask_id": 103, "cases": [[101, ...], ...]}  (the input ids our tokenizer produced)
Prints one JSON document: {"cases": [{"masks": [{"position", "top": [{"id", "score"}]}]}], "ms": {...}}
"""
import argparse, json, math, os, sys, time

t_start = time.perf_counter()
import torch
import torch.nn.functional as F

t_import = time.perf_counter()
ap = argparse.ArgumentParser()
ap.add_argument("ckpt")
ap.add_argument("cases")
ap.add_argument("--top-k", type=int, default=5)
ap.add_argument("--threads", type=int, default=0)
a = ap.parse_args()
if a.threads:
    torch.set_num_threads(a.threads)

with open(os.path.join(a.ckpt, "config.json")) as fh:
    cfg = json.load(fh)
with open(a.cases) as fh:
    spec = json.load(fh)
seqs, mask_id = spec["cases"], spec["mask_id"]

index = os.path.join(a.ckpt, "pytorch_model.bin.index.json")
if os.path.exists(index):
    # shards, as transformers finds them: every file the index's weight_map names
    sd = {}
    with open(index) as fh:
        for shard in sorted(set(json.load(fh)["weight_map"].values())):
            sd.update(torch.load(os.path.join(a.ckpt, shard), map_location="cpu"))
else:
    sd = torch.load(os.path.join(a.ckpt, "pytorch_model.bin"), map_location="cpu")
t_load = time.perf_counter()
sd = {k[5:] if k.startswith("bert.") else k: v.float() for k, v in sd.items()}

H, nh, L = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_hidden_layers"]
hd, eps = H // nh, cfg["layer_norm_eps"]


def lin(x, p):
    return F.linear(x, sd[p + ".weight"], sd[p + ".bias"])


def ln(x, p):
    return F.layer_norm(x, x.shape[-1:], sd[p + ".weight"], sd[p + ".bias"], eps)


with torch.inference_mode():
    B, T = len(seqs), max(len(s) for s in seqs)
    ids = torch.zeros((B, T), dtype=torch.long)
    attn = torch.zeros((B, T), dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, : len(s)] = torch.tensor(s)
        attn[i, : len(s)] = 1
    pos = torch.arange(T).unsqueeze(0)
    x = sd["embeddings.word_embeddings.weight"][ids] + sd["embeddings.position_embeddings.weight"][pos] \
        + sd["embeddings.token_type_embeddings.weight"][torch.zeros_like(ids)]
    x = ln(x, "embeddings.LayerNorm")
    ext = (1.0 - attn[:, None, None, :].float()) * torch.finfo(torch.float32).min
    for li in range(L):
        p = f"encoder.layer.{li}."
        q = lin(x, p + "attention.self.query").view(B, T, nh, hd).transpose(1, 2)
        k = lin(x, p + "attention.self.key").view(B, T, nh, hd).transpose(1, 2)
        v = lin(x, p + "attention.self.value").view(B, T, nh, hd).transpose(1, 2)
        s = q @ k.transpose(-1, -2) / math.sqrt(hd) + ext
        ctx = (F.softmax(s, dim=-1) @ v).transpose(1, 2).reshape(B, T, H)
        x = ln(lin(ctx, p + "attention.output.dense") + x, p + "attention.output.LayerNorm")
        x = ln(lin(F.gelu(lin(x, p + "intermediate.dense")), p + "output.dense") + x, p + "output.LayerNorm")
    where = (ids == mask_id).nonzero().tolist()
    rows = x[[b for b, _ in where], [t for _, t in where]]
    t = ln(F.gelu(lin(rows, "cls.predictions.transform.dense")), "cls.predictions.transform.LayerNorm")
    decoder = sd.get("cls.predictions.decoder.weight", sd["embeddings.word_embeddings.weight"])
    logits = t @ decoder.t() + sd["cls.predictions.bias"]
    probs = F.softmax(logits, dim=-1)
    top = torch.topk(probs, a.top_k)
t_end = time.perf_counter()

out = [{"masks": []} for _ in seqs]
for r, (b, p) in enumerate(where):
    out[b]["masks"].append({"position": p, "top": [{"id": int(i), "score": float(s)} for s, i in zip(top.values[r], top.indices[r])]})
json.dump({"torch": torch.__version__, "threads": torch.get_num_threads(), "cases": out,
           "ms": {"import": round((t_import - t_start) * 1e3, 1), "load": round((t_load - t_import) * 1e3, 1),
                  "forward": round((t_end - t_load) * 1e3, 1)}}, sys.stdout)
sys.stdout.write("\n")
