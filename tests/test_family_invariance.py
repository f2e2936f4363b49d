"""Every family gives the same numbers, to the last bit, on one device and on all
of this process's devices (one per core by default), and for two chunk sizes."""

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
    (jc.Bigram(vocab=4, seq_len=6, train_steps=5), "accumulate", {}),
]


@pytest.mark.parametrize(("model", "workflow", "extra"), CASES)
def test_same_bits_on_any_device_count_and_chunk(model, workflow, extra):
    if len(jax.devices()) < 2:
        pytest.skip("needs two devices; jaxcollapse makes one per core")
    kw = dict(
        num_samples=12, num_generations=3, num_chains=300, num_test=20, seed=5, **extra
    )
    want = jc.simulate(model, workflow, **kw).to_dict()["metrics"]
    one = jc.simulate(model, workflow, devices=jax.devices()[:1], **kw)
    assert one.to_dict()["metrics"] == want
    chunked = jc.simulate(model, workflow, chunk_size=64, **kw)
    assert chunked.to_dict()["metrics"] == want
