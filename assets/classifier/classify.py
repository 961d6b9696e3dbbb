"""Batch inference of an ONNX image classifier on image bytes (pure: no Dagster, no scikit-learn).

Needs only onnxruntime, numpy, Pillow and the platform's decode policy. Images are decoded and
preprocessed as the model's ``ModelSpec`` declares, in a thread pool (Pillow releases the GIL while
decoding and resizing), stacked into batches and run through one onnxruntime session. While the
session runs one batch, the pool already decodes the next one.

A file that cannot be decoded never fails the batch: its result is an ``UndecodableImageError``
with a reason code, in its place in the input order.
"""

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from typing import Any, TypeVar

import numpy as np
import onnxruntime as ort

from assets.classifier.preprocess import to_layout, try_preprocess_image
from assets.classifier.registry import load_version
from assets.classifier.spec import ModelSpec, model_version
from assets.decode import DEFAULT_POLICY, DecodePolicy, UndecodableImageError
from assets.ordered import OrderedExecutor

K = TypeVar("K")

_INPUT_DTYPES = {
    "tensor(float)": np.float32,
    "tensor(double)": np.float64,
    "tensor(float16)": np.float16,
}


@dataclass(frozen=True)
class Prediction:
    """The model's answer for one image.

    ``label``: the most probable class; ``probability``: its probability; ``probabilities``:
    float32 [n_classes], the full distribution aligned with ``class_names`` (the spec's order).
    """

    label: str
    probability: float
    probabilities: np.ndarray
    class_names: tuple[str, ...]

    def by_class(self) -> dict[str, float]:
        """The probabilities as {class name: probability}."""
        return {
            name: float(p) for name, p in zip(self.class_names, self.probabilities, strict=True)
        }


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


def _static(dim: Any) -> int | None:
    return dim if isinstance(dim, int) and dim > 0 else None


class Classifier:
    """An ONNX classifier with its spec, ready to classify image bytes.

    ``intra_op_threads`` is onnxruntime's thread count for one inference call; ``decode_threads``
    the number of threads decoding and preprocessing images (1 decodes in the calling thread).
    """

    def __init__(
        self,
        session: ort.InferenceSession,
        spec: ModelSpec,
        policy: DecodePolicy = DEFAULT_POLICY,
        decode_threads: int = 2,
    ):
        self.session = session
        self.spec = spec
        self.policy = policy
        self.decode_threads = max(1, int(decode_threads))
        self._input_dtype, self._fixed_batch = self._check_input()
        self._output = self._find_output()

    @classmethod
    def load(
        cls,
        onnx_bytes: bytes,
        spec: ModelSpec | None = None,
        intra_op_threads: int = 1,
        decode_threads: int = 2,
        policy: DecodePolicy = DEFAULT_POLICY,
        allow_spinning: bool = False,
    ) -> "Classifier":
        """Open a model. ``spec`` defaults to the one embedded in models trained here.

        The defaults suit two cores: photographs are decode-bound (two decode threads almost
        double throughput) while the trained model takes about 0.3 ms per image on one
        onnxruntime thread, so a second intra-op thread would mostly compete with decoding.

        The spec's version must be the content address of these bytes, so results can always be
        traced to the exact model file. ``allow_spinning`` lets idle onnxruntime threads
        busy-wait for the next call: a little lower latency, but it burns cores that the decode
        threads need, so it is off by default.
        """
        if spec is None:
            spec = ModelSpec.from_onnx(onnx_bytes)
        actual = model_version(onnx_bytes)
        if spec.version != actual:
            raise ValueError(
                f"spec version {spec.version} is not this model's content address {actual}"
            )
        options = ort.SessionOptions()
        options.intra_op_num_threads = max(1, int(intra_op_threads))
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.log_severity_level = 3
        options.add_session_config_entry(
            "session.intra_op.allow_spinning", "1" if allow_spinning else "0"
        )
        session = ort.InferenceSession(onnx_bytes, options, providers=["CPUExecutionProvider"])
        return cls(session, spec, policy, decode_threads)

    @classmethod
    def from_store(
        cls,
        store,
        container: str,
        version: str | None = None,
        intra_op_threads: int = 1,
        decode_threads: int = 2,
    ) -> "Classifier":
        """A stored model version (default: the current one) with its preprocessing, verified
        against its content address, ready to classify."""
        model = load_version(store, container, version or None)
        return cls.load(
            model.onnx_bytes,
            model.spec,
            intra_op_threads=intra_op_threads,
            decode_threads=decode_threads,
        )

    @property
    def version(self) -> str:
        """The model version: the content address of its ONNX bytes."""
        return self.spec.version

    def _check_input(self) -> tuple[type, int | None]:
        spec = self.spec
        inputs = {i.name: i for i in self.session.get_inputs()}
        if spec.input_name not in inputs:
            raise ValueError(f"the model has no input {spec.input_name!r}; it has {list(inputs)}")
        model_input = inputs[spec.input_name]
        if model_input.type not in _INPUT_DTYPES:
            raise ValueError(f"input {spec.input_name!r} is {model_input.type}: not a float tensor")
        height, width = spec.input_size
        channels = spec.channels
        expected = {
            "NHWC": [height, width, channels],
            "NCHW": [channels, height, width],
            "flat": [height * width * channels],
        }[spec.layout]
        shape = list(model_input.shape)
        if len(shape) != len(expected) + 1:
            raise ValueError(
                f"input {spec.input_name!r} has shape {shape}, layout {spec.layout} needs "
                f"[N, {', '.join(map(str, expected))}]"
            )
        for declared, wanted in zip(shape[1:], expected, strict=True):
            if _static(declared) is not None and declared != wanted:
                raise ValueError(
                    f"input {spec.input_name!r} has shape {shape}, the spec declares "
                    f"{spec.layout} [N, {', '.join(map(str, expected))}]"
                )
        return _INPUT_DTYPES[model_input.type], _static(shape[0])

    def _find_output(self) -> str:
        outputs = self.session.get_outputs()
        n_classes = len(self.spec.class_names)
        if self.spec.probabilities_output is not None:
            names = [o.name for o in outputs]
            if self.spec.probabilities_output not in names:
                raise ValueError(
                    f"the model has no output {self.spec.probabilities_output!r}; it has {names}"
                )
            chosen = next(o for o in outputs if o.name == self.spec.probabilities_output)
        else:
            candidates = [o for o in outputs if o.type in _INPUT_DTYPES or o.type.startswith("seq")]
            if not candidates:
                raise ValueError("the model has no float output to read probabilities from")
            chosen = candidates[0]
        if chosen.type in _INPUT_DTYPES:
            classes = _static(chosen.shape[-1]) if len(chosen.shape) == 2 else None
            if len(chosen.shape) != 2 or (classes is not None and classes != n_classes):
                raise ValueError(
                    f"output {chosen.name!r} has shape {chosen.shape}, "
                    f"but the spec names {n_classes} classes"
                )
        return chosen.name

    def _run(self, tensor: np.ndarray) -> np.ndarray:
        raw = self.session.run([self._output], {self.spec.input_name: tensor})[0]
        if isinstance(raw, list):  # a ZipMap output: one {class: probability} dict per image
            keys = [str(k) for k in raw[0]] if raw else []
            index = {k: i for i, k in enumerate(keys)}
            order = [index[name] for name in self.spec.class_names]
            raw = np.array([[row[k] for k in row] for row in raw], dtype=np.float64)[:, order]
        scores = np.asarray(raw, dtype=np.float64)
        if self.spec.output_kind == "logits":
            scores = _softmax(scores)
        return scores.astype(np.float32)

    def predict_arrays(self, arrays: list[np.ndarray] | np.ndarray) -> np.ndarray:
        """Probabilities [N, n_classes] for preprocessed (height, width, channels) arrays."""
        if len(arrays) == 0:
            return np.zeros((0, len(self.spec.class_names)), dtype=np.float32)
        tensor: np.ndarray = to_layout(arrays, self.spec.layout).astype(
            self._input_dtype, copy=False
        )
        fixed = self._fixed_batch
        if fixed is None:
            return self._run(tensor)
        # A model exported with a fixed batch size: feed it that many at a time, padding the end.
        parts = []
        for start in range(0, len(tensor), fixed):
            chunk = tensor[start : start + fixed]
            if len(chunk) < fixed:
                pad = np.zeros((fixed - len(chunk), *chunk.shape[1:]), dtype=chunk.dtype)
                parts.append(self._run(np.concatenate([chunk, pad]))[: len(chunk)])
            else:
                parts.append(self._run(chunk))
        return np.concatenate(parts)

    def prepare(self, data: bytes) -> np.ndarray | UndecodableImageError:
        """Decode and preprocess one image; failures are returned, never raised."""
        return try_preprocess_image(data, self.spec, self.policy)

    def _predictions(self, probabilities: np.ndarray) -> list[Prediction]:
        names = self.spec.class_names
        best = probabilities.argmax(axis=1)
        return [
            Prediction(
                label=names[index],
                probability=float(row[index]),
                probabilities=row,
                class_names=names,
            )
            for index, row in zip(best, probabilities, strict=True)
        ]

    def classify_bytes(
        self, items: Iterable[tuple[K, bytes]], batch_size: int = 64
    ) -> Iterator[tuple[K, Prediction | UndecodableImageError]]:
        """Classify (key, image bytes) items; yields (key, Prediction or error) in input order.

        At most two batches of images are held in memory: the one being classified and the one
        being decoded.
        """
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        # The next batch decodes while this one is classified: at most two batches in memory.
        with OrderedExecutor(self.decode_threads, max_in_flight=batch_size) as pool:
            prepared = pool.map(lambda item: (item, self.prepare(item[1])), items)
            while chunk := list(islice(prepared, batch_size)):
                yield from self._finish([item for item, _ in chunk], [p for _, p in chunk])

    def _finish(
        self,
        chunk: list[tuple[K, bytes]],
        prepared: list[np.ndarray | UndecodableImageError],
    ) -> Iterator[tuple[K, Prediction | UndecodableImageError]]:
        good = [i for i, p in enumerate(prepared) if not isinstance(p, UndecodableImageError)]
        arrays = [p for p in prepared if not isinstance(p, UndecodableImageError)]
        predictions = self._predictions(self.predict_arrays(arrays))
        by_position: dict[int, Prediction] = dict(zip(good, predictions, strict=True))
        for position, (key, _) in enumerate(chunk):
            item = prepared[position]
            yield key, item if isinstance(item, UndecodableImageError) else by_position[position]
