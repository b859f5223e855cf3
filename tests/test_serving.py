"""The TF-Serving-compatible server, started for real on 127.0.0.1 and exercised over HTTP."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import requests

keras = pytest.importorskip("keras")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A small classifier exported as a SavedModel under <base>/1, as TF Serving lays out versions."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input(shape=(4,), name="features")
    hidden = keras.layers.Dense(8, activation="relu")(inputs)
    outputs = keras.layers.Dense(3, activation="softmax")(hidden)
    model = keras.Model(inputs, outputs)
    base = tmp_path_factory.mktemp("models") / "iris"
    model.export(str(base / "1"), verbose=False)
    return model, base


@pytest.fixture(scope="module")
def server(exported, tmp_path_factory):
    _, base = exported
    port = free_port()
    log_path = tmp_path_factory.mktemp("log") / "server.log"
    log = open(log_path, "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "dlutils.serving", "--model", str(base), "--name", "iris", "--port", str(port),
         "--max-body-bytes", "1000000"],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while True:
        try:
            if requests.get(f"{url}/v1/models/iris", timeout=1).status_code == 200:
                break
        except requests.ConnectionError:
            pass
        if proc.poll() is not None or time.time() > deadline:
            proc.kill()
            log.close()
            pytest.fail(f"server did not start:\n{log_path.read_text()}")
        time.sleep(0.3)
    yield url, proc, log_path
    proc.terminate()
    proc.wait(timeout=30)
    log.close()


X = np.random.default_rng(1).normal(size=(5, 4)).astype("float32")


def predict(url: str, body: object, name: str = "iris") -> requests.Response:
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return requests.post(f"{url}/v1/models/{name}:predict", data=data, timeout=30)


def test_status_and_metadata(server):
    url, _, _ = server
    status = requests.get(f"{url}/v1/models/iris", timeout=5).json()
    assert status["model_version_status"][0] == {
        "version": "1", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""},
    }  # fmt: skip
    meta = requests.get(f"{url}/v1/models/iris/metadata", timeout=5).json()
    assert meta["model_spec"] == {"name": "iris", "signature_name": "", "version": "1"}
    sig = meta["metadata"]["signature_def"]["signature_def"]["serving_default"]
    ((in_name, inp),) = sig["inputs"].items()
    assert inp["dtype"] == "DT_FLOAT"
    assert [d["size"] for d in inp["tensor_shape"]["dim"]] == ["-1", "4"]
    ((_, out),) = sig["outputs"].items()
    assert [d["size"] for d in out["tensor_shape"]["dim"]] == ["-1", "3"]
    assert requests.get(f"{url}/v1/models/iris/versions/1/metadata", timeout=5).status_code == 200


def test_row_and_columnar_predictions_equal_in_process_model(server, exported):
    url, _, _ = server
    model, _ = exported
    expected = model.predict(X, verbose=0)
    rows = predict(url, {"instances": X.tolist()})
    assert rows.status_code == 200
    np.testing.assert_allclose(rows.json()["predictions"], expected, rtol=1e-5, atol=1e-6)
    cols = predict(url, {"inputs": X.tolist()})
    np.testing.assert_allclose(cols.json()["outputs"], expected, rtol=1e-5, atol=1e-6)
    versioned = requests.post(f"{url}/v1/models/iris/versions/1:predict", json={"instances": X[:1].tolist()}, timeout=5)
    np.testing.assert_allclose(versioned.json()["predictions"], expected[:1], rtol=1e-5, atol=1e-6)
    ints = predict(url, {"instances": [[1, 2, 3, 4]]})  # JSON integers are fine for a float input
    assert ints.status_code == 200


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"{not json", "JSON Parse error"),
        ({"examples": [[1, 2, 3, 4]]}, "exactly one of 'instances'"),
        ({"instances": [[1, 2, 3, 4]], "inputs": [[1, 2, 3, 4]]}, "exactly one of 'instances'"),
        ({"instances": [[1.0, 2.0, 3.0]]}, "does not match the signature's [-1, 4]"),
        ({"instances": [1.0, 2.0, 3.0, 4.0]}, "does not match"),
        ({"instances": [["a", "b", "c", "d"]]}, "expected numbers"),
        ({"instances": [[1, 2, 3, 4], [1, 2]]}, "rectangular"),
        ({"instances": []}, "non-empty"),
        ({"inputs": []}, "empty batch"),
        ([1, 2, 3], "JSON object"),
    ],
)
def test_bad_input_is_a_400_with_an_error_and_the_server_lives(server, body, fragment):
    url, proc, _ = server
    response = predict(url, body)
    assert response.status_code == 400, response.text
    assert fragment in response.json()["error"]
    assert proc.poll() is None
    assert requests.get(f"{url}/v1/models/iris", timeout=5).status_code == 200


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b'{"instances": [[NaN, 1.0, 2.0, 3.0]]}', "NaN is not valid model input"),
        (b'{"instances": [[Infinity, 1.0, 2.0, 3.0]]}', "Infinity is not valid model input"),
        (b'{"instances": [[1.0, -Infinity, 2.0, 3.0]]}', "-Infinity is not valid model input"),
        (b'{"instances": [[1e999, 1.0, 2.0, 3.0]]}', "infinite values"),
        (b'{"inputs": [[1.0, 2.0, 3.0, -1e999]]}', "infinite values"),
        (b'{"instances": [[1e300, 1.0, 2.0, 3.0]]}', "too large for float32"),  # finite JSON, inf as float32
        (b'{"instances": [[3e38, 3e38, 3e38, 3e38]]}', "not finite for this input"),  # finite in, inf/NaN out
        (b'{"instances": [[[1.0], 2.0, 3.0, 4.0]]}', "nested deeper than the signature's rank 2"),
        (b'{"instances": ' + b"[" * 1000 + b"1" + b"]" * 1000 + b"}", "nested"),
        (b'{"instances": ' + b"[" * 200_000 + b"]" * 200_000 + b"}", "nested too deeply"),
        (b"[" * 200_000, "nested too deeply"),  # and unterminated
    ],
    ids=["NaN", "Infinity", "-Infinity", "1e999", "-1e999-columnar", "float32-overflow", "output-overflow",
         "rank-3", "depth-1000", "depth-200000", "depth-200000-open"],
)
def test_non_finite_numbers_and_deep_nesting_are_400_and_the_server_lives(server, body, fragment):
    url, proc, _ = server
    response = predict(url, body)
    assert response.status_code == 400, response.text
    assert fragment in response.json()["error"]
    assert proc.poll() is None
    ok = predict(url, {"instances": X.tolist()})
    assert ok.status_code == 200 and np.isfinite(ok.json()["predictions"]).all()


def test_oversize_body_is_413(server):
    url, _, _ = server
    big = {"instances": np.zeros((60000, 4)).tolist()}  # > 1,000,000 bytes of JSON
    response = predict(url, big)
    assert response.status_code == 413
    assert "exceeds the limit" in response.json()["error"]


def test_unknown_model_and_version_are_404(server):
    url, _, _ = server
    assert requests.get(f"{url}/v1/models/nope", timeout=5).status_code == 404
    response = predict(url, {"instances": X.tolist()}, name="nope")
    assert response.status_code == 404 and "Servable not found" in response.json()["error"]
    assert requests.get(f"{url}/v1/models/iris/versions/7", timeout=5).status_code == 404
    assert requests.post(f"{url}/v1/models/iris:classify", json={}, timeout=5).status_code == 404


def test_concurrent_load_has_no_errors_and_exact_predictions(server, exported):
    """8 clients x 200 requests, bounded; every answer equals the in-process model's."""
    url, _, _ = server
    model, _ = exported
    rng = np.random.default_rng(2)
    batches = [rng.normal(size=(int(rng.integers(1, 9)), 4)).astype("float32") for _ in range(16)]
    expected = [model.predict(b, verbose=0) for b in batches]

    def client(k: int) -> int:
        failures = 0
        with requests.Session() as session:
            for i in range(200):
                j = (k * 200 + i) % len(batches)
                r = session.post(f"{url}/v1/models/iris:predict", json={"instances": batches[j].tolist()}, timeout=30)
                ok = r.status_code == 200 and np.allclose(r.json()["predictions"], expected[j], rtol=1e-5, atol=1e-6)
                failures += not ok
        return failures

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=8) as pool:
        failures = sum(pool.map(client, range(8)))
    elapsed = time.perf_counter() - started
    assert failures == 0
    assert elapsed < 240


def test_metrics_and_structured_logs(server):
    url, _, log_path = server
    predict(url, {"instances": X.tolist()})
    predict(url, b"{bad")
    text = requests.get(f"{url}/monitoring/prometheus/metrics", timeout=5).text
    ok = [line for line in text.splitlines() if line.startswith('dlutils_serving_requests_total{api="predict",code="200"')]
    bad = [line for line in text.splitlines() if line.startswith('dlutils_serving_errors_total{api="predict"')]
    assert ok and float(ok[0].split()[-1]) >= 1
    assert bad and float(bad[0].split()[-1]) >= 1
    assert "dlutils_serving_request_latency_seconds_bucket" in text
    lines = [json.loads(line) for line in Path(log_path).read_text().splitlines() if line.startswith("{")]
    statuses = {(rec.get("api"), rec.get("status")) for rec in lines}
    assert ("predict", 200) in statuses and ("predict", 400) in statuses
    assert all("ms" in rec for rec in lines if "status" in rec)
