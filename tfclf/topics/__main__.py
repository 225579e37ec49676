"""``python -m tfclf.topics``: what is in a corpus, before labelling it (BERTopic on tfclf embeddings).

Make a map::

    python -m tfclf.topics --data ../shared/datasets/20newsgroups/train.jsonl \\
        --label-column label_name --strip-email-headers --strip-signatures --strip-quotes \\
        --output-dir topics/20news
    python -m tfclf.topics --data tickets.csv --text-column body --no-labels --to-labels \\
        --encoder labse --min-topic-size 20 --n-topics auto --output-dir topics/tickets
    python -m tfclf.topics --config experiments/topics_20news.yaml --output-dir topics/20news

Put new texts on a saved map::

    python -m tfclf.topics --model topics/20news --input new.csv --output new_topics.csv

Input is read as ``fit`` reads it (every format, --text-column, --where, cleaning flags),
chunk by chunk; texts are embedded in batches with a progress bar. ``--output-dir``
receives topics.csv, documents.csv, topic_map.html, topic_map.png, barchart.png,
report.md, the fitted map (bertopic/, safetensors), the embeddings (embeddings.npy, reused by
--embeddings-from) and config.yaml; with labels also
contingency.csv, with --to-labels a to_labels.csv that ``python -m tfclf.fit --data``
reads. The folder appears only when all of it is written. Bad input exits with status 2
and one message; nothing is written then.
"""
from __future__ import annotations

import argparse
import sys
from typing import Optional

from tfclf import cli
from tfclf.data import filesystem  # TensorFlow only when a --config is on a store
from tfclf.errors import TfclfError
from tfclf.topics import config as topics_config


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tfclf topics", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    topics_config.add_arguments(parser)
    out = parser.add_argument_group("output")
    out.add_argument("--output-dir", metavar="DIR", help="Folder of the map (required to make one).")
    out.add_argument("--overwrite", action="store_true",
                     help="Replace --output-dir if it holds a topic map tfclf wrote (nothing else is replaced).")
    out.add_argument("--embeddings-from", metavar="DIR",
                     help="Reuse the embeddings.npy of an earlier map of the same texts and encoder settings "
                          "(try other --min-topic-size, --n-topics or UMAP settings without embedding again).")
    out.add_argument("--progress", action=argparse.BooleanOptionalAction, default=True,
                     help="Progress on stderr while embedding (default: on).")
    assign = parser.add_argument_group("new texts on a saved map (--model)")
    assign.add_argument("--model", metavar="DIR", help="A topic map folder to put --input's texts on.")
    assign.add_argument("--input", metavar="FILE", help="Texts, in any format python -m tfclf.predict reads.")
    assign.add_argument("--output", metavar="FILE",
                        help="Input rows with topic, topic_name and topic_score (.csv, .tsv, .jsonl, .parquet).")
    assign.add_argument("--lines", action="store_true", help="Read --input as one text per line.")
    return parser


def main(argv: Optional[list[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)

    def body() -> None:
        from tfclf.topics import topic_map

        if args.model:
            if not args.input or not args.output:
                raise TfclfError("--model needs --input (the texts) and --output (a .csv, .tsv, .jsonl or "
                                 f".parquet file). Received: --input {args.input!r}, --output {args.output!r}")
            given = getattr(args, "data.text_column", None)
            summary = topic_map.assign(
                args.model, args.input, args.output,
                text_column=given.split(",")[0] if given else "text",
                delimiter=getattr(args, "data.delimiter", None),
                encoding=getattr(args, "data.encoding", "utf-8"), lines=args.lines, progress=args.progress)
            sys.stdout.write(f"Assigned {summary.rows:,} texts to topics: {summary.output}\n")
            return
        if args.input or args.output:
            raise TfclfError("--input and --output put texts on a saved map and need --model DIR; to make a "
                             "map, pass --data and --output-dir.")
        if not args.output_dir:
            raise TfclfError("--output-dir is required: the folder the topic map is written to.")
        config = topics_config.from_args(args, read=filesystem.read_bytes)
        summary = topic_map.make(config, args.output_dir, overwrite=args.overwrite, progress=args.progress,
                                 embeddings_from=args.embeddings_from)
        align = summary.get("alignment")
        sys.stdout.write(
            f"{summary['n_topics']} topics over {summary['n_documents']:,} documents "
            f"({100 * summary['outlier_share']:.1f}% outliers)"
            + (f"; against the labels ARI {align['ari']:.3f}, NMI {align['nmi']:.3f}" if align else "")
            + f"\nReport: {args.output_dir}/report.md\n")

    return cli.run_main(body)


if __name__ == "__main__":
    sys.exit(main())
