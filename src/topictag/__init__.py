"""topictag: tag news articles with topics, train on your own labels, explain every tag.

The package imports lazily so that ``topictag --help`` does not pay for scikit-learn and pandas.
"""

__version__ = "0.1.0"

_EXPORTS = {
    "TopicClassifier": "model",
    "Prediction": "model",
    "Dataset": "corpus",
    "Example": "corpus",
    "read_dataset": "corpus",
    "load": "model",
    "read_text": "inputs",
    "default_model": "default",
    "tag": "default",
    "tag_many": "default",
    "Segment": "segment",
    "Segmenter": "segment",
    "add_tags": "frame",
    "add_tags_dask": "frame",
    "TopictagError": "errors",
    "DataError": "errors",
    "ModelError": "errors",
    "OutputError": "errors",
    "UsageError": "errors",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name):
    if name in _EXPORTS:
        import importlib

        module = importlib.import_module(f".{_EXPORTS[name]}", __name__)
        return getattr(module, name)
    raise AttributeError(f"module 'topictag' has no attribute {name!r}")
