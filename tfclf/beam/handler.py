"""Beam's TensorFlow model handler over a tfclf export: raw strings in, prediction cells out.

``TfclfModelHandler`` is ``apache_beam.ml.inference.tensorflow_inference.TFModelHandlerTensor``
with two changes, for ``RunInference``:

* ``load_model`` imports ``tensorflow_text`` (its ops, ``CaseFoldUTF8``,
  ``WordpieceTokenizeWithOffsets`` ..., must be registered in each worker process before
  the graph is loaded) and loads the SavedModel with ``tf.saved_model.load``: Beam's
  default, ``tf.keras.models.load_model``, expects a Keras model, and a tfclf export is a
  ``tf.Module`` whose ``serving_default`` signature is the model (``tfclf.export``);
* ``inference_fn`` is ``serving_outputs``: a batch of texts (Beam batches them,
  ``min_batch_size``/``max_batch_size``) -> ``serving_default(text=[batch] tf.string)`` ->
  per text, the prediction cells of ``tfclf.prediction.prediction_cells`` (the columns
  ``python -m tfclf.predict`` writes) and its ``[C] float32`` probabilities.

The model is loaded once per worker process and shared by its threads (Beam's
``RunInference`` does that); the model URI may be on a store (``gs://``), which
TensorFlow reads directly.
"""
from __future__ import annotations

import functools
from typing import Any, Iterable, Optional, Sequence

import tensorflow as tf
from apache_beam.ml.inference.base import PredictionResult
from apache_beam.ml.inference.tensorflow_inference import TFModelHandlerTensor

from tfclf import prediction
from tfclf.serving import loaded


def serving_outputs(model: tf.Module, batch: Sequence[str], inference_args: dict[str, Any],
                    model_id: Optional[str] = None, *, label_names: Sequence[str], top_k: int,
                    multi_label: bool) -> Iterable[PredictionResult]:
    """``TFModelHandlerTensor``'s ``inference_fn``: one ``serving_default`` call per batch.

    Args:
        model: the loaded SavedModel.
        batch: texts (``str``; undecodable input bytes kept as surrogates, as
            ``tfclf.predict`` reads them, and given to the graph as those bytes).
        inference_args: unused (the signature takes only ``text``).
        model_id: the model URI, recorded in each result.
        label_names, top_k, multi_label: the export's labels and the output columns wanted.

    Returns:
        One ``PredictionResult`` per text: ``example`` the text, ``inference``
        ``(cells, probabilities)``: the prediction cells (``prediction.prediction_columns``
        order) and ``[C] float32``.
    """
    serve = model.signatures["serving_default"]
    texts = tf.constant([loaded.utf8_bytes(t) for t in batch], dtype=tf.string)
    outputs = {k: v.numpy() for k, v in serve(text=texts).items()}
    cells = prediction.prediction_cells(outputs, label_names, top_k, multi_label)
    return [PredictionResult(text, (row, probabilities), model_id)
            for text, row, probabilities in zip(batch, cells, outputs["probabilities"])]


class TfclfModelHandler(TFModelHandlerTensor):
    """``TFModelHandlerTensor`` for a tfclf export (see the module docstring).

    Args:
        model_uri: the SavedModel folder (a version folder), local or on a store.
        label_names: the export's labels (``assets/labels.txt``).
        top_k: (label, probability) pairs per row.
        multi_label: the export is multi-label (its outputs have ``labels``).
        min_batch_size, max_batch_size: Beam's batching of texts per model call.
    """

    def __init__(self, model_uri: str, label_names: Sequence[str], top_k: int, multi_label: bool, *,
                 min_batch_size: Optional[int] = None, max_batch_size: Optional[int] = None):
        super().__init__(model_uri, inference_fn=functools.partial(
            serving_outputs, label_names=list(label_names), top_k=top_k, multi_label=multi_label),
            min_batch_size=min_batch_size, max_batch_size=max_batch_size)

    def load_model(self) -> tf.Module:
        import tensorflow_text  # noqa: F401  (registers the TF-Text ops in this worker before the load)

        return tf.saved_model.load(self._model_uri)

    def get_metrics_namespace(self) -> str:
        return "tfclf_RunInference"
