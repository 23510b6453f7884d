"""TensorFlow + oneDNN: the weight gradient of a 1x1, stride-2 transposed conv corrupts the heap.

What it shows
-------------
With TensorFlow's oneDNN kernels on (the default on Linux CPUs with AVX512_VNNI, AVX512_BF16,
AVX_VNNI or AMX; `TF_ENABLE_ONEDNN_OPTS=1` forces them), the gradient of
`tf.nn.conv2d_transpose(x, w, output_shape=[1, 8, 10, 2], strides=2, padding="SAME")` with a 1x1
kernel (the library's case `convT2d_same_s2[kernel_size=1]`) writes outside a buffer: after some
calls the process dies with glibc's "munmap_chunk(): invalid pointer", "corrupted size vs.
prev_size", "free(): invalid next size (fast)" (signal 6) or a segmentation fault (signal 11).
Keras' Conv2DTranspose runs the same ops and dies the same way. The forward pass is fine.

The op at fault is the weight gradient, Conv2DBackpropFilter: a 1x1 conv with stride 2 over the
transposed conv's output (8x10, 2 channels). oneDNN (v3.7.3 in TF 2.21) runs it with
`jit_1x1:avx512_core` (`jit_bf16_1x1:avx512_core_bf16` in bfloat16), `backward_weights`, whose
reduce-to-unit-stride workspace is booked for the real channel count but written with the
16-channel block (uxlfoundation/oneDNN#6035). oneDNN picks that implementation for a strided 1x1
conv on channels-last data only where every input size is a multiple of the stride, which a 'same'
transposed conv's output (in * stride) always is; an odd size gets `jit:avx512_core`, which is
fine. What had to hold here for a crash: oneDNN on; float32 or bfloat16 (TF gives oneDNN no
float64, and float16 only on CPUs with AVX512_FP16/AMX_FP16, so those run Eigen); fewer than 16
channels in the conv's input (the transposed conv's output channels; 1, 2, 8 crashed, 15, 16, 17,
32 did not); 2 or more intra-op threads (1 thread: 0 crashes in 900 calls). Other shapes of the
library's 1x1 strided cases did not crash in 1000 calls, as a small overrun may stay inside the
allocator's slack.

How to run
----------
    python examples/tf_onednn_conv2d_transpose_crash.py                 # 10 processes of 30 calls
    python examples/tf_onednn_conv2d_transpose_crash.py --calls 300 --processes 5 --api keras
    TF_ENABLE_ONEDNN_OPTS=0 python examples/tf_onednn_conv2d_transpose_crash.py   # Eigen: no crash
    python examples/tf_onednn_conv2d_transpose_crash.py --child --calls 300       # one process, in place

Each child process computes the forward pass and both gradients `--calls` times and prints how
many calls completed; the parent (which never imports TensorFlow) counts the children that died
by a signal. Exit status: 1 when any child crashed, else 0.

What it printed here, and how often
-----------------------------------
TensorFlow 2.21.0 (oneDNN v3.7.3), Keras 3.15.1, Python 3.11.7, Linux x86-64, AMD EPYC with AVX-512
(AVX512F, AVX512_BF16, AVX512_VNNI; no AVX512_FP16), 2 cores, TF's default 2 intra-op threads:

    $ python examples/tf_onednn_conv2d_transpose_crash.py --calls 300 --processes 5
    process   1: died by SIGABRT    calls completed: 13  corrupted size vs. prev_size
      (tensorflow 2.21.0, oneDNN on, tf.nn, float32)
    process   2: died by SIGABRT    calls completed: 15  free(): invalid next size (fast)
    process   3: died by SIGABRT    calls completed: 2  corrupted size vs. prev_size
    process   4: died by SIGABRT    calls completed: 8  munmap_chunk(): invalid pointer
    process   5: died by SIGABRT    calls completed: 7  munmap_chunk(): invalid pointer
    5 of 5 processes crashed

    Processes that crashed, by calls per process (tf.nn, float32): 300 calls: 5 of 5 (after 2 to 20
    calls); 30 (the default): 10 of 10; 10: 11 of 20; 3: 2 of 20; 1: 1 of 20 (the corruption is seldom
    noticed before the process exits); with a busy-loop process alongside, about the same (10: 14 of
    20; 3: 1 of 20; 1: 0 of 50). --api keras, 300 calls: 5 of 5 (SIGSEGV or SIGABRT, after 5 to 20).
    --dtype bfloat16, 300 calls: 3 of 3 (after 1 to 3). --dtype float64 or float16, --threads 1, or
    TF_ENABLE_ONEDNN_OPTS=0: 0 crashed (2 or 3 processes of 300 calls each).

    In the suite (`conformance run --frameworks tensorflow --case-id 'convT2d_same_s2?kernel_size=1?'
    --retries 0`, 20 runs each): oneDNN on, quiet machine: 1 crashed (keras.layer, signal 6) and 1 with
    three gradients "unsupported" (AbortedError: could not create a primitive descriptor for the
    reorder primitive, mkl_conv_grad_filter_ops.cc), 18 all pass; under load (two busy-loop processes
    on the 2 cores): 2 crashed (keras.layer, signals 6 and 11); oneDNN off: 20 of 20 pass. The worker
    runs tf.nn before keras.layer, so the corruption of one unit is often noticed in the next.
"""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys


def child(calls: int, api: str, dtype: str, threads: int | None) -> None:
    """Forward and gradients of the 1x1, stride-2, 'same' transposed conv, `calls` times."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import numpy as np
    import tensorflow as tf

    if threads:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
    from tensorflow.python.util import _pywrap_util_port

    print(f"tensorflow {tf.__version__}, oneDNN {'on' if _pywrap_util_port.IsMklEnabled() else 'off'}, "
          f"{api}, {dtype}", flush=True)
    rng = np.random.default_rng(0)
    tdtype = getattr(tf, dtype)
    x = tf.constant(rng.standard_normal((1, 4, 5, 3)), tdtype)  # NHWC: the library case's input [1, 3, 4, 5]
    g = tf.constant(rng.standard_normal((1, 8, 10, 2)), tdtype)  # the upstream gradient of the 8x10 output
    if api == "keras":
        import keras

        layer = keras.layers.Conv2DTranspose(2, 1, strides=2, padding="same", dtype=dtype)
        layer.build(x.shape)
        call, sources = layer, [x, layer.kernel, layer.bias]  # Keras' variables are watched already
    else:
        w = tf.constant(rng.standard_normal((1, 1, 2, 3)), tdtype)  # (kh, kw, out, in)
        call = lambda a: tf.nn.conv2d_transpose(a, w, output_shape=[1, 8, 10, 2], strides=2,  # noqa: E731
                                                padding="SAME")
        sources = [x, w]
    for done in range(calls):
        with tf.GradientTape() as tape:
            tape.watch(sources[:2] if api == "tf.nn" else sources[:1])
            y = call(x)
        tape.gradient(y, sources, output_gradients=g)
        print(f"calls completed: {done + 1}", flush=True)


def parent(args) -> int:
    command = [sys.executable, __file__, "--child", "--calls", str(args.calls), "--api", args.api,
               "--dtype", args.dtype] + (["--threads", str(args.threads)] if args.threads else [])
    crashed = 0
    for i in range(args.processes):
        proc = subprocess.run(command, capture_output=True, text=True)
        lines = proc.stdout.strip().splitlines()
        died = proc.returncode < 0 or proc.returncode in (134, 139)
        crashed += died
        how = (f"died by {signal.Signals(-proc.returncode).name}" if proc.returncode < 0
               else f"exit {proc.returncode}")
        errors = [line for line in proc.stderr.splitlines() if line.strip()]
        note = next((line for line in errors[::-1] if "corrupt" in line or "invalid" in line), "")
        if not died and proc.returncode:
            note = errors[-1] if errors else ""  # not a crash: say what failed
        print(f"process {i + 1:3d}: {how:18s} {lines[-1] if lines else ''}  {note}".rstrip(), flush=True)
        if i == 0 and lines:
            print(f"  ({lines[0]})")
    print(f"{crashed} of {args.processes} processes crashed")
    return 1 if crashed else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=30, help="forward + gradient calls per process (default 30)")
    parser.add_argument("--processes", type=int, default=10, help="fresh processes to run (default 10)")
    parser.add_argument("--api", choices=("tf.nn", "keras"), default="tf.nn")
    parser.add_argument("--dtype", choices=("float32", "bfloat16", "float16", "float64"), default="float32")
    parser.add_argument("--threads", type=int, default=None, help="TensorFlow intra-op threads (default: TF's)")
    parser.add_argument("--child", action="store_true", help="run the calls in this process")
    args = parser.parse_args()
    if args.child:
        child(args.calls, args.api, args.dtype, args.threads)
        return 0
    return parent(args)


if __name__ == "__main__":
    sys.exit(main())
