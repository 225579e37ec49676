"""``python -m tfclf.explain``: which words push a saved model toward its predictions (SHAP).

Examples::

    python -m tfclf.explain --model runs/demo --text "I was charged twice" --output explain.html
    python -m tfclf.explain --model serving/tickets --input test.csv --limit 20 --output explain.html

A ``shap`` Text masker splits each text into words and hides subsets of them
(replaced by ``...``); a Partition explainer runs the raw-string model on the
masked texts and attributes each label's probability to the words. Writes

* ``--output`` (HTML): SHAP's interactive text plot, one block per text;
* ``--json`` (default: the output path with ``.json``): per text, the predicted
  label(s), the probabilities, and for each predicted label the ``--top-k`` words
  with the largest positive SHAP values (those pushing toward it).

Cost: about ``--max-evals`` model calls per text, batched ``--batch-size`` at a time.
Blank texts have no words to attribute; they are reported with empty ``top_tokens``.
"""
from __future__ import annotations

import argparse
import sys
from typing import Optional

from tfclf import cli, explanation, outputs


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tfclf explain", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, metavar="PATH",
                        help="Run directory, SavedModel, or TF Serving model folder (latest version).")
    parser.add_argument("--text", action="append", default=[], help="A text to explain (repeatable).")
    parser.add_argument("--input", metavar="FILE", help="Texts to explain, in any format tfclf.predict reads.")
    parser.add_argument("--text-column", default="text", help="Column holding the text (default: text).")
    parser.add_argument("--delimiter", help="Input field delimiter; default by extension.")
    parser.add_argument("--encoding", default="utf-8", help="Input text encoding (default: utf-8).")
    parser.add_argument("--lines", action="store_true", help="Read --input as one text per line.")
    parser.add_argument("--limit", type=int, default=20, help="Explain at most N texts of --input (default: 20).")
    parser.add_argument("--output", default="explain.html", help="HTML plot (default: explain.html).")
    parser.add_argument("--json", metavar="FILE", help="Top words per text (default: --output with .json).")
    parser.add_argument("--max-evals", type=int, default=200, help="Model evaluations per text (default: 200).")
    parser.add_argument("--top-k", type=int, default=10, help="Words per predicted label (default: 10).")
    parser.add_argument("--batch-size", type=int, default=256, help="Masked texts per model call (default: 256).")
    return parser


def main(argv: Optional[list[str]] = None) -> int:
    args = build_parser().parse_args(argv)

    def body() -> None:
        explanation.check_outputs(args.output, args.json,
                                  [outputs.Input("--model", args.model, outputs_inside=True)]
                                  + ([outputs.Input("--input", args.input)] if args.input else []))
        texts = explanation.read_texts(args.text, args.input, limit=args.limit, text_column=args.text_column,
                                       delimiter=args.delimiter, encoding=args.encoding, lines=args.lines)
        records = explanation.explain(args.model, texts, args.output, args.json, max_evals=args.max_evals,
                                      top_k=args.top_k, batch_size=args.batch_size)
        for record in records:
            sys.stdout.write(explanation.summary_line(record) + "\n")

    return cli.run_main(body)


if __name__ == "__main__":
    sys.exit(main())
