# %% [markdown]
# # 13 · Distributed training and performance: data parallelism that provably matches one device, two real workers, a failure survived, federated averaging, measured speed-ups
#
# **What you will learn**
# - why data-parallel training computes *the same gradient* as one device (derived, then checked to float precision),
#   and what an **all-reduce** costs — the ring all-reduce moves $2(N-1)/N$ of the gradient bytes per worker;
# - `tf.distribute.MirroredStrategy` on two (logical) devices, and what changes with BatchNorm, batch size and
#   learning rate;
# - `tf.distribute.MultiWorkerMirroredStrategy` with **two real worker processes** talking over 127.0.0.1, with a
#   custom training loop (`strategy.run`, `strategy.reduce`) — and why not `model.fit` (a Keras 3 limitation);
# - **fault tolerance**: a worker is killed mid-training, the job restarts from the last checkpoint and ends with
#   the same weights as a run that was never interrupted; `BackupAndRestore` with `fit` on one worker;
# - `ParameterServerStrategy`, **federated averaging** (FedAvg) on non-IID clients, and a scaling prediction on
#   paper for 1–64 workers from measured step and all-reduce times;
# - performance on one machine: `tf.data` pipelines, mixed precision (`mixed_bfloat16`), XLA, and a profiler trace.
#
# **Prerequisites:** 03 (Keras models, `fit`), 04 (optimizers, BatchNorm); 06 explains convolutional networks.
# **Data:** MNIST. **Run time (full profile):** 5.6 min up to the Results cell for the run stored here (printed there, with
# the load average at that moment: 4.8), on a CPU-only machine with 2 logical CPUs (`du.setup` prints
# "CPU, 2 threads") shared with other jobs. **Nothing in this notebook was run on a GPU**; §9 says what would change
# there.

# %%
# NBVAL_IGNORE_OUTPUT
import dlutils as du

du.setup(seed=42)

# %% [markdown]
# One machine, one CPU — but TensorFlow can split it into several **logical devices**. This must happen before
# TensorFlow runs its first operation, so it comes right after the set-up. `MirroredStrategy` in §2 will treat
# `CPU:0` and `CPU:1` like two GPUs (they share the same two cores, so this shows *correctness*, not speed).

# %%
import json
import os
import shutil
import time
import traceback
from pathlib import Path

import keras
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import tensorflow as tf

from dlutils.distributed import Workers

T_START = time.perf_counter()  # the Results cell prints the run time of the whole notebook
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
print([d.name for d in tf.config.list_logical_devices("CPU")])
tf.get_logger().setLevel("ERROR")

ARTIFACTS = Path("artifacts/13_distributed_and_performance").resolve()  # git-ignored scratch folder
shutil.rmtree(ARTIFACTS, ignore_errors=True)
ARTIFACTS.mkdir(parents=True)

(x_train_raw, y_train), (x_test_raw, y_test) = du.data.load_mnist()
x_train = x_train_raw.reshape(-1, 784).astype("float32") / 255
x_test = x_test_raw.reshape(-1, 784).astype("float32") / 255
y_train, y_test = y_train.astype("int32"), y_test.astype("int32")
print("train", x_train.shape, "test", x_test.shape)

KERAS_SRC = Path(keras.__file__).parent / "src"  # the installed Keras 3 source, quoted where it settles a fact


def keras_source(relpath: str, *needles: str) -> None:
    """Print the lines of keras/src/<relpath> that contain any of `needles`, with their line numbers."""
    for number, line in enumerate((KERAS_SRC / relpath).read_text().splitlines(), 1):
        if any(n in line for n in needles):
            print(f"keras/src/{relpath}:{number}: {line.strip()}")


def keras_files_mentioning(*names: str) -> None:
    for name in names:
        hits = [p.relative_to(KERAS_SRC) for p in KERAS_SRC.rglob("*.py") if name in p.read_text()]
        print(f"{name}: {len(hits)} files in keras/src {[str(h) for h in hits[:3]]}")

# %% [markdown]
# ## 1. Data parallelism: the global gradient is the mean of the per-replica gradients
#
# **Idea.** Give each of $N$ workers (replicas) a full copy of the model and a different slice of the batch; each
# computes a gradient on its slice; the gradients are averaged across workers (**all-reduce**); every worker applies
# the same update, so the copies stay identical.
#
# **Math.** The loss of a global batch of $B$ examples is the mean of the per-example losses,
# $L = \frac{1}{B}\sum_{i=1}^{B}\ell_i$. Split the batch into $N$ shards $S_1,\dots,S_N$ of $B/N$ examples, with
# shard losses $L_k = \frac{N}{B}\sum_{i\in S_k}\ell_i$ (the mean over the shard). Then
# $$L = \frac{1}{N}\sum_{k=1}^{N} L_k \quad\Longrightarrow\quad \nabla L = \frac{1}{N}\sum_{k=1}^{N}\nabla L_k ,$$
# because the gradient is linear. So data parallelism is not an approximation: with the same examples in the global
# batch, it computes *the same gradient* as one device, up to floating-point rounding (sums in a different order).
# `tf.distribute` implements the $\frac1N\sum$ as a **sum** all-reduce of gradients of
# $\frac{1}{B}\sum_{i\in S_k}\ell_i = L_k/N$: that is what `tf.nn.compute_average_loss(per_example,
# global_batch_size=B)` computes on each replica (the Pitfalls section shows what happens with a plain mean).
#
# The model used for the exactness checks is a small MLP (784–64–10, logits).

# %%
def build_mlp(batchnorm: str | None = None) -> keras.Model:
    """784-64-10 MLP; batchnorm None, "per-replica" (Keras default) or "synced" (statistics over all replicas)."""
    layers = [keras.Input((784,)), keras.layers.Dense(64)]
    if batchnorm is not None:
        layers.append(keras.layers.BatchNormalization(synchronized=batchnorm == "synced"))
    layers += [keras.layers.Activation("relu"), keras.layers.Dense(10)]
    return keras.Sequential(layers, name="mlp")


keras.utils.set_random_seed(0)
mlp = build_mlp()
xb, yb = tf.constant(x_train[:64]), tf.constant(y_train[:64])


def gradient(model, x, y):
    with tf.GradientTape() as tape:
        per_example = keras.losses.sparse_categorical_crossentropy(y, model(x), from_logits=True)
        loss = tf.reduce_mean(per_example)
    return tape.gradient(loss, model.trainable_variables)


g_global = gradient(mlp, xb, yb)  # one device, global batch of 64
g_halves = [gradient(mlp, xb[i : i + 32], yb[i : i + 32]) for i in (0, 32)]  # two "replicas" of 32
g_mean = [(a + b) / 2 for a, b in zip(*g_halves, strict=True)]
grad_diff = max(float(tf.reduce_max(tf.abs(a - b))) for a, b in zip(g_global, g_mean, strict=True))
grad_scale = max(float(tf.reduce_max(tf.abs(a))) for a in g_global)
print(f"largest gradient entry {grad_scale:.3f}; max |global - mean of replicas| = {grad_diff:.1e}")

# %% [markdown]
# The two agree to float32 rounding (the difference printed above is about $10^{-8}$ of a gradient whose largest
# entry is of order $10^{-1}$).
#
# ### All-reduce and the ring
#
# After the backward pass every worker holds a gradient of $P$ numbers and needs the sum over all $N$ workers.
# Sending every gradient to one place costs that place $(N-1)P$ numbers received — a bottleneck that grows with $N$.
# The **ring all-reduce** (used by NCCL, Horovod, and TensorFlow's collective ops) arranges the workers in a ring and
# cuts each gradient into $N$ chunks:
# 1. **reduce-scatter**, $N-1$ steps: each worker sends one chunk to its right neighbour and adds the chunk it
#    receives to its own; afterwards worker $k$ holds the complete sum of one chunk;
# 2. **all-gather**, $N-1$ steps: the completed chunks travel once around the ring.
#
# Each worker sends $2(N-1)$ chunks of $P/N$ numbers, i.e. $2\frac{N-1}{N}P$ — less than $2P$ however many workers
# there are, so the bandwidth cost per worker is nearly constant in $N$; only the number of steps, $2(N-1)$, grows
# (latency). The simulation below runs the algorithm with NumPy, checks the result against a direct sum and counts
# the numbers that worker 0 sends (every other worker sends as many, up to one number per step from the rounding of
# $P/N$ into whole chunks).

# %%
def ring_all_reduce(grads: list[np.ndarray]) -> tuple[list[np.ndarray], int]:
    """Ring all-reduce (reduce-scatter, then all-gather) of equal-length vectors; returns results, numbers sent per worker."""
    n = len(grads)
    chunks = [np.array_split(g.astype(np.float64), n) for g in grads]  # chunks[worker][chunk]
    sent = 0
    for step in range(n - 1):  # reduce-scatter: worker k sends chunk (k - step) to worker k+1
        messages = [(k, (k - step) % n, chunks[k][(k - step) % n].copy()) for k in range(n)]
        for k, c, data in messages:
            chunks[(k + 1) % n][c] += data
        sent += len(messages[0][2])
    for step in range(n - 1):  # all-gather: worker k passes on the completed chunk (k + 1 - step)
        messages = [(k, (k + 1 - step) % n, chunks[k][(k + 1 - step) % n].copy()) for k in range(n)]
        for k, c, data in messages:
            chunks[(k + 1) % n][c] = data
        sent += len(messages[0][2])
    return [np.concatenate(c) for c in chunks], sent


rng = np.random.default_rng(0)
P = 50_890  # the MLP's number of parameters
rows = []
for n in (2, 4, 8, 16):
    grads = [rng.normal(size=P) for _ in range(n)]
    results, sent = ring_all_reduce(grads)
    exact = np.sum(grads, axis=0)
    error = max(np.abs(r - exact).max() for r in results)
    rows.append({"workers": n, "max error": f"{error:.0e}", "sent / P": round(sent / P, 4), "2(N-1)/N": 2 * (n - 1) / n})
print(f"MLP parameters: {sum(int(np.prod(v.shape)) for v in mlp.trainable_variables)}")
print(pd.DataFrame(rows).to_string(index=False))

# %% [markdown]
# Every worker ends with the exact sum (errors at float64 rounding), and the numbers worker 0 sends match
# $2(N-1)/N$ of the gradient to the printed precision.
#
# ## 2. `MirroredStrategy` on two logical CPU devices matches one device
#
# `MirroredStrategy` is data parallelism inside one machine (normally over its GPUs): variables are mirrored on every
# device, `fit` splits each global batch into one slice per device, and gradients are all-reduced before the update.
# The experiment: the same initial weights, the same batches in the same order, global batch 64, SGD with momentum,
# 50 steps — once on one device, once mirrored over `CPU:0` and `CPU:1` (32 examples each). Then the same with a
# BatchNorm layer, per-replica (Keras's default) and synchronized. (SGD with learning rate 0.05 and momentum 0.9 is
# an ordinary setting for this MLP, used throughout §2–§4; the equality checks do not depend on it.)

# %%
# NBVAL_IGNORE_OUTPUT
MIRROR_STEPS = du.pick(full=50, quick=10)
GLOBAL_BATCH = 64
ds_mirror = tf.data.Dataset.from_tensor_slices((x_train, y_train)).batch(GLOBAL_BATCH).take(MIRROR_STEPS)
mirrored = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
print("replicas in sync:", mirrored.num_replicas_in_sync)


def train_with_fit(strategy, batchnorm=None):
    with strategy.scope():
        model = build_mlp(batchnorm)
        model.set_weights(initial[batchnorm])
        model.compile(
            optimizer=keras.optimizers.SGD(0.05, momentum=0.9),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        )
    model.fit(ds_mirror, epochs=1, verbose=0, shuffle=False)
    return model.get_weights()


def max_diff(a, b):
    return max(float(np.abs(u - v).max()) for u, v in zip(a, b, strict=True))


initial = {}
for bn in (None, "per-replica", "synced"):
    keras.utils.set_random_seed(1)
    initial[bn] = build_mlp(bn).get_weights()
mirror_rows = {}
for bn in (None, "per-replica", "synced"):
    single = train_with_fit(tf.distribute.OneDeviceStrategy("/cpu:0"), bn)
    two = train_with_fit(mirrored, bn)
    mirror_rows[str(bn)] = max_diff(single, two)
mirrored_vs_single = mirror_rows["None"]
print(pd.Series(mirror_rows, name="max |weight diff| one device vs mirrored").to_string(float_format="%.1e"))

# %%
keras_source("backend/tensorflow/nn.py", "replica_ctx.all_reduce(", "batch the all-reduces")  # synchronized BN

# %% [markdown]
# Without BatchNorm the mirrored model ends where the single-device model ends, to float32 rounding (first row).
# **BatchNorm breaks the equivalence**: it normalizes with the mean and variance *of the batch it sees*, and under
# `MirroredStrategy` each replica sees only its 32 examples, so the activations, the gradients and the moving
# statistics differ from those of one device with 64 examples (second row). `BatchNormalization(synchronized=True)`
# (formerly `SyncBatchNormalization`) all-reduces the batch statistics across replicas at every step; it restores
# the equivalence (third row). The price is communication inside every BN layer: the installed Keras issues
# **three** separate all-reduces per BN layer in the forward pass (sum, sum of squares and count, printed above
# with Keras's own source comment that they should be batched one day), and back-propagating through them needs all-reduces in the backward pass too.
#
# **Batch size and learning rate.** Above, the *global* batch was kept at 64 and split in two. In practice one keeps
# the *per-replica* batch (what fits in one GPU's memory) and lets the global batch grow with $N$. Larger batches give
# lower-variance gradients but fewer updates per epoch; the common recipe (Goyal et al., 2017, *Accurate, Large
# Minibatch SGD*) scales the learning rate linearly with the global batch and warms it up over the first epochs. It is
# a rule of thumb from that paper, not something this notebook measures; check it on your model.
#
# ## 3. `MultiWorkerMirroredStrategy`: two real worker processes on 127.0.0.1
#
# Across machines, each worker is a separate process that learns about the others from the environment variable
# `TF_CONFIG`:
# ```json
# {"cluster": {"worker": ["127.0.0.1:40211", "127.0.0.1:38977"]}, "task": {"type": "worker", "index": 0}}
# ```
# Worker 0 is the **chief** (it writes checkpoints). On real machines the addresses are the hosts' names; here both
# workers run on this machine and talk over the loopback interface only. The training script is
# `scripts/multiworker_train.py`; `dlutils.distributed.Workers` picks free ports, gives each process its `TF_CONFIG`,
# bounds the run in time and stops every process by its PID. Here is the heart of the script — a **custom training
# loop** (the first lines show where `strategy`, the data `x`, `y`, the global batch `gb`, `model` and `optimizer`
# come from; `args` holds the command-line arguments):

# %%
script = Path("../scripts/multiworker_train.py").resolve()
source = script.read_text().splitlines()
defined = ("strategy = tf.distribute", "x, y = data", "gb = args", "model = build_model()", "optimizer = keras")
print("# defined earlier in main():")  # args: the command line (--epochs, --steps, --global-batch, ...)
print("\n".join(line[4:] for line in source if line.strip().startswith(defined)), "\n# ...")
start = next(i for i, line in enumerate(source) if "def epoch_dataset" in line)
end = next(i for i, line in enumerate(source) if "step_times: list" in line)
print("\n".join(line[4:] for line in source[start:end]))

# %% [markdown]
# - `distribute_datasets_from_function` calls `per_worker` once per worker; `input_pipeline_id` is the worker's
#   index, so worker 0 takes the first 32 examples of every global batch and worker 1 the last 32.
#   `get_per_replica_batch_size` divides the global batch by the number of *replicas*; each worker has one replica
#   here (one CPU), so that is also the per-worker batch — with 4 GPUs per worker it would not be.
# - `compute_average_loss` divides the summed loss by the **global** batch (64), as derived in §1.
# - `optimizer.apply_gradients` inside `strategy.run` all-reduces (sums) the gradients across the workers before
#   updating, so both workers apply the same update.
#
# **Why not `model.fit`?** In Keras 3.15, `fit` under `MultiWorkerMirroredStrategy` fails; this is the open issue
# [keras-team/keras#20585](https://github.com/keras-team/keras/issues/20585). The run further below tries it
# (`--mode fit`; the script creates *and compiles* the model inside `strategy.scope()`, so the failure is not a
# scope mistake of the script) and prints the exception each worker recorded and the frames where it was raised.
# The custom loop is also what `fit` does under the hood, so it is worth seeing once.
#
# The single-device reference is the plain loop below on the same data, the same initial weights and the same
# optimizer; the notebook writes the data and the initial weights to a file that both workers read.

# %%
# NBVAL_IGNORE_OUTPUT
MW_EPOCHS = du.pick(full=5, quick=3)
MW_STEPS = du.pick(full=25, quick=10)  # global batches per epoch
n_mw = MW_EPOCHS * MW_STEPS * GLOBAL_BATCH
x_mw, y_mw = x_train[:n_mw], y_train[:n_mw]

keras.utils.set_random_seed(2)
reference = build_mlp()
np.savez(ARTIFACTS / "mw_data.npz", x=x_mw, y=y_mw, **{f"w{i}": w for i, w in enumerate(reference.get_weights())})
ref_optimizer = keras.optimizers.SGD(0.05, momentum=0.9)


@tf.function
def reference_step(x, y):
    with tf.GradientTape() as tape:
        per_example = keras.losses.sparse_categorical_crossentropy(y, reference(x, training=True), from_logits=True)
        loss = tf.reduce_mean(per_example)
    grads = tape.gradient(loss, reference.trainable_variables)
    ref_optimizer.apply_gradients(zip(grads, reference.trainable_variables, strict=True))
    return loss


step_seconds = []
for i in range(MW_EPOCHS * MW_STEPS):
    t0 = time.perf_counter()
    reference_step(x_mw[i * GLOBAL_BATCH : (i + 1) * GLOBAL_BATCH], y_mw[i * GLOBAL_BATCH : (i + 1) * GLOBAL_BATCH])
    step_seconds.append(time.perf_counter() - t0)
single_step_s = float(np.median(step_seconds[1:]))
reference_weights = reference.get_weights()
print(f"one device: {MW_EPOCHS * MW_STEPS} steps of {GLOBAL_BATCH}; median step {single_step_s * 1e3:.2f} ms")

# %%
# NBVAL_IGNORE_OUTPUT
def run_workers(name: str, *extra: str, timeout: float = 150) -> Workers:
    """Start two workers of scripts/multiworker_train.py, wait for them (bounded), return the group."""
    args = [str(script), "--data", str(ARTIFACTS / "mw_data.npz"), "--out", str(ARTIFACTS / name),
            "--epochs", str(MW_EPOCHS), "--steps", str(MW_STEPS), "--global-batch", str(GLOBAL_BATCH), *extra]  # fmt: skip
    group = Workers(args, n=2, timeout=timeout, log_dir=ARTIFACTS / f"{name}_logs")
    with group:
        t0 = time.perf_counter()
        codes = group.wait()
    print(f"{name}: workers {group.pids} on ports {group.ports}, exit codes {codes}, {time.perf_counter() - t0:.1f} s")
    return group


def worker_records(name: str) -> list[dict]:
    return [json.loads((ARTIFACTS / name / f"worker{i}.json").read_text()) for i in range(2)]


run_workers("multiworker", "--bench")
mw_records = worker_records("multiworker")
with np.load(ARTIFACTS / "multiworker" / "weights.npz") as f:
    mw_weights = [f[k] for k in f.files]
multiworker_vs_single = max_diff(reference_weights, mw_weights)
multiworker_workers = len(mw_records)
for r in mw_records:
    print(f"worker {r['worker']} (pid {r['pid']}): replicas in sync {r['replicas']}, median step {r['median_step_s'] * 1e3:.2f} ms")
print(f"max |weight diff| one device vs two workers: {multiworker_vs_single:.1e}")

# %% [markdown]
# Both processes report 2 replicas in sync, and the chief's final weights equal the single-device weights to float32
# rounding (printed above; the Check cell asserts $\le 10^{-4}$).
#
# **Throughput, honestly.** The step times above are *not* a speed-up: both workers share this machine's two cores,
# each step's gradients cross the loopback network through gRPC, and each worker computes a batch of 32 that is
# too small to keep a CPU busy. Compare the workers' median step with the one-device step printed before it. On two
# real machines each worker would have its own cores and compute on half of the global batch, and the all-reduce
# would cross a real network; §7 turns measured numbers into a prediction for that case and checks that model
# against the step time measured here. (Each epoch has 25 global batches, 5 epochs: enough updates for the weights to
# move far from their start, so that the equality check means something, while a start of two workers takes
# seconds. Every start of workers is bounded at 150 s, many times the run times printed, so that a hung worker is
# stopped instead of blocking the notebook.)
#
# And `fit`, for the record (full profile only: it costs another start of two processes):

# %%
# NBVAL_IGNORE_OUTPUT
if du.is_quick():
    fit_errors = ["skipped in the quick profile"]
else:
    run_workers("fit", "--mode", "fit")
    fit_errors = [r["fit_error"] for r in worker_records("fit")]
    print("raised in:", worker_records("fit")[0]["fit_error_where"])
for i, err in enumerate(fit_errors):
    print(f"worker {i}: {err}")

# %% [markdown]
# Both workers ended with the same `ValueError`: a `PerReplica` value (each worker's slice of 32 examples) cannot be
# converted to a tensor. The frames printed above show where: `fit` first calls `_maybe_symbolic_build`, which builds
# the model from the first batch of the dataset, and under `MultiWorkerMirroredStrategy` that batch is a
# `PerReplica` container, not a tensor. That is Keras's own code path, not the script's (which creates and compiles
# everything inside the scope), and it is the failure reported in keras-team/keras#20585.
#
# ## 4. Fault tolerance: kill a worker, restart, resume from the last checkpoint
#
# A long job on many machines will see a machine fail. The defence is to **checkpoint** the complete training state
# (weights, optimizer slots such as momentum, the epoch counter) at the end of every epoch and, on restart, to
# **restore** it and continue. In the custom loop this is `tf.train.CheckpointManager` (TensorFlow's checkpoint
# machinery; tf.keras's `BackupAndRestore` was built on it, Keras 3's is not — see below):
# - every worker calls `manager.save()` (saving may involve collective operations), but only the **chief** writes
#   into the shared checkpoint folder; the other workers write to a scratch folder and delete it;
# - at start-up every worker restores the chief's latest checkpoint; epoch $e$ always uses the same global batches,
#   so a resumed run sees exactly the batches it missed.
#
# The experiment: start two workers with a checkpoint folder; as soon as the chief reports that it saved epoch 2
# (of 5: the middle of the run, so that both the restored and the remaining epochs are non-trivial),
# **kill worker 1** with SIGKILL (as if its machine died); watch what worker 0 does; then start two fresh workers on
# the same folder and compare their final weights with the uninterrupted run of §3.
# (The quick profile used by CI skips this experiment: two more starts of two worker processes do not fit its time
# budget. The `BackupAndRestore` run further down is checked in both profiles.)

# %%
# NBVAL_IGNORE_OUTPUT
KILL_AFTER = 2
ckpt_dir = ARTIFACTS / "checkpoints"
crash_args = [str(script), "--data", str(ARTIFACTS / "mw_data.npz"), "--out", str(ARTIFACTS / "crashed"),
              "--epochs", str(MW_EPOCHS), "--steps", str(MW_STEPS), "--global-batch", str(GLOBAL_BATCH),
              "--ckpt", str(ckpt_dir)]  # fmt: skip
if du.is_quick():
    print("skipped in the quick profile: two more starts of two workers do not fit its time budget")
else:
    with Workers(crash_args, n=2, timeout=150, log_dir=ARTIFACTS / "crashed_logs") as group:
        saved = group.wait_for(f"epoch {KILL_AFTER} saved", index=0)
        killed_pid = group.kill(1)
        t0 = time.perf_counter()
        while group.procs[0].poll() is None and time.perf_counter() - t0 < 30:
            time.sleep(0.2)
        chief_code = group.procs[0].poll()
        print(f"chief saved epoch {KILL_AFTER}: {saved}; killed worker 1 (pid {killed_pid})")
        print(f"worker 0 exit code {chief_code} after {time.perf_counter() - t0:.1f} s; its last error:")
        error = [line for line in group.log(0).splitlines() if "Error" in line][-1]
        print(error.split(":")[0].rsplit(".", 1)[-1], "...", error[error.find("Collective ops") :][:180])
    print("checkpoints on disk:", sorted(p.name for p in ckpt_dir.glob("*.index")))

# %% [markdown]
# Worker 0 does not hang: it exited with an error code soon after worker 1 was killed (printed above). In this run
# the notebook's one-line extract of its last error came out empty (the log's last "Error" line had a different
# form than the extract expects); in an earlier run it read "Collective ops is aborted by: ... The following tasks
# are unhealthy (stopped sending heartbeats)", i.e. TensorFlow's coordination service noticed the dead worker and
# aborted the pending collective operation. A cluster manager
# (Kubernetes, Slurm, a cloud's managed training) would now restart the job; here the notebook does it.

# %%
# NBVAL_IGNORE_OUTPUT
failure_metrics = {}
if du.is_quick():
    print("skipped in the quick profile (see above)")
else:
    run_workers("resumed", "--ckpt", str(ckpt_dir))
    resumed_records = worker_records("resumed")
    with np.load(ARTIFACTS / "resumed" / "weights.npz") as f:
        resumed_weights = [f[k] for k in f.files]
    resumed_from_epoch = resumed_records[0]["resumed_from_epoch"]
    resumed_vs_uninterrupted = max_diff(resumed_weights, mw_weights)
    recovered_after_failure = int(0 < resumed_from_epoch < MW_EPOCHS and resumed_vs_uninterrupted <= 1e-4)
    print(f"resumed from epoch {resumed_from_epoch} of {MW_EPOCHS}; epochs run after the restart: "
          f"{[r['epochs_run'] for r in resumed_records]}")  # fmt: skip
    print(f"max |weight diff| resumed vs uninterrupted: {resumed_vs_uninterrupted:.1e}")
    failure_metrics = {
        "recovered_after_failure": recovered_after_failure,
        "resumed_from_epoch": resumed_from_epoch,
        "resumed_vs_uninterrupted_max_weight_diff": resumed_vs_uninterrupted,
    }

# %% [markdown]
# The restarted workers began at the epoch printed above, not at 0, ran only the remaining epochs, and ended with
# the weights of the uninterrupted two-worker run (difference printed above). Because the momentum slots and the
# step counter are part of the checkpoint, the resumed run is not merely "close": it repeats the same arithmetic.
#
# **`BackupAndRestore` with `fit`, one worker.** Inside `fit`, the callback does similar bookkeeping, by other means
# in Keras 3: at the end of every epoch it writes the weights (`model.save_weights`, which include the optimizer's
# variables) to `latest.weights.h5` and the epoch to `training_metadata.json` in the backup folder, and on the next
# `fit` it loads both (the lines of the installed source printed below). `CheckpointManager` appears nowhere in
# Keras 3's source, and the callback has no chief/worker distinction: every process writes the same two files.
# That is consistent with what a test made while preparing this notebook saw with two workers sharing one backup
# folder (`FileExistsError`, then the other worker aborted); that test is not re-run here, and it is why the
# two-worker run above uses `CheckpointManager` directly.
#
# The run below trains 4 epochs, and a callback raises an exception at the end of epoch 2 (a stand-in for a crash);
# a second `fit` with a fresh model and the same backup folder continues. The order of the callbacks matters:
# `BackupAndRestore` comes before `CrashAtEpoch`, so at the end of epoch 2 the backup is written before the crash;
# with the order reversed, epoch 2 would never be backed up and the restart would repeat it.

# %%
keras_source("callbacks/backup_and_restore.py", '"latest.weights.h5"', '"training_metadata.json"', "save_weights(")
keras_files_mentioning("CheckpointManager")

# %%
class CrashAtEpoch(keras.callbacks.Callback):
    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 == self.epoch:
            raise RuntimeError(f"simulated crash after epoch {epoch + 1}")


class LogEpochs(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.epochs = []

    def on_epoch_begin(self, epoch, logs=None):
        self.epochs.append(epoch + 1)


ds_bar = tf.data.Dataset.from_tensor_slices((x_train[:4096], y_train[:4096])).batch(64)


def fit_bar(callbacks):
    model = build_mlp()
    model.set_weights(initial[None])
    model.compile(keras.optimizers.SGD(0.05, momentum=0.9), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    log = LogEpochs()
    try:
        model.fit(ds_bar, epochs=4, verbose=0, shuffle=False, callbacks=[*callbacks, log])
    except RuntimeError as err:
        print("  fit stopped:", err)
    print(f"  epochs run: {log.epochs}; optimizer steps: {int(model.optimizer.iterations.numpy())}")
    return model.get_weights()


backup = ARTIFACTS / "backup"
print("uninterrupted:")
bar_plain = fit_bar([])
print("interrupted:")
fit_bar([keras.callbacks.BackupAndRestore(backup), CrashAtEpoch(2)])
print("restarted:")
bar_resumed = fit_bar([keras.callbacks.BackupAndRestore(backup)])
bar_diff = max_diff(bar_plain, bar_resumed)
print(f"max |weight diff| restarted vs uninterrupted: {bar_diff:.1e}")

# %% [markdown]
# The restarted `fit` ran only epochs 3 and 4, its optimizer step counter continued from the value saved after
# epoch 2, and the final weights equal the uninterrupted run's (all printed above).
#
# ## 5. `ParameterServerStrategy` (in prose)
#
# `MirroredStrategy` and `MultiWorkerMirroredStrategy` are **synchronous**: every step waits for every worker, and
# every worker holds all variables. `tf.distribute.ParameterServerStrategy` is the other design: variables live on
# **parameter servers** (possibly sharded across several), **workers** pull them, compute gradients on their own
# data and push updates **asynchronously**, and a **coordinator** process dispatches steps (`ClusterCoordinator`).
# A slow or lost worker does not stall the others, which suits large clusters of cheap or pre-emptible machines and
# models with huge embedding tables (recommenders) that do not fit one machine; the price is *stale* gradients (a
# worker's gradient may be computed on weights that have since changed). In tf.keras (Keras 2), `fit` supported it
# through `tf.keras.utils.experimental.DatasetCreator`. The installed Keras 3 has no such path: none of
# `DatasetCreator`, `ClusterCoordinator` or `ParameterServerStrategy` appears in its source (counted below). With
# Keras 3, parameter-server training means a custom loop driven by `tf.distribute.coordinator.ClusterCoordinator`,
# or the `tf_keras` package (Keras 2). It needs at least three kinds of processes (coordinator, workers, parameter
# servers), so it is described here, not run.

# %%
keras_files_mentioning("DatasetCreator", "ClusterCoordinator", "ParameterServerStrategy")

# %% [markdown]
# ## 6. Federated averaging: training without collecting the data
#
# In **federated learning** (in Chinese 联邦学习) the data stay on the clients (phones, hospitals); only model updates travel.
# **FedAvg** (McMahan et al., 2017): each round, the server sends the global weights $w$ to the clients; client $k$
# runs a few steps of SGD on its own $n_k$ examples, giving $w_k$; the server sets $w \leftarrow \sum_k
# \frac{n_k}{n} w_k$. With one local step of full-batch gradient descent, this is exactly the synchronous data
# parallelism of §1; with many local steps it saves communication, but on **non-IID** data the clients drift apart.
#
# The setting: 10 clients, each holding only **two digits** (client $k$ has half of the $k$s and half of the
# $(k+1)$s, about 6,000 images), all 10 clients in every round. Each client runs 10 local steps of plain SGD
# (batch 32, learning rate 0.5) per round: plain SGD so that no optimizer state has to travel between rounds, and a
# large learning rate because a round makes little progress otherwise (see below). These values were picked by hand,
# not tuned in this notebook.
#
# Two baselines separate the two costs of FedAvg:
# - **FedAvg on IID clients**: the same 10 client sizes and settings, but each client holds a random sample of the
#   pooled data (all digits). The gap between the two FedAvg runs is the price of non-IID data.
# - **Centralized training** of the same model on the pooled data, computing as many minibatch gradients per "round"
#   as all clients together (10 clients × 10 steps = 100 gradients of batch 32), but applying them one after
#   another. That is the same number of gradient evaluations, *not* the same optimization progress: on IID data the
#   average of 10 parallel 10-step updates is roughly 10 sequential steps with a batch of 320, so the centralized
#   run takes about 10 times more sequential steps per round. The gap between IID FedAvg and centralized training is
#   the price of averaging parallel updates.

# %%
clients = []
for k in range(10):
    a, b = np.where(y_train == k)[0], np.where(y_train == (k + 1) % 10)[0]
    idx = np.concatenate([a[len(a) // 2 :], b[: len(b) // 2]])
    clients.append((tf.constant(x_train[idx]), tf.constant(y_train[idx])))
print("client sizes:", [int(c[1].shape[0]) for c in clients])
print("client 3 digits:", sorted(set(clients[3][1].numpy().tolist())))

# %%
# NBVAL_IGNORE_OUTPUT
ROUNDS = du.pick(full=250, quick=12)
LOCAL_STEPS, LOCAL_BATCH, LOCAL_LR = 10, 32, 0.5

keras.utils.set_random_seed(3)
fed_model = keras.Sequential([keras.Input((784,)), keras.layers.Dense(200, activation="relu"), keras.layers.Dense(10)])
fed_init = fed_model.get_weights()
fed_optimizer = keras.optimizers.SGD(LOCAL_LR)  # plain SGD: no state carried between clients


@tf.function(reduce_retracing=True)
def local_sgd(model, x, y, steps, seed):
    """`steps` SGD steps on minibatches drawn (with a fixed seed) from one client's data."""
    n = tf.shape(x)[0]
    for s in tf.range(steps):
        idx = tf.random.stateless_uniform([LOCAL_BATCH], [seed, s], 0, n, dtype=tf.int32)
        with tf.GradientTape() as tape:
            logits = model(tf.gather(x, idx), training=True)
            loss = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(tf.gather(y, idx), logits, from_logits=True))
        grads = tape.gradient(loss, model.trainable_variables)
        fed_optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))


def test_accuracy(model):
    return float(np.mean(np.argmax(model(x_test, training=False).numpy(), axis=1) == y_test))


def fedavg(clients):
    """ROUNDS of FedAvg from fed_init; returns the test accuracy per round and, for the last round, the test
    accuracy of each client's locally trained model before averaging (how far the clients drifted)."""
    sizes = np.array([int(c[1].shape[0]) for c in clients], dtype=float)
    global_w, curve = fed_init, []
    for r in range(ROUNDS):
        client_w, client_acc = [], []
        for k, (xc, yc) in enumerate(clients):
            fed_model.set_weights(global_w)  # the server sends w
            local_sgd(fed_model, xc, yc, tf.constant(LOCAL_STEPS), tf.constant(1000 * r + k))
            client_w.append(fed_model.get_weights())  # the client sends w_k back
            if r == ROUNDS - 1:
                client_acc.append(test_accuracy(fed_model))
        global_w = [sum(w[i] * n for w, n in zip(client_w, sizes, strict=True)) / sizes.sum() for i in range(len(global_w))]
        fed_model.set_weights(global_w)
        curve.append(test_accuracy(fed_model))
    return curve, client_acc


# IID control: the same 10 client sizes, but each client gets a random sample of the pooled data (all digits).
pooled_x, pooled_y = tf.concat([c[0] for c in clients], 0), tf.concat([c[1] for c in clients], 0)
cuts = np.cumsum([0, *[int(c[1].shape[0]) for c in clients]])
perm = np.random.default_rng(3).permutation(int(pooled_y.shape[0]))
iid_clients = [(tf.gather(pooled_x, perm[a:b]), tf.gather(pooled_y, perm[a:b])) for a, b in zip(cuts[:-1], cuts[1:], strict=True)]

t0 = time.perf_counter()
fed_curve, fed_client_acc = fedavg(clients)
fed_seconds = time.perf_counter() - t0
iid_curve, iid_client_acc = fedavg(iid_clients)
fedavg_acc, fedavg_iid_acc = fed_curve[-1], iid_curve[-1]
n_weights = fed_model.count_params()
print(f"communication: {n_weights:,} weights (float32) to and from 10 clients = {2 * 10 * 4 * n_weights / 1e6:.1f} MB per round")
print(f"{ROUNDS} rounds x 10 clients x {LOCAL_STEPS} local steps of {LOCAL_BATCH}, lr {LOCAL_LR}; non-IID run took {fed_seconds:.0f} s")
for name, curve, accs in (("non-IID (2 digits each)", fed_curve, fed_client_acc), ("IID (random split)", iid_curve, iid_client_acc)):
    print(f"FedAvg {name:>23}: test accuracy after round 1, {ROUNDS // 2}, {ROUNDS}: {curve[0]:.4f}, "
          f"{curve[ROUNDS // 2 - 1]:.4f}, {curve[-1]:.4f}; last round, clients' own models before averaging: "
          f"{min(accs):.3f}-{max(accs):.3f}")  # fmt: skip

# %%
# NBVAL_IGNORE_OUTPUT
# Centralized baseline: the same model, initial weights and optimizer, on the pooled data, with as many minibatch
# gradients per "round" as all clients together compute in a FedAvg round (10 x LOCAL_STEPS), applied one after another.
fed_model.set_weights(fed_init)
central_curve = []
for r in range(ROUNDS):  # one "round" = as many steps as all clients together run in a FedAvg round
    local_sgd(fed_model, pooled_x, pooled_y, tf.constant(10 * LOCAL_STEPS), tf.constant(1000 * r + 999))
    central_curve.append(test_accuracy(fed_model))
central_acc = central_curve[-1]
print(f"centralized: {ROUNDS * 10 * LOCAL_STEPS} SGD steps of {LOCAL_BATCH}; test accuracy {central_acc:.4f}")

fig, ax = plt.subplots(figsize=(6.5, 3.5))
ax.plot(range(1, ROUNDS + 1), central_curve, label="centralized (pooled data)")
ax.plot(range(1, ROUNDS + 1), iid_curve, label="FedAvg, 10 IID clients")
ax.plot(range(1, ROUNDS + 1), fed_curve, label="FedAvg, 10 clients with 2 digits each")
ax.set(xlabel="round (100 minibatch gradients per round for all)", ylabel="test accuracy", ylim=(0.8, 1.0),
       title="Federated averaging on non-IID MNIST")  # fmt: skip
ax.grid(alpha=0.3)
ax.legend(loc="lower right")
plt.tight_layout()
plt.show()

# %% [markdown]
# After 250 rounds, non-IID FedAvg reaches 0.9579 test accuracy, IID FedAvg 0.9797 and centralized training 0.9803.
# So in this setting almost the whole gap (about 2.2 points) is the price of **non-IID data**; averaging parallel
# updates of IID clients costs only 0.06 points after 250 rounds, though IID FedAvg gets there more slowly (0.9738
# after 125 rounds). The drift is visible in the last round: before averaging, the non-IID clients' own models
# score only 0.574–0.884 on the full test set (each has just taken 10 steps on two digits), the IID clients' models
# 0.960–0.979. In the plot, the centralized curve levels off early, the IID FedAvg curve (first-round accuracy
# 0.7153, below the plotted range) approaches it by the last rounds, and the non-IID curve (first round 0.2918)
# climbs slowly and stays below both for all rounds. No non-IID client ever sees more than two digits, yet the averaged model
# classifies all ten: the averaging is what combines them. All comparisons are from one seed. The communication
# bill is printed too: every round moves the whole model to and from every client.
#
# **What FedAvg protects, and what it does not.** The raw images never leave a client, which is the point. But the
# updates $w_k - w$ are functions of the client's data: gradient-inversion attacks can reconstruct training
# examples from them, especially for small batches, and the final model can memorize rare examples. Real systems
# add **secure aggregation** (the server only sees the sum of updates) and **differential privacy** (clipped,
# noised updates), and must cope with clients that drop out, are slow, or send poisoned updates. None of that is
# implemented here.
#
# ## 7. Scaling on paper: what would 64 workers buy?
#
# A synchronous data-parallel step on $N$ workers costs the computation on one worker's batch plus the all-reduce of
# the gradient ($S$ bytes). With a per-message latency $\alpha$ and a per-byte time $\beta$ (1 / bandwidth), the ring
# all-reduce takes
# $$t_{\text{ar}}(N) = 2(N-1)\,\alpha + 2\frac{N-1}{N}\,S\,\beta ,$$
# and, keeping the per-worker batch fixed (so the global batch grows with $N$) and **assuming no overlap** of
# communication with computation, the speed-up over one worker is
# $$\text{speed-up}(N) = \frac{N\,t_c}{t_c + t_{\text{ar}}(N)}, \qquad \text{efficiency} = \frac{\text{speed-up}}{N}.$$
# $\alpha$ and $\beta$ come from the two workers of §3, which timed all-reduces of tensors from 4 bytes to 32 times
# the MLP's gradient over loopback; for $N=2$ the model says $t = 2\alpha + S\beta$, a straight line in $S$. The
# compute time $t_c$ is the measured single-device step time, for the MLP of §3 and for a small CNN
# (Conv16–Pool–Conv32–Pool–Dense10) timed here.
#
# Two caveats about the loopback numbers. The fitted $\alpha$ is the intercept for one whole two-worker collective
# *call* (Python and `tf.function` dispatch, gRPC, two processes sharing 2 cores), not the per-hop latency of a
# network, so the loopback columns below are **extrapolations** of a 2-worker measurement to $N$ workers, not
# measurements; and the straight line is only a rough fit (compare the fitted intercept $2\alpha$ with the time
# printed for 4 bytes). The one configuration that was really measured — 2 workers in §3 — is compared with the
# model's prediction first.
#
# A second network is **assumed**, not measured: 10 Gbit/s Ethernet ($\beta = 0.8$ ns/byte) with $\alpha = 50$ µs
# per message. The 50 µs is a round order of magnitude for one message between two machines through an ordinary
# TCP/gRPC stack; RDMA networks (InfiniBand, RoCE) are much faster, a busy network slower. Because the prediction at
# large $N$ turns out to depend on it, the efficiency at 64 workers is printed for 5, 50 and 500 µs as well, both
# for the flat ring (which needs $2(N-1)$ sequential messages) and for a tree-shaped all-reduce whose latency grows
# like $2\log_2 N$ messages (NCCL switches to tree and hierarchical algorithms at large $N$ for that reason).

# %%
# NBVAL_IGNORE_OUTPUT
def build_cnn() -> keras.Model:
    return keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            keras.layers.Conv2D(16, 3, activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Conv2D(32, 3, activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Flatten(),
            keras.layers.Dense(10),
        ],
        name="cnn",
    )


def compiled(model, jit_compile=False):
    model.compile(keras.optimizers.Adam(1e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"], jit_compile=jit_compile)  # fmt: skip
    return model


TIMED_STEPS = du.pick(full=20, quick=5)


def median_step_seconds(model, batch=128, steps=TIMED_STEPS):
    xb, yb = x_train_raw[:batch, ..., None].astype("float32") / 255, y_train[:batch]
    for _ in range(3):
        model.train_on_batch(xb, yb)  # warm-up: tracing (and compilation, for XLA)
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        model.train_on_batch(xb, yb)
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


keras.utils.set_random_seed(4)
cnn = compiled(build_cnn())
cnn_step_s = median_step_seconds(cnn)
cnn_bytes = 4 * cnn.count_params()

bench = pd.DataFrame(mw_records[0]["allreduce"])
mlp_bytes = 4 * sum(int(np.prod(v.shape)) for v in reference.trainable_variables)
beta, two_alpha = np.polyfit(bench["bytes"], bench["median_s"], 1)  # N=2: t = 2*alpha + S*beta
alpha, beta = max(two_alpha / 2, 1e-6), max(beta, 1e-12)
print("loopback all-reduce between the 2 workers of section 3 (median of 20):")
print(bench.assign(ms=bench["median_s"] * 1e3).drop(columns="median_s").round(2).to_string(index=False))
print(f"straight-line fit: alpha = {alpha * 1e6:.0f} us per message, bandwidth 1/beta = {1 / beta / 1e6:.0f} MB/s")
print(f"MLP: step {single_step_s * 1e3:.2f} ms (batch 64), gradient {mlp_bytes / 1e3:.0f} kB; "
      f"CNN: step {cnn_step_s * 1e3:.2f} ms (batch 128), gradient {cnn_bytes / 1e3:.0f} kB")  # fmt: skip


def t_allreduce(n, size, alpha, beta, hops=None):
    """Ring all-reduce time; `hops` replaces the ring's 2(N-1) latency steps (e.g. 2 log2 N for a tree)."""
    hops = 2 * (n - 1) if hops is None else hops
    return 0.0 if n == 1 else hops * alpha + 2 * (n - 1) / n * size * beta


def speedup(n, t_c, size, alpha, beta, hops=None):
    return n * t_c / (t_c + t_allreduce(n, size, alpha, beta, hops))


# The one configuration measured for real: 2 workers of section 3 (per-worker batch 32, on one shared machine).
mw_step = float(np.median([r["median_step_s"] for r in mw_records]))
print(f"check at N=2 over loopback: model t_c + t_ar = {(single_step_s + t_allreduce(2, mlp_bytes, alpha, beta)) * 1e3:.2f} ms "
      f"per step (t_c = one-device step, batch 64); measured in section 3: {mw_step * 1e3:.2f} ms")  # fmt: skip

networks = {"loopback (extrapolated from N=2)": (alpha, beta), "10 Gbit/s (assumed)": (50e-6, 0.8e-9)}
models = {"MLP": (single_step_s, mlp_bytes), "CNN": (cnn_step_s, cnn_bytes)}
workers = [1, 2, 4, 8, 16, 32, 64]
table = pd.DataFrame(
    {f"{m}, {net}": [speedup(n, t, s, *networks[net]) for n in workers] for m, (t, s) in models.items() for net in networks},
    index=pd.Index(workers, name="workers"),
)
print("predicted speed-up over one worker:")
print(table.round(2).to_string())
cnn_eff_64 = table.loc[64, "CNN, 10 Gbit/s (assumed)"] / 64

print("\nat N=64 on the assumed network: latency term 2(N-1)*alpha vs bandwidth term 2(N-1)/N*S*beta, in ms")
for m, (t, size) in models.items():
    print(f"  {m}: step {t * 1e3:.2f}, latency {2 * 63 * 50e-6 * 1e3:.2f}, bandwidth {2 * 63 / 64 * size * 0.8e-9 * 1e3:.3f}")
sensitivity = pd.DataFrame(
    {f"alpha = {a * 1e6:.0f} us": {f"{m}, {topo}": speedup(64, t, size, a, 0.8e-9, hops) / 64
                                   for m, (t, size) in models.items()
                                   for topo, hops in (("ring", None), ("tree, 2 log2 N hops", 2 * np.log2(64)))}
     for a in (5e-6, 50e-6, 500e-6)}
)  # fmt: skip
print("efficiency at 64 workers, 10 Gbit/s, for three per-message latencies:")
print(sensitivity.round(3).to_string())

fig, ax = plt.subplots(figsize=(6.5, 3.8))
for column in table:
    ax.plot(workers, table[column], marker="o", label=column)
ax.plot(workers, workers, "k:", label="ideal")
ax.set(xscale="log", yscale="log", xlabel="workers", ylabel="predicted speed-up", title="Ring all-reduce, no overlap")
ax.set_xticks(workers, [str(w) for w in workers])
ax.set_yticks([0.25, 0.5, *workers], ["1/4", "1/2", *[str(w) for w in workers]])
ax.grid(alpha=0.3)
ax.legend(fontsize=8)
plt.tight_layout()
plt.show()

# %% [markdown]
# How to read the output, top to bottom. **The fit is rough:** in this run the 4-byte all-reduce (4.65 ms) took
# longer than the 204 kB one (2.76 ms), so the intercept $2\alpha$ (3.0 ms) is poorly determined. **The one real
# check, N = 2:** the model predicts 5.63 ms per step, the two workers of §3 measured 8.17 ms — the model
# underestimates by about a third, even though its $t_c$ is the one-device step at batch 64, while each worker
# computed only 32 examples; two processes sharing two cores cost more than the model counts. Treat the loopback
# columns as extrapolations with that error bar: the **MLP** (step 1.96 ms) gets *slower* with a second worker
# (speed-up 0.70), the **CNN** (step 25.0 ms in this run, under load) levels off at 7.5 at 64 workers.
#
# **On the assumed 10 Gbit/s network, latency dominates at large $N$.** At 64 workers the ring's 126 sequential
# messages cost 6.30 ms, while moving the bytes costs 0.32 ms (MLP) or 0.08 ms (CNN). The gradient's size hardly
# matters there; what matters is the compute time per step against the latency term. The CNN's longer step
# (25.0 ms against 1.96 ms) is why it keeps an efficiency of 0.80 at 64 workers (the last metric in the Results
# table) and the MLP only 0.23. That headline depends on the assumed 50 µs: the sensitivity table gives 0.97 for
# the CNN at 5 µs and 0.28 at 500 µs on the ring. With a tree-shaped all-reduce ($2\log_2 N$ = 12 messages instead
# of 126) the same network gives 0.97 at 50 µs and still 0.80 at 500 µs, so the flat ring is a worst case for
# latency. Larger per-worker batches, compute-heavy layers, overlapping the all-reduce with the backward pass
# (NCCL and Horovod reduce gradients bucket by bucket while the backward pass continues) and faster interconnects
# all help. The model is **pessimistic** in ignoring overlap and tree algorithms, and **optimistic** in ignoring
# stragglers and the effect of a growing global batch on the number of epochs needed: a speed-up in samples per
# second is not yet a speed-up in time to a given accuracy. In the figure, the assumed-network MLP curve leaves
# the ideal line from 4 workers on, the assumed-network CNN curve only at 32–64; the loopback MLP curve stays
# below 1 and the loopback CNN curve flattens out.
#
# **Where the other names fit.** **Horovod** (Uber) runs the same ring all-reduce through MPI or NCCL and was the
# usual way to train TensorFlow on many GPUs before `tf.distribute` matured; the model above applies to it
# unchanged. **Spark and Hadoop** distribute *data processing* (ETL, feature extraction, writing TFRecord files), not
# gradient synchronization; a common design prepares data on a Spark cluster and trains on GPU/TPU workers reading
# the files. **TPUs** (`tf.distribute.TPUStrategy`) are many cores joined by a dedicated high-bandwidth interconnect,
# which makes $\beta$ and $\alpha$ tiny; their programs are compiled by XLA (§8).
#
# ## 8. Performance on one machine
#
# Before buying more machines, make one machine busy. Four tools, each measured here.
#
# ### `tf.data`: feed the model without stalls
#
# The naive pipeline converts each image in Python (`from_generator`), one example at a time. The tuned pipeline
# keeps the data as a tensor, batches first and then converts a whole batch at once (vectorized `map` with 2
# parallel calls), caches the converted batches and prefetches 2 batches while the model trains. (With
# `num_parallel_calls=tf.data.AUTOTUNE`, idle stalls of several seconds at the start of some epochs were seen on
# these machines in tests made while preparing this notebook — not re-run here — so fixed values are used and
# autotuning is switched off.) The third pipeline is the simplest common set-up: the float arrays already in memory,
# sliced into batches, no cache or prefetch. The same MLP is trained for 2 epochs on each pipeline; the second epoch
# is timed (the first fills the cache), in wall time and in CPU time of this process.

# %%
# NBVAL_IGNORE_OUTPUT
N_PIPE = du.pick(full=30_000, quick=3_000)


def naive_examples():
    for image, label in zip(x_train_raw[:N_PIPE], y_train[:N_PIPE], strict=True):
        yield image.reshape(784).astype("float32") / 255, label


signature = (tf.TensorSpec((784,), tf.float32), tf.TensorSpec((), tf.int32))
ds_naive = tf.data.Dataset.from_generator(naive_examples, output_signature=signature)
ds_naive = ds_naive.apply(tf.data.experimental.assert_cardinality(N_PIPE)).batch(128)  # tell Keras the length

options = tf.data.Options()
options.autotune.enabled = False
ds_fast = (
    tf.data.Dataset.from_tensor_slices((x_train_raw[:N_PIPE], y_train[:N_PIPE]))
    .batch(128)
    .map(lambda x, y: (tf.reshape(tf.cast(x, tf.float32) / 255, (-1, 784)), y), num_parallel_calls=2)
    .cache()
    .prefetch(2)
    .with_options(options)
)


# The simplest common set-up: float arrays already in memory, sliced into batches (no cache, no prefetch).
ds_memory = tf.data.Dataset.from_tensor_slices((x_train[:N_PIPE], y_train[:N_PIPE])).batch(128)


class EpochTimes(keras.callbacks.Callback):
    """Wall time and CPU time (of this process) of every epoch."""

    def on_train_begin(self, logs=None):
        self.times, self.cpu_times = [], []

    def on_epoch_begin(self, epoch, logs=None):
        self.t0, self.c0 = time.perf_counter(), time.process_time()

    def on_epoch_end(self, epoch, logs=None):
        self.times.append(time.perf_counter() - self.t0)
        self.cpu_times.append(time.process_time() - self.c0)


pipe_seconds = {}
for name, ds in (("naive", ds_naive), ("tuned", ds_fast), ("in memory", ds_memory)):
    keras.utils.set_random_seed(5)
    model = build_mlp()
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    timer = EpochTimes()
    model.fit(ds, epochs=2, verbose=0, shuffle=False, callbacks=[timer])
    pipe_seconds[name] = timer.times[1]
    print(f"{name:>9}: epoch 2 took {timer.times[1]:.2f} s wall = {N_PIPE / timer.times[1]:,.0f} samples/s; "
          f"{timer.cpu_times[1]:.2f} CPU-s = {N_PIPE / timer.cpu_times[1]:,.0f} samples/CPU-s")  # fmt: skip
tfdata_speedup = pipe_seconds["naive"] / pipe_seconds["tuned"]
print(f"tf.data speed-up, tuned vs naive (wall): {tfdata_speedup:.1f}x; "
      f"tuned vs in-memory float arrays: {pipe_seconds['in memory'] / pipe_seconds['tuned']:.2f}x")  # fmt: skip

# %% [markdown]
# The tuned pipeline's second epoch is 11.2 times faster than the naive one (wall time; 9.82 against 0.72 CPU-s).
# The comparison changes several things at once (Python per example → TensorFlow per batch, cache, parallel map,
# prefetch), so it measures the tuned pipeline as a whole, not each ingredient. The third line is the strongest
# simple baseline, and it wins: float arrays already in memory took 0.68 s against the tuned pipeline's 1.01 s
# (CPU time 0.67 against 0.72 CPU-s). For data that fit in memory as float32, the naive pipeline's problem is the
# per-example Python, not the lack of cache or prefetch; those pay off when the data are read from disk or
# decoded/augmented per epoch. With a model this small, the naive pipeline's epoch is almost all input time (the
# in-memory epoch, which is mostly model time, takes 0.68 s of its 11.35 s).
#
# ### Mixed precision: `mixed_bfloat16` on this CPU
#
# Mixed precision computes in a 16-bit type and keeps the variables (and the loss) in float32. GPUs with tensor cores
# use `mixed_float16` (which needs loss scaling, done by Keras automatically); recent x86 CPUs have bfloat16
# instructions (AVX512_BF16, AMX), so `mixed_bfloat16` (bfloat16 has float32's exponent range, so no loss scaling)
# may help on a CPU that has them; the first line below prints this CPU's bfloat16 flags from `/proc/cpuinfo`. The
# same CNN, from the same initial weights, trains two epochs on the same data in float32 and in mixed bfloat16; only
# the **second** epoch is timed (the first includes tracing the training function). The runs go in the order
# float32, bfloat16, bfloat16, float32, so that load from other jobs drifting during the cell affects both policies
# alike, and the two runs of each are averaged. The speed is measured in samples per **CPU-second** of this process
# (less sensitive to other jobs on a shared machine than wall time) and in samples per wall second; both are printed.

# %%
# NBVAL_IGNORE_OUTPUT
N_MP = du.pick(full=20_000, quick=2_000)
x_img, x_img_test = x_train_raw[:N_MP, ..., None].astype("float32") / 255, x_test_raw[..., None].astype("float32") / 255
cpu_flags = next((line.split(":", 1)[1].split() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("flags")), []) if Path("/proc/cpuinfo").exists() else []  # fmt: skip
print("CPU bfloat16 flags:", [f for f in cpu_flags if "bf16" in f or f.startswith("amx")] or "none found")
keras.utils.set_random_seed(6)
cnn_init = build_cnn().get_weights()
mp_runs = []
MP_ORDER = du.pick(full=("float32", "mixed_bfloat16", "mixed_bfloat16", "float32"), quick=("float32", "mixed_bfloat16"))
for policy in MP_ORDER:  # full profile: ABBA order, so that load drifting during the cell hits both policies
    keras.mixed_precision.set_global_policy(policy)
    model = compiled(build_cnn())
    model.set_weights(cnn_init)
    timer = EpochTimes()
    model.fit(x_img, y_train[:N_MP], batch_size=128, epochs=2, verbose=0, shuffle=False, callbacks=[timer])
    acc = model.evaluate(x_img_test, y_test, batch_size=1000, verbose=0)[1]
    mp_runs.append({"policy": policy, "epoch 1 wall s (incl. tracing)": timer.times[0], "epoch 2 wall s": timer.times[1],
                    "epoch 2 CPU-s": timer.cpu_times[1], "samples/CPU-s": N_MP / timer.cpu_times[1],
                    "samples/s (wall)": N_MP / timer.times[1], "test accuracy": acc})  # fmt: skip
keras.mixed_precision.set_global_policy("float32")
mp_table = pd.DataFrame(mp_runs)
print(mp_table.round(4).to_string(index=False))
mp_mean = mp_table.groupby("policy")[["samples/CPU-s", "samples/s (wall)", "test accuracy"]].mean()
mixed_precision_speedup = mp_mean.loc["mixed_bfloat16", "samples/CPU-s"] / mp_mean.loc["float32", "samples/CPU-s"]
mp_wall_speedup = mp_mean.loc["mixed_bfloat16", "samples/s (wall)"] / mp_mean.loc["float32", "samples/s (wall)"]
mp_acc_gap = mp_mean.loc["mixed_bfloat16", "test accuracy"] - mp_mean.loc["float32", "test accuracy"]
print(f"mixed_bfloat16 / float32 (epoch 2, mean over the runs above): {mixed_precision_speedup:.2f}x samples per CPU-second, "
      f"{mp_wall_speedup:.2f}x samples per wall second; accuracy difference {mp_acc_gap:+.4f} "
      f"= {mp_acc_gap * len(y_test):+.0f} of {len(y_test)} test images")  # fmt: skip

# %% [markdown]
# This CPU has bfloat16 instructions (AVX512_BF16 and AMX, first line). Timed without tracing and averaged over the
# two runs of each, `mixed_bfloat16` processed 1.30 times the samples per CPU-second of float32 (1.21 times per wall
# second; the wall times of the single runs scatter more, from 1.84 s to 3.12 s for the same bfloat16 epoch, which
# is why CPU time is the headline). The first, traced epoch was slower in every run. The test accuracy after two
# epochs was the same, 0.9617, in all four runs in this run; with one seed, differences of a few images out of
# 10,000 would be noise anyway. bfloat16 keeps only 8 bits of mantissa, so single
# activations are coarser, but the variables and their updates stay float32. On GPUs, `mixed_float16` needs loss
# scaling (Keras does it) and runs on all tensor-core generations; Ampere and newer GPUs also run bfloat16 natively,
# and then `mixed_bfloat16` needs no loss scaling. Neither was measured here.
#
# ### XLA: `jit_compile=True`
#
# XLA compiles the whole training step into fused kernels: fewer memory round-trips and kernel launches. That is
# what makes it pay on GPUs and TPUs (where launching many small kernels is costly, and TPUs run only XLA programs).
# Keras's default `jit_compile="auto"` turns it off on CPU-only machines and under a `tf.distribute` strategy, and
# on otherwise — i.e. on a machine with a GPU, for a model that supports it (the source lines are printed below).
# The same CNN step, with and without XLA, after 3 warm-up steps (compilation excluded):

# %%
# NBVAL_IGNORE_OUTPUT
keras.utils.set_random_seed(4)
plain_step = median_step_seconds(compiled(build_cnn()))
keras.utils.set_random_seed(4)
xla_step = median_step_seconds(compiled(build_cnn(), jit_compile=True))
xla_ratio = xla_step / plain_step
print(f"CNN step, batch 128: without XLA {plain_step * 1e3:.1f} ms, with XLA {xla_step * 1e3:.1f} ms (ratio {xla_ratio:.2f})")
keras_source("trainers/trainer.py", "Disable XLA")  # what jit_compile="auto" does

# %% [markdown]
# On this CPU the XLA step is slower, by the ratio printed above (1.41 in this run) — hence Keras's `"auto"` leaving it off. XLA's
# gains come from fusing many small kernels, which matters on accelerators where each kernel launch and each trip to
# memory is expensive relative to the arithmetic; on this CPU, TensorFlow's default oneDNN kernels already fuse the
# main pieces (`_MklNativeFusedConv2D`, convolution + bias + ReLU, in the profile below). Measure XLA on your GPU
# before turning it on.
#
# ### A profiler trace
#
# `tf.profiler.experimental` records what every thread did during a few steps. TensorBoard's Profile tab
# (`pip install tensorboard-plugin-profile`, then `tensorboard --logdir artifacts/13_distributed_and_performance/profile`)
# shows it as a timeline (trace viewer), per-op statistics and an input-pipeline analysis. The trace is a protocol
# buffer (`*.xplane.pb`) that can also be read directly: below, the time of the TensorFlow ops on the compute
# threads is summed by op type for 5 CNN training steps.

# %%
# NBVAL_IGNORE_OUTPUT
from tensorflow.tsl.profiler.protobuf import xplane_pb2

profile_dir = ARTIFACTS / "profile"
xb_img, yb_img = x_img[:128], y_train[:128]
cnn.train_on_batch(xb_img, yb_img)
tf.profiler.experimental.start(str(profile_dir))
for step in range(5):
    with tf.profiler.experimental.Trace("train", step_num=step):  # a named, numbered step in the timeline
        cnn.train_on_batch(xb_img, yb_img)
tf.profiler.experimental.stop()

trace = next(profile_dir.rglob("*.xplane.pb"))
space = xplane_pb2.XSpace()
space.ParseFromString(trace.read_bytes())
op_ms: dict[str, float] = {}
for plane in space.planes:
    for line in plane.lines:
        if not line.name.startswith("tf_Compute"):
            continue
        for event in line.events:
            name = plane.event_metadata[event.metadata_id].name
            if ":" in name and "::" not in name:  # "scope/op_name:OpType" (skip executor bookkeeping)
                op_type = name.rsplit(":", 1)[1]
                op_ms[op_type] = op_ms.get(op_type, 0.0) + event.duration_ps / 1e9
ops = pd.Series(op_ms).sort_values(ascending=False)
print(f"trace file: {trace.name}, {trace.stat().st_size / 1e3:.0f} kB")
print((pd.DataFrame({"ms (5 steps)": ops, "share": ops / ops.sum()}).head(8)).round(3).to_string())

# %% [markdown]
# This is the "top ops" view of the trace: the table lists how the compute threads' time was split among op types
# for those 5 steps. The convolutions and their gradients (`Conv2DBackpropFilter`, `Conv2DBackpropInput`) take the
# largest shares and the dense layer's `MatMul` does not reach the top 8 — the place to look first when making this model
# faster. In TensorBoard's trace viewer the same steps appear as a timeline per thread, each step named and numbered
# by `tf.profiler.experimental.Trace("train", step_num=step)`. (Inside `fit`, the usual way is
# `keras.callbacks.TensorBoard(log_dir, profile_batch=(10, 15))`, which profiles those batches.) This small parser
# reads only the CPU's `tf_Compute` threads; on a GPU the kernels are recorded in separate device planes
# (`/device:GPU:0`), which it would miss.
#
# ## 9. On a GPU
#
# This notebook was **not run on a GPU**; `du.setup()` printed the device it ran on. On a machine with GPUs,
# `MirroredStrategy()` without arguments uses all visible GPUs and all-reduces with NCCL over NVLink or PCIe instead
# of the memory copies between logical CPU devices used here; the equality of §2 still holds (up to the
# non-determinism of some GPU kernels). Mixed precision becomes `mixed_float16` (all tensor-core GPUs, with loss
# scaling) or `mixed_bfloat16` (Ampere and newer); `du.setup(mixed_precision=True)` switches a policy on only when a
# GPU is present. XLA is then on by default for models trained without a strategy (`jit_compile="auto"`, §8), and
# worth measuring against `jit_compile=False`. `MultiWorkerMirroredStrategy` over GPU machines uses NCCL for the
# all-reduce (`tf.distribute.experimental.CommunicationOptions`). The code has not been tried on a GPU.
#
# ## Pitfalls
#
# **Scaling the loss by the per-replica batch.** In a custom loop under a strategy, writing the loss as
# `tf.reduce_mean(per_example)` (the mean over the *replica's* batch) instead of
# `tf.nn.compute_average_loss(per_example, global_batch_size=64)` makes each replica's gradient $N$ times too large
# once the all-reduce *sums* them — with SGD (as here, with or without momentum) the same as multiplying the
# learning rate by $N$, silently. (Adam and RMSprop divide by a running gradient scale, so for them the factor
# largely cancels and the symptom is different.) The same custom loop
# on the two mirrored devices of §2, both ways, compared with the one-device run:

# %%
# NBVAL_IGNORE_OUTPUT
def mirrored_custom_loop(loss_kind: str):
    with mirrored.scope():
        model = build_mlp()
        model.set_weights(initial[None])
        optimizer = keras.optimizers.SGD(0.05, momentum=0.9)
        optimizer.build(model.trainable_variables)  # create the momentum slots inside the scope

    @tf.function
    def step(x, y):
        def step_fn(x, y):
            with tf.GradientTape() as tape:
                per_example = keras.losses.sparse_categorical_crossentropy(y, model(x, training=True), from_logits=True)
                if loss_kind == "global":
                    loss = tf.nn.compute_average_loss(per_example, global_batch_size=GLOBAL_BATCH)
                else:
                    loss = tf.reduce_mean(per_example)  # the mistake
            grads = tape.gradient(loss, model.trainable_variables)
            optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))

        mirrored.run(step_fn, args=(x, y))

    for x, y in mirrored.experimental_distribute_dataset(ds_mirror):
        step(x, y)
    return model.get_weights()


single_plain = train_with_fit(tf.distribute.OneDeviceStrategy("/cpu:0"))
for kind in ("global", "per-replica mean"):
    print(f"loss scaled by {kind:>16}: max |weight diff| vs one device = {max_diff(single_plain, mirrored_custom_loop(kind)):.1e}")

# %% [markdown]
# With the global batch in the denominator the custom loop matches one device to rounding; with the per-replica
# mean it does not (numbers above). Nothing raises an error — the only symptom is weights that differ: by the
# derivation of §1, the model trains as if the learning rate were doubled, and it would train differently on 1, 2
# or 8 GPUs.
#
# **Creating the model outside `strategy.scope()`.** Keras 3 records the strategy that is active when the model is
# *created* (in `TensorFlowTrainer.__init__`, keras/src/backend/tensorflow/trainer.py). A model created outside the
# scope, compiled inside it, then trained on the mirrored dataset of §2:

# %%
# NBVAL_IGNORE_OUTPUT
outside = build_mlp()  # created outside mirrored.scope(): plain, unmirrored variables
with mirrored.scope():
    outside.compile(keras.optimizers.SGD(0.05), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
try:
    outside.fit(ds_mirror.take(2), verbose=0)
    print("fit ran without error")
except Exception as err:  # noqa: BLE001 - the point is to show what is raised
    print(f"{type(err).__name__}({str(err)!r}) raised in {traceback.extract_tb(err.__traceback__)[-1].name}")

# %% [markdown]
# Keras does raise an error, but an unhelpful one: a bare `AssertionError` with an empty message, from the
# optimizer's distributed update (`_distributed_tf_update_step`), because the variables it must update are not
# mirrored. The fix is to create the model (and compile it) inside `strategy.scope()`.
#
# Other classic mistakes, in brief: **BatchNorm statistics per replica** (shown in §2); **timing a step that
# includes tracing or XLA compilation** (avoided by the warm-up steps and epochs of §7–§8); and two that are reported
# from tests made while preparing this notebook, not re-run here: **`BackupAndRestore` with a folder shared by
# several workers** (§4) and **`AUTOTUNE` stalls** when timing input pipelines (§8).
#
# ## Results

# %%
# NBVAL_IGNORE_OUTPUT
_ = du.report(
    "13_distributed_and_performance",
    per_replica_gradient_max_diff=grad_diff,
    mirrored_vs_single_max_weight_diff=mirrored_vs_single,
    mirrored_batchnorm_per_replica_max_weight_diff=mirror_rows["per-replica"],
    mirrored_batchnorm_synced_max_weight_diff=mirror_rows["synced"],
    multiworker_workers=multiworker_workers,
    multiworker_vs_single_max_weight_diff=multiworker_vs_single,
    **failure_metrics,  # the kill-and-resume experiment (full profile only)
    backup_and_restore_max_weight_diff=bar_diff,
    fedavg_test_accuracy=fedavg_acc,
    fedavg_iid_test_accuracy=fedavg_iid_acc,
    central_test_accuracy=central_acc,
    fedavg_rounds=ROUNDS,
    tfdata_speedup=tfdata_speedup,
    mixed_precision_speedup=mixed_precision_speedup,
    mixed_precision_accuracy_difference=mp_acc_gap,
    xla_step_time_ratio=xla_ratio,
    predicted_cnn_efficiency_64_workers_10gbit=cnn_eff_64,
)
print(f"this run, up to here: {(time.perf_counter() - T_START) / 60:.1f} min; load average (1, 5, 15 min) now: "
      f"{', '.join(f'{v:.1f}' for v in os.getloadavg())} on {os.cpu_count()} logical CPUs")  # fmt: skip

# %%
# Check
assert grad_diff <= 1e-5, grad_diff
assert mirrored_vs_single <= 1e-4, mirrored_vs_single
assert mirror_rows["synced"] <= 1e-4 < mirror_rows["per-replica"], mirror_rows
assert multiworker_workers == 2 and all(r["replicas"] == 2 for r in mw_records)
assert multiworker_vs_single <= 1e-4, multiworker_vs_single
assert bar_diff <= 1e-4, bar_diff
if not du.is_quick():  # the kill-and-resume experiment runs in the full profile only
    assert recovered_after_failure == 1 and 0 < resumed_from_epoch < MW_EPOCHS, resumed_from_epoch
    assert resumed_vs_uninterrupted <= 1e-4, resumed_vs_uninterrupted
assert fedavg_acc >= du.pick(full=0.95, quick=0.60), fedavg_acc
assert central_acc >= du.pick(full=0.95, quick=0.80), central_acc
print("all checks passed")

# %% [markdown]
# ## Exercises
#
# 1. **Four replicas.** Split the CPU into 4 logical devices and run §2's comparison with 2 and 4 replicas (global
#    batch 64). Does the mirrored run still match one device? Which BatchNorm row changes, and why?
# 2. **Grow the batch with the workers.** In §3, keep the *per-worker* batch at 64 (global 128) and compare the loss
#    after the same number of *epochs* with the one-device run at batch 64, first with the same learning rate, then
#    with twice the learning rate (the linear scaling rule). Which is closer?
# 3. **Kill the chief.** In §4, kill worker 0 instead of worker 1, during epoch 3. What does worker 1 do, and does
#    the restarted job still end with the uninterrupted weights? What would go wrong if the chief had been killed
#    *while writing* a checkpoint (hint: look at how `CheckpointManager` names and lists its files)?
# 4. **Less non-IID, more local work.** In §6, give every client 5 digits instead of 2, then vary the local steps
#    (5, 20, 50) at a fixed number of rounds. How do the accuracy gap to centralized training and the communication
#    (rounds) trade off?
#
# **Next:** notebook 14, deep reinforcement learning.
