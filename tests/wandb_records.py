"""Read an offline W&B run file (``run-<id>.wandb``) without a server: the file is a LevelDB-style
log of protobuf ``Record``s (32 KiB blocks; each chunk: crc32 (4), length (2), type (1), data)."""

from __future__ import annotations

import json
import struct
from pathlib import Path

from wandb.proto import wandb_internal_pb2

BLOCK = 32768
HEADER = 7  # ":W&B" + magic (2) + version (1)


def records(path: str | Path) -> list:
    raw = Path(path).read_bytes()
    pos, out, pending = HEADER, [], b""
    while pos + 7 <= len(raw):
        left = BLOCK - (pos % BLOCK)
        if left < 7:
            pos += left
            continue
        _, length, kind = struct.unpack("<IHB", raw[pos:pos + 7])
        data = raw[pos + 7:pos + 7 + length]
        pos += 7 + length
        if kind == 0 and length == 0:
            break
        if kind == 1:
            pending = data
        elif kind == 2:
            pending = data
            continue
        elif kind == 3:
            pending += data
            continue
        elif kind == 4:
            pending += data
        rec = wandb_internal_pb2.Record()
        rec.ParseFromString(pending)
        out.append(rec)
        pending = b""
    return out


def summarize(run_folder: str | Path) -> dict:
    """``{"run_id", "group", "job_type", "config": {...}, "exit_code", "history_keys"}`` of one run."""
    files = list(Path(run_folder).glob("run-*.wandb"))
    assert len(files) == 1, files
    info: dict = {"config": {}, "exit_code": None, "history_keys": set()}
    for rec in records(files[0]):
        kind = rec.WhichOneof("record_type")
        if kind == "run":
            info.update(run_id=rec.run.run_id, group=rec.run.run_group, job_type=rec.run.job_type)
            for item in rec.run.config.update:
                info["config"][item.key] = json.loads(item.value_json)
        elif kind == "config":
            for item in rec.config.update:
                info["config"][item.key] = json.loads(item.value_json)
        elif kind == "history":
            info["history_keys"].update(i.key for i in rec.history.item)
        elif kind == "summary":
            for item in rec.summary.update:
                info.setdefault("summary", {})[item.key] = json.loads(item.value_json)
        elif kind == "exit":
            info["exit_code"] = rec.exit.exit_code
    return info
