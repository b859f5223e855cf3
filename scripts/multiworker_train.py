"""One worker of notebook 13's MultiWorkerMirroredStrategy runs (two such processes form the cluster).

Notebook 13 (notebooks/13_distributed_and_performance.ipynb) starts two copies of this script with
``dlutils.distributed.Workers``, which gives each one its own ``TF_CONFIG`` on 127.0.0.1, e.g.

    TF_CONFIG='{"cluster": {"worker": ["127.0.0.1:40211", "127.0.0.1:38977"]},
                "task": {"type": "worker", "index": 0}}' \
    python scripts/multiworker_train.py --data run/data.npz --out run/ --epochs 4 --steps 20

Inputs (written by the notebook): ``--data`` an .npz with ``x`` (N, 784) float32, ``y`` (N,) int32 and the
initial weights ``w0, w1, ...`` of the model below, so that every run starts from the same weights.

Modes
  ``--mode loop`` (default) a custom training loop: ``strategy.run`` on each worker's half of every global batch,
      Keras's optimizer all-reduces (sums) the gradients, SGD with momentum. Epoch ``e`` uses the global batches
      ``e*steps .. (e+1)*steps - 1`` of the data in order, so a resumed run sees exactly the batches it missed.
      With ``--ckpt DIR`` it restores the latest checkpoint in DIR (if any) and saves one after every epoch with
      ``tf.train.CheckpointManager`` (the chief into DIR, the other workers into a scratch folder they delete).
  ``--mode fit`` the same model with ``model.compile`` + ``model.fit``; the exception, if any, is recorded.
  ``--bench`` after training, times all-reduces of tensors from 4 bytes to 32 times the gradient's size.

Outputs: ``OUT/worker<i>.json`` (epochs run, resumed-from epoch, step times, benchmark, fit error) and, from
the chief (worker 0), ``OUT/weights.npz``. Progress lines ``epoch <e> saved`` go to stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
import traceback
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf


def build_model() -> keras.Model:
    """The MLP of notebook 13 (784-64-10, logits)."""
    return keras.Sequential(
        [keras.Input((784,)), keras.layers.Dense(64, activation="relu"), keras.layers.Dense(10)], name="mlp"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--steps", type=int, default=20, help="steps (global batches) per epoch")
    parser.add_argument("--global-batch", type=int, default=64)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--ckpt", default=None)
    parser.add_argument("--mode", choices=["loop", "fit"], default="loop")
    parser.add_argument("--bench", action="store_true")
    args = parser.parse_args()

    index = json.loads(os.environ["TF_CONFIG"])["task"]["index"]
    for gpu in tf.config.list_physical_devices("GPU"):  # two workers may share one GPU on a single machine
        tf.config.experimental.set_memory_growth(gpu, True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    record: dict = {"worker": index, "pid": os.getpid(), "mode": args.mode}
    t_start = time.perf_counter()

    strategy = tf.distribute.MultiWorkerMirroredStrategy()  # reads TF_CONFIG, connects to the other workers
    record["replicas"] = strategy.num_replicas_in_sync
    record["connect_s"] = time.perf_counter() - t_start
    data = np.load(args.data)
    x, y = data["x"].astype("float32"), data["y"].astype("int32")
    gb = args.global_batch

    with strategy.scope():
        model = build_model()
        model.set_weights([data[f"w{i}"] for i in range(len(model.weights))])
        optimizer = keras.optimizers.SGD(learning_rate=args.lr, momentum=0.9)
        if args.mode == "loop":
            optimizer.build(model.trainable_variables)  # create the momentum slots inside the scope
        else:  # compile inside the scope too, so that nothing is created outside it
            model.compile(optimizer=optimizer, loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        epoch_var = tf.Variable(0, dtype=tf.int64, trainable=False)

    if args.mode == "fit":
        keras.config.disable_traceback_filtering()  # keep Keras's own frames in the traceback we record
        ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(gb, drop_remainder=True).take(args.steps)
        try:
            model.fit(ds, epochs=1, verbose=0)
            record["fit_error"] = None
        except Exception as err:  # noqa: BLE001 - the notebook shows what fails
            message = " ".join(str(err).split())  # one line; keep the start and the end of a long message
            if len(message) > 320:
                message = f"{message[:200]} ... {message[-110:]}"
            record["fit_error"] = f"{type(err).__name__}: {message}"
            frames = traceback.extract_tb(err.__traceback__)  # where it was raised: the innermost frames
            site = Path(keras.__file__).parent.parent
            record["fit_error_where"] = [
                f"{Path(f.filename).relative_to(site) if f.filename.startswith(str(site)) else Path(f.filename).name}"
                f":{f.lineno} in {f.name}"
                for f in [*[f for f in frames if "keras/src" in f.filename][-2:], frames[-1]]
            ]  # the last two Keras frames, then the frame that raised
        (out / f"worker{index}.json").write_text(json.dumps(record))
        return

    manager = None
    if args.ckpt:
        checkpoint = tf.train.Checkpoint(model=model, optimizer=optimizer, epoch=epoch_var)
        is_chief = index == 0
        directory = Path(args.ckpt) if is_chief else Path(args.ckpt) / f"scratch_worker{index}"
        manager = tf.train.CheckpointManager(checkpoint, str(directory), max_to_keep=2)
        latest = tf.train.latest_checkpoint(args.ckpt)  # every worker restores the chief's latest checkpoint
        if latest:
            checkpoint.restore(latest)
    start_epoch = int(epoch_var.numpy())
    record["resumed_from_epoch"] = start_epoch
    print(f"start at epoch {start_epoch}", flush=True)

    def epoch_dataset(epoch: int):
        def per_worker(ctx: tf.distribute.InputContext) -> tf.data.Dataset:
            b = ctx.get_per_replica_batch_size(gb)  # global batch / replicas (1 per worker here)
            lo = ctx.input_pipeline_id * b  # this worker's slice of every global batch
            ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(gb, drop_remainder=True)
            ds = ds.skip(epoch * args.steps).take(args.steps)
            return ds.map(lambda xb, yb: (xb[lo : lo + b], yb[lo : lo + b]))

        return strategy.distribute_datasets_from_function(per_worker)

    @tf.function
    def train_step(xb, yb):
        def step_fn(xr, yr):
            with tf.GradientTape() as tape:
                logits = model(xr, training=True)
                per_example = keras.losses.sparse_categorical_crossentropy(yr, logits, from_logits=True)
                loss = tf.nn.compute_average_loss(per_example, global_batch_size=gb)  # sum / GLOBAL batch
            grads = tape.gradient(loss, model.trainable_variables)
            optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))  # all-reduce (sum) + update
            return loss

        per_replica_loss = strategy.run(step_fn, args=(xb, yb))
        return strategy.reduce("SUM", per_replica_loss, axis=None)

    step_times: list[float] = []
    for epoch in range(start_epoch, args.epochs):
        for xb, yb in epoch_dataset(epoch):
            t0 = time.perf_counter()
            loss = train_step(xb, yb)
            loss.numpy()
            step_times.append(time.perf_counter() - t0)
        epoch_var.assign(epoch + 1)
        if manager is not None:
            manager.save(checkpoint_number=epoch + 1)
            if index != 0:
                shutil.rmtree(manager.directory, ignore_errors=True)
        print(f"epoch {epoch + 1} saved loss {float(loss):.4f}", flush=True)
    record["epochs_run"] = args.epochs - start_epoch
    record["train_s"] = time.perf_counter() - t_start
    record["median_step_s"] = float(np.median(step_times[1:])) if len(step_times) > 1 else None

    if args.bench:
        n_params = sum(int(np.prod(v.shape)) for v in model.trainable_variables)

        @tf.function
        def all_reduce(t):
            per_replica = strategy.run(lambda: tf.identity(t))  # this worker's copy of the tensor
            return strategy.reduce("SUM", per_replica, axis=None)  # summed over the workers

        bench = []
        for size in (1, n_params, 8 * n_params, 32 * n_params):  # 4 bytes up to 32 gradients
            t = tf.ones([size], tf.float32)
            all_reduce(t)  # warm-up (builds the collective)
            times = []
            for _ in range(20):
                t0 = time.perf_counter()
                all_reduce(t).numpy()
                times.append(time.perf_counter() - t0)
            bench.append({"bytes": 4 * size, "median_s": float(np.median(times))})
        record["allreduce"] = bench

    if index == 0:
        np.savez(out / "weights.npz", *[v.numpy() for v in model.weights])
    (out / f"worker{index}.json").write_text(json.dumps(record))
    print("done", flush=True)


if __name__ == "__main__":
    main()
