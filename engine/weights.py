"""Trained weights in a file: the format ``tutor train`` writes, and reading it back.

The file is ``np.savez(config=<JSON of ModelConfig>, **parameters)``. ``weights_bytes``
makes its contents (the tutor writes them atomically, ``tutor.storage.files``);
``load_weights`` reads one back and checks it before trusting it: the file's size,
each member's declared shape and type (read from its header, before any array is
read), the config's sizes (``engine.config.check_size``), every parameter present
with its shape and finite. Whatever is wrong gets a ``ValueError`` that says so.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import zipfile
from pathlib import Path

import numpy as np

from engine.config import MAX_PARAMETERS, ModelConfig, check_size
from engine.model import Transformer
from engine.tasks import check_task

MAX_FILE_BYTES = MAX_PARAMETERS * 8 + (16 << 20)  # the largest model allowed, with room
MAX_CONFIG_CHARS = 10_000


def weights_path(task: str, base_dir: str | os.PathLike) -> Path:
    """``<base_dir>/weights/<task>.npz``: where ``tutor train`` keeps a task's weights."""
    return Path(base_dir) / "weights" / f"{check_task(task)}.npz"


def weights_bytes(model: Transformer) -> bytes:
    """The contents of a weights file for ``model``."""
    buffer = io.BytesIO()
    np.savez(buffer, config=json.dumps(dataclasses.asdict(model.config)), **model.params)
    return buffer.getvalue()


def load_weights(path: str | os.PathLike) -> Transformer:
    """The model saved at ``path``, or ValueError saying what is wrong with the file."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"no weights file at {path}; train one with `tutor train`")
    if path.stat().st_size > MAX_FILE_BYTES:
        raise ValueError(f"{path} is {path.stat().st_size:,} bytes, larger than any weights "
                         "file `tutor train` writes")
    not_ours = f"{path} is not a weights file saved by `tutor train`"
    try:
        with zipfile.ZipFile(path) as archive:
            headers = {name: header for name, header in _headers(archive, not_ours)}
            if "config" not in headers:
                raise ValueError(f"{path} has no model config; it was not saved by `tutor train`")
            config = _config(archive, headers["config"], path)
            _check_members(headers, config, path)
            with np.load(path, allow_pickle=False) as data:
                arrays = {name: data[name] for name in headers if name != "config"}
    except (OSError, EOFError, zipfile.BadZipFile, KeyError) as error:
        raise ValueError(f"{not_ours} (it could not be read: {error}); train again to replace "
                         "it") from None
    try:
        return Transformer(config, params=arrays)
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None


def _headers(archive: zipfile.ZipFile, not_ours: str):
    """(name, (shape, dtype)) of each ``.npy`` member, read from its header alone."""
    for info in archive.infolist():
        if not info.filename.endswith(".npy"):
            raise ValueError(f"{not_ours} (it holds {info.filename!r}, which is not an array)")
        with archive.open(info) as member:
            try:
                version = np.lib.format.read_magic(member)
                read = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                        else np.lib.format.read_array_header_2_0)
                shape, _fortran, dtype = read(member)
            except ValueError as error:
                raise ValueError(f"{not_ours} ({info.filename}: {error}); train again to "
                                 "replace it") from None
        yield info.filename[:-len(".npy")], (tuple(shape), dtype)


def _config(archive: zipfile.ZipFile, header, path: Path) -> ModelConfig:
    shape, dtype = header
    if shape != () or dtype.kind != "U" or dtype.itemsize > 4 * MAX_CONFIG_CHARS:
        raise ValueError(f"{path} holds an unusable model config: it is not a short text")
    with archive.open("config.npy") as member:
        text = str(np.lib.format.read_array(member, allow_pickle=False))
    try:
        fields = json.loads(text)
        if not isinstance(fields, dict):
            raise TypeError("the config is not a JSON object")
        return check_size(ModelConfig(**fields))
    except (TypeError, ValueError) as error:
        raise ValueError(f"{path} holds an unusable model config: {error}") from None


def _check_members(headers: dict, config: ModelConfig, path: Path) -> None:
    shapes = config.parameter_shapes()
    extra = sorted(set(headers) - set(shapes) - {"config"})
    if extra:
        raise ValueError(f"{path} holds {extra[0]!r}, which is not a parameter of this model")
    for name, (shape, dtype) in headers.items():
        if name == "config":
            continue
        if dtype.kind not in "fiu":
            raise ValueError(f"{path}: parameter {name!r} is not numeric (dtype {dtype})")
        if shape != shapes[name]:
            raise ValueError(f"{path}: parameter {name!r} has shape {shape}, expected "
                             f"{shapes[name]}")
