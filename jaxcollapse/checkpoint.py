"""Checkpoints of a run in progress: one file, replaced atomically.

A checkpoint holds everything simulate() needs to go on exactly where it
stopped: the position (chunk, next generation), the per-chain carry of the
chunk in progress, the host accumulators and the kept head chains. Since every
step after it is a pure function of that state, a resumed run ends with the
same bits as an uninterrupted one.

Writing: the arrays go to a temporary file in the same folder, which is flushed
to disk and then renamed over the checkpoint (os.replace is atomic on POSIX and
Windows). A kill at any moment leaves either the previous checkpoint or the new
one, never half of one; a stray temporary file is ignored and overwritten.

Reading: the file is a NumPy .npz (a zip whose members carry CRC-32s, checked
on reading) with the run's identity as JSON and a SHA-256 digest of every
array (name, dtype, shape and bytes), so that a file edited or rewritten
member by member, which the zip's own checks cannot see, is refused too. A
file that does not read, fails its digest, or belongs to another run, is
refused with one line saying so; it is never overwritten by a different run.
"""

import hashlib
import json
import os
import zipfile

import numpy as np

FILENAME = "checkpoint.npz"
_META = "__meta__"


class CheckpointError(ValueError):
    """A checkpoint that cannot be used: corrupt, or from a different run."""


def identity_hash(identity: dict) -> str:
    text = json.dumps(identity, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def digest(arrays: dict) -> str:
    """SHA-256 of the arrays, in name order: each one's name, dtype and shape,
    then its bytes (C order)."""
    h = hashlib.sha256()
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(json.dumps([name, a.dtype.str, list(a.shape)]).encode())
        h.update(a.tobytes())
    return h.hexdigest()


def path_in(folder) -> str:
    return os.path.join(os.fspath(folder), FILENAME)


def prepare(folder) -> None:
    """Create the folder (and parents); a clear error if it cannot be used."""
    folder = os.fspath(folder)
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise CheckpointError(f"checkpoint path is not a folder: {folder}")
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as err:
        message = f"cannot create checkpoint folder {folder}: {err}"
        raise CheckpointError(message) from None
    if not os.access(folder, os.W_OK):
        raise CheckpointError(f"checkpoint folder is not writable: {folder}")


def save(folder, identity: dict, meta: dict, arrays: dict) -> None:
    """Write the checkpoint of run `identity`: `meta` (JSON-able position and
    counters) and `arrays` (name -> numpy array), atomically."""
    final = path_in(folder)
    tmp = final + f".tmp-{os.getpid()}"
    arrays = {k: np.asarray(v) for k, v in arrays.items()}
    record = {"identity": identity, "hash": identity_hash(identity), **meta}
    record["digest"] = digest(arrays)
    payload = {_META: np.frombuffer(json.dumps(record).encode(), np.uint8)}
    payload.update(arrays)
    with open(tmp, "wb") as f:
        np.savez(f, **payload)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, final)
    try:  # make the rename itself durable
        fd = os.open(os.path.dirname(final) or ".", os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        pass


def load(folder, identity: dict):
    """(meta, arrays) of the checkpoint in `folder`, or None if there is none.

    Raises CheckpointError for an unreadable file or another run's checkpoint.
    """
    path = path_in(folder)
    if not os.path.exists(path):
        return None
    try:
        with open(path, "rb") as f, np.load(f, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
        record = json.loads(arrays.pop(_META).tobytes().decode())
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as err:
        raise CheckpointError(
            f"checkpoint {path} is unreadable ({type(err).__name__}: {err}); "
            "delete it to start the run afresh"
        ) from None
    if not isinstance(record, dict):
        raise damaged(path, "its record is not a JSON object")
    if record.get("hash") != identity_hash(identity):
        theirs = record.get("identity", {})
        differ = sorted(
            k
            for k in set(theirs) | set(identity)
            if json.dumps(theirs.get(k), default=str)
            != json.dumps(identity.get(k), default=str)
        )
        raise CheckpointError(
            f"checkpoint {path} belongs to a different run (differs in: "
            f"{', '.join(differ) or 'its identity'}); use another folder or "
            "delete it"
        )
    if record.get("digest") != digest(arrays):
        raise damaged(path, "its arrays do not match their digest")
    return record, arrays


def damaged(path, why: str) -> CheckpointError:
    """The one-line refusal of a checkpoint that reads but cannot be right."""
    return CheckpointError(
        f"checkpoint {path} is damaged ({why}); delete it to start the run afresh"
    )
