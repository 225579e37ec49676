"""tfclf: fine-tune TF Hub text encoders into classifiers and ship them to TF Serving.

TF Hub's ``hub.KerasLayer`` needs Keras 2 (``tf_keras``), so importing tfclf selects
it before TensorFlow is imported. Set ``TF_USE_LEGACY_KERAS=0`` yourself to opt out.

On x86-64 it also turns on TensorFlow's oneDNN CPU kernels, which TF enables by
itself only on CPUs with AVX512_VNNI, AVX512_BF16 or AMX. On an AVX2-only AMD EPYC
they made a MiniLM training step 20-30% faster (experiments/RESULTS.md). Set
``TF_ENABLE_ONEDNN_OPTS=0`` yourself to opt out; like the Keras choice, this only
takes effect if tfclf is imported before TensorFlow.
"""
import os as _os
import platform as _platform
import types as _types
import warnings as _warnings

_os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
if _platform.machine().lower() in ("x86_64", "amd64"):
    _os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# tensorflow-hub 0.16.1 imports pkg_resources; setuptools is pinned below 81 so it exists.
_warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)

__version__ = "0.1.0"

__all__ = ["__version__", "fit", "load"]


class _FitModule(_types.ModuleType):
    """``tfclf.fit``: the ``python -m tfclf.fit`` module, and the API call ``tfclf.fit(config) -> Run``.

    A package attribute and a submodule of the same name cannot coexist: importing
    the submodule ``tfclf.fit`` (``python -m tfclf.fit``, ``from tfclf import fit``)
    sets the package's ``fit`` to it. So the module is callable: ``tfclf/fit.py``
    takes this class, and ``tfclf.fit(config)`` trains however it was imported.
    """

    def __call__(self, config, **kwargs):
        from tfclf import training

        return training.fit(config, **kwargs)


def __getattr__(name):
    # Lazy, so `import tfclf` stays cheap and TensorFlow loads only when needed.
    if name == "fit":  # the CLI module, callable as tfclf.fit(config) -> Run
        import importlib

        return importlib.import_module("tfclf.fit")
    if name == "load":
        from tfclf.serving.loaded import load

        return load
    raise AttributeError(f"module 'tfclf' has no attribute {name!r}")
