"""r2q.torch: R2Q quantization-aware training and compilation of PyTorch models.

Needs torch (and, for compile(), torch-mlir); `import r2q` works without
them. docs/python.md ("r2q.torch") is the reference:

    import r2q.torch
    model = r2q.torch.quantize_model(model, group_size=64, skip=["lm_head"])
    ...train: R2QLinear layers compute with their R2Q code (fake quantization),
       gradients reach the float weights (straight-through) and, with
       learn_scales=True, the per-group scales...
    f = r2q.torch.compile(model, (x,))   # 2-bit kernels, same numbers
    y = f(x)

The R2Q code of a weight is always the C++ numerics core's (r2q.quantize);
torch only decodes it (sum_p scale_p * sign_p, for autograd through learned
scales), which equals the core's r2q.dequantize bit for bit.
"""

import copy
import fnmatch
import re

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

import r2q

__all__ = ["R2QLinear", "quantize_model", "freeze", "compile", "CompiledModel"]

_SCALE_DTYPES = {"f16": torch.float16, "bf16": torch.bfloat16, "f32": torch.float32}


def _unpack_signs(signs, k):
    """The core's packed sign planes (uint8, P x N x ceil(K/8), bit j of byte b
    is column 8b + j, set for -1) as a float32 P x N x K tensor of +-1."""
    bits = np.unpackbits(signs, axis=-1, bitorder="little")[..., :k]
    return torch.from_numpy(1.0 - 2.0 * bits.astype(np.float32))


def _expand_groups(scales, group_size, k):
    """P x N x groups scales repeated over their groups' columns: P x N x K."""
    return scales.repeat_interleave(group_size, dim=-1)[..., :k]


def _decode(signs, scales, group_size):
    """sum_p scales_p * signs_p over planes, in plane order in float32, as
    the core's dequantize sums them (signs are +-1, so each product is
    exact and every partial sum rounds as the core's does)."""
    per_weight = _expand_groups(scales, group_size, signs.shape[-1])
    weight = per_weight[0] * signs[0]
    for plane in range(1, signs.shape[0]):
        weight = weight + per_weight[plane] * signs[plane]
    return weight


def _greedy_signs(weight, scales, group_size):
    """The greedy R2Q signs of `weight` (N x K) for given scales (P x N x
    groups): s_p = sign(r_p) (+1 for 0), r_{p+1} = r_p - a_p s_p, in float32
    as the core computes them. With the core's closed-form scales these are
    the core's signs (a test checks it bit for bit); with learned scales they
    are the signs of the learned lattice, so signs and scales stay one
    code (the core cannot compute them: it always chooses its own scales)."""
    per_weight = _expand_groups(scales, group_size, weight.shape[-1])
    residual, planes = weight, []
    for plane in range(scales.shape[0]):
        sign = torch.where(residual < 0, -1.0, 1.0)
        planes.append(sign)
        residual = residual - per_weight[plane] * sign
    return torch.stack(planes)


class _StraightThrough(torch.autograd.Function):
    """Returns `quantized` exactly; the gradient goes to `latent` unchanged
    (the identity straight-through estimator)."""

    @staticmethod
    def forward(ctx, latent, quantized):
        return quantized

    @staticmethod
    def backward(ctx, grad):
        return grad, None


def _round_scales(scales, scale_type):
    """Learned scales rounded to the scale type the code stores (nearest
    even), with a straight-through gradient; an overflow is an error, as in
    the core."""
    dtype = _SCALE_DTYPES[scale_type]
    if dtype is torch.float32:
        return scales
    rounded = scales.detach().to(dtype).to(torch.float32)
    if not torch.isfinite(rounded).all():
        raise ValueError(f"a learned scale overflows {scale_type}; use scale_type='f32'")
    return scales + (rounded - scales).detach()


def _check_learnable(method, learn_scales, outliers=0.0):
    if learn_scales and method != "greedy":
        raise ValueError("R2QLinear: learn_scales=True needs method='greedy' (the signs are "
                         "the greedy signs of the learned scales)")
    if learn_scales and outliers:
        raise ValueError("R2QLinear: learn_scales=True cannot be combined with outliers (the "
                         "core chooses the outliers' corrections for its own scales)")


class R2QLinear(nn.Module):
    """nn.Linear computing with the R2Q code of its weight (fake quantization).

    The code (sign planes and per-group scales, groups of `group_size` along
    the input dimension K) is r2q.quantize's of the float weight, recomputed
    whenever the weight changed. With learn_scales=False the layer computes
    with r2q.dequantize of that code; with learn_scales=True the scales are
    a parameter `scales` (planes x out_features x groups), initialized from
    the closed form, and the weight is sum_p scales_p * signs_p with the
    greedy signs of the float weight on the learned lattice (the core's
    signs while the scales are the closed form). Either way the gradient
    reaches the float weight through the identity straight-through
    estimator.

    outliers=F keeps the fraction F of the weight's largest-magnitude entries
    exactly (the core's dense + sparse code, f16 corrections, reselected
    whenever the weight changed); it needs learn_scales=False.
    """

    def __init__(self, in_features, out_features, bias=True, planes=2, group_size=128,
                 method="greedy", learn_scales=False, scale_type="f16", device=None,
                 dtype=None, outliers=0.0):
        super().__init__()
        for name, value in (("in_features", in_features), ("out_features", out_features)):
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"R2QLinear: {name} must be a positive int, got {value!r}")
        self.in_features, self.out_features = in_features, out_features
        self.planes, self.group_size = planes, group_size
        self.method, self.scale_type, self.outliers = method, scale_type, float(outliers)
        _check_learnable(method, learn_scales, self.outliers)
        self.learn_scales = bool(learn_scales)
        factory = {"device": device, "dtype": dtype}
        reference = nn.Linear(in_features, out_features, bias, **factory)
        self.weight = reference.weight
        self.bias = reference.bias
        self._cached_code = None
        # The core checks the scheme (group size, planes, method) here, so
        # bad arguments fail at construction with its message.
        self.code()
        self.register_parameter("scales", None)
        if self.learn_scales:
            self._init_scales()

    def _init_scales(self):
        """The learned scales' parameter, from the closed form of the weight."""
        self.scales = nn.Parameter(torch.from_numpy(np.array(self.code().scales)))

    @classmethod
    def from_linear(cls, linear, learn_scales=False, **kwargs):
        """An R2QLinear sharing `linear`'s weight and bias parameters."""
        _check_learnable(kwargs.get("method", "greedy"), learn_scales, kwargs.get("outliers", 0.0))
        layer = cls(linear.in_features, linear.out_features, linear.bias is not None,
                    device="meta", **kwargs)
        layer.weight, layer.bias = linear.weight, linear.bias
        layer._cached_code = None
        layer.learn_scales = bool(learn_scales)
        if layer.learn_scales:
            layer._init_scales()
        return layer

    def code(self):
        """r2q.quantize of the current float weight (cached per weight version)."""
        weight = self.weight
        key = (weight.data_ptr(), weight._version, weight.device.type)
        if self._cached_code is not None and self._cached_code[0] == key:
            return self._cached_code[1]
        if weight.device.type == "meta":
            w = np.zeros((self.out_features, self.in_features), np.float32)
        else:
            w = weight.detach().to("cpu", torch.float32).contiguous().numpy()
        code = r2q.quantize(w, group_size=self.group_size, planes=self.planes,
                            method=self.method, scale_type=self.scale_type,
                            outliers=self.outliers)
        self._cached_code = (key, code)
        return code

    def __getstate__(self):
        # The cached code (a C++ object) is not copied or pickled; it is
        # recomputed from the weight.
        state = super().__getstate__() if hasattr(super(), "__getstate__") else self.__dict__
        return {**state, "_cached_code": None}

    def signs(self):
        """The sign planes the layer computes with, a +-1 float32 tensor
        P x N x K: the core's code of the float weight, or with learned scales
        the greedy signs on their lattice (_greedy_signs)."""
        if not self.learn_scales:
            return _unpack_signs(self.code().signs, self.in_features)
        scales = _round_scales(self.scales, self.scale_type).detach()
        return _greedy_signs(self.weight.detach().to(torch.float32), scales, self.group_size)

    def quantized_weight(self):
        """The weight the layer computes with (N x K, float32): the decoded code,
        with a straight-through gradient to the float weight (and to
        `scales` when they are learned)."""
        if self.learn_scales:
            self.code()  # the core checks the weight (NaN, infinity)
            scales = _round_scales(self.scales, self.scale_type)
            decoded = _decode(self.signs().to(scales.device), scales, self.group_size)
            return decoded + (self.weight - self.weight.detach()).to(decoded.dtype)
        decoded = torch.from_numpy(r2q.dequantize(self.code())).to(self.weight.device)
        return _StraightThrough.apply(self.weight, decoded.to(self.weight.dtype))

    def exported_code(self):
        """(signs uint8 P x N x ceil(K/8), scales float32 P x N x groups) of the
        weight forward() uses, in the core's format: with learn_scales the
        learned scales (rounded to scale_type) and their signs."""
        if not self.learn_scales:
            code = self.code()
            return np.array(code.signs), np.array(code.scales)
        scales = _round_scales(self.scales, self.scale_type).detach().cpu().numpy()
        negative = (self.signs() < 0).numpy()
        signs = np.packbits(negative, axis=-1, bitorder="little")
        return signs, np.ascontiguousarray(scales, np.float32)

    def exported_outliers(self):
        """The code's outliers (CSR: int32 offsets N + 1, int32 columns, float32
        corrections representable in f16) as numpy arrays, or None without."""
        if not self.outliers:
            return None
        code = self.code()
        return (np.array(code.outlier_offsets), np.array(code.outlier_columns),
                np.array(code.outlier_values))

    def forward(self, x):
        weight = self.quantized_weight().to(x.dtype)
        bias = None if self.bias is None else self.bias.to(x.dtype)
        return F.linear(x, weight, bias)

    def extra_repr(self):
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}, planes={self.planes}, "
                f"group_size={self.group_size}, method={self.method!r}, "
                f"scale_type={self.scale_type!r}, learn_scales={self.learn_scales}"
                + (f", outliers={self.outliers:g}" if self.outliers else ""))


def _is_conv1d(module):
    """Hugging Face GPT-2's Conv1D (weight K x N, y = x W + b), without
    importing transformers."""
    return (type(module).__name__ == "Conv1D" and hasattr(module, "nf")
            and isinstance(getattr(module, "weight", None), torch.Tensor)
            and module.weight.dim() == 2)


def _as_linear(module):
    """An nn.Linear with the same function as nn.Linear or Conv1D `module`."""
    if isinstance(module, nn.Linear):
        return module
    k, n = module.weight.shape
    linear = nn.Linear(k, n, bias=module.bias is not None, device="meta")
    linear.weight = nn.Parameter(module.weight.detach().t().contiguous(),
                                 requires_grad=module.weight.requires_grad)
    if module.bias is not None:
        linear.bias = module.bias
    return linear


def _skipped(name, skip):
    return any(name == pattern or fnmatch.fnmatchcase(name, pattern) for pattern in skip)


def _replace(model, name, new):
    parent_name, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent_name) if parent_name else model, child, new)


def quantize_model(model, group_size=128, planes=2, skip=(), **kwargs):
    """Replaces, in place, every nn.Linear and Hugging Face Conv1D of `model`
    whose qualified name is not in `skip` (exact names or fnmatch patterns,
    "lm_head", "*.down_proj") by an R2QLinear sharing its parameters
    (Conv1D's K x N weight becomes an N x K parameter); kwargs go to
    R2QLinear (method, learn_scales, scale_type). Returns the model."""
    if isinstance(skip, str):
        raise TypeError("quantize_model: skip must be a list of names, not a string")
    targets = [(name, module) for name, module in model.named_modules()
               if name and (isinstance(module, nn.Linear) or _is_conv1d(module))
               and not isinstance(module, R2QLinear) and not _skipped(name, skip)]
    for name, module in targets:
        _replace(model, name, R2QLinear.from_linear(
            _as_linear(module), group_size=group_size, planes=planes, **kwargs))
    return model


def freeze(model):
    """Replaces, in place, every R2QLinear by an nn.Linear whose weight is the
    weight the R2QLinear computes with (learned scales folded in), exactly
    representable by its R2Q code. Returns the model; each new layer keeps the
    code as `r2q_code` (signs, scales, group_size) for r2q.torch.compile."""
    for name, module in list(model.named_modules()):
        if not isinstance(module, R2QLinear):
            continue
        linear = nn.Linear(module.in_features, module.out_features,
                           bias=module.bias is not None, device="meta")
        with torch.no_grad():
            linear.weight = nn.Parameter(module.quantized_weight().detach().clone())
            if module.bias is not None:
                linear.bias = nn.Parameter(module.bias.detach().clone())
        signs, scales = module.exported_code()
        linear.r2q_code = (signs, scales, module.group_size, module.scale_type)
        _replace(model, name, linear)
    return model


# --- compile ------------------------------------------------------------

_RESOURCE_ENTRY = re.compile(r'^\s*([\w.]+): "0x([0-9A-Fa-f]+)",?\s*$')


def _weight_resources(ir):
    """Resource key of every blob of the exported IR's dialect_resources,
    by its data (hex, without the 4-byte alignment header)."""
    keys = {}
    for line in ir[ir.rfind("{-#"):].splitlines():
        entry = _RESOURCE_ENTRY.match(line)
        if entry:
            keys.setdefault(entry.group(2)[8:].upper(), entry.group(1))
    return keys


def _hex(array):
    return '"0x' + np.ascontiguousarray(array).tobytes().hex().upper() + '"'


def _coded_constant(match, signs, scales, group_size, scale_type):
    """IR defining the weight value of `match` (an arith.constant of a
    dense_resource) as r2q.dequantize of constant signs and scales."""
    value, weight_type = match.group("value"), match.group("type")
    planes, n, packed = signs.shape
    groups = scales.shape[2]
    scale_mlir = {"f16": "f16", "bf16": "bf16", "f32": "f32"}[scale_type]
    scale_bytes = _encode_scales(scales, scale_type)
    signs_type = f"tensor<{planes}x{n}x{packed}xi8>"
    scales_type = f"tensor<{planes}x{n}x{groups}x{scale_mlir}>"
    indent = match.group("indent")
    return (f"{indent}{value}_r2q_signs = arith.constant dense<{_hex(signs)}> : {signs_type}\n"
            f"{indent}{value}_r2q_scales = arith.constant dense<{_hex(scale_bytes)}> : {scales_type}\n"
            f"{indent}{value} = r2q.dequantize {value}_r2q_signs, {value}_r2q_scales "
            f"group_size {group_size} : {signs_type}, {scales_type} -> {weight_type}")


def _encode_scales(scales, scale_type):
    """Scales (float32, exactly representable in scale_type) as the bytes of
    scale_type, little-endian."""
    tensor = torch.from_numpy(np.ascontiguousarray(scales, np.float32))
    encoded = tensor.to(_SCALE_DTYPES[scale_type])
    if not torch.equal(encoded.to(torch.float32), tensor):
        raise ValueError(f"scales are not representable in {scale_type}")
    return encoded.view(torch.int16 if scale_type != "f32" else torch.int32).numpy()


def _pass_codes_through(ir, codes):
    """Rewrites the constant of every frozen R2Q weight of the exported IR
    into r2q.dequantize of its code, so r2q-quantize-linear keeps that code
    (it would not get it back by quantizing the decoded weight). Returns the
    IR and the resource keys of the other (float) weights."""
    resources = _weight_resources(ir)
    coded_keys = {}
    for name, (weight, code) in codes.items():
        key = resources.get(weight.numpy().astype("<f4").tobytes().hex().upper())
        if key is None:
            raise RuntimeError(f"r2q.torch.compile: the weight of layer '{name}' is not a "
                               "constant of the exported IR (is it used by something "
                               "other than the layer?)")
        coded_keys.setdefault(key, code)
    for key, code in coded_keys.items():
        pattern = re.compile(r"^(?P<indent>\s*)(?P<value>%[\w.]+) = arith.constant "
                             rf"dense_resource<{re.escape(key)}> : (?P<type>tensor<[^>]*>)$",
                             re.MULTILINE)
        ir = pattern.sub(lambda match, code=code: _coded_constant(match, *code), ir)
    float_keys = [key for key in resources.values() if key not in coded_keys]
    return ir, float_keys


class CompiledModel:
    """A model compiled by r2q.torch.compile: call it with torch tensors.

    .function is the r2q.CompiledFunction, .ir the linalg IR it was compiled
    from (after the learned codes were put in), .pipeline the pass pipeline."""

    def __init__(self, function, ir, pipeline):
        self.function, self.ir, self.pipeline = function, ir, pipeline

    def __call__(self, *inputs):
        arguments = []
        for index, value in enumerate(inputs):
            if not isinstance(value, torch.Tensor):
                raise TypeError(f"argument {index} must be a torch.Tensor, got "
                                f"{type(value).__name__}")
            if self.function.gpu and value.is_cuda and value.device.index in (None, 0):
                # The kernels run on GPU 0 and read the tensor where it is
                # (__cuda_array_interface__); the results stay there.
                arguments.append(_OnTorchStream(value.detach().contiguous()))
            else:
                arguments.append(value.detach().to("cpu").contiguous().numpy())
        # The results go where the first input is.
        device = inputs[0].device if inputs else torch.device("cpu")
        result = self.function(*arguments)
        if isinstance(result, tuple):
            return tuple(_as_tensor(array, device) for array in result)
        return None if result is None else _as_tensor(result, device)


class _OnTorchStream:
    """A CUDA tensor as r2q's call reads it: torch's __cuda_array_interface__
    (version 2, which names no stream) with torch's current stream (version
    3; torch's default stream, 0, is the legacy default stream, whose handle
    is 1), so that the call runs on that stream, queued after torch's work
    on it, with no wait on the host before the call (it still synchronizes
    the stream before it returns)."""

    def __init__(self, tensor):
        self.tensor = tensor
        stream = torch.cuda.current_stream(tensor.device).cuda_stream
        self.__cuda_array_interface__ = dict(tensor.__cuda_array_interface__, version=3,
                                             stream=stream or 1)


def _as_tensor(result, device):
    """A result of a compiled function as a tensor on `device`: a numpy
    array copied there, an r2q.DeviceArray (in GPU 0's memory) taken without
    a copy where `device` is GPU 0."""
    if isinstance(result, r2q.DeviceArray):
        return torch.as_tensor(result, device=device)
    return torch.from_numpy(result).to(device)


def _quantize_linear_options(group_size, planes, method, scale_type, float_keys,
                             quantize_float_layers):
    options = [f"group-size={group_size}", f"planes={planes}", f"method={method}",
               f"scale-type={scale_type}", "stats=true"]
    if not quantize_float_layers and float_keys:
        options.append("exclude=" + ",".join(f"^{re.escape(key)}$" for key in float_keys))
    return "r2q-quantize-linear{" + " ".join(options) + "}"


def _target_pipeline(target, check_bounds):
    """The pipeline that lowers for `target`, with runtime bounds checks if
    `check_bounds`. The GPU's embeds PTX, which the driver compiles when the
    kernels load (no ptxas needed to compile), for this machine's GPU 0
    (sm_90 where there is none)."""
    options = ["check-bounds=true"] if check_bounds else []
    if target == "cuda":
        options = ["cubin-format=isa", f"chip={r2q.gpu_chip() or 'sm_90'}"] + options
    name = "r2q-cpu-pipeline" if target == "cpu" else "r2q-gpu-pipeline"
    return name + ("{" + " ".join(options) + "}" if options else "")



def compile(model, example_inputs, target="cpu", group_size=128, planes=2, method="greedy",
            scale_type="f16", quantize_float_layers=None, dynamic_shapes=None,
            check_bounds=False):
    """Compiles `model` for `example_inputs` (a tuple of float32 tensors) into
    2-bit R2Q kernels: torch_mlir.fx.export_and_import to linalg-on-tensors,
    r2q-quantize-linear, r2q-cpu-pipeline (target="cpu") or r2q-gpu-pipeline
    (target="cuda": NVIDIA GPUs, PTX for this machine's GPU or sm_90), r2q's JIT. Returns a
    CompiledModel (a callable on torch tensors, returning torch tensors on
    the first input's device; a cuda model's call raises RuntimeError where
    no GPU can be used, r2q.gpu_unavailable_reason()).

    R2QLinear layers keep their code (the learned one after QAT), so the
    compiled model computes what the fake-quantized model computes. Other
    linear layers are quantized by the pass with group_size, planes, method
    and scale_type when `quantize_float_layers` is true; it defaults to
    true for a model without R2QLinear layers (post-training quantization)
    and false for one with (layers quantize_model skipped stay float).
    `check_bounds=True` compiles runtime checks of every memory access (the
    pipelines' check-bounds: an access outside its buffer aborts, or on the
    GPU stops the kernel, naming it); for debugging, it costs speed.
    `model` itself is not changed."""
    if target not in ("cpu", "cuda"):
        raise ValueError(f"r2q.torch.compile: unknown target {target!r}; the targets are "
                         "'cpu' and 'cuda'")
    if isinstance(example_inputs, torch.Tensor):
        example_inputs = (example_inputs,)
    for index, value in enumerate(example_inputs):
        if not isinstance(value, torch.Tensor) or value.dtype != torch.float32:
            raise TypeError(f"r2q.torch.compile: example input {index} must be a float32 "
                            f"torch.Tensor (r2q.compile takes f32 tensors), got "
                            f"{getattr(value, 'dtype', type(value).__name__)}")
    try:
        from torch_mlir import fx
    except ImportError as error:
        raise ImportError("r2q.torch.compile needs torch-mlir "
                          "(scripts/install-torch-deps.sh installs it)") from error
    has_r2q = any(isinstance(module, R2QLinear) for module in model.modules())
    if any(isinstance(module, R2QLinear) and module.outliers for module in model.modules()):
        raise ValueError("r2q.torch.compile: R2QLinear layers with outliers cannot pass their "
                         "code through r2q.dequantize (it has no sparse part); compile their "
                         "code as r2q.matmul with outliers (r2q_eval.qat does)")
    if quantize_float_layers is None:
        quantize_float_layers = not has_r2q
    frozen = freeze(copy.deepcopy(model)).eval()
    # torch-mlir's importer looks buffers up in the state_dict, which leaves
    # non-persistent ones out (Llama's rotary inv_freq): keep them all.
    for submodule in frozen.modules():
        submodule._non_persistent_buffers_set.clear()
    codes = {name: (module.weight.detach().cpu(), module.r2q_code)
             for name, module in frozen.named_modules() if hasattr(module, "r2q_code")}
    with torch.no_grad():
        module = fx.export_and_import(frozen, *example_inputs, output_type="linalg-on-tensors",
                                      func_name="main", dynamic_shapes=dynamic_shapes)
    ir, float_keys = _pass_codes_through(str(module), codes)
    pipeline = (_quantize_linear_options(group_size, planes, method, scale_type, float_keys,
                                         quantize_float_layers)
                + "," + _target_pipeline(target, check_bounds))
    function = r2q.compile(ir, entry="main", pipeline=pipeline, source_name="<torch-mlir>")
    return CompiledModel(function, ir, pipeline)
