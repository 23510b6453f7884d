"""JAX: jax.lax.conv_general_dilated / jax.lax.conv_transpose, and Flax linen Conv / ConvTranspose.

Native layouts are channels-last for both APIs: input (N, *spatial, C), conv kernel (*k, I/g, O),
transposed kernel (*k, O, I) (transpose_kernel=True, see below).
- jax.lax: the layout is whatever `dimension_numbers` declare
  (https://docs.jax.dev/en/latest/_autosummary/jax.lax.conv_general_dilated.html). We declare
  ('NHWC', 'HWIO', 'NHWC') and its 1-D/3-D forms, the ones lax.conv_transpose defaults to, rather
  than the canonical ('NCHW', 'OIHW', 'NCHW'): XLA:CPU's convolution kernels want NHWC/HWIO and
  otherwise insert transposes, so the compiled forward+backward program builds about twice as fast,
  and compiling is most of a case's time here.
- Flax: input (N, *spatial, C); nn.Conv kernel (*k, I/g, O); nn.ConvTranspose kernel (*k, I, O),
  or (*k, O, I) with transpose_kernel=True
  (https://flax.readthedocs.io/en/latest/api_reference/flax.linen/layers.html#flax.linen.ConvTranspose,
  its docstring example: features=4, 3 input channels, transpose_kernel=True -> kernel (6, 6, 4, 3)).

transpose_kernel=True, for both APIs. The reference transposed conv is the adjoint of the conv
(docs/semantics.md#transposed-convolution). JAX documents that transpose_kernel=True "flips spatial
axes and swaps the input/output channel axes of the kernel", making the output "identical to the
gradient-derived functions like keras.layers.Conv2DTranspose applied to the same kernel"
(https://docs.jax.dev/en/latest/_autosummary/jax.lax.conv_transpose.html). With the default False
the kernel is neither flipped nor swapped: a fractionally strided correlation with the unflipped
kernel, a different operation, which matches the reference only if we flip the kernel ourselves,
and flipping data is emulation, not a layout change. So the targets test the setting that means
"transposed convolution", and say so in each transposed result's notes.

Speed: one `jax.jit` of forward + `jax.vjp` backward per new configuration, cheaper than the same
calls run eagerly (JAX then compiles every primitive on its own); jit caches on (spec, shapes,
dtypes, x64, precision), so a repeat costs almost nothing. Compiling is most of a JAX case's time,
so each (case, dtype, device) compiles once for both targets: the jax.lax bias is added as Flax
adds it, so both targets lower to the same program (except 'causal', which Flax runs as jnp.pad
then 'VALID', a different program that compiles on its own), and JAX's persistent compilation cache
(turned on by `_use_compilation_cache`) serves the second target the first one's executable
(`python -m benchmarks --only jax` counts the compilations). Flax's init is evaluated abstractly
with `jax.eval_shape`, its PRNG key made inside: run, its random initializers would compile.
"""
from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import tempfile
from typing import NamedTuple


from conformance.adapters import keras_layers, keras_ops
from conformance.adapters.base import SHARED_CACHE_VARIABLE, Adapter, dist_version

FLAX_SAME_LOWER_NOTE = ("padding 'SAME_LOWER': not among the strings Flax documents; nn.Conv passes a string it "
                        "does not handle itself to jax.lax.conv_general_dilated, which documents 'SAME_LOWER'")
TRANSPOSE_KERNEL_NOTE = ("transpose_kernel=True (kernel flipped, I/O swapped by JAX: the adjoint of "
                         "conv, as the reference; the default False is not the adjoint)")


class Spec(NamedTuple):
    """Everything static about one native call: the key of the compiled-program cache."""

    api: str
    layer: bool  # flax.layer's Flax module, else jax.lax's call
    op: str
    ndim: int
    features: int
    kernel_size: tuple
    stride: tuple
    padding: str | tuple  # the native padding argument
    dilation: tuple
    groups: int
    bias: bool
    dtype: str


class JaxAdapter(Adapter):
    name = "jax"
    apis = ("jax.lax", "flax.layer", "keras.jax.layer", "keras.jax.ops")

    def __init__(self):
        # By default JAX takes 75% of a GPU's memory when it starts. The runner starts up to --jobs
        # JAX workers, and PyTorch workers, on one GPU: each must take only what it uses, or the
        # second one fails with out-of-memory. A user's own setting wins.
        os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
        import jax
        import jax.numpy as jnp

        self.jax = jax
        self.lax = jax.lax
        # flax.layer's own package: where it is installed but fails to import, the target fails to
        # start (Adapter.start_errors); the jax.lax and Keras targets of this worker still run.
        try:
            import flax.linen as nn
        except Exception:  # noqa: BLE001 - start_errors reports the failure with its text
            nn = None
        self.nn = nn
        # jax.lax and Flax refuse nothing the library asks that the adapter does not check itself (no
        # groups in transposed convs, no SAME_LOWER there): only keras.jax.layer's Keras refusals.
        self.refusals = keras_layers.REFUSALS + keras_ops.REFUSALS
        self.dtypes = {"float16": jnp.float16, "bfloat16": jnp.bfloat16,
                        "float32": jnp.float32, "float64": jnp.float64}

        def forward(spec, x, w, b):
            return self._native(spec)(x, w, b)

        def forward_backward(spec, x, w, b, g):
            y, pull = jax.vjp(self._native(spec), x, w, b)
            return (y, *pull(g))

        # jit caches per static spec and argument shapes/dtypes (and x64 / precision config), so a
        # repeated configuration reuses its executable.
        self.forward = jax.jit(forward, static_argnums=0)
        self.forward_backward = jax.jit(forward_backward, static_argnums=0)
        self._layer_shapes: dict = {}
        self._case_in_memory = None  # the case whose compiled programs the jit caches hold
        self.compilation_cache = _use_compilation_cache(jax)

    # ---------------------------------------------------------------- environment
    def x64(self):
        """A context enabling float64 for one call: `jax.enable_x64` (JAX >= 0.8), else the older
        `jax.experimental.enable_x64`, so the upgrade gate can run an older JAX too."""
        if hasattr(self.jax, "enable_x64"):
            return self.jax.enable_x64(True)
        from jax.experimental import enable_x64

        return enable_x64()

    def version(self) -> str:
        return self.jax.__version__

    def devices(self) -> list[str]:
        try:
            gpu = bool(self.jax.devices("gpu"))
        except RuntimeError:  # "Unknown backend: 'gpu' requested, but no platforms ... are present"
            gpu = False
        return ["cpu", "gpu"] if gpu else ["cpu"]

    def environment(self) -> dict:
        jax = self.jax
        env = {"version": jax.__version__, "jaxlib": dist_version("jaxlib"),
               "flax": dist_version("flax"), "keras": dist_version("keras"), "backend": jax.default_backend(),
               "device_kinds": [d.device_kind for d in jax.devices()],
               "cpu_device_kind": _device_kind(jax, "cpu"), "gpu": _device_kind(jax, "gpu"),
               "cuda_plugin": dist_version("jax-cuda12-plugin") or dist_version("jax-cuda13-plugin"),
               "xla_flags": os.environ.get("XLA_FLAGS"),
               "compilation_cache": {"dir": self.compilation_cache,
                                     "min_compile_time_secs": jax.config.jax_persistent_cache_min_compile_time_secs}}
        env.update(self.settings())
        return env

    def settings(self) -> dict:
        c = self.jax.config
        return {"jax_default_matmul_precision": c.jax_default_matmul_precision,
                "jax_enable_x64": c.jax_enable_x64}

    @contextlib.contextmanager
    def precision(self, device: str, profile: str):
        # jax_default_matmul_precision governs conv_general_dilated too (precision=None reads it);
        # it is part of jit's cache key, so strict and defaults programs never share an executable.
        ctx = self.jax.default_matmul_precision("highest") if profile == "strict" else contextlib.nullcontext()
        with ctx:
            yield self.settings()

    # ---------------------------------------------------------------- construction
    # The paths (jax_paths.py, keras_backend.py, keras_ops.py) run in this session: the jitted
    # programs are shared by jax.lax and flax.layer, whose path says what a program calls.
    def _native(self, spec: Spec):
        """The user's call on the path `spec.api`, as a function of native (x, w, b); traced inside jit."""
        return self.paths[spec.api].native(spec)

    def flax_layer(self, spec: Spec):
        nn, jdt = self.nn, self.dtypes[spec.dtype]
        common = dict(features=spec.features, kernel_size=spec.kernel_size, strides=spec.stride,
                      padding=spec.padding, kernel_dilation=spec.dilation, use_bias=spec.bias,
                      dtype=jdt, param_dtype=jdt)
        if spec.op == "conv":
            return nn.Conv(feature_group_count=spec.groups, **common)
        return nn.ConvTranspose(transpose_kernel=True, **common)

    def forget_programs(self) -> None:
        """Drop the compiled programs of the previous case from memory. A case's programs are reused
        by its own dtypes and targets; another case with the same program gets it from the persistent
        cache (`_use_compilation_cache`) at once. Kept, they grow a worker by megabytes a case,
        gigabytes over the library."""
        for fn in (self.forward, self.forward_backward):
            clear = getattr(fn, "clear_cache", None)  # older JAX: no per-function clear; keep them
            if clear is not None:
                clear()
        self._layer_shapes.clear()

    def layer_params(self, spec: Spec, x_shape: tuple) -> dict:
        """The shapes of the params the layer creates: its init, evaluated abstractly (no compute)."""
        key = (spec, x_shape)
        if key not in self._layer_shapes:
            jax = self.jax
            x = jax.ShapeDtypeStruct(x_shape, self.dtypes[spec.dtype])
            with self.native():
                # the key is made inside the abstract evaluation too: made eagerly, it would compile
                # a seeding program (once per x64 mode), the only compilation besides the case's own
                variables = jax.eval_shape(lambda x: self.flax_layer(spec).init(jax.random.key(0), x), x)
            self._layer_shapes[key] = variables["params"]
        return self._layer_shapes[key]

def _use_compilation_cache(jax) -> str:
    """Turn on JAX's persistent compilation cache (documented at
    https://docs.jax.dev/en/latest/persistent_compilation_cache.html) so that each (case, dtype,
    device) compiles once: the jax.lax and flax.layer programs of a case lower to the same IR (see
    `_native`), and JAX keys the cache on that IR (without source locations), the compile options
    and the jaxlib/backend versions, so the second target loads the executable the first one built:
    the same program, the same numbers, loaded instead of compiled. Compiling is most of a JAX
    case's time (`python -m benchmarks --only jax`).

    A cache the user configured (JAX_COMPILATION_CACHE_DIR) is used as it is. Otherwise the cache is
    in the folder shared by the run's workers (`WorkerPool.shared_cache`: `--cache-dir`, kept between
    runs, or with `--cache-dir none` a folder of the run's, removed even if a worker was killed), so
    that a program one worker compiled is loaded by the others, and by the next run. An entry JAX cannot read (one that another
    process is still writing) is a miss: JAX compiles the program itself (tried with a truncated
    entry: same records, one compilation). Where there is no pool (benchmarks, tests), the cache is
    a private temporary folder removed when this process exits. Entries are cached whatever their
    compile time (JAX's default minimum is 1 s, which no case here reaches), unless
    JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS says otherwise.
    """
    where = jax.config.jax_compilation_cache_dir
    if not where:
        shared = os.environ.get(SHARED_CACHE_VARIABLE)
        if shared:
            folder = os.path.join(shared, "jax-compilation-cache")
            os.makedirs(folder, exist_ok=True)
            where = "the run's cache folder (--cache-dir)"  # not its path: the same in every run
        else:
            folder = tempfile.mkdtemp(prefix="conformance-jax-cache-")
            atexit.register(shutil.rmtree, folder, ignore_errors=True)
            where = "a private temporary folder of this process"
        jax.config.update("jax_compilation_cache_dir", folder)
    if "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS" not in os.environ:
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    return where


def _device_kind(jax, platform: str) -> str | None:
    """The first `platform` device's kind (e.g. 'cpu', 'NVIDIA H100 80GB HBM3'); None without one."""
    try:
        devices = jax.devices(platform)
    except RuntimeError:  # "Unknown backend: 'gpu' requested, but no platforms ... are present"
        return None
    return str(devices[0].device_kind) if devices else None
