"""Stage 03 — model files: save a teacher or student ``.h5`` atomically, and load one safely.

:func:`load_model` checks the file's layer classes before Keras deserialises anything
(:func:`check_model_file`: a Lambda layer carries code that loading would run), loads in Keras'
safe mode with QKeras' objects registered, and checks the model's inputs and outputs
(:func:`labkit.training.contract.check_io`); every refusal is one sentence naming the file and the fix
(:class:`ModelFileError`).
"""
from __future__ import annotations

import contextlib
import re
from pathlib import Path

import tensorflow as tf

from .compress import quiet_keras


def custom_objects() -> dict:
    from qkeras.utils import _add_supported_quantized_objects
    co: dict = {}
    _add_supported_quantized_objects(co)
    try:       # a student saved before strip_pruning (check_model_file allows the wrapper)
        from tensorflow_model_optimization.python.core.sparsity.keras import pruning_schedule, pruning_wrapper
        co["PruneLowMagnitude"] = pruning_wrapper.PruneLowMagnitude
        co.update(PolynomialDecay=pruning_schedule.PolynomialDecay, ConstantSparsity=pruning_schedule.ConstantSparsity)
    except ImportError:
        pass
    return co


def save_model(model: tf.keras.Model, path: Path, *, overwrite: bool = False) -> Path:
    """Save ``.h5`` atomically; refuses to replace an existing file unless ``overwrite``."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; pass overwrite=True to replace it (or choose another path)")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".part.h5")
    with quiet_keras():
        model.save(tmp, include_optimizer=False)
    tmp.replace(path)
    return path


class ModelFileError(ValueError):
    """A model file labkit refuses to load; the message names the file and the fix."""


#: layer classes a course model may contain: the teacher (Dense + ReLU), the student (QDense,
#: QActivation), a student saved before strip_pruning (PruneLowMagnitude around a QDense), and what
#: your own QKeras student may add (Dropout, BatchNormalization: data only; labkit.training.ownmodel removes
#: or folds them, the course's labs refuse them through labkit.training.contract.describe_layers).
#: Anything else is refused *before* Keras deserialises the file: a Lambda (or TFOpLambda) layer
#: carries Python code that load_model would run.
MODEL_CLASSES = frozenset({"Functional", "Sequential", "Model"})
LAYER_CLASSES = frozenset({"InputLayer", "Dense", "QDense", "QActivation", "Activation", "PruneLowMagnitude",
                           "Dropout", "BatchNormalization", "Flatten", "Reshape", "ReLU"})
#: QKeras quantizers a file may name (data only); which of them a conversion takes is decided later, with
#: one sentence for the rest (labkit.training.ownmodel)
QUANTIZERS = ("quantized_bits", "quantized_relu", "quantized_po2", "quantized_relu_po2", "quantized_tanh",
              "quantized_sigmoid", "quantized_ulinear", "quantized_linear", "binary", "ternary",
              "stochastic_binary", "stochastic_ternary", "bernoulli")
#: the objects inside a layer's configuration: QKeras quantizers and their initializer/constraint,
#: Keras initializers, regularizers and constraints, tfmot pruning schedules (data only, no code)
HELPER_CLASSES = frozenset({
    *QUANTIZERS, "QInitializer", "Clip",
    "Constant", "GlorotNormal", "GlorotUniform", "HeNormal", "HeUniform", "Identity", "LecunNormal",
    "LecunUniform", "Ones", "Orthogonal", "RandomNormal", "RandomUniform", "TruncatedNormal",
    "VarianceScaling", "Zeros",
    "L1", "L2", "L1L2", "MaxNorm", "MinMaxNorm", "NonNeg", "UnitNorm",
    "PolynomialDecay", "ConstantSparsity", "Policy", "DTypePolicy",
})
#: activations by name (a string is looked up in keras.activations / QKeras' quantizers)
ACTIVATIONS = frozenset({"linear", "relu", "softmax", "sigmoid", "tanh"})
#: a quantizer written as a string, e.g. "quantized_relu(8,3)": name and literal numbers only
#: (a value may be a quoted word: alpha='auto_po2')
_VALUE = r"""(?:[\w.+-]+|'\w+'|"\w+")"""
QUANTIZER_STRING = re.compile(rf"({'|'.join(QUANTIZERS)})\(\s*({_VALUE}\s*(=\s*{_VALUE}\s*)?"
                              rf"(,\s*{_VALUE}\s*(=\s*{_VALUE}\s*)?)*)?\)")
#: module names Keras may resolve a class in (it never imports others, but a file naming one is not ours)
MODULE_PREFIXES = ("keras", "qkeras", "tensorflow_model_optimization", "tf_keras")
#: what to do about a layer class the course's pipeline does not take
UNSUPPORTED_FIX = {
    "Lambda": "it stores Python code that loading would run",
    "TFOpLambda": "it stores a TensorFlow call that loading would rebuild",
    "SlicingOpLambda": "it stores a TensorFlow call that loading would rebuild",
}
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def _allowed_text() -> str:
    return ("InputLayer, Dense, QDense, QActivation, Activation (relu/linear/softmax/sigmoid/tanh), ReLU, Dropout, "
            "BatchNormalization, Flatten, Reshape and pruning-wrapper")


def check_model_file(path: Path) -> dict:
    """Read ``path``'s model configuration with h5py (nothing deserialised, no code run) and refuse,
    with one sentence naming the file, the layer and the fix, anything outside the course's layer
    set (:data:`LAYER_CLASSES`). Returns the configuration (a dict)."""
    import json

    import h5py

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no model at {path}: run the lab that trains it (02 teacher, 03 student) "
                                f"or labkit.training.checkpoints.teacher_model()/student_model()")
    if path.is_dir():
        raise ModelFileError(f"{path} is a folder (a TensorFlow SavedModel?), but labkit reads Keras .h5 "
                             "files: give the .h5 file, or load the model in Python and save it with "
                             "model.save('name.h5')")
    with open(path, "rb") as f:            # a permission problem surfaces here, naming the file
        head = f.read(8)
    if head != HDF5_SIGNATURE:
        kind = ("a zip archive (the .keras format)" if head.startswith(b"PK\x03\x04") else
                "empty" if not head else "not an HDF5 file")
        raise ModelFileError(f"{path} is {kind}, but labkit reads Keras .h5 models: give the .h5 that "
                             "lab 02/03 saved, or save your model with model.save('name.h5')")
    try:
        with h5py.File(path, "r") as f:
            raw = f.attrs.get("model_config")
    except OSError as err:
        raise ModelFileError(f"{path} is not a loadable Keras model (HDF5: {err}); it may be truncated by "
                             "an interrupted save: delete it and rerun the lab that writes it") from None
    if raw is None:
        raise ModelFileError(f"{path} holds no model configuration (weights saved with save_weights?): "
                             "save the whole model with model.save('name.h5')")
    try:
        config = json.loads(raw.decode("utf-8") if isinstance(raw, bytes) else str(raw))
    except (UnicodeDecodeError, ValueError, RecursionError) as err:
        raise ModelFileError(f"{path}: its model configuration is not valid JSON ({type(err).__name__}); "
                             "save the model again with model.save('name.h5')") from None
    try:
        _check_config(config, path)
    except RecursionError:
        raise ModelFileError(f"{path}: its model configuration is nested too deeply for a course model; "
                             "save the model again with model.save('name.h5')") from None
    return config


def _check_config(config, path: Path) -> None:
    """Walk the JSON configuration: every object's class in the course's set, no code, plain names."""
    def refuse(where, why):
        raise ModelFileError(f"{path}: {where} is refused because {why}; labkit loads only "
                             f"{_allowed_text()} layers: rebuild the model from those and save it again")

    def place(layer, cls):
        return f"layer {layer!r} ({cls})" if layer else f"the {cls} model"

    def walk(node, layer, cls, in_layers):
        if isinstance(node, list):
            for item in node:
                walk(item, layer, cls, in_layers)
            return
        if not isinstance(node, dict):
            return
        if "class_name" in node:
            name = node["class_name"]
            if not isinstance(name, str):
                refuse(place(layer, cls), f"it holds an object whose class name is {name!r}")
            is_layer = in_layers or "inbound_nodes" in node or name in LAYER_CLASSES
            if is_layer:
                conf = node.get("config") if isinstance(node.get("config"), dict) else {}
                layer, cls = conf.get("name", node.get("name")), name
            allowed = (name in MODEL_CLASSES or name in LAYER_CLASSES
                       or (name in HELPER_CLASSES and not is_layer))
            if not allowed:
                why = UNSUPPORTED_FIX.get(name, "the course's pipeline does not know this class")
                refuse(place(layer, cls) if is_layer else f"a {name!r} object in {place(layer, cls)}", why)
            module = node.get("module")
            if module is not None and (not isinstance(module, str) or module.split(".")[0] not in MODULE_PREFIXES):
                refuse(place(layer, cls), f"it names the Python module {module!r}")
            registered = node.get("registered_name")
            if registered is not None and registered != name:
                refuse(place(layer, cls), f"it names the registered object {registered!r}")
        for key, value in node.items():
            if key in ("function", "function_type"):
                refuse(place(layer, cls), f"it carries a {key!r} entry (code)")
            if key == "module":
                continue
            if isinstance(value, str):
                if key == "activation" and value not in ACTIVATIONS and not QUANTIZER_STRING.fullmatch(value):
                    refuse(place(layer, cls), f"its activation {value!r} is not relu, linear, softmax, sigmoid, "
                                              "tanh or a QKeras quantizer")
                if key.endswith("quantizer") and not QUANTIZER_STRING.fullmatch(value):
                    refuse(place(layer, cls), f"its quantizer {value!r} is not a QKeras quantizer written "
                                              "as name(numbers)")
            else:
                walk(value, layer, cls, key == "layers")

    if not isinstance(config, dict) or config.get("class_name") not in MODEL_CLASSES:
        top = config.get("class_name") if isinstance(config, dict) else type(config).__name__
        raise ModelFileError(f"{path} holds a {top!r}, not a Keras Functional or Sequential model: save "
                             "the whole model with model.save('name.h5')")
    walk(config, None, config["class_name"], False)


@contextlib.contextmanager
def _safe_mode():
    """Keras' safe mode for the whole load (its .h5 loader does not set it): a Python lambda in the
    file is refused by Keras too, should one get past :func:`check_model_file`."""
    try:
        from keras.src.saving.serialization_lib import SafeModeScope
    except ImportError:            # another Keras: check_model_file alone guards the load
        yield
        return
    with SafeModeScope(True):
        yield


def load_model(path: Path, outputs: str = "course") -> tf.keras.Model:
    """Load a teacher or student ``.h5`` (QKeras objects registered) with clear errors.

    The file's layer classes are checked against the course's set before anything is deserialised
    (:func:`check_model_file`), the load runs in Keras' safe mode, and the model must take
    ``CFG.n_samples`` inputs and give ``CFG.n_classes`` logits (:func:`labkit.training.contract.check_io`;
    ``outputs="any"``: 1 to ``CFG.words_per_pulse`` outputs, what ``labkit hls convert --student`` takes)."""
    from .contract import check_io

    path = Path(path)
    check_model_file(path)
    try:
        with _safe_mode(), quiet_keras():     # (3-bit weights: QKeras re-draws the unused initial weights)
            model = tf.keras.models.load_model(path, custom_objects=custom_objects(), compile=False)
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ModelFileError(f"{path} is not a loadable Keras model ({type(err).__name__}: {err}). It may be "
                             f"truncated by an interrupted save: delete it and rerun the lab that writes it.") from None
    try:
        check_io(model, outputs)
    except ValueError as err:
        raise ModelFileError(f"{path}: {err}") from None
    return model
