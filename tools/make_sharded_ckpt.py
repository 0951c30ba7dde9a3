#!/usr/bin/env python3
"""Write a BERT-large-sized checkpoint (random weights) as sharded pytorch_model.bin files for
scale benchmarks: pytorch_model-0000N-of-0000M.bin + pytorch_model.bin.index.json, laid out as
transformers' save_pretrained(max_shard_size=...) does (state-dict order, shards of about equal
size, a tied tensor in the shard of the storage it shares, metadata.total_size counting each
storage once, weight_map sorted). One shard's tensors are in memory at a time.

Needs PyTorch (Debian: apt-get install -y python3-torch, then run with /usr/bin/python3).
Tokenizer and config files come from a small checkpoint (--from, default the sample ../ckpt).

usage: /usr/bin/python3 make_sharded_ckpt.py OUT_DIR [--from DIR] [--vocab-size 31061]
       [--layers 24] [--hidden 1024] [--shards 3] [--dtype float32|float16] [--seed 0]
About 1.34 GB at the defaults (float32, 336 M parameters).
"""
import json, os
from collections import OrderedDict

import torch

from bert_ckpt import layout, make_tensor, nbytes, size_arguments, write_tokenizer_and_config

here = os.path.dirname(os.path.abspath(__file__))
ap = size_arguments(os.path.join(here, "..", "ckpt"), layers=24, hidden=1024)
ap.add_argument("--shards", type=int, default=3)
a = ap.parse_args()
torch.manual_seed(a.seed)
write_tokenizer_and_config(a.src, a.out, a.vocab_size, a.hidden, a.layers, a.dtype)
dt = getattr(torch, a.dtype)

entries = layout(a.vocab_size, a.hidden, a.layers)
total = sum(nbytes(shape, init, dt) for _, shape, init, tied in entries if not tied)
# Consecutive runs of about total / shards bytes; a tied name goes where its storage is.
shard_of, acc = {}, 0
for name, shape, init, tied in entries:
    if tied:
        shard_of[name] = shard_of[tied]
        continue
    shard_of[name] = min(a.shards - 1, acc * a.shards // total)
    acc += nbytes(shape, init, dt)

file_name = lambda i: f"pytorch_model-{i + 1:05d}-of-{a.shards:05d}.bin"
weight_map = {}
for i in range(a.shards):
    sd = OrderedDict()
    for name, shape, init, tied in entries:
        if shard_of[name] == i:
            sd[name] = sd[tied] if tied else make_tensor(shape, init, dt)
            weight_map[name] = file_name(i)
    torch.save(sd, os.path.join(a.out, file_name(i)))
    print("wrote", file_name(i), os.path.getsize(os.path.join(a.out, file_name(i))), "bytes", flush=True)
    del sd
with open(os.path.join(a.out, "pytorch_model.bin.index.json"), "w") as fh:
    json.dump({"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))}, fh, indent=2)
    fh.write("\n")
print("wrote", a.out, total, "bytes of tensors in", a.shards, "shards")
