#!/usr/bin/env python3
"""Per-file agreement of the ONNX export with Keras on a folder of audio (needs TensorFlow).

    python scripts/compare_runtimes.py /work/corpus [--model DIR]

Decodes every audio file once, computes its features once, embeds them with the model's ONNX
export (onnxruntime) and with its Keras weights, and prints the smallest, median and mean
cosine similarity of the two timbre embeddings and of the whole embeddings (JSON).
"""
import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("folder")
    ap.add_argument("--model", help="model directory (default: the shipped default)")
    args = ap.parse_args()
    from engine.audio import AudioError, load_audio
    from engine.model.registry import PACKAGED_DEFAULT, load_encoder
    from engine.pipeline import scan

    model = Path(args.model) if args.model else PACKAGED_DEFAULT
    os.environ["SOUNDALIKE_RUNTIME"] = "onnx"
    light = load_encoder(model)
    os.environ["SOUNDALIKE_RUNTIME"] = "keras"
    heavy = load_encoder(model)
    feats, names = [], []
    for p in sorted(scan([args.folder])):
        try:
            feats.append(light.features(load_audio(p)))
            names.append(p)
        except AudioError:
            pass
    x = np.stack(feats)
    a, b = light.embed(x).astype(np.float64), heavy.embed(x).astype(np.float64)

    def cos(u, v):
        return (u * v).sum(1) / np.maximum(np.linalg.norm(u, axis=1) * np.linalg.norm(v, axis=1),
                                           1e-300)
    t = slice(*light.aspects["timbre"])
    ct, call = cos(a[:, t], b[:, t]), cos(a, b)
    print(json.dumps({"files": len(names), "model_id": light.model_id,
                      "timbre_cosine": {"min": float(ct.min()), "median": float(np.median(ct)),
                                        "mean": float(ct.mean())},
                      "embedding_cosine_min": float(call.min()),
                      "max_abs_difference": float(np.abs(a - b).max()),
                      "worst_file": names[int(np.argmin(ct))]}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
