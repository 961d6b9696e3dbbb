"""What an ONNX image classifier expects and returns (pure: no Dagster, no scikit-learn).

A ``ModelSpec`` travels with every ONNX model the platform runs, trained here or provided by a
user. It declares the preprocessing that happens before the graph, so that inference needs only
the decode policy, Pillow, numpy and onnxruntime:

1. decode with ``assets.decode`` (first frame, EXIF orientation, alpha composited on white),
   converted to ``color_mode`` ("RGB" or Pillow's "L" greyscale);
2. resize to ``input_size`` = (height, width) with Pillow's ``resample`` filter, either stretched
   (``resize="stretch"``) or shorter side to size then centre-cropped (``resize="center_crop"``);
3. ``x = (pixel * scale - mean[c]) / std[c]`` as float32, per channel ``c``;
4. arranged in ``layout``: "NHWC", "NCHW", or "flat" (NHWC flattened to [N, H*W*C]).

The version is content-addressed: the first 16 hex digits of the SHA-256 of the ONNX bytes, so the
same model file always has the same version and any change to it gives a new one.
"""

import hashlib
import json
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

Layout = Literal["NHWC", "NCHW", "flat"]
ColorMode = Literal["RGB", "L"]
ResizeMode = Literal["stretch", "center_crop"]
OutputKind = Literal["probabilities", "logits"]

LAYOUTS = ("NHWC", "NCHW", "flat")
COLOR_MODES = ("RGB", "L")
RESIZE_MODES = ("stretch", "center_crop")
RESAMPLE_FILTERS = ("nearest", "box", "bilinear", "hamming", "bicubic", "lanczos")
OUTPUT_KINDS = ("probabilities", "logits")
VERSION_HEX_DIGITS = 16
# Key of the ONNX metadata entry holding the preprocessing contract of models trained here.
SPEC_METADATA_KEY = "image_platform.model_spec"
# Fields that depend on the bytes or on when training ran: kept out of the file itself.
_NOT_EMBEDDED = ("version", "training", "source")


def model_version(onnx_bytes: bytes) -> str:
    """The content address of a model: the first 16 hex digits of SHA-256 of its ONNX bytes."""
    return hashlib.sha256(onnx_bytes).hexdigest()[:VERSION_HEX_DIGITS]


@dataclass(frozen=True)
class ModelSpec:
    """Everything needed to run an ONNX image classifier on image bytes.

    ``input_name``: the graph input fed with the preprocessed batch (float32).
    ``input_size``: (height, width) in pixels after resizing.
    ``color_mode``: "RGB" (3 channels, R, G, B order) or "L" (1 channel, Pillow's greyscale).
    ``layout``: axis order of the input tensor; "flat" is NHWC flattened to [N, H*W*C].
    ``scale``, ``mean``, ``std``: normalisation ``(pixel * scale - mean[c]) / std[c]``; ``mean`` and
    ``std`` hold one value per channel, or a single value used for every channel.
    ``resize``, ``resample``: how the decoded image is brought to ``input_size``.
    ``class_names``: class labels in the order of the probability output's columns.
    ``probabilities_output``: name of the [N, n_classes] float output; None means the first float
    output of the graph. ``output_kind``: "probabilities", or "logits" (softmax applied after).
    ``version``: content address of the ONNX bytes (see ``model_version``).
    ``source``: "trained" (by this platform) or "user" (provided as an ONNX file).
    ``training``: JSON-serialisable facts about how the model was made (empty for user models).
    """

    input_name: str
    input_size: tuple[int, int]
    class_names: tuple[str, ...]
    version: str
    color_mode: ColorMode = "RGB"
    layout: Layout = "NHWC"
    scale: float = 1.0 / 255.0
    mean: tuple[float, ...] = (0.0,)
    std: tuple[float, ...] = (1.0,)
    resize: ResizeMode = "stretch"
    resample: str = "bilinear"
    probabilities_output: str | None = None
    output_kind: OutputKind = "probabilities"
    source: str = "trained"
    training: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Normalise list-like fields so a spec read back from JSON equals the one written.
        object.__setattr__(self, "input_size", tuple(int(v) for v in self.input_size))
        object.__setattr__(self, "class_names", tuple(str(c) for c in self.class_names))
        object.__setattr__(self, "mean", tuple(float(v) for v in self.mean))
        object.__setattr__(self, "std", tuple(float(v) for v in self.std))
        self.validate()

    @property
    def channels(self) -> int:
        return 3 if self.color_mode == "RGB" else 1

    def validate(self) -> None:
        """Raise ValueError when the declared preprocessing cannot be carried out."""
        if len(self.input_size) != 2 or min(self.input_size) < 1:
            raise ValueError(f"input_size must be (height, width) >= 1, got {self.input_size}")
        checks = [
            ("color_mode", self.color_mode, COLOR_MODES),
            ("layout", self.layout, LAYOUTS),
            ("resize", self.resize, RESIZE_MODES),
            ("resample", self.resample, RESAMPLE_FILTERS),
            ("output_kind", self.output_kind, OUTPUT_KINDS),
        ]
        for name, value, allowed in checks:
            if value not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {value!r}")
        for name, values in (("mean", self.mean), ("std", self.std)):
            if len(values) not in (1, self.channels):
                raise ValueError(f"{name} needs 1 or {self.channels} values, got {len(values)}")
        if any(v == 0 for v in self.std):
            raise ValueError("std values must not be 0")
        if len(self.class_names) < 2 or len(set(self.class_names)) != len(self.class_names):
            raise ValueError("class_names must hold at least two distinct names")
        if not self.version:
            raise ValueError("version must be set (see model_version)")

    def with_training(self, **facts: Any) -> "ModelSpec":
        return replace(self, training={**self.training, **facts})

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["input_size"] = list(self.input_size)
        data["class_names"] = list(self.class_names)
        data["mean"] = list(self.mean)
        data["std"] = list(self.std)
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, indent=2)

    def embedded_json(self) -> str:
        """The deterministic part of the spec, stored inside ONNX files trained here.

        Only facts that follow from the model go inside the file, so retraining on the same images
        reproduces the same bytes and therefore the same version.
        """
        data = self.to_dict()
        for key in _NOT_EMBEDDED:
            data.pop(key)
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_onnx(cls, onnx_bytes: bytes) -> "ModelSpec":
        """Read the spec embedded in an ONNX file trained here (version from the bytes)."""
        import onnxruntime as ort

        session = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
        embedded = session.get_modelmeta().custom_metadata_map.get(SPEC_METADATA_KEY)
        if embedded is None:
            raise ValueError("this ONNX file has no embedded spec: describe it with for_user_model")
        return cls(**json.loads(embedded), version=model_version(onnx_bytes), source="trained")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ModelSpec":
        return cls(**data)

    @classmethod
    def from_json(cls, text: str) -> "ModelSpec":
        return cls.from_dict(json.loads(text))

    @classmethod
    def for_user_model(
        cls,
        onnx_bytes: bytes,
        input_size: tuple[int, int],
        class_names: tuple[str, ...] | list[str],
        layout: Layout = "NCHW",
        color_mode: ColorMode = "RGB",
        scale: float = 1.0 / 255.0,
        mean: tuple[float, ...] = (0.0,),
        std: tuple[float, ...] = (1.0,),
        resize: ResizeMode = "stretch",
        resample: str = "bilinear",
        input_name: str | None = None,
        probabilities_output: str | None = None,
        output_kind: OutputKind = "probabilities",
    ) -> "ModelSpec":
        """Describe an ONNX model provided by a user; the version is computed from its bytes.

        ``input_name`` defaults to the graph's only input (read with onnxruntime).
        """
        if input_name is None:
            input_name = _single_input_name(onnx_bytes)
        return cls(
            input_name=input_name,
            input_size=input_size,
            class_names=tuple(class_names),
            version=model_version(onnx_bytes),
            color_mode=color_mode,
            layout=layout,
            scale=scale,
            mean=mean,
            std=std,
            resize=resize,
            resample=resample,
            probabilities_output=probabilities_output,
            output_kind=output_kind,
            source="user",
        )


def _single_input_name(onnx_bytes: bytes) -> str:
    import onnxruntime as ort

    session = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    inputs = session.get_inputs()
    if len(inputs) != 1:
        names = [i.name for i in inputs]
        raise ValueError(f"the model has inputs {names}: say which one takes the image")
    return inputs[0].name
