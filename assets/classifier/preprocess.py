"""The preprocessing before an ONNX classifier's graph (pure: Pillow and numpy only).

Training and inference both call ``preprocess_image``, so a model always sees images prepared the
same way. The steps are the ones a ``ModelSpec`` declares: decode through the platform's decode
policy, convert to the colour mode, resize with Pillow, normalise to float32, arrange the layout.
"""

from collections.abc import Sequence

import numpy as np
from PIL import Image

from assets.classifier.spec import ModelSpec
from assets.decode import DEFAULT_POLICY, DecodePolicy, UndecodableImageError, decode_rgb_image

_RESAMPLE = {
    "nearest": Image.Resampling.NEAREST,
    "box": Image.Resampling.BOX,
    "bilinear": Image.Resampling.BILINEAR,
    "hamming": Image.Resampling.HAMMING,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
}


def resize_image(image: Image.Image, spec: ModelSpec) -> Image.Image:
    """Bring an image to ``spec.input_size`` by stretching or by shorter side + centre crop."""
    height, width = spec.input_size
    resample = _RESAMPLE[spec.resample]
    if spec.resize == "stretch":
        return image.resize((width, height), resample)
    # Centre crop: the largest box of the target aspect ratio, resized in one step so the filter
    # sees the whole crop (Pillow's resize with box= avoids an intermediate image).
    src_w, src_h = image.size
    target_ratio = width / height
    if src_w / src_h > target_ratio:
        crop_w, crop_h = src_h * target_ratio, float(src_h)
    else:
        crop_w, crop_h = float(src_w), src_w / target_ratio
    left, top = (src_w - crop_w) / 2, (src_h - crop_h) / 2
    return image.resize((width, height), resample, box=(left, top, left + crop_w, top + crop_h))


def image_to_array(image: Image.Image, spec: ModelSpec) -> np.ndarray:
    """Resize and normalise a decoded RGB image: float32 (height, width, channels)."""
    if spec.color_mode == "L":
        image = image.convert("L")
    pixels = np.asarray(resize_image(image, spec), dtype=np.float32)
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    mean = np.asarray(spec.mean, dtype=np.float32)
    std = np.asarray(spec.std, dtype=np.float32)
    return ((pixels * np.float32(spec.scale) - mean) / std).astype(np.float32, copy=False)


def preprocess_image(
    data: bytes, spec: ModelSpec, policy: DecodePolicy = DEFAULT_POLICY
) -> np.ndarray:
    """Decode and prepare one image: float32 (height, width, channels), or UndecodableImageError.

    JPEGs are decoded at a reduced DCT scale when the target is much smaller (at least the larger
    target side on both axes, so orientation and centre cropping still have enough pixels).
    """
    side = max(spec.input_size)
    image = decode_rgb_image(data, policy, draft_size=(side, side))
    try:
        return image_to_array(image, spec)
    except (OSError, ValueError) as exc:
        raise UndecodableImageError("preprocess_failed", f"{type(exc).__name__}: {exc}") from exc


def try_preprocess_image(
    data: bytes, spec: ModelSpec, policy: DecodePolicy = DEFAULT_POLICY
) -> np.ndarray | UndecodableImageError:
    """``preprocess_image`` that returns the error instead of raising it, for batch callers.

    Anything else an image makes Pillow raise is turned into ``UndecodableImageError`` too: its
    format plugins raise many exception types on hostile files, and one file must never stop a
    batch.
    """
    try:
        return preprocess_image(data, spec, policy)
    except UndecodableImageError as exc:
        return exc
    except Exception as exc:
        return UndecodableImageError("decode_failed", f"{type(exc).__name__}: {exc}")


def to_layout(batch: np.ndarray | Sequence[np.ndarray], layout: str) -> np.ndarray:
    """Stack (height, width, channels) arrays into the model's input layout, C-contiguous."""
    stacked = np.stack(batch) if not isinstance(batch, np.ndarray) else batch
    if stacked.ndim != 4:
        raise ValueError(f"expected a batch of shape (N, H, W, C), got {stacked.shape}")
    if layout == "NHWC":
        return np.ascontiguousarray(stacked, dtype=np.float32)
    if layout == "NCHW":
        return np.ascontiguousarray(stacked.transpose(0, 3, 1, 2), dtype=np.float32)
    if layout == "flat":
        return np.ascontiguousarray(stacked.reshape(len(stacked), -1), dtype=np.float32)
    raise ValueError(f"unknown layout {layout!r}")
