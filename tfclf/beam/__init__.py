"""Batch prediction at scale on Apache Beam: ``python -m tfclf.predict_beam`` (the ``beam`` extra).

Modules, one concept each, lowest first:

* ``sufficient_statistics``: what a labelled prediction stream keeps to write ``metrics.json``
  (no Beam);
* ``rows``: input files -> rows, and the rows that fail to parse -> dead letters;
* ``handler``: Beam's TensorFlow model handler over a tfclf export (TF-Text ops loaded in
  every worker);
* ``pipeline``: the pipeline (read, RunInference, write shards, evaluate), run on any runner.

This package imports nothing; its modules but ``sufficient_statistics`` need
``apache_beam`` (``pip install -r requirements-beam.txt``).
"""

OUTPUT_FORMATS = ("csv", "tsv", "jsonl", "parquet")  # of the prediction shards (--output-format)
