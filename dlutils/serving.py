"""A small model server that speaks the TensorFlow Serving REST API, for SavedModels.

    python -m dlutils.serving --model models/cnn --name cnn --port 8501

serves the SavedModel in ``models/cnn`` (a directory with ``saved_model.pb``, or a base directory with numbered
version sub-directories, as TF Serving expects: the highest version is served) under the name ``cnn``:

- ``GET  /v1/models/{name}``                model status
- ``GET  /v1/models/{name}/metadata``       signature: input/output names, dtypes, shapes
- ``POST /v1/models/{name}:predict``         ``{"instances": …}`` (row format) → ``{"predictions": …}``, or
                                             ``{"inputs": …}`` (columnar format) → ``{"outputs": …}``
- ``GET  /monitoring/prometheus/metrics``   request count, error count, latency histogram (Prometheus text format)

The same paths and JSON bodies as TF Serving (also ``/v1/models/{name}/versions/{v}…``), so a client written for
one works unchanged against the other. Bad input never crashes the server: malformed JSON, a missing key, a wrong
shape or dtype, an empty batch, a non-finite number (``NaN``, ``Infinity``, ``1e999``, or a value that overflows the
input's dtype) and nesting deeper than the input's rank (even 200,000 levels) are answered with HTTP 400 and
``{"error": "…"}``, an over-size body with 413, an unknown model with 404. Each request is logged as one JSON line.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from starlette.concurrency import run_in_threadpool

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

log = logging.getLogger("dlutils.serving")

DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024

_DT_NAMES = {  # NumPy dtype -> TF Serving's DataType enum name
    "float32": "DT_FLOAT", "float64": "DT_DOUBLE", "float16": "DT_HALF", "int32": "DT_INT32", "int64": "DT_INT64",
    "int8": "DT_INT8", "uint8": "DT_UINT8", "int16": "DT_INT16", "bool": "DT_BOOL", "object": "DT_STRING",
}  # fmt: skip


def _reject_constant(name: str) -> float:
    """``json.loads`` hook for the non-standard constants ``NaN``, ``Infinity`` and ``-Infinity``."""
    raise RequestError(f"{name} is not valid model input: numbers must be finite (and JSON has no {name})")


def _nesting_depth(value: Any, limit: int) -> int:
    """Depth of nested lists along the first elements, counted up to ``limit + 1`` (a cheap, iterative check)."""
    depth = 0
    while isinstance(value, list) and depth <= limit:
        depth += 1
        value = value[0] if value else None
    return depth


class RequestError(ValueError):
    """A client error: answered with HTTP ``status`` and ``{"error": message}``."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class TensorInfo:
    name: str
    dtype: np.dtype
    shape: tuple[int | None, ...]

    def metadata(self) -> dict[str, Any]:
        return {
            "dtype": _DT_NAMES.get(self.dtype.name, self.dtype.name),
            "tensor_shape": {
                "dim": [{"size": str(-1 if d is None else d), "name": ""} for d in self.shape],
                "unknown_rank": False,
            },
            "name": self.name,
        }


def _version_dir(path: Path) -> tuple[Path, str]:
    """A SavedModel directory and its version: ``path`` itself, or its highest numbered sub-directory."""
    if (path / "saved_model.pb").is_file():
        return path, path.name if path.name.isdigit() else "1"
    versions = sorted((int(p.name), p) for p in path.iterdir() if p.name.isdigit() and (p / "saved_model.pb").is_file())
    if not versions:
        raise FileNotFoundError(f"{path} holds no saved_model.pb, nor numbered version directories with one")
    number, directory = versions[-1]
    return directory, str(number)


class ServedModel:
    """A SavedModel's ``serving_default`` signature, with the input checks a server needs."""

    def __init__(self, path: str | Path, name: str, signature: str = "serving_default") -> None:
        import tensorflow as tf

        self.name = name
        self.directory, self.version = _version_dir(Path(path))
        self._loaded = tf.saved_model.load(str(self.directory))
        if signature not in self._loaded.signatures:
            raise ValueError(f"{self.directory} has no signature {signature!r}: {list(self._loaded.signatures)}")
        self.signature_name = signature
        self._fn = self._loaded.signatures[signature]
        _, kwargs = self._fn.structured_input_signature
        self.inputs = {
            k: TensorInfo(k, np.dtype(spec.dtype.as_numpy_dtype), tuple(spec.shape.as_list()))
            for k, spec in sorted(kwargs.items())
        }
        self.outputs = {
            k: TensorInfo(k, np.dtype(spec.dtype.as_numpy_dtype), tuple(spec.shape.as_list()))
            for k, spec in sorted(self._fn.structured_outputs.items())
        }

    # -- TF Serving's JSON documents --------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        return {
            "model_version_status": [
                {"version": self.version, "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}
            ]
        }

    def metadata(self) -> dict[str, Any]:
        return {
            "model_spec": {"name": self.name, "signature_name": "", "version": self.version},
            "metadata": {
                "signature_def": {
                    "signature_def": {
                        self.signature_name: {
                            "inputs": {k: v.metadata() for k, v in self.inputs.items()},
                            "outputs": {k: v.metadata() for k, v in self.outputs.items()},
                            "method_name": "tensorflow/serving/predict",
                        }
                    }
                }
            },
        }

    # -- prediction ---------------------------------------------------------------------------------

    def _to_array(self, name: str, value: Any) -> np.ndarray:
        info = self.inputs[name]
        rank = len(info.shape)
        if _nesting_depth(value, rank) > rank:
            raise RequestError(f"input {name!r}: nested deeper than the signature's rank {rank} (a shape error)")
        try:
            array = np.asarray(value)
        except (ValueError, OverflowError) as err:  # ragged nested lists
            raise RequestError(f"input {name!r}: not a rectangular array ({err})") from err
        if array.dtype == object:
            raise RequestError(f"input {name!r}: not a rectangular array of numbers")
        if array.size == 0:
            raise RequestError(f"input {name!r}: empty batch")
        if info.dtype.kind == "f":
            if array.dtype.kind not in "iuf":
                raise RequestError(f"input {name!r}: expected numbers ({_DT_NAMES.get(info.dtype.name)}), got {array.dtype.kind!r} values")
        elif info.dtype.kind in "iu":
            if array.dtype.kind not in "iu":
                raise RequestError(f"input {name!r}: expected integers ({_DT_NAMES.get(info.dtype.name)}), got {array.dtype}")
        elif info.dtype.kind == "b" and array.dtype.kind != "b":
            raise RequestError(f"input {name!r}: expected booleans, got {array.dtype}")
        expected = info.shape
        if array.ndim != len(expected) or any(e is not None and e != a for e, a in zip(expected, array.shape, strict=False)):
            shown = "[" + ", ".join("-1" if e is None else str(e) for e in expected) + "]"
            raise RequestError(f"input {name!r}: shape {list(array.shape)} does not match the signature's {shown}")
        if info.dtype.kind in "iu" and array.dtype != info.dtype:
            limits = np.iinfo(info.dtype)
            if array.min() < limits.min or array.max() > limits.max:
                raise RequestError(f"input {name!r}: values outside the range of {info.dtype.name}")
        with np.errstate(over="ignore", invalid="ignore"):
            cast = array.astype(info.dtype)
        if cast.dtype.kind == "f" and not np.isfinite(cast).all():
            bad = "NaN" if np.isnan(cast).any() else "infinite"
            raise RequestError(
                f"input {name!r}: {bad} values (or numbers too large for {info.dtype.name}) are not valid model input"
            )
        return cast

    def predict(self, body: Any) -> dict[str, Any]:
        """Answer a TF Serving predict request body (already parsed JSON)."""
        import tensorflow as tf

        if not isinstance(body, dict):
            raise RequestError("the request body must be a JSON object with 'instances' or 'inputs'")
        if ("instances" in body) == ("inputs" in body):
            raise RequestError("the request body must have exactly one of 'instances' (row format) or 'inputs' (columnar)")
        names = list(self.inputs)
        if "instances" in body:
            rows = body["instances"]
            if not isinstance(rows, list) or not rows:
                raise RequestError("'instances' must be a non-empty list")
            if len(names) == 1 and not (isinstance(rows[0], dict) and names[0] in rows[0]):
                feeds = {names[0]: self._to_array(names[0], rows)}
            else:
                if not all(isinstance(r, dict) for r in rows):
                    raise RequestError(f"with several inputs each instance must be an object with keys {names}")
                missing = [n for n in names if any(n not in r for r in rows)]
                if missing:
                    raise RequestError(f"instances lack input(s) {missing}")
                feeds = {n: self._to_array(n, [r[n] for r in rows]) for n in names}
        else:
            columns = body["inputs"]
            if len(names) == 1 and not (isinstance(columns, dict) and names[0] in columns):
                feeds = {names[0]: self._to_array(names[0], columns)}
            else:
                if not isinstance(columns, dict):
                    raise RequestError(f"'inputs' must be an object with keys {names}")
                missing = [n for n in names if n not in columns]
                if missing:
                    raise RequestError(f"'inputs' lacks input(s) {missing}")
                feeds = {n: self._to_array(n, columns[n]) for n in names}
        sizes = {len(a) for a in feeds.values()}
        if len(sizes) != 1:
            raise RequestError(f"inputs have different batch sizes {sorted(sizes)}")
        results = {k: v.numpy() for k, v in self._fn(**{k: tf.constant(v) for k, v in feeds.items()}).items()}
        for k, v in results.items():
            if v.dtype.kind == "f" and not np.isfinite(v).all():  # JSON cannot carry it; a 200 would hide it
                raise RequestError(
                    f"the model's output {k!r} is not finite for this input (values far outside the training range?)"
                )
        outputs = {k: v.tolist() for k, v in results.items()}
        single = len(outputs) == 1
        if "instances" in body:
            if single:
                return {"predictions": next(iter(outputs.values()))}
            n = sizes.pop()
            return {"predictions": [{k: v[i] for k, v in outputs.items()} for i in range(n)]}
        return {"outputs": next(iter(outputs.values())) if single else outputs}


def create_app(models: dict[str, ServedModel], max_body_bytes: int = DEFAULT_MAX_BODY_BYTES) -> FastAPI:
    """The ASGI application (Starlette, through FastAPI) serving ``models`` by name."""
    registry = CollectorRegistry()
    requests_total = Counter(
        "dlutils_serving_requests", "Requests by model, API and HTTP status.", ["model", "api", "code"], registry=registry
    )
    errors_total = Counter("dlutils_serving_errors", "Requests answered with 4xx/5xx.", ["model", "api"], registry=registry)
    latency = Histogram(
        "dlutils_serving_request_latency_seconds", "Request latency.", ["model", "api"], registry=registry,
        buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
    )  # fmt: skip

    app = FastAPI(title="dlutils model server (TF Serving REST API)", docs_url=None, redoc_url=None)

    def answer(model: str, api: str, started: float, status: int, payload: dict[str, Any], extra: dict[str, Any]) -> Any:
        seconds = time.perf_counter() - started
        requests_total.labels(model, api, str(status)).inc()
        latency.labels(model, api).observe(seconds)
        if status >= 400:
            errors_total.labels(model, api).inc()
        log.info(json.dumps({"model": model, "api": api, "status": status, "ms": round(seconds * 1000, 2), **extra}))
        return JSONResponse(payload, status_code=status)

    def find(name: str, version: str | None) -> ServedModel:
        model = models.get(name)
        if model is None or (version is not None and version != model.version):
            wanted = f"Specific(name: {name}, version: {version})" if version else f"Latest({name})"
            raise RequestError(f"Servable not found for request: {wanted}", status=404)
        return model

    async def status_or_metadata(request: Request, name: str, version: str | None, api: str) -> Any:
        started = time.perf_counter()
        try:
            model = find(name, version)
            payload = model.status() if api == "status" else model.metadata()
            return answer(name, api, started, 200, payload, {})
        except RequestError as err:
            return answer(name, api, started, err.status, {"error": str(err)}, {})

    @app.get("/v1/models/{name}")
    async def status(request: Request, name: str) -> Any:
        return await status_or_metadata(request, name, None, "status")

    @app.get("/v1/models/{name}/versions/{version}")
    async def status_version(request: Request, name: str, version: str) -> Any:
        return await status_or_metadata(request, name, version, "status")

    @app.get("/v1/models/{name}/metadata")
    async def metadata(request: Request, name: str) -> Any:
        return await status_or_metadata(request, name, None, "metadata")

    @app.get("/v1/models/{name}/versions/{version}/metadata")
    async def metadata_version(request: Request, name: str, version: str) -> Any:
        return await status_or_metadata(request, name, version, "metadata")

    async def predict(request: Request, name: str, version: str | None) -> Any:
        started = time.perf_counter()
        extra: dict[str, Any] = {}
        try:
            declared = request.headers.get("content-length")
            if declared is not None and declared.isdigit() and int(declared) > max_body_bytes:
                raise RequestError(f"request body of {declared} bytes exceeds the limit of {max_body_bytes}", 413)
            raw = bytearray()  # `bytes +=` would copy the whole body for every chunk
            async for chunk in request.stream():
                raw += chunk
                if len(raw) > max_body_bytes:
                    raise RequestError(f"request body exceeds the limit of {max_body_bytes} bytes", 413)
            model = find(name, version)
            try:
                body = json.loads(raw, parse_constant=_reject_constant)
            except (json.JSONDecodeError, UnicodeDecodeError) as err:
                raise RequestError(f"JSON Parse error: {err}") from err
            except RecursionError as err:  # e.g. 200,000 nested '[': deeper than any input's rank
                raise RequestError(
                    "JSON Parse error: nested too deeply (deeper than any input's rank, a shape error)"
                ) from err
            result = await run_in_threadpool(model.predict, body)
            extra["batch"] = len(next(iter(result.values())))
            return answer(name, "predict", started, 200, result, extra)
        except RequestError as err:
            return answer(name, "predict", started, err.status, {"error": str(err)}, extra)
        except Exception as err:  # noqa: BLE001 (a server must answer, not crash; the log keeps the cause)
            log.exception("predict failed")
            return answer(name, "predict", started, 500, {"error": f"internal error: {type(err).__name__}"}, extra)

    @app.post("/v1/models/{name_and_verb:path}")
    async def predict_route(request: Request, name_and_verb: str) -> Any:
        # TF Serving's paths: /v1/models/NAME:predict and /v1/models/NAME/versions/V:predict
        started = time.perf_counter()
        path, _, verb = name_and_verb.rpartition(":")
        parts = path.split("/")
        if verb != "predict" or not (len(parts) == 1 or (len(parts) == 3 and parts[1] == "versions")):
            return answer(path or name_and_verb, verb or "unknown", started, 404,
                          {"error": f"Malformed request: POST /v1/models/{name_and_verb} (only :predict is served)"}, {})  # fmt: skip
        return await predict(request, parts[0], parts[2] if len(parts) == 3 else None)

    @app.get("/monitoring/prometheus/metrics")
    async def metrics() -> Any:
        return PlainTextResponse(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve a SavedModel with the TensorFlow Serving REST API.")
    parser.add_argument("--model", required=True, type=Path, help="SavedModel directory (or base with version dirs)")
    parser.add_argument("--name", required=True, help="model name in the URLs, /v1/models/NAME")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8501)
    parser.add_argument("--max-body-bytes", type=int, default=DEFAULT_MAX_BODY_BYTES)
    args = parser.parse_args(argv)

    import uvicorn

    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(message)s")
    model = ServedModel(args.model, args.name)
    log.info(json.dumps({"event": "loaded", "model": args.name, "version": model.version, "path": str(model.directory)}))
    app = create_app({args.name: model}, max_body_bytes=args.max_body_bytes)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
