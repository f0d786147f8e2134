"""Export a plain BERT sentence encoder to ONNX, and quantise it to int8.

The graph is written here from the verified weights (:func:`mapper.encode.bert.read_weights`), node by node,
rather than traced through torch: the export then needs neither torch nor transformers, works for whatever
weights the model folder ships, and computes exactly what the numpy forward pass computes (the erf GELU the
model was trained with, mean pooling over real tokens, L2 normalisation), which the tests check.

Inputs: ``input_ids`` and ``attention_mask``, int64 (batch, length); output ``embeddings``, float32
(batch, dim), already normalised.
"""

from __future__ import annotations

import numpy as np

OPSET = 17  # LayerNormalization is a standard operator from 17 on
# Changing what export or quantisation produces must change this, so cached exports are rebuilt.
RECIPE = "bert-mean-norm-int8-per-token-2"


def bert_graph(weights: dict, precision: str = "float32"):
    """The ONNX model (an ``onnx.ModelProto``) of the encoder whose arrays ``weights`` holds, its weight
    matrix products in ``precision``: float32, or int8 (see :func:`_int8_product`)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes, inits = [], []

    def const(name: str, array) -> str:
        inits.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def node(op: str, inputs: list[str], name: str, **attrs) -> str:
        nodes.append(helper.make_node(op, inputs, [name], name=name, **attrs))
        return name

    def layer_norm(x: str, weight_bias, name: str) -> str:
        w, b = const(f"{name}.w", weight_bias[0]), const(f"{name}.b", weight_bias[1])
        return node("LayerNormalization", [x, w, b], name, axis=-1, epsilon=weights["eps"])

    def dense(x: str, w, b, name: str) -> str:
        if precision == "int8":
            product = _int8_product(x, w, name, const, node)
        else:
            product = node("MatMul", [x, const(f"{name}.w", w)], f"{name}.mm")  # MatMul then Add: ORT fuses them
        return node("Add", [product, const(f"{name}.b", b)], name)

    dim, heads = weights["word"].shape[1], weights["heads"]
    head_dim = dim // heads
    # shapes and constants shared by every layer
    const("axis1", np.array([1], np.int64))
    const("axis_last", np.array([-1], np.int64))
    const("heads_shape", np.array([0, 0, heads, head_dim], np.int64))
    const("merge_shape", np.array([0, 0, dim], np.int64))
    const("scale", np.array(1.0 / np.sqrt(head_dim), np.float32))
    const("one", np.array(1.0, np.float32))
    const("neg", np.array(-1e9, np.float32))
    const("half", np.array(0.5, np.float32))
    const("inv_sqrt2", np.array(1.0 / np.sqrt(2.0), np.float32))
    const("tiny", np.array(1e-12, np.float32))
    if precision == "int8":  # the per-token quantisation's constants (see _int8_product)
        const("inv127", np.array(1.0 / 127.0, np.float32))
        const("c127", np.array(127.0, np.float32))
        const("offset128", np.array(128.5, np.float32))
        const("zero_point128", np.array(128, np.uint8))

    # embeddings: word + position + token type 0, normalised
    length = node("Gather", [node("Shape", ["input_ids"], "ids_shape"), const("idx1", np.array(1, np.int64))], "length")
    positions = node("Range", [const("zero_i", np.array(0, np.int64)), length, const("one_i", np.array(1, np.int64))],
                     "positions")
    x = node("Add", [node("Gather", [const("word", weights["word"]), "input_ids"], "word_rows"),
                     node("Gather", [const("position", weights["position"]), positions], "position_rows")], "embed_sum")
    x = node("Add", [x, const("token_type", weights["token_type"])], "embed_typed")
    x = layer_norm(x, weights["embed_norm"], "embed_norm")

    # padding: 0 where a token is real, -1e9 where it is padding, broadcast over heads and queries
    mask = node("Cast", ["attention_mask"], "mask_f", to=TensorProto.FLOAT)
    pad_bias = node("Mul", [node("Sub", ["one", mask], "pad"), "neg"], "pad_bias_2d")
    pad_bias = node("Unsqueeze", [pad_bias, const("axes12", np.array([1, 2], np.int64))], "pad_bias")

    for i, layer in enumerate(weights["layers"]):
        p = f"l{i}"
        qkv = dense(x, layer["qkv"], layer["qkv_b"], f"{p}.qkv")
        nodes.append(helper.make_node("Split", [qkv, const(f"{p}.sizes", np.array([dim] * 3, np.int64))],
                                      [f"{p}.q", f"{p}.k", f"{p}.v"], name=f"{p}.split", axis=-1))
        q, k, v = (node("Transpose", [node("Reshape", [f"{p}.{n}", "heads_shape"], f"{p}.{n}4")], f"{p}.{n}h",
                        perm=[0, 2, 1, 3]) for n in ("q", "k", "v"))
        kt = node("Transpose", [k], f"{p}.kt", perm=[0, 1, 3, 2])
        scores = node("Add", [node("Mul", [node("MatMul", [q, kt], f"{p}.qk"), "scale"], f"{p}.scaled"), pad_bias],
                      f"{p}.scores")
        attn = node("Softmax", [scores], f"{p}.attn", axis=-1)
        context = node("Transpose", [node("MatMul", [attn, v], f"{p}.ctx4")], f"{p}.ctxt", perm=[0, 2, 1, 3])
        context = node("Reshape", [context, "merge_shape"], f"{p}.ctx")
        attended = dense(context, layer["out"], layer["out_b"], f"{p}.out")
        x = layer_norm(node("Add", [attended, x], f"{p}.res1"), layer["norm1"], f"{p}.norm1")
        hidden = dense(x, layer["up"], layer["up_b"], f"{p}.up")
        # GELU, erf form, as the model was trained: 0.5 * h * (1 + erf(h / sqrt 2))
        erf = node("Erf", [node("Mul", [hidden, "inv_sqrt2"], f"{p}.gelu_in")], f"{p}.erf")
        gelu = node("Mul", [node("Mul", [hidden, "half"], f"{p}.half_h"), node("Add", [erf, "one"], f"{p}.erf1")],
                    f"{p}.gelu")
        out = dense(gelu, layer["down"], layer["down_b"], f"{p}.down")
        x = layer_norm(node("Add", [out, x], f"{p}.res2"), layer["norm2"], f"{p}.norm2")

    # mean over real tokens, then L2 normalisation
    mask3 = node("Unsqueeze", [mask, "axis_last"], "mask3")
    summed = node("ReduceSum", [node("Mul", [x, mask3], "masked"), "axis1"], "summed", keepdims=0)
    count = node("ReduceSum", [mask, "axis1"], "count", keepdims=1)
    pooled = node("Div", [summed, count], "pooled")
    norm = node("Max", [node("ReduceL2", [pooled], "l2", axes=[-1], keepdims=1), "tiny"], "l2_safe")
    node("Div", [pooled, norm], "embeddings")

    graph = helper.make_graph(
        nodes, "sentence_encoder",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "length"]),
         helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "length"])],
        [helper.make_tensor_value_info("embeddings", TensorProto.FLOAT, ["batch", dim])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="atlas-mapper")
    model.ir_version = 8  # readable by every ONNX Runtime from 1.10 on
    onnx.checker.check_model(model)
    return model


def _int8_product(x: str, w: np.ndarray, name: str, const, node) -> str:
    """``x @ w`` in integers: ``w`` int8 per output column, ``x`` int8 per token (per row of its last axis).

    Why not ONNX Runtime's ``quantize_dynamic``: it quantises activations per tensor, so one scale covers the
    whole batch and a sentence's embedding shifted (cosine up to 0.02) with whatever it was batched with, and
    with which of a record's sentences the embedding cache already held. Per token, each row's scale is its own
    largest magnitude; padding is masked out of attention, so a text's embedding depends on that text alone.
    Symmetric, offset by 128 to uint8: the unsigned-by-signed product that ORT's x86 kernels run fastest.
    """
    from onnx import TensorProto

    column_scale = np.maximum(np.abs(w).max(axis=0), 1e-12) / 127.0
    w_int8 = np.clip(np.rint(w / column_scale), -127, 127).astype(np.int8)
    row_max = node("Max", [node("ReduceMax", [node("Abs", [x], f"{name}.abs")], f"{name}.rowmax", axes=[-1],
                               keepdims=1), "tiny"], f"{name}.rowmax_safe")
    # x * (127 / row max) + 128.5, truncated by the cast: rounds to the nearest of 1..255 (the zero point is 128)
    x_scaled = node("Mul", [x, node("Div", ["c127", row_max], f"{name}.rowinv")], f"{name}.xs")
    x_uint8 = node("Cast", [node("Add", [x_scaled, "offset128"], f"{name}.xo")], f"{name}.xq", to=TensorProto.UINT8)
    product = node("MatMulInteger", [x_uint8, const(f"{name}.wq", w_int8), "zero_point128"], f"{name}.mmi")
    product = node("Cast", [product], f"{name}.mmf", to=TensorProto.FLOAT)
    product = node("Mul", [product, const(f"{name}.wscale", column_scale.astype(np.float32))], f"{name}.mmw")
    return node("Mul", [product, node("Mul", [row_max, "inv127"], f"{name}.rowscale")], f"{name}.mm")
