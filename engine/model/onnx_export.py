"""Writing the contrastive timbre network as an ONNX graph, straight from its Keras weights.

The network (:func:`engine.model.contrastive.build_network`) is small and fixed: per member,
blocks of 3x3 Conv2D (no bias) + BatchNormalization + ReLU (+ 2x2 max pooling), global average
and max pooling side by side, one Dense layer; an ensemble L2-normalises each member's output
and averages them.  Rather than a general converter (tf2onnx and TFLiteConverter follow Keras 3
and TensorFlow releases, and break with them), this module reads the weights of exactly those
layers and writes the same computation with the ``onnx`` helper API, batch normalisation
folded into the convolutions.  A layer it does not know is an :class:`ExportError`, never a
silently different graph, and :func:`export_network` checks the graph against Keras on random
inputs before it writes anything.

TensorFlow is not needed to *run* the result (``onnxruntime`` is, see
:mod:`engine.model.runtime`); this module itself runs where the Keras model is (training).
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

#: smallest cosine similarity between Keras's and the ONNX graph's output accepted at export
MIN_COSINE = 0.99999
OPSET = 17


class ExportError(Exception):
    """The network has a layer or a setting the exporter does not write."""


def _cls(layer) -> str:
    return layer.__class__.__name__


class _Graph:
    def __init__(self) -> None:
        from onnx import helper  # noqa: F401  (fail early, with the import error, if missing)

        self.nodes: list = []
        self.inits: list = []
        self._n = 0

    def name(self, base: str) -> str:
        self._n += 1
        return f"{base}_{self._n}"

    def const(self, base: str, value: np.ndarray) -> str:
        from onnx import numpy_helper

        name = self.name(base)
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def op(self, op_type: str, inputs: list[str], base: str | None = None, **attrs) -> str:
        from onnx import helper

        out = self.name(base or op_type.lower())
        self.nodes.append(helper.make_node(op_type, inputs, [out], **attrs))
        return out


def _conv_bn(g: _Graph, x: str, conv, bn) -> str:
    """Conv2D (+ the BatchNormalization after it, folded in) on an NCHW tensor."""
    cfg = conv.get_config()
    if tuple(cfg["dilation_rate"]) != (1, 1) or int(cfg.get("groups", 1)) != 1:
        raise ExportError(f"{conv.name}: dilated or grouped convolutions are not exported")
    if cfg["data_format"] not in ("channels_last", None):
        raise ExportError(f"{conv.name}: data format {cfg['data_format']!r} is not exported")
    if cfg["activation"] not in ("linear", None):
        raise ExportError(f"{conv.name}: activation {cfg['activation']!r} is not exported")
    weights = conv.get_weights()
    kernel = weights[0].astype(np.float64)  # (kh, kw, in, out)
    bias = (weights[1].astype(np.float64) if cfg["use_bias"]
            else np.zeros(kernel.shape[-1], np.float64))
    if bn is not None:
        bcfg = bn.get_config()
        if bcfg["axis"] not in (-1, 3, [-1], [3]):
            raise ExportError(f"{bn.name}: batch normalisation over axis {bcfg['axis']}")
        n = kernel.shape[-1]
        gamma = np.asarray(bn.gamma.numpy() if bn.gamma is not None else np.ones(n), np.float64)
        beta = np.asarray(bn.beta.numpy() if bn.beta is not None else np.zeros(n), np.float64)
        mean = np.asarray(bn.moving_mean.numpy(), np.float64)
        var = np.asarray(bn.moving_variance.numpy(), np.float64)
        scale = gamma / np.sqrt(var + float(bcfg["epsilon"]))
        kernel = kernel * scale
        bias = (bias - mean) * scale + beta
    kh, kw = kernel.shape[:2]
    sh, sw = cfg["strides"]
    if cfg["padding"] == "same":
        if (sh, sw) != (1, 1):
            raise ExportError(f"{conv.name}: 'same' padding with strides is not exported")
        pads = [(kh - 1) // 2, (kw - 1) // 2, kh - 1 - (kh - 1) // 2, kw - 1 - (kw - 1) // 2]
    elif cfg["padding"] == "valid":
        pads = [0, 0, 0, 0]
    else:
        raise ExportError(f"{conv.name}: padding {cfg['padding']!r} is not exported")
    w = g.const("W", kernel.transpose(3, 2, 0, 1).astype(np.float32))  # (out, in, kh, kw)
    b = g.const("B", bias.astype(np.float32))
    return g.op("Conv", [x, w, b], kernel_shape=[int(kh), int(kw)], pads=[int(p) for p in pads],
                strides=[int(sh), int(sw)])


def _member(g: _Graph, x: str, net) -> str:
    """One timbre CNN (:func:`engine.model.contrastive.build_member`): NCHW input name in,
    ``(n, timbre_dim)`` output name out."""
    layers = [layer for layer in net.layers if _cls(layer) != "InputLayer"]
    i = 0
    pooled: dict[str, str] = {}
    while i < len(layers):
        layer, kind = layers[i], _cls(layers[i])
        if kind == "Conv2D":
            bn = layers[i + 1] if (i + 1 < len(layers)
                                   and _cls(layers[i + 1]) == "BatchNormalization") else None
            x = _conv_bn(g, x, layer, bn)
            i += 2 if bn is not None else 1
            continue
        if kind == "ReLU":
            cfg = layer.get_config()
            if cfg.get("max_value") is not None or cfg.get("negative_slope", 0.0) or \
                    cfg.get("threshold", 0.0):
                raise ExportError(f"{layer.name}: only a plain ReLU is exported")
            x = g.op("Relu", [x])
        elif kind == "MaxPooling2D":
            cfg = layer.get_config()
            if cfg["padding"] != "valid":
                raise ExportError(f"{layer.name}: only 'valid' max pooling is exported")
            x = g.op("MaxPool", [x], kernel_shape=[int(v) for v in cfg["pool_size"]],
                     strides=[int(v) for v in cfg["strides"]])
        elif kind in ("GlobalAveragePooling2D", "GlobalMaxPooling2D"):
            op = "ReduceMean" if kind == "GlobalAveragePooling2D" else "ReduceMax"
            if layer.get_config().get("keepdims"):
                raise ExportError(f"{layer.name}: keepdims pooling is not exported")
            pooled[kind] = g.op(op, [x], axes=[2, 3], keepdims=0)  # opset 17: axes attribute
        elif kind == "Concatenate":
            if set(pooled) != {"GlobalAveragePooling2D", "GlobalMaxPooling2D"}:
                raise ExportError(f"{layer.name}: only [average, max] pooling is concatenated")
            x = g.op("Concat", [pooled["GlobalAveragePooling2D"], pooled["GlobalMaxPooling2D"]],
                     axis=1)
        elif kind == "Dense":
            cfg = layer.get_config()
            if cfg["activation"] not in ("linear", None):
                raise ExportError(f"{layer.name}: activation {cfg['activation']!r}")
            weights = layer.get_weights()
            x = g.op("MatMul", [x, g.const("D", weights[0].astype(np.float32))])
            if cfg["use_bias"]:
                x = g.op("Add", [x, g.const("b", weights[1].astype(np.float32))])
        else:
            raise ExportError(f"layer {layer.name} ({kind}) is not exported")
        i += 1
    return x


def network_to_onnx(net, input_shape: tuple[int, int, int]):
    """The ONNX model (``onnx.ModelProto``) of a timbre network (one member or an ensemble).

    Input ``mel``: ``(n, *input_shape)`` float32 NHWC, as Keras takes it; output ``timbre``.
    """
    from onnx import TensorProto, checker, helper

    g = _Graph()
    x = g.op("Transpose", ["mel"], perm=[0, 3, 1, 2])
    top = [layer for layer in net.layers if _cls(layer) != "InputLayer"]
    if all(_cls(layer) in ("Functional", "UnitNormalization", "Average") for layer in top):
        members = [layer for layer in top if _cls(layer) == "Functional"]
        norms = [layer for layer in top if _cls(layer) == "UnitNormalization"]
        if not members or len(norms) != len(members) or \
                sum(_cls(layer) == "Average" for layer in top) != 1:
            raise ExportError("an ensemble must be members, one unit normalisation each and "
                              "one average")
        outs = []
        for member in members:
            y = _member(g, x, member)
            # Keras: x / sqrt(max(sum(x^2), 1e-12))
            ss = g.op("ReduceSumSquare", [y], axes=[1], keepdims=1)
            ss = g.op("Max", [ss, g.const("eps", np.array(1e-12, np.float32))])
            outs.append(g.op("Div", [y, g.op("Sqrt", [ss])]))
        total = outs[0] if len(outs) == 1 else g.op("Sum", outs)
        out = g.op("Div", [total, g.const("k", np.array(float(len(outs)), np.float32))])
    else:
        out = _member(g, x, net)
    g.nodes.append(helper.make_node("Identity", [out], ["timbre"]))
    graph = helper.make_graph(
        g.nodes, "soundalike_timbre",
        [helper.make_tensor_value_info("mel", TensorProto.FLOAT, ["n", *input_shape])],
        [helper.make_tensor_value_info("timbre", TensorProto.FLOAT, ["n", None])],
        initializer=g.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="soundalike")
    model.ir_version = 8  # readable by onnxruntime >= 1.14
    checker.check_model(model)
    return model


def export_network(net, input_shape: tuple[int, int, int], path: str | os.PathLike, *,
                   check_batch: int = 8, seed: int = 0) -> float:
    """Write ``net`` as ONNX to ``path`` (atomically) after checking it against Keras.

    Returns the smallest cosine similarity between the two outputs on ``check_batch`` random
    and one silent input; :class:`ExportError` when it is below :data:`MIN_COSINE`.
    """
    from .runtime import OnnxNetwork

    model = network_to_onnx(net, input_shape)
    data = model.SerializeToString()
    rng = np.random.default_rng(seed)
    x = rng.random((check_batch, *input_shape), dtype=np.float32)
    x[0] = 0.0
    want = np.asarray(net(x, training=False), np.float64)
    got = OnnxNetwork(data).run(x).astype(np.float64)
    worst = float(min(_cosine(a, b) for a, b in zip(want, got)))
    if not worst >= MIN_COSINE:
        raise ExportError(f"the ONNX graph differs from Keras (cosine {worst:.6f})")
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return worst


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na == 0 and nb == 0:
        return 1.0
    return float(a @ b / max(na * nb, 1e-300))
