#!/usr/bin/env python3
"""Record what the Hub's convert bot would write for a torch checkpoint, for the converter's tests.

Loads the .bin with torch, applies the same choice as safetensors.torch._remove_duplicate_names
(copied below: the safetensors package is not needed) and prints, as JSON, the __metadata__ the
bot writes and, for every kept tensor, its dtype, shape and the sha256 of `.contiguous()` bytes.

usage: /usr/bin/python3 tools/record_safetensors_reference.py test/fixtures/torch-f16-tied.bin \
         > test/fixtures/torch-f16-tied.safetensors-reference.json
"""
import hashlib
import json
import sys
from collections import defaultdict

import torch

SIZE = {torch.float64: 8, torch.float32: 4, torch.float16: 2, torch.bfloat16: 2, torch.int64: 8, torch.int32: 4,
        torch.int16: 2, torch.int8: 1, torch.uint8: 1, torch.bool: 1}
NAMES = {torch.float64: "F64", torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.int64: "I64",
         torch.int32: "I32", torch.int16: "I16", torch.int8: "I8", torch.uint8: "U8", torch.bool: "BOOL"}


def storage_ptr(t):
    try:
        return t.untyped_storage().data_ptr()
    except Exception:
        return t.storage().data_ptr()


def storage_size(t):
    try:
        return t.untyped_storage().nbytes()
    except Exception:
        return t.storage().size() * SIZE[t.dtype]


def end_ptr(t):
    return t.view(-1)[-1].data_ptr() + SIZE[t.dtype] if t.nelement() else t.data_ptr()


def filter_shared_not_shared(tensors, sd):
    out = []
    for shared in tensors:
        if len(shared) < 2:
            out.append(shared)
            continue
        areas = sorted((sd[n].data_ptr(), end_ptr(sd[n]), n) for n in shared)
        _, last_stop, last_name = areas[0]
        out.append({last_name})
        for start, stop, name in areas[1:]:
            if start >= last_stop:
                out.append({name})
            else:
                out[-1].add(name)
            last_stop = stop
    return out


def find_shared(sd):
    groups = defaultdict(set)
    for k, v in sd.items():
        if storage_ptr(v) != 0 and storage_size(v) != 0:
            groups[(v.device, storage_ptr(v), storage_size(v))].add(k)
    return filter_shared_not_shared(list(sorted(groups.values(), key=lambda s: sorted(s))), sd)


def is_complete(t):
    return t.data_ptr() == storage_ptr(t) and t.nelement() * SIZE[t.dtype] == storage_size(t)


def remove_duplicate_names(sd, discard_names=()):
    to_remove = defaultdict(list)
    for shared in find_shared(sd):
        complete = {n for n in shared if is_complete(sd[n])}
        if not complete:
            if len(shared) == 1:
                complete = set(shared)
            else:
                raise SystemExit(f"no name covers the storage of {sorted(shared)}")
        keep = sorted(complete)[0]
        preferred = complete.difference(discard_names)
        if preferred:
            keep = sorted(preferred)[0]
        for n in sorted(shared):
            if n != keep:
                to_remove[keep].append(n)
    return to_remove


sd = torch.load(sys.argv[1], map_location="cpu")
metadata = {"format": "pt"}
for kept, names in remove_duplicate_names(sd, ["cls.predictions.decoder.weight", "cls.predictions.decoder.bias"]).items():
    for n in names:
        metadata.setdefault(n, kept)
        del sd[n]
tensors = {}
for k, v in sd.items():
    c = v.contiguous()
    raw = c.reshape(-1).view(torch.uint8).numpy().tobytes()
    tensors[k] = {"dtype": NAMES[v.dtype], "shape": list(v.shape), "sha256": hashlib.sha256(raw).hexdigest()}
json.dump({"source": sys.argv[1].split("/")[-1], "torch": torch.__version__, "metadata": metadata, "tensors": tensors}, sys.stdout, indent=1, sort_keys=True)
sys.stdout.write("\n")
