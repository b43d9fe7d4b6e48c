"""catrt.Interpreter: run a .tflite int8 model with NumPy, bit-exact with a TFLite build.

    interp = Interpreter(model_bytes, profile="ref-tflite214")
    outputs = interp.run({"input": x_int8})            # {output name: array}
    every = interp.run([x_int8], keep_all=True)        # {tensor name: array}, constants included

Construction reads and validates the file, checks the graph (every op input exists before it is
read, no tensor written twice) and prepares every op once (multipliers, shifts, clamps). run()
only executes integer kernels. The leading (batch) dimension of the inputs may differ from the
file's; it flows through every op (RESHAPE treats its leading dimension as the batch).
Tensor names are used as keys; a repeated or empty name gets a "#<index>" suffix.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence, Union

import numpy as np

from .errors import CatrtError
from .ops import REGISTRY
from .profiles import DEFAULT_PROFILE, Profile, get_profile
from .reader import Model, Tensor, read_model


@dataclass(frozen=True)
class TensorDetails:
    """What a caller needs to feed or read a tensor."""

    name: str
    index: int
    shape: tuple
    dtype: str                  # numpy dtype name ("int8", "float32", ...)
    scale: tuple                # () when not quantized
    zero_point: tuple
    quantized_dimension: int


def _unique_names(tensors: Sequence[Tensor]) -> tuple:
    seen: set = set()
    names = []
    for t in tensors:
        name = t.name if t.name and t.name not in seen else f"{t.name}#{t.index}"
        seen.add(name)
        names.append(name)
    return tuple(names)


def _details(tensor: Tensor, name: str) -> TensorDetails:
    q = tensor.quantization
    return TensorDetails(name=name, index=tensor.index, shape=tensor.shape,
                         dtype=tensor.numpy_dtype.name,
                         scale=q.scale if q else (), zero_point=q.zero_point if q else (),
                         quantized_dimension=q.quantized_dimension if q else 0)


class Interpreter:
    """A prepared model. Immutable after construction; run() has no side effects."""

    def __init__(self, model_bytes: bytes, profile: Union[str, Profile] = DEFAULT_PROFILE) -> None:
        self.profile: Profile = get_profile(profile)
        self.model: Model = read_model(model_bytes)
        self._names = _unique_names(self.model.tensors)
        self._check_graph()
        prepared = []
        for op in self.model.operators:
            module = REGISTRY.get(op.kind)
            if module is None:
                what = f"custom op {op.opcode.custom_code!r}" if op.kind == "CUSTOM" else "op"
                raise CatrtError(f"{op.label}: unsupported {what} (catrt supports "
                                 f"{', '.join(sorted(REGISTRY))})")
            if (op.kind, op.opcode.version) in self.profile.unregistered_op_versions:
                raise CatrtError(f"{op.label}: {op.kind} version {op.opcode.version} is not registered "
                                 f"in {self.profile.name} (the interpreter refuses to load the model; "
                                 "use another resolver, or int8 containers instead of --int4-weights)")
            if len(op.outputs) != 1:
                raise CatrtError(f"{op.label}: has {len(op.outputs)} outputs, expected 1")
            prepared.append((op, module, module.prepare(op, self.model.tensors, self.profile)))
        self._prepared = tuple(prepared)
        self._release = self._release_plan()

    # -- graph checks ---------------------------------------------------------------------------

    def _check_graph(self) -> None:
        tensors = self.model.tensors
        available = {t.index for t in tensors if t.is_constant}
        for i in self.model.inputs:
            if tensors[i].is_constant:
                raise CatrtError(f"graph input {self._names[i]!r} is a constant tensor")
            available.add(i)
        written: set = set()
        for op in self.model.operators:
            for i in op.inputs:
                if i >= 0 and i not in available:
                    raise CatrtError(f"{op.label}: input tensor {self._names[i]!r} is read before "
                                     "any op writes it")
            for i in op.outputs:
                if tensors[i].is_constant or i in self.model.inputs or i in written:
                    raise CatrtError(f"{op.label}: output tensor {self._names[i]!r} is a constant, "
                                     "a graph input or written twice")
                written.add(i)
                available.add(i)
        for i in self.model.outputs:
            if i not in available:
                raise CatrtError(f"graph output {self._names[i]!r} is never computed")

    def _release_plan(self) -> tuple:
        """For each op, the intermediate tensors no later op reads (and that are not graph
        outputs): run() drops them once that op is done, so a batch holds only its live tensors."""
        keep = set(self.model.outputs)
        last_use: dict = {}
        for index, op in enumerate(self.model.operators):
            for i in list(op.inputs) + list(op.outputs):
                if i >= 0 and not self.model.tensors[i].is_constant:
                    last_use[i] = index
        release: list = [[] for _ in self.model.operators]
        for i, index in last_use.items():
            if i not in keep:
                release[index].append(i)
        return tuple(tuple(r) for r in release)

    # -- details --------------------------------------------------------------------------------

    def get_input_details(self) -> list:
        return [_details(self.model.tensors[i], self._names[i]) for i in self.model.inputs]

    def get_output_details(self) -> list:
        return [_details(self.model.tensors[i], self._names[i]) for i in self.model.outputs]

    def get_tensor_details(self) -> list:
        return [_details(t, self._names[t.index]) for t in self.model.tensors]

    input_details = property(get_input_details)
    output_details = property(get_output_details)

    # -- execution ------------------------------------------------------------------------------

    def _input_arrays(self, inputs) -> dict:
        indices = self.model.inputs
        if isinstance(inputs, np.ndarray):
            inputs = [inputs]
        if isinstance(inputs, Mapping):
            by_name = {self._names[i]: i for i in indices}
            unknown = set(inputs) - set(by_name)
            if unknown:
                raise CatrtError(f"unknown input names {sorted(unknown)}; "
                                 f"inputs are {sorted(by_name)}")
            missing = set(by_name) - set(inputs)
            if missing:
                raise CatrtError(f"missing inputs {sorted(missing)}")
            pairs = [(by_name[name], value) for name, value in inputs.items()]
        else:
            values = list(inputs)
            if len(values) != len(indices):
                raise CatrtError(f"got {len(values)} inputs, the model has {len(indices)}")
            pairs = list(zip(indices, values))
        return {i: self._check_input(self.model.tensors[i], v) for i, v in pairs}

    def _check_input(self, tensor: Tensor, value) -> np.ndarray:
        name = self._names[tensor.index]
        arr = np.asarray(value)
        want = tensor.numpy_dtype
        if arr.ndim != len(tensor.shape) or tuple(arr.shape[1:]) != tuple(tensor.shape[1:]):
            raise CatrtError(f"input {name!r}: shape {arr.shape} does not match {tensor.shape} "
                             "(only the leading batch dimension may differ)")
        if arr.ndim and arr.shape[0] == 0:
            raise CatrtError(f"input {name!r}: empty batch")
        if arr.dtype == want:
            return arr
        if np.issubdtype(want, np.integer) and np.issubdtype(arr.dtype, np.integer):
            info = np.iinfo(want)
            if arr.size and (arr.min() < info.min or arr.max() > info.max):
                raise CatrtError(f"input {name!r}: values outside the {want.name} range")
            return arr.astype(want)
        raise CatrtError(f"input {name!r}: dtype {arr.dtype} given, {want.name} expected")

    def run(self, inputs, keep_all: bool = False, keep: Sequence[str] = ()) -> dict:
        """Run the model. `inputs`: {name: array}, a list in input order, or one array.

        Returns {output name: array}, with the tensors named in `keep` beside them, or with
        keep_all=True {tensor name: array} for every tensor that has a value (constants, inputs
        and all intermediates). Without keep_all an intermediate tensor is dropped after the
        last op that reads it (memory: the live tensors of the batch, not all of them).
        """
        kept = {self.tensor_index(name) for name in keep}
        values = self.initial_values(inputs)
        for index in range(len(self._prepared)):
            self.evaluate_op(index, values)
            if not keep_all:
                for i in self._release[index]:
                    if i not in kept:
                        del values[i]
        if keep_all:
            return {self._names[i]: np.array(v) for i, v in sorted(values.items())}
        wanted = list(self.model.outputs) + sorted(kept - set(self.model.outputs))
        missing = [self._names[i] for i in wanted if i not in values]
        if missing:
            raise CatrtError(f"tensors {missing} have no value (not computed by this model)")
        return {self._names[i]: np.array(values[i]) for i in wanted}

    # -- stepping (used by calibration passes that fit one layer at a time) ---------------------

    @property
    def num_ops(self) -> int:
        return len(self._prepared)

    def tensor_index(self, name: str) -> int:
        """Index of the tensor called `name` (names as in get_tensor_details)."""
        try:
            return self._names.index(name)
        except ValueError:
            raise CatrtError(f"no tensor named {name!r}") from None

    def op_tensors(self, index: int) -> tuple[tuple, tuple]:
        """(input tensor names, output tensor names) of op `index` ("" for an omitted input)."""
        op = self._prepared[index][0]
        return (tuple(self._names[i] if i >= 0 else "" for i in op.inputs),
                tuple(self._names[i] for i in op.outputs))

    def initial_values(self, inputs) -> dict:
        """{tensor index: array} holding the constants and the checked inputs; feed it to
        evaluate_op in op order (what run() does)."""
        values: dict = {t.index: t.data for t in self.model.tensors if t.is_constant}
        values.update(self._input_arrays(inputs))
        return values

    def evaluate_op(self, index: int, values: dict) -> np.ndarray:
        """Run op `index` on `values` (tensor index -> array), store and return its output."""
        op, module, params = self._prepared[index]
        args = [values[i] if i >= 0 else None for i in op.inputs]
        try:
            result = module.evaluate(params, args)
        except CatrtError as exc:
            message = str(exc)
            raise CatrtError(message if message.startswith(op.label) else
                             f"{op.label}: {message}") from None
        except (ValueError, IndexError, TypeError) as exc:
            raise CatrtError(f"{op.label}: {exc}") from None
        except MemoryError:
            raise CatrtError(f"{op.label}: out of memory") from None
        out_index = op.outputs[0]
        want = self.model.tensors[out_index].numpy_dtype
        if result.dtype != want:
            raise CatrtError(f"{op.label}: produced {result.dtype}, output tensor "
                             f"{self._names[out_index]!r} is {want.name}")
        values[out_index] = result
        return result

    def accumulators(self, index: int, values: dict) -> np.ndarray:
        """The exact int32 accumulators (sum of products + bias, before requantization; int64
        array, wrapped to int32) of a CONV_2D, DEPTHWISE_CONV_2D or FULLY_CONNECTED op."""
        op, module, params = self._prepared[index]
        accumulate = getattr(module, "accumulate", None)
        if accumulate is None:
            raise CatrtError(f"{op.label}: has no accumulators (not a weighted op)")
        return accumulate(params, [values[i] if i >= 0 else None for i in op.inputs])

    def __repr__(self) -> str:
        return (f"Interpreter({len(self.model.operators)} ops, {len(self.model.tensors)} tensors, "
                f"profile={self.profile.name!r})")


def first_accepting_interpreter(model_bytes: bytes, profiles: Sequence = ()) -> Interpreter:
    """An Interpreter on the first of `profiles` (default: the default profile, then every other)
    that accepts the model, e.g. a packed-INT4 file whose op versions the default reference
    resolver does not register. Raises the first profile's CatrtError when none does."""
    from .profiles import PROFILES

    chosen = list(profiles) or [DEFAULT_PROFILE] + [p for p in PROFILES if p != DEFAULT_PROFILE]
    first = None
    for profile in chosen:
        try:
            return Interpreter(model_bytes, profile)
        except CatrtError as exc:
            first = first or exc
    raise first
