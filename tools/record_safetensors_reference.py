#!/usr/bin/env python3
"""Record what the converter must write for a torch checkpoint, for the converter's tests.

Loads the .bin with torch and drops only exact aliases: of tensors with the same storage, offset,
shape, strides and dtype, the first sorted name (outside the names transformers re-ties) is kept
and the others are recorded in __metadata__ as its aliases, as the Hub's convert bot records them.
Every other view of a storage (a slice of the word embeddings saved as token_type_embeddings) is
kept as its own tensor: the convert bot's rule (safetensors.torch._remove_duplicate_names) drops it
as covered by the whole storage, and transformers then initialises it at random. Prints, as JSON,
the __metadata__ and, for every kept tensor, its dtype, shape and the sha256 of `.contiguous()` bytes.

usage: /usr/bin/python3 tools/record_safetensors_reference.py test/fixtures/torch-f16-tied.bin \
         > test/fixtures/torch-f16-tied.safetensors-reference.json
"""
import hashlib
import json
import sys
from collections import defaultdict

import torch

NAMES = {torch.float64: "F64", torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.int64: "I64",
         torch.int32: "I32", torch.int16: "I16", torch.int8: "I8", torch.uint8: "U8", torch.bool: "BOOL"}


def storage_ptr(t):
    try:
        return t.untyped_storage().data_ptr()
    except Exception:
        return t.storage().data_ptr()


def identity(t):
    """Exact aliases share this: storage, offset, shape, strides, dtype."""
    return (t.device, storage_ptr(t), t.storage_offset(), tuple(t.shape), tuple(t.stride()), t.dtype)


def exact_aliases(sd, discard_names=()):
    groups = defaultdict(list)
    for k, v in sd.items():
        groups[identity(v)].append(k)
    aliases = {}
    for names in groups.values():
        names = sorted(names)
        keep = next((n for n in names if n not in discard_names), names[0])
        for n in names:
            if n != keep:
                aliases[n] = keep
    return aliases


sd = torch.load(sys.argv[1], map_location="cpu")
metadata = {"format": "pt"}
for dropped, kept in exact_aliases(sd, ["cls.predictions.decoder.weight", "cls.predictions.decoder.bias"]).items():
    metadata[dropped] = kept
    del sd[dropped]
tensors = {}
for k, v in sd.items():
    c = v.contiguous()
    raw = c.reshape(-1).view(torch.uint8).numpy().tobytes()
    tensors[k] = {"dtype": NAMES[v.dtype], "shape": list(v.shape), "sha256": hashlib.sha256(raw).hexdigest()}
json.dump({"source": sys.argv[1].split("/")[-1], "torch": torch.__version__, "metadata": metadata, "tensors": tensors}, sys.stdout, indent=1, sort_keys=True)
sys.stdout.write("\n")
