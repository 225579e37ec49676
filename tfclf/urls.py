"""Paths on a filesystem named by a scheme (``gs://bucket/runs/a``, ``s3://...``, ``ram://...``).

Recognised here without TensorFlow, so the CLIs' checks (``tfclf.outputs``) can tell a
store from a local path before TensorFlow is loaded. Reading and writing such paths
goes through ``tfclf.data.filesystem`` (``tf.io.gfile``); publishing outputs to them
through ``tfclf.object_storage``.
"""
from __future__ import annotations

import os
import posixpath
import re
from typing import Union

PathLike = Union[str, os.PathLike]

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")


def scheme(path: PathLike) -> str:
    """The scheme of ``path`` in lower case (``gs``), or ``""`` for a local path."""
    match = _SCHEME.match(str(path))
    return match.group(1).lower() if match else ""


def is_remote(path: PathLike) -> bool:
    """True for a path with a scheme (read and written through ``tf.io.gfile``), False for a local one."""
    return bool(scheme(path))


def split(url: str) -> tuple[str, str]:
    """``("gs://", "bucket/runs/a")``: the scheme part and the path below it, without a trailing ``/``."""
    match = _SCHEME.match(url)
    head = match.group(0) if match else ""
    rest = url[len(head):]
    return head, rest.rstrip("/") if rest.strip("/") else rest


def join(url: str, *names: str) -> str:
    head, rest = split(str(url))
    return head + posixpath.join(rest, *names)


def name(url: str) -> str:
    return posixpath.basename(split(str(url))[1])


def parent(url: str) -> str:
    """The folder above ``url``; the bucket (``gs://bucket``) is its own parent."""
    head, rest = split(str(url))
    above = posixpath.dirname(rest)
    return head + (above or rest)
