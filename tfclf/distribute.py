"""Where a run trains: the tf.distribute strategy, this process's role and where it may write.

``--strategy`` picks one of TensorFlow's own strategies; tfclf adds no engine of its own:

* ``default``: no distribution, one device (a GPU when there is one).
* ``mirrored``: ``MirroredStrategy``, synchronous data parallelism over every local GPU
  (on a host without GPUs, one CPU replica).
* ``multi-worker``: ``MultiWorkerMirroredStrategy`` over the hosts listed in
  ``TF_CONFIG``; every host runs the same command.
* ``tpu``: ``TPUStrategy`` on the TPU attached to this TPU VM.
* ``auto`` (the default): ``mirrored`` when more than one GPU is visible, else ``default``.

``--batch-size`` is the global batch size: datasets are batched with it and Keras
splits each batch across the replicas in sync.

How a multi-worker run splits its input (``Distribution.file_shard`` and
``prepare_dataset``):

* **By file** (the training split, when it is read from at least as many input files
  as there are workers: shards of a folder or glob pattern, class-folder files):
  worker ``i`` of ``W`` (``TfConfig.worker_id``, TensorFlow's own numbering) reads
  only the files ``j`` with ``j % W == i``; streamed input re-reads only those files
  every epoch. This is what ``AutoShardPolicy.FILE`` does, done by tfclf: TensorFlow's
  FILE rewrite shards only its own C++ readers (``TFRecordDataset``, ``TextLineDataset``),
  and tfclf reads CSV, JSONL and Parquet in Python, so each worker's dataset is built
  from its files and marked ``AutoShardPolicy.OFF`` (already sharded). tf.distribute
  cuts each of the worker's batches of ``--batch-size`` into one piece per replica of
  the cluster and feeds them to the worker's replicas over ``W`` steps, so a global step
  still has ``--batch-size`` examples. Workers may hold different numbers of rows: the
  dataset's length is left unknown, and tf.distribute ends the epoch when every worker
  is out of data (those that finish first feed empty batches), so each row is seen
  exactly once per epoch. Keras learns the epoch's steps in the first epoch; reaching
  the end of data of unknown length there, it takes one more optimizer step on empty
  batches under MultiWorkerMirroredStrategy (no gradient, but AdamW's weight decay and
  the schedule advance once), as it does for any input of unknown length. The learning
  rate schedule counts ``ceil(rows / --batch-size)`` steps per epoch; uneven shares
  take a few more, which run at the schedule's last rate. ``prepare`` still reads every
  file on every worker once: the label vocabulary, the splits, the checks and the data
  report need all of them.
* **By data** (one file, fewer files than workers, and the validation and test
  splits): every worker builds the same dataset and keeps its share of each global
  batch (``AutoShardPolicy.DATA``). Evaluation and prediction gather the replicas'
  outputs in dataset order, which per-worker files would interleave.

In a cluster the *chief* (task ``chief``, else ``worker`` 0) writes the run
directory. The other workers run exactly the same code (saving can need every
worker's cooperation, as Keras' ``distributed_file_utils`` explains) but write into a
private temporary folder that is removed when they finish; they read the shared
state (resume checkpoint, best weights, history) from the chief's folder, so
``--output-dir`` must be on a filesystem every worker sees.

Example::

    dist = distribute.get_distribution(Strategy.AUTO)
    with dist.strategy.scope():
        model = build_model()
    shard = dist.file_shard(prepared.input_files("train"), "train")  # None: shard by data
    train_ds = dist.prepare_dataset(prepared.dataset("train", ..., file_shard=shard),
                                    by_file=shard is not None)
"""
from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator, Mapping, Optional, Sequence

import numpy as np

from tfclf.config import Strategy
from tfclf.errors import TfclfError

logger = logging.getLogger(__name__)

TASK_TYPES = ("chief", "worker")
TF_CONFIG_EXAMPLE = ('{"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
                     '"task": {"type": "worker", "index": 0}}')


@dataclasses.dataclass(frozen=True)
class TfConfig:
    """The parsed ``TF_CONFIG`` environment variable of a multi-worker run.

    Attributes:
        cluster: task type (``chief``, ``worker``) -> ``host:port`` addresses.
        task_type: this process's task type.
        task_index: this process's index within ``cluster[task_type]``.
    """

    cluster: Mapping[str, tuple[str, ...]]
    task_type: str
    task_index: int

    @property
    def is_chief(self) -> bool:
        """TensorFlow's rule: the ``chief`` task, else ``worker`` 0 when there is no chief."""
        if "chief" in self.cluster:
            return self.task_type == "chief"
        return self.task_type == "worker" and self.task_index == 0

    @property
    def num_workers(self) -> int:
        return sum(len(v) for v in self.cluster.values())

    @property
    def task(self) -> str:
        return f"{self.task_type}:{self.task_index}"

    @property
    def worker_id(self) -> int:
        """This task's place in ``[0, num_workers)``: the chief first, then the workers in order
        (TensorFlow's ``multi_worker_util.id_in_cluster``, the input pipeline id of its datasets)."""
        if self.task_type == "chief":
            return 0
        return self.task_index + len(self.cluster.get("chief", ()))


def parse_tf_config(text: Optional[str]) -> TfConfig:
    """Parses and validates ``TF_CONFIG``.

    Args:
        text: the variable's value, e.g. ``TF_CONFIG_EXAMPLE``.

    Returns:
        The cluster and this process's task.

    Raises:
        TfclfError: the variable is unset, not JSON, or names a task outside its cluster.
    """
    hint = f"Set it on every host, e.g. TF_CONFIG='{TF_CONFIG_EXAMPLE}'"
    if not text or not text.strip():
        raise TfclfError(f"--strategy multi-worker reads the cluster from TF_CONFIG, which is not set. {hint}")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise TfclfError(f"TF_CONFIG must be JSON ({e}). Received: TF_CONFIG={text!r}") from None
    if not isinstance(data, dict) or not isinstance(data.get("cluster"), dict) or \
            not isinstance(data.get("task"), dict):
        raise TfclfError(f"TF_CONFIG must have a 'cluster' and a 'task' object. {hint}. Received: {text!r}")
    cluster: dict[str, tuple[str, ...]] = {}
    for task_type, addresses in data["cluster"].items():
        if task_type not in TASK_TYPES:
            raise TfclfError(
                f"TF_CONFIG cluster task types must be one of {list(TASK_TYPES)} (MultiWorkerMirroredStrategy "
                f"has no parameter servers or evaluators). Received: {task_type!r}")
        if not isinstance(addresses, list) or not addresses or \
                not all(isinstance(a, str) and a.rpartition(":")[2].isdigit() for a in addresses):
            raise TfclfError(
                f"TF_CONFIG cluster.{task_type} must be a non-empty list of 'host:port' strings. "
                f"Received: {addresses!r}")
        cluster[task_type] = tuple(addresses)
    if len(cluster.get("chief", ())) > 1:
        raise TfclfError(f"TF_CONFIG can have only one chief. Received: chief={list(cluster['chief'])}")
    task_type, index = data["task"].get("type"), data["task"].get("index", 0)
    if task_type not in cluster:
        raise TfclfError(
            f"TF_CONFIG task.type must be one of the cluster's task types {sorted(cluster)}. "
            f"Received: type={task_type!r}")
    if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < len(cluster[task_type]):
        raise TfclfError(
            f"TF_CONFIG task.index must be in [0, {len(cluster[task_type]) - 1}] for the "
            f"{len(cluster[task_type])} {task_type} address(es). Received: index={index!r}")
    return TfConfig(cluster=cluster, task_type=task_type, task_index=index)


def resolve_strategy(kind: Strategy, gpus: Sequence[Any]) -> Strategy:
    """Resolves ``auto`` from the visible GPUs; other choices are returned as they are.

    Args:
        kind: the ``--strategy`` choice.
        gpus: the visible GPUs, e.g. ``tf.config.list_physical_devices("GPU")``.
    """
    kind = Strategy(kind)
    if kind is not Strategy.AUTO:
        return kind
    return Strategy.MIRRORED if len(gpus) > 1 else Strategy.DEFAULT


@dataclasses.dataclass
class Distribution:
    """A strategy plus this process's role in its cluster.

    Attributes:
        kind: the resolved strategy choice (never ``auto``).
        strategy: the ``tf.distribute.Strategy``; build and compile models in its ``scope()``.
        tf_config: the cluster of a multi-worker run, else None.
    """

    kind: Strategy
    strategy: Any
    tf_config: Optional[TfConfig] = None
    _shared_roots: dict[Path, Path] = dataclasses.field(default_factory=dict, repr=False)

    @property
    def multi_worker(self) -> bool:
        return self.tf_config is not None

    @property
    def is_chief(self) -> bool:
        """Whether this process writes the run directory (always, outside a cluster)."""
        return self.tf_config is None or self.tf_config.is_chief

    @property
    def num_replicas(self) -> int:
        return int(self.strategy.num_replicas_in_sync)

    @property
    def task(self) -> str:
        return self.tf_config.task if self.tf_config else "local"

    def log_batch_split(self, batch_size: int) -> None:
        """Logs how the global ``--batch-size`` splits over the replicas; warns if unevenly."""
        per_replica, rest = divmod(batch_size, self.num_replicas)
        if rest:
            logger.warning("--batch-size %d is the global batch; it does not divide by the %d replicas, "
                           "so replicas get %d or %d examples per step.", batch_size, self.num_replicas,
                           per_replica, per_replica + 1)
        elif self.num_replicas > 1:
            logger.info("Global batch %d = %d replicas x %d", batch_size, self.num_replicas, per_replica)

    def file_shard(self, files: int, split: str) -> Optional[tuple[int, int]]:
        """This worker's share of a split read from ``files`` input files (module docstring).

        Args:
            files: the input files the split's rows come from (``PreparedData.input_files``).
            split: the split, for the log.

        Returns:
            ``(worker_id, num_workers)``: read the files ``j`` with ``j % num_workers == worker_id``;
            or None to shard by data: outside a cluster, or with fewer files than workers
            (a worker would have none).
        """
        if not self.multi_worker or files < 2:
            return None
        workers = self.tf_config.num_workers
        if files < workers:
            logger.info("The %s split is read from %d files, fewer than the %d workers: every worker reads "
                        "them all and keeps its share of each batch (AutoShardPolicy.DATA).", split, files, workers)
            return None
        mine = len(range(self.tf_config.worker_id, files, workers))
        logger.info("Worker %s reads %d of the %d input files of the %s split (sharded by file).", self.task,
                    mine, files, split)
        return self.tf_config.worker_id, workers

    def prepare_dataset(self, ds, *, by_file: bool = False):
        """Sets how tf.distribute shards a dataset under multi-worker (module docstring).

        Args:
            ds: a split's batched dataset, or None for a missing split (returned as is).
            by_file: ``ds`` holds only this worker's files (``file_shard``): it is marked
                ``AutoShardPolicy.OFF`` and its length unknown, so that the epoch ends when
                every worker's data does. Else ``AutoShardPolicy.DATA``: every worker builds
                the same dataset (same shuffle seed) and keeps its share of each global batch.
        """
        if not self.multi_worker or ds is None:
            return ds
        import tensorflow as tf

        policy = tf.data.experimental.AutoShardPolicy
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = policy.OFF if by_file else policy.DATA
        if by_file:
            # A known length would be this worker's batch count, which Keras would take for
            # the steps of an epoch; workers differ, and a step needs all of them.
            ds = ds.filter(lambda *_: True)
        return ds.with_options(options)

    @contextlib.contextmanager
    def write_dir(self, shared: Path) -> Iterator[Path]:
        """The folder this process writes: ``shared`` on the chief, a private temporary one on workers.

        Args:
            shared: the chief's folder (the run's partial directory).

        Yields:
            ``shared`` itself on the chief; on other workers ``<tmp>/tfclf-worker<i>-*/<name>``
            (not yet created), whose temporary parent is removed when the block exits.
        """
        if self.is_chief:
            yield shared
            return
        temp = Path(tempfile.mkdtemp(prefix=f"tfclf-{self.tf_config.task_type}{self.tf_config.task_index}-"))
        root = temp / shared.name
        self._shared_roots[root] = shared
        logger.info("Worker %s writes to the temporary %s; the chief writes %s", self.task, root, shared)
        try:
            yield root
        finally:
            del self._shared_roots[root]
            shutil.rmtree(temp, ignore_errors=True)

    def shared_path(self, path: Path) -> Path:
        """Where the chief keeps ``path`` (a path inside a ``write_dir``): the state all workers read."""
        for root, shared in self._shared_roots.items():
            if path == root or root in path.parents:
                return shared / path.relative_to(root)
        return path

    def remove_keras_temp(self, shared: Path) -> None:
        """Removes the ``workertemp_<i>`` folder Keras' multi-worker file utilities make inside
        ``shared`` on non-chief workers (they remove it only after a save, and a short run
        may not save)."""
        if self.is_chief:
            return
        shutil.rmtree(shared / f"workertemp_{self.tf_config.task_index}", ignore_errors=True)

    def barrier(self) -> None:
        """Blocks until every worker gets here (an all-reduce); a no-op outside a cluster.

        Used after training, so no worker reads the chief's best checkpoint or history
        before the chief has written them.
        """
        if not self.multi_worker:
            return
        import tensorflow as tf

        ones = self.strategy.run(lambda: tf.constant(1.0))
        total = self.strategy.reduce(tf.distribute.ReduceOp.SUM, ones, axis=None)
        logger.debug("Barrier passed by %d replicas", int(total))

    def require_shared(self, path: Path) -> None:
        """Checks, after a barrier, that this worker sees ``path``, which the chief has written.

        Raises:
            TfclfError: on a worker that does not see it (``--output-dir`` not shared).
        """
        if not self.multi_worker:
            return
        self.barrier()
        if not path.exists():
            raise TfclfError(
                f"Worker {self.task} cannot see {path}, which the chief wrote. With --strategy "
                "multi-worker, --output-dir must be on a filesystem every worker shares (NFS, a "
                "mounted bucket): workers resume from and restore the chief's checkpoints there.")


def weights_digest(weights: Sequence[np.ndarray]) -> str:
    """A short SHA-256 of weight arrays (shapes, dtypes and bytes, in order).

    Every worker logs it for the weights it exports; equal digests show that the
    replicas stayed in sync.
    """
    h = hashlib.sha256()
    for w in weights:
        w = np.ascontiguousarray(w)
        h.update(f"{w.shape}{w.dtype}".encode())
        h.update(w.tobytes())
    return h.hexdigest()[:16]


def get_distribution(kind: Strategy, environ: Optional[Mapping[str, str]] = None,
                     gpus: Optional[Sequence[Any]] = None) -> Distribution:
    """Creates the strategy for ``--strategy`` (once per process and resolved choice).

    Call it before any other TensorFlow work: ``MultiWorkerMirroredStrategy``
    configures collective ops at program startup.

    Args:
        kind: the ``--strategy`` choice.
        environ: where ``TF_CONFIG`` is read and validated; default ``os.environ``, which is
            also what ``MultiWorkerMirroredStrategy`` itself reads.
        gpus: the visible GPUs ``auto`` decides by; default
            ``tf.config.list_physical_devices("GPU")``.

    Raises:
        TfclfError: ``multi-worker`` without a valid ``TF_CONFIG``, or ``tpu`` without a TPU.
    """
    import tensorflow as tf

    environ = os.environ if environ is None else environ
    gpus = tf.config.list_physical_devices("GPU") if gpus is None else gpus
    resolved = resolve_strategy(kind, gpus)
    tf_config_text = environ.get("TF_CONFIG")
    if tf_config_text and resolved is not Strategy.MULTI_WORKER:
        logger.warning("TF_CONFIG is set but --strategy is %s: training on this host only. Pass "
                       "--strategy multi-worker to train on the cluster it describes.", resolved.value)
    tf_config = parse_tf_config(tf_config_text) if resolved is Strategy.MULTI_WORKER else None
    # One strategy per process and kind: MultiWorkerMirroredStrategy cannot be created twice.
    if resolved not in _CREATED:
        _CREATED[resolved] = _create(resolved, tf_config)
    dist = _CREATED[resolved]
    logger.info("Strategy %s (%s): %d replica(s) in sync, %d visible GPU(s)%s", resolved.value,
                type(dist.strategy).__name__, dist.num_replicas, len(gpus),
                f", task {dist.task}{' (chief)' if dist.is_chief else ''}" if dist.multi_worker else "")
    return dist


_CREATED: dict[Strategy, Distribution] = {}


def _create(kind: Strategy, tf_config: Optional[TfConfig]) -> Distribution:
    import tensorflow as tf

    if kind is Strategy.DEFAULT:
        return Distribution(kind, tf.distribute.get_strategy())
    if kind is Strategy.MIRRORED:
        return Distribution(kind, tf.distribute.MirroredStrategy())
    if kind is Strategy.MULTI_WORKER:
        try:
            # Reads TF_CONFIG itself; ours was validated first for a readable message.
            strategy = tf.distribute.MultiWorkerMirroredStrategy()
        except (RuntimeError, ValueError) as e:
            raise TfclfError(
                f"Could not start MultiWorkerMirroredStrategy as {tf_config.task}: {e}. It must be "
                "created before any other TensorFlow work in the process (python -m tfclf.fit does).") from None
        return Distribution(kind, strategy, tf_config)
    if kind is Strategy.TPU:
        try:
            resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu="local")
            tf.config.experimental_connect_to_cluster(resolver)
            tf.tpu.experimental.initialize_tpu_system(resolver)
        except (ValueError, RuntimeError, tf.errors.OpError) as e:
            raise TfclfError(
                f"--strategy tpu found no TPU on this host ({type(e).__name__}: {str(e).splitlines()[0]}). "
                "Run on a TPU VM with the tensorflow-tpu wheel, or choose one of "
                "[auto, default, mirrored, multi-worker].") from None
        return Distribution(kind, tf.distribute.TPUStrategy(resolver))
    raise TfclfError(f"--strategy must be one of {[s.value for s in Strategy]}. Received: strategy={kind!r}")
