#!/usr/bin/env python3
"""Write the sample's weights again with every layout torch.save keeps, and transformers' outputs on it.

The CPU smoke engine must read whatever torch.load accepts, not only contiguous float32. This
script takes the sample (test/fixtures/azbert-tiny/pytorch_model.bin) and saves its state dict
with torch.save so that its tensors are
  * transposed views (word embeddings, every attention output and FFN output matrix: stride [1, n]),
  * views with a storage offset into a shared storage (query, key and value rows of one fused
    [3H, H] storage; every bias of a layer in one storage; the position embeddings inside a
    padded storage, which also makes their rows non-contiguous),
  * an expanded view (token type embeddings: row 0 twice, stride [0, 1]),
  * float16, bfloat16 and float64 storage (one matrix of each, and the LayerNorm weights in float64),
  * the decoder tied to the word embeddings (the same view) and its bias to cls.predictions.bias.
Then it loads the file with transformers' BertForPreTraining (float32, as from_pretrained does for
this config) and records the fill-mask outputs on the sample's reference cases in the format of
test/fixtures/azbert-tiny.reference.json.

usage: /work/venv/bin/python tools/make_strided_fixture.py
  (torch >= 2 with transformers; writes test/fixtures/azbert-tiny-strided.bin and
   test/fixtures/azbert-tiny-strided.reference.json)
"""
import json
import os
import shutil
import tempfile
from collections import OrderedDict

import torch
import transformers

here = os.path.dirname(os.path.abspath(__file__))
fixtures = os.path.join(here, "..", "test", "fixtures")
sample = os.path.join(fixtures, "azbert-tiny")
out_bin = os.path.join(fixtures, "azbert-tiny-strided.bin")
out_ref = os.path.join(fixtures, "azbert-tiny-strided.reference.json")

sd = torch.load(os.path.join(sample, "pytorch_model.bin"), map_location="cpu")
cfg = json.load(open(os.path.join(sample, "config.json")))
H, layers = cfg["hidden_size"], cfg["num_hidden_layers"]


def transposed(t):
    """The same values, stored transposed: a non-contiguous view."""
    return t.t().contiguous().t()


new = OrderedDict()
word = transposed(sd["bert.embeddings.word_embeddings.weight"])
new["bert.embeddings.word_embeddings.weight"] = word
pos = sd["bert.embeddings.position_embeddings.weight"]
padded = torch.zeros(pos.shape[0] + 2, H + 3)
padded[2:, 1:1 + H] = pos
new["bert.embeddings.position_embeddings.weight"] = padded[2:, 1:1 + H]
new["bert.embeddings.token_type_embeddings.weight"] = sd["bert.embeddings.token_type_embeddings.weight"][0:1].expand(2, H)
new["bert.embeddings.LayerNorm.weight"] = sd["bert.embeddings.LayerNorm.weight"].double()
new["bert.embeddings.LayerNorm.bias"] = sd["bert.embeddings.LayerNorm.bias"]
for i in range(layers):
    p = f"bert.encoder.layer.{i}."
    names = [p + f"attention.self.{n}.weight" for n in ("query", "key", "value")]
    fused = torch.cat([sd[n] for n in names], 0)
    for j, n in enumerate(names):
        new[n] = fused[j * H:(j + 1) * H]
    biases = [k for k in sd if k.startswith(p) and k.endswith(".bias")]
    shared = torch.cat([sd[k] for k in biases])
    at = 0
    for k in biases:
        new[k] = shared[at:at + sd[k].numel()]
        at += sd[k].numel()
    new[p + "attention.output.dense.weight"] = transposed(sd[p + "attention.output.dense.weight"])
    inter = sd[p + "intermediate.dense.weight"]
    new[p + "intermediate.dense.weight"] = inter.to(torch.bfloat16) if i == 0 else inter.half()
    new[p + "output.dense.weight"] = transposed(sd[p + "output.dense.weight"].double() if i == 0 else sd[p + "output.dense.weight"])
    for n in ("attention.output.LayerNorm", "output.LayerNorm"):
        new[p + n + ".weight"] = sd[p + n + ".weight"].double()
for k in sd:
    if k not in new:
        new[k] = sd[k]
new["cls.predictions.transform.dense.weight"] = transposed(sd["cls.predictions.transform.dense.weight"]).half()
new["cls.predictions.decoder.weight"] = word
new["cls.predictions.decoder.bias"] = new["cls.predictions.bias"]
assert set(new) == set(sd), set(sd) ^ set(new)
torch.save(new, out_bin)

loaded = torch.load(out_bin, map_location="cpu")
assert not loaded["bert.embeddings.word_embeddings.weight"].is_contiguous()
assert loaded["bert.embeddings.token_type_embeddings.weight"].stride() == (0, 1)
assert loaded["bert.encoder.layer.0.attention.self.key.weight"].storage_offset() == H * H

with tempfile.TemporaryDirectory() as d:
    for f in os.listdir(sample):
        if f != "pytorch_model.bin":
            shutil.copy(os.path.join(sample, f), d)
    shutil.copy(out_bin, os.path.join(d, "pytorch_model.bin"))
    model = transformers.BertForPreTraining.from_pretrained(d, dtype=torch.float32).eval()

reference = json.load(open(os.path.join(fixtures, "azbert-tiny.reference.json")))
vocab = [line.rstrip("\n") for line in open(os.path.join(sample, "vocab.txt"), encoding="utf-8")]
added = json.load(open(os.path.join(sample, "added_tokens.json")))
token = {i: t for i, t in enumerate(vocab)}
token.update({i: t for t, i in added.items()})
cases = []
with torch.inference_mode():
    for c in reference["cases"]:
        ids = torch.tensor([c["input_ids"]])
        logits = model(input_ids=ids).prediction_logits[0]
        masks = []
        for m in c["masks"]:
            row = logits[m["position"]]
            probs = torch.softmax(row, -1)
            top = torch.topk(probs, 5)
            masks.append({
                "position": m["position"],
                "top": [{"token": token[int(i)], "id": int(i), "score": round(float(s), 6)} for s, i in zip(top.values, top.indices)],
                "logits_head": [round(float(x), 6) for x in row[:8]],
            })
        cases.append({"text": c["text"], "input_ids": c["input_ids"], "masks": masks})
with open(out_ref, "w") as fh:
    json.dump({"produced_by": f"transformers {transformers.__version__} BertForPreTraining (torch {torch.__version__}) on azbert-tiny-strided.bin (tools/make_strided_fixture.py)",
               "cases": cases}, fh, indent=1)
    fh.write("\n")
print("wrote", out_bin, os.path.getsize(out_bin), "bytes and", out_ref)
