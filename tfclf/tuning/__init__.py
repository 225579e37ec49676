"""Hyperparameter searches over the fine-tuning recipe (``python -m tfclf.tune``).

Modules, lowest first (each imports only those above it):

* ``space``: what to search: ``SearchSpace``, the YAML ``search:`` section, and the
  configuration of one trial;
* ``config``: how to search: ``TuneConfig``, the YAML ``tune:`` section and the tune flags;
* ``results``: what each trial reports, and trials.csv, summary.md and the best trial's files;
* ``tuner``: the Keras Tuner tuner whose trials are ``training.fit`` runs, and ``search``
  (standalone, chief or worker; resumable), ``refit``.

``space``, ``config`` and ``results`` import no TensorFlow, so the CLI checks its input
with them first; ``tuner`` imports Keras Tuner and ``tfclf.training``.
"""
