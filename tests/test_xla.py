"""jaxcollapse/_xla.py: the XLA flags set at import, and that a user's win."""

import os

from jaxcollapse import _xla


def _configured(monkeypatch, flags, avx512):
    monkeypatch.delenv("JAXCOLLAPSE_KEEP_XLA_FLAGS", raising=False)
    monkeypatch.setenv("XLA_FLAGS", flags)
    monkeypatch.setattr(_xla, "_has_avx512", lambda: avx512)
    _xla.configure_xla()
    return os.environ["XLA_FLAGS"].split()


def test_defaults_are_added(monkeypatch):
    got = _configured(monkeypatch, "", True)
    assert f"{_xla.EMITTERS}=false" in got
    assert f"{_xla.VECTOR_WIDTH}=512" in got
    assert any(f.startswith(_xla.HOST_DEVICES + "=") for f in got)


def test_vector_width_only_with_avx512(monkeypatch):
    got = _configured(monkeypatch, "", False)
    assert not any(f.startswith(_xla.VECTOR_WIDTH) for f in got)


def test_users_flags_win(monkeypatch):
    mine = f"{_xla.VECTOR_WIDTH}=256 {_xla.HOST_DEVICES}=3 {_xla.EMITTERS}=true"
    assert _configured(monkeypatch, mine, True) == mine.split()


def test_keep_switch_leaves_flags_alone(monkeypatch):
    monkeypatch.setenv("JAXCOLLAPSE_KEEP_XLA_FLAGS", "1")
    monkeypatch.setenv("XLA_FLAGS", "--xla_dump_to=x")
    _xla.configure_xla()
    assert os.environ["XLA_FLAGS"] == "--xla_dump_to=x"
