"""Stage 03 — the student contract: what a student network must look like for the later stages.

A course student takes one window of ``CFG.n_samples`` samples and gives ``CFG.n_classes`` logits
through ``Input -> [QDense -> QActivation(quantized_relu)]* -> QDense`` (:func:`describe_layers`);
its reference logits on raw pulses are :func:`qkeras_logits` (the IP's integer input stage, then the
network).  hls4ml (lab 04) and the RTL twin (lab 04b) read the student through these functions.
No TensorFlow import: the functions only read the layers they are given.
"""
from __future__ import annotations

import numpy as np

from ..config import CFG
from ..data.prep import transform
from ..stream import max_outputs


def check_io(model, outputs: str = "course") -> None:
    """The model takes one window of ``CFG.n_samples`` samples and gives ``CFG.n_classes`` logits
    (what the course's labs train and read); one sentence otherwise.

    ``outputs="any"``: any number of logits from 1 (one sigmoid output) to :func:`max_outputs` --
    what the HLS conversion, the stream wrapper, the test vectors and the board driver take
    (``labkit hls convert --student``)."""
    if outputs not in ("course", "any"):
        raise ValueError(f"outputs must be 'course' or 'any', got {outputs!r}")

    shapes = {"input": model.input_shape, "output": model.output_shape}
    for what, shape in shapes.items():
        if isinstance(shape, list):
            raise ValueError(f"the model has {len(shape)} {what}s, but the course's models have one {what}: "
                             f"rebuild it with a single {what}")
    n_in = tuple(model.input_shape[1:])
    # your own model (outputs="any") may take the window in any shape of CFG.n_samples values, e.g.
    # (161, 1) then Flatten: labkit.training.ownmodel rebuilds it on a flat input
    flat = outputs == "any" and None not in n_in and int(np.prod(n_in)) == CFG.n_samples
    if n_in != (CFG.n_samples,) and not flat:
        raise ValueError(f"the model takes inputs of shape {n_in}, but the course's window has CFG.n_samples = "
                         f"{CFG.n_samples} samples (labkit/course.ini [data] window_start..window_stop): "
                         f"train it on the course's {CFG.n_samples}-sample windows")
    n_out = tuple(model.output_shape[1:])
    if outputs == "any":
        if len(n_out) != 1 or not 1 <= n_out[0] <= max_outputs():
            count = f"{n_out[0]} outputs" if len(n_out) == 1 else f"outputs of shape {n_out}"
            raise ValueError(f"the model has {count}, but the IP takes 1 (a sigmoid) to {max_outputs()} logits "
                             f"per pulse (CFG.words_per_pulse, what the DMA buffers hold): give it a flat output "
                             f"of at most {max_outputs()} classes")
        return
    if n_out != (CFG.n_classes,):
        count = f"{n_out[0]} outputs" if len(n_out) == 1 else f"outputs of shape {n_out}"
        raise ValueError(f"the model has {count}, but the course has CFG.n_classes = {CFG.n_classes} "
                         f"classes ({', '.join(CFG.class_names)}; labkit/course.ini [data] class_names): "
                         f"train a model with {CFG.n_classes} output logits (labs 02-03; `labkit hls convert "
                         f"--student` alone takes 1 to {max_outputs()})")


def describe_layers(model, outputs: str = "course"):
    """[(kind, keras_layer)] for the supported student architecture; raises on anything else.

    ``outputs``: as :func:`check_io` (``"any"`` for the HLS conversion of your own model)."""
    check_io(model, outputs)
    rows = []
    for layer in model.layers:
        kind = type(layer).__name__
        if kind in ("InputLayer", "QDense", "QActivation"):
            rows.append((kind, layer))
        elif kind == "PruneLowMagnitude":
            raise ValueError(f"layer {layer.name!r} still has its pruning wrapper: strip it before saving "
                             "(labkit.training.compress.finalize_student, or tfmot's strip_pruning)")
        else:
            raise ValueError(f"layer {layer.name!r} ({kind}) is not part of the student contract "
                             "(Input -> [QDense -> QActivation(quantized_relu)]* -> QDense logits)")
    if rows[0][0] != "InputLayer" or rows[-1][0] != "QDense":
        raise ValueError("the student must start with an Input and end with the QDense logits layer")
    if rows[0][1].name == "input":
        raise ValueError("hls4ml reserves the layer name 'input': rename the student's Input layer "
                         "(e.g. tf.keras.Input(..., name='pulse')) and save it again")
    return rows


def network_input(X_raw, input: str = "course") -> np.ndarray:
    """Raw pulses -> what the network sees (the IP's input stage ``input``, ``CFG.input_transform``, in numpy)."""
    return transform(X_raw, input)


def qkeras_logits(model, X_raw, batch_size: int = 4096, input: str = "course") -> np.ndarray:
    """The QKeras student's logits (float64) for raw pulses through the input transform ``input``."""
    return np.asarray(model.predict(network_input(X_raw, input), batch_size=batch_size, verbose=0), dtype=np.float64)
