"""Every family gives the same numbers, to the last bit, on all of this
process's devices (one per core by default) in one chunk and on one device in
chunks of 64 chains: two compiled programs that differ in both the device count
and the chunk size (a third run, one change at a time, cost a third more of the
default test run and could only fail where these two differ)."""

import jax
import pytest

import jaxcollapse as jc

CASES = [
    (jc.KDE(bandwidth="scott"), "accumulate", {}),
    (jc.KDE(dim=2, truth="blobs"), "fresh", {}),
    (jc.Categorical(categories=12), "mix", {"real_weight": 0.3}),
    (jc.Categorical(categories=12, smoothing=0.5), "accumulate-subsample", {}),
    (jc.LinReg(dim=3), "augment", {}),
    (jc.GMM(components=2, em_steps=5), "replace", {"verify": "model"}),
    (jc.GMM(components=3, em_steps=5, truth="blobs"), "accumulate", {}),
    (jc.Bigram(vocab=4, seq_len=6, train_steps=5), "accumulate", {}),
]


@pytest.mark.parametrize(("model", "workflow", "extra"), CASES)
def test_same_bits_on_any_device_count_and_chunk(model, workflow, extra):
    if len(jax.devices()) < 2:
        pytest.skip("needs two devices; jaxcollapse makes one per core")
    kw = dict(
        num_samples=12, num_generations=3, num_chains=300, num_test=20, seed=5, **extra
    )
    want = jc.simulate(model, workflow, **kw)
    assert want.config["chunk_size"] >= 300  # one chunk
    one = jc.simulate(model, workflow, devices=jax.devices()[:1], chunk_size=64, **kw)
    assert one.config["chunk_size"] == 64
    assert one.to_dict()["metrics"] == want.to_dict()["metrics"]
