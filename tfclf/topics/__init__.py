"""Topic maps of unlabelled text with the encoders tfclf fine-tunes (BERTopic on tfclf embeddings).

Modules, one concept each:

* ``config``: ``TopicsConfig`` (the ``topics:`` section and its flags) and ``TopicsRunConfig``;
* ``corpus``: the texts (and optional labels), read as ``fit`` reads data;
* ``embedding``: texts -> sentence embeddings with a hub encoder or a tfclf run;
* ``modeling``: BERTopic: build, fit, alignment with labels, save, load, transform;
* ``report``: the tables, pictures and report.md of a map folder;
* ``topic_map``: ``make`` (a corpus -> a map folder) and ``assign`` (new texts -> topics).

``python -m tfclf.topics`` is the CLI. Importing this package loads neither TensorFlow
nor BERTopic; nothing on this path imports PyTorch.
"""
