"""RTN range searches on a thread pool compute exactly what they compute one after another."""
import numpy as np

from catdeploy import api
from catdeploy.quant import calibrate_rtn
from catdeploy.quant.quantized_graph import save_quantized_graph
from tests.quant.tiny_graphs import tiny_mobilenet, tiny_resnet


def test_map_in_threads_keeps_order():
    assert calibrate_rtn.map_in_threads(lambda v: v * v, list(range(7)), threads=3) == [v * v for v in range(7)]
    assert calibrate_rtn.map_in_threads(lambda v: -v, [4], threads=2) == [-4]


def test_threaded_calibration_is_byte_identical(monkeypatch, tmp_path):
    rng = np.random.default_rng(5)
    for graph, bits in ((tiny_resnet(1), "w2a4"), (tiny_mobilenet(2), "w4a4")):
        x = rng.normal(size=(48, 3, 8, 8)).astype(np.float32)
        archives = []
        for threads in (1, 3):
            monkeypatch.setattr(calibrate_rtn, "observer_threads", lambda threads=threads: threads)
            qg = api.calibrate(graph, api.plan(graph, bits), x)
            save_quantized_graph(qg, tmp_path / f"{threads}.qg")
            archives.append((tmp_path / f"{threads}.qg").read_bytes())
        assert archives[0] == archives[1], bits
