"""``python -m tfclf.predict``: classify a file or stdin with a saved model, streaming.

Examples::

    python -m tfclf.predict --model runs/demo --input test.csv --output preds.csv
    python -m tfclf.predict --model serving/tickets --input emotion/test.txt --output preds.tsv
    cat texts.txt | python -m tfclf.predict --model serving/tickets --input - --output -

Inputs are read the way training reads them (``tfclf.data.inputs``), one batch at a
time, so memory stays flat however long the file is:

* ``-``: standard input, one text per line;
* ``.csv``/``.tsv``/``.txt``/``.psv`` (or ``--delimiter``): the header rule of training
  (``tfclf.data.delimited.delimited_layout``). With a header naming ``--text-column``,
  every column is kept; a first row that looks like a header but lacks it is an
  error listing the columns found. Without a header, rows of two fields are
  ``text<delimiter>label`` (split on the last delimiter, as in training), rows of one
  field are texts, and wider rows need ``--column-names`` or a 0-based
  ``--text-column`` index (``--no-header --text-column 3``). ``--lines`` reads any
  file as one text per line;
* ``.jsonl``/``.ndjson``/``.json``: one object per line; ``.parquet``: read in record batches;
  ``{name}_text.txt`` beside ``{name}_labels.txt``: columns ``text``, ``label``;
* a folder of class folders (``<label>/*.txt``, ``<split>/<label>/*.txt`` at any depth;
  ``unsup/`` is skipped, as in training): columns ``path``, ``label``, ``text``.

The output (``.csv``, ``.tsv``, ``.jsonl``, ``.parquet`` or ``-`` for CSV on stdout) has the input
columns, then ``label``, ``confidence`` and ``top1_label``, ``top1_probability`` ...
``topK_*``. Input columns whose names clash with these get an ``input_`` prefix
(a labelled test file's ``label`` becomes ``input_label``). Multi-label models
write their labels joined by ``|`` and the top probability as ``confidence``.

``--group-by COLUMN --group-output FILE`` also writes one row per group (the rows that
share a value of COLUMN, e.g. an account): COLUMN, ``n_rows`` and the same prediction
columns, from the mean of the group's probabilities (multi-label: each label whose mean
reaches the model's threshold). The per-row output is written as well; memory grows
with the number of groups, not of rows. Rows with a blank COLUMN are in no group.
"""
from __future__ import annotations

import argparse
import sys
from typing import Optional

from tfclf import cli, prediction


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tfclf predict", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, metavar="PATH",
                        help="Run directory, SavedModel, or TF Serving model folder (latest version).")
    parser.add_argument("--input", required=True, metavar="FILE|-", help="Input file, folder, or - for stdin.")
    parser.add_argument("--output", required=True, metavar="FILE|-",
                        help="Output .csv, .tsv, .jsonl or .parquet (all values as strings), or - "
                             "for CSV on stdout.")
    parser.add_argument("--text-column", default="text",
                        help="Column holding the text: a header name, a --column-names name, or a 0-based "
                             "field index in a headerless file (default: text).")
    parser.add_argument("--header", action=argparse.BooleanOptionalAction, default=None,
                        help="Whether the first row of a delimited input is a header (default: detected as "
                             "in training: a first row that looks like a header but lacks --text-column "
                             "is an error).")
    parser.add_argument("--column-names", metavar="A,B,...", default="",
                        help="Names of a headerless delimited input's columns, in order; they are kept "
                             "in the output (default: none).")
    parser.add_argument("--delimiter", help="Input field delimiter (one character, or 'tab'); default by "
                                            "extension (.csv ',', .tsv tab, .txt ';', .psv '|').")
    parser.add_argument("--encoding", default="utf-8", help="Input text encoding (default: utf-8).")
    parser.add_argument("--lines", action="store_true", help="Read the input as one text per line.")
    parser.add_argument("--batch-size", type=int, default=64, help="Texts per model call (default: 64).")
    parser.add_argument("--top-k", type=int, default=3, help="(label, probability) pairs per row (default: 3).")
    parser.add_argument("--group-by", metavar="COLUMN", default=None,
                        help="Also predict per group: the input column whose value names a row's group "
                             "(e.g. user). A group gets the mean of its rows' probabilities (multi-label: "
                             "each label whose mean reaches the model's threshold), written to "
                             "--group-output; the per-row --output is written as well. Rows with a blank "
                             "cell are in no group (counted in the log). Default: none.")
    parser.add_argument("--group-output", metavar="FILE|-", default=None,
                        help="With --group-by: the per-group file (.csv, .tsv, .jsonl or .parquet, or - for "
                             "CSV on stdout when --output is a file): the group column, n_rows and the "
                             "prediction columns of --output, one row per group in first-seen order.")
    parser.add_argument("--quiet", action="store_true", help="No progress bar.")
    return parser


def main(argv: Optional[list[str]] = None) -> int:
    args = build_parser().parse_args(argv)

    def body() -> None:
        prediction.predict_file(args.model, args.input, args.output, text_column=args.text_column,
                     delimiter=args.delimiter, encoding=args.encoding, lines=args.lines,
                     batch_size=args.batch_size, top_k=args.top_k, progress=not args.quiet,
                     header=args.header, column_names=args.column_names, group_by=args.group_by,
                     group_output=args.group_output)

    return cli.run_main(body)


if __name__ == "__main__":
    sys.exit(main())
