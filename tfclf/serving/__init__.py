"""Serving: a run's classifier as SavedModels that take raw strings, and everything around them.

Modules, one concept each, lowest first (each imports only those above it):

* ``signatures``: the serving modules (``serving_default`` and ``embed``), their text
  features and outputs, and ``save_serving_model``;
* ``restore``: a run directory -> its classifier rebuilt with the best epoch's weights
  (export, the parity check and the tuner all rebuild through it);
* ``loaded``: ``LoadedModel``/``load`` (``tfclf.load``) and model-path resolution;
* ``tf_serving``: versioned TF Serving exports, warmup records, ``models.config``,
  tokenizer assets for ``--format ids`` and the op listing;
* ``check``: the parity check that reloads an export in a fresh process.

``python -m tfclf.export`` is the command line over them.
"""
