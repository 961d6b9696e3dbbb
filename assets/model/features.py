"""Fixed image features, defined once as an ONNX graph (nothing here is learned).

The trained classifier's ONNX file starts with this graph, so the features are computed inside
the model and inference needs no feature code of its own. Training runs the very same graph with
onnxruntime to get the feature matrix it fits on: there is one implementation, not a numpy copy
that could drift from the exported one.

Input: ``image``, float32 [N, H, W, 3] (NHWC, RGB scaled 0..1), H and W multiples of 16.
Output: ``features``, float32 [N, FEATURE_COUNT(H, W)], the concatenation of

* ``grey``: greyscale (ITU-R 601 luma weights) averaged to a 16x16 grid: the shape of the picture;
* ``edges``: a HOG-like descriptor. Sobel x, Sobel y and the two diagonal kernels on the greyscale
  image (edges replicated at the border), split into positive and negative parts (8 directions),
  each averaged over a 4x4 grid of cells: where edges run and which way;
* ``layout``: mean R, G, B over a 4x4 grid: the colour layout;
* ``histogram``: the joint RGB histogram with 4 levels per channel (64 bins), as fractions of the
  pixels: the colour distribution, independent of where the colours are.
"""

from functools import lru_cache

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

FEATURE_INPUT = "image"
FEATURE_OUTPUT = "features"
MAIN_OPSET = 17
# The IR version that goes with opset 17; onnx would otherwise stamp its newest, which older
# onnxruntime builds refuse to load.
IR_VERSION = 8
GREY_GRID = 16
CELL_GRID = 4
EDGE_GRID = 4
HISTOGRAM_LEVELS = 4
EDGE_DIRECTIONS = 8
# ITU-R 601-2 luma, the weights of Pillow's convert("L").
LUMA = (0.299, 0.587, 0.114)


def feature_count(input_size: tuple[int, int]) -> int:
    cells = CELL_GRID * CELL_GRID
    return (
        GREY_GRID * GREY_GRID
        + EDGE_DIRECTIONS * EDGE_GRID * EDGE_GRID
        + 3 * cells
        + HISTOGRAM_LEVELS**3
    )


def check_input_size(input_size: tuple[int, int]) -> None:
    height, width = input_size
    if height % GREY_GRID or width % GREY_GRID or height < GREY_GRID or width < GREY_GRID:
        raise ValueError(f"feature input size must be multiples of {GREY_GRID}, got {input_size}")


def _edge_kernels() -> np.ndarray:
    sobel_x = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=np.float32)
    diagonal = np.array([[-2, -1, 0], [-1, 0, 1], [0, 1, 2]], dtype=np.float32)
    kernels = [sobel_x, sobel_x.T, diagonal, np.fliplr(diagonal)]
    return np.stack(kernels)[:, None, :, :] / 4.0  # [4, 1, 3, 3]; /4 keeps responses in -1..1


def feature_nodes(
    input_size: tuple[int, int], prefix: str = "features_"
) -> tuple[list[onnx.NodeProto], list[onnx.TensorProto]]:
    """Nodes and initializers mapping ``image`` to ``features``; internal names get ``prefix``."""
    check_input_size(input_size)
    height, width = input_size
    p = prefix

    def const(name: str, array: np.ndarray) -> onnx.TensorProto:
        return numpy_helper.from_array(array, p + name)

    initializers = [
        const("luma", np.array(LUMA, dtype=np.float32).reshape(1, 3, 1, 1)),
        const("edge_kernels", _edge_kernels()),
        const("edge_pads", np.array([0, 0, 1, 1, 0, 0, 1, 1], dtype=np.int64)),
        const("levels", np.array(HISTOGRAM_LEVELS, dtype=np.float32)),
        const("top_level", np.array(HISTOGRAM_LEVELS - 1, dtype=np.float32)),
        const("zero", np.array(0.0, dtype=np.float32)),
        const(
            "bin_weights",
            np.array([HISTOGRAM_LEVELS**2, HISTOGRAM_LEVELS, 1], dtype=np.float32),
        ),
        const("bins", np.array(HISTOGRAM_LEVELS**3, dtype=np.int64)),
        const("one_hot_values", np.array([0.0, 1.0], dtype=np.float32)),
    ]
    grey_kernel = (height // GREY_GRID, width // GREY_GRID)
    cell_kernel = (height // CELL_GRID, width // CELL_GRID)
    edge_kernel = (height // EDGE_GRID, width // EDGE_GRID)
    n = helper.make_node
    nodes = [
        n("Transpose", [FEATURE_INPUT], [p + "nchw"], perm=[0, 3, 1, 2]),
        n("Conv", [p + "nchw", p + "luma"], [p + "grey_full"]),
        # grey
        n(
            "AveragePool",
            [p + "grey_full"],
            [p + "grey_grid"],
            kernel_shape=grey_kernel,
            strides=grey_kernel,
        ),
        n("Flatten", [p + "grey_grid"], [p + "f_grey"], axis=1),
        # edges: replicate the border so a frame around the picture is not an edge
        n("Pad", [p + "grey_full", p + "edge_pads"], [p + "grey_padded"], mode="edge"),
        n("Conv", [p + "grey_padded", p + "edge_kernels"], [p + "edge_signed"]),
        n("Neg", [p + "edge_signed"], [p + "edge_flipped"]),
        n("Concat", [p + "edge_signed", p + "edge_flipped"], [p + "edge_both"], axis=1),
        n("Relu", [p + "edge_both"], [p + "edge_directions"]),
        n(
            "AveragePool",
            [p + "edge_directions"],
            [p + "edge_cells"],
            kernel_shape=edge_kernel,
            strides=edge_kernel,
        ),
        n("Flatten", [p + "edge_cells"], [p + "f_edges"], axis=1),
        # colour layout
        n(
            "AveragePool",
            [p + "nchw"],
            [p + "colour_cells"],
            kernel_shape=cell_kernel,
            strides=cell_kernel,
        ),
        n("Flatten", [p + "colour_cells"], [p + "f_layout"], axis=1),
        # joint colour histogram: level = min(floor(x * levels), levels - 1) per channel
        n("Mul", [FEATURE_INPUT, p + "levels"], [p + "scaled"]),
        n("Floor", [p + "scaled"], [p + "floored"]),
        n("Min", [p + "floored", p + "top_level"], [p + "capped"]),
        n("Max", [p + "capped", p + "zero"], [p + "level"]),
        n("MatMul", [p + "level", p + "bin_weights"], [p + "bin_float"]),
        n("Cast", [p + "bin_float"], [p + "bin"], to=TensorProto.INT64),
        n("OneHot", [p + "bin", p + "bins", p + "one_hot_values"], [p + "one_hot"], axis=-1),
        n("ReduceMean", [p + "one_hot"], [p + "f_histogram"], axes=[1, 2], keepdims=0),
        n(
            "Concat",
            [p + "f_grey", p + "f_edges", p + "f_layout", p + "f_histogram"],
            [FEATURE_OUTPUT],
            axis=1,
        ),
    ]
    return nodes, initializers


def feature_model(input_size: tuple[int, int]) -> onnx.ModelProto:
    """The feature graph alone, as a runnable model (used by training)."""
    nodes, initializers = feature_nodes(input_size)
    height, width = input_size
    graph = helper.make_graph(
        nodes,
        "image_features",
        [helper.make_tensor_value_info(FEATURE_INPUT, TensorProto.FLOAT, [None, height, width, 3])],
        [
            helper.make_tensor_value_info(
                FEATURE_OUTPUT, TensorProto.FLOAT, [None, feature_count(input_size)]
            )
        ],
        initializers,
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", MAIN_OPSET)], ir_version=IR_VERSION
    )
    onnx.checker.check_model(model, full_check=True)
    return model


@lru_cache(maxsize=4)
def _session(input_size: tuple[int, int], threads: int):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    data = feature_model(input_size).SerializeToString()
    return ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])


def compute_features(images: np.ndarray, batch_size: int = 256, threads: int = 1) -> np.ndarray:
    """Run the feature graph on float32 images [N, H, W, 3]: float32 [N, feature_count]."""
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"expected images of shape (N, H, W, 3), got {images.shape}")
    size = (int(images.shape[1]), int(images.shape[2]))
    session = _session(size, threads)
    parts = [
        session.run([FEATURE_OUTPUT], {FEATURE_INPUT: images[i : i + batch_size]})[0]
        for i in range(0, len(images), batch_size)
    ]
    if not parts:
        return np.zeros((0, feature_count(size)), dtype=np.float32)
    return np.concatenate(parts).astype(np.float32, copy=False)
