"""The texts a topic map is made of, read the way ``fit`` reads data.

Every input ``fit`` reads works here (delimited files, JSONL, Parquet, parallel files,
class folders, folders of splits), with the same columns, ``--where``, cleaning flags
and blank-text rule (``tfclf.data.columns.to_examples``), read chunk by chunk so a large
file is never parsed whole. Labels are optional: by default they are read when every
input has ``--label-column``, and then only to measure how topics align with them
(one label per text; the label rules are ``fit``'s, so a row ``fit`` would drop for its
label is left out here too).
"""
from __future__ import annotations

import dataclasses
import logging
from typing import Iterator, Optional

import pandas as pd

from tfclf.config import DataConfig
from tfclf.data import readers
from tfclf.data.columns import LABEL, LINE, TEXT, check_source_columns, to_examples
from tfclf.data.report import Tally
from tfclf.errors import TfclfError

logger = logging.getLogger(__name__)

SOURCE = "source"


def input_paths(config: DataConfig) -> list[tuple[str, str]]:
    """``[(flag, path)]`` of the inputs given: --data, --train, --validation, --test.

    Raises:
        TfclfError: when none is given.
    """
    paths = [(f"--{name}", getattr(config, name)) for name in ("data", "train", "validation", "test")
             if getattr(config, name)]
    if not paths:
        raise TfclfError("--data is required: a file or folder of texts (any format fit reads). "
                         "Received: no --data, --train, --validation or --test.")
    return paths


@dataclasses.dataclass
class CorpusPlan:
    """The sources to read and whether their labels are read."""

    sources: list[readers.Source]
    with_labels: bool


def plan(config: DataConfig, labels: Optional[bool] = None) -> CorpusPlan:
    """Finds the inputs' sources and checks their columns before anything is read.

    Args:
        config: the ``data:`` section.
        labels: True: read --label-column (an input without it is an error); False: texts
            only; None: labels when every input has --label-column.

    Raises:
        TfclfError: no input, a missing input or text column, a multi-label setting with labels.
    """
    sources = [s for flag, path in input_paths(config)
               for s in readers.sources_for(path, flag, config, with_labels=False)]
    if labels is None:
        labels = all(all(c in s.columns for c in config.label_column) for s in sources)
        logger.info("Labels: %s", f"read from --label-column {','.join(config.label_column)} to measure how "
                    "topics align with them" if labels else "none (an input has no --label-column "
                    f"{','.join(config.label_column)!r}); topics only")
    if labels and (config.multi_label or len(config.label_column) > 1):
        raise TfclfError(
            "Topics are compared with one label per text; this data is multi-label (--label-separator, "
            f"--label-axes, --task multi-label or several --label-column: {list(config.label_column)}). "
            "Pass --no-labels to map the texts without labels, or one --label-column.")
    for source in sources:
        check_source_columns(source, config, with_labels=labels)
    return CorpusPlan(sources, labels)


def iter_frames(corpus: CorpusPlan, config: DataConfig, tally: Tally) -> Iterator[pd.DataFrame]:
    """Frames of ``text``, ``label`` (None without labels) and ``source`` (file and line), chunk by chunk.

    Raises:
        TfclfError: as ``fit``'s readers: undecodable bytes, ragged rows, bad JSON, ... named by
            file and line; a label cell holding a list (multi-label data).
    """
    for source in corpus.sources:
        for chunk in readers.iter_chunks(source, config):
            frame = to_examples(chunk, source, config, tally, with_labels=corpus.with_labels)
            if corpus.with_labels:
                bad = next((i for i, v in enumerate(frame[LABEL]) if isinstance(v, tuple)), None)
                if bad is not None:
                    raise TfclfError(
                        f"{source.locate(int(frame[LINE].iloc[bad]))}: the label cell holds a list "
                        f"{list(frame[LABEL].iloc[bad])}; topics are compared with one label per text. "
                        "Pass --no-labels, or a --label-column with one label per row.")
            frame[SOURCE] = [source.locate(int(line)) for line in frame[LINE]]
            yield frame[[TEXT, LABEL, SOURCE]]
