# The field's own client for bench/hf-compare.ts: huggingface_hub's upload_folder (+ create_tag),
# in LFS mode (HF_HUB_DISABLE_XET=1), against HF_ENDPOINT with HF_TOKEN.
# usage: python hf_upload.py cold|again REPO FOLDER TAG|-
import os
import sys

from huggingface_hub import HfApi

mode, repo, folder, tag = sys.argv[1:5]
api = HfApi(endpoint=os.environ["HF_ENDPOINT"], token=os.environ["HF_TOKEN"])
if mode == "cold":
    api.create_repo(repo, exist_ok=True)
info = api.upload_folder(repo_id=repo, folder_path=folder, commit_message=f"Release {tag}")
if tag != "-":
    api.create_tag(repo, tag=tag, revision=info.oid if info.oid else None, exist_ok=True)
print(info.oid)
