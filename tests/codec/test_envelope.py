"""The P2P envelope and AES-CMAC: RFC 4493 vectors, properties, and byte-identity on MicroPython."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.aes import Aes128
from payload_codec import cmac, envelope
from payload_codec.errors import EncodeError, TruncatedError
from trosmart_tools.mpy import MicroPythonBatch

from . import envelope_corpus
from .test_micropython import collect, normal

DRIVER = Path(__file__).with_name("mpy_codec_driver.py")  # envelope ops: mpy_envelope_ops.py

# RFC 4493 §4: key, subkeys and the four examples
RFC_KEY = bytes.fromhex("2b7e151628aed2a6abf7158809cf4f3c")
RFC_K1 = "fbeed618357133667c85e08f7236a8de"
RFC_K2 = "f7ddac306ae266ccf90bc11ee46d513b"
RFC_MSG = bytes.fromhex(
    "6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51"
    "30c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710"
)
RFC_VECTORS = [
    (0, "bb1d6929e95937287fa37d129b756746"),
    (16, "070a16b46b4d4144f79bdd9dd04a287c"),
    (40, "dfa66747de9ae63030ca32611497c827"),
    (64, "51f0bebf7e3b9d92fc49741779363cfe"),
]

KEY_A = bytes(range(16))
KEY_B = bytes(range(16, 32))


def signer(key: bytes) -> envelope.Signer:
    return envelope.Signer(Aes128(key))


def test_rfc4493_subkeys() -> None:
    k1, k2 = cmac.subkeys(Aes128(RFC_KEY))
    assert (bytes(k1).hex(), bytes(k2).hex()) == (RFC_K1, RFC_K2)


@pytest.mark.parametrize(("n", "mac"), RFC_VECTORS)
def test_rfc4493_examples(n: int, mac: str) -> None:
    assert cmac.cmac(Aes128(RFC_KEY), RFC_MSG[:n]).hex() == mac


def test_cmac_agrees_with_the_cryptography_package() -> None:
    from cryptography.hazmat.primitives.ciphers import algorithms
    from cryptography.hazmat.primitives.cmac import CMAC

    for n in range(0, 70):
        ref = CMAC(algorithms.AES(KEY_A))
        ref.update(RFC_MSG[: n % 64] * (1 + n // 64))
        assert cmac.cmac(Aes128(KEY_A), RFC_MSG[: n % 64] * (1 + n // 64)) == ref.finalize()


frames = st.binary(max_size=envelope.MAX_FRAME)
u32 = st.integers(0, 0xFFFFFFFF)
fports = st.integers(1, 15)


@settings(deadline=None)  # no timing assertions: a loaded CI machine is slow
@given(u32, u32, fports, frames)
def test_seal_then_open_gives_back_every_field(dev: int, ctr: int, fport: int, frame: bytes) -> None:
    sealed = envelope.seal(signer(KEY_A), dev, ctr, fport, frame)
    assert len(sealed) == len(frame) + envelope.OVERHEAD
    assert envelope.open_envelope(sealed, {dev: signer(KEY_A)}.get) == (dev, ctr, fport, frame)


@settings(deadline=None)  # no timing assertions: a loaded CI machine is slow
@given(u32, u32, fports, frames, st.data())
def test_any_changed_bit_is_refused(dev: int, ctr: int, fport: int, frame: bytes, data: Any) -> None:
    sealed = bytearray(envelope.seal(signer(KEY_A), dev, ctr, fport, frame))
    bit = data.draw(st.integers(0, len(sealed) * 8 - 1))
    sealed[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(envelope.EnvelopeError):
        envelope.open_envelope(bytes(sealed), lambda d: signer(KEY_A))


@settings(deadline=None)  # no timing assertions: a loaded CI machine is slow
@given(u32, u32, frames)
def test_another_key_is_a_bad_mic(dev: int, ctr: int, frame: bytes) -> None:
    sealed = envelope.seal(signer(KEY_B), dev, ctr, 1, frame)
    with pytest.raises(envelope.BadMicError, match="another key") as e:
        envelope.open_envelope(sealed, {dev: signer(KEY_A)}.get)
    assert e.value.reason == "bad_mic"


@settings(deadline=None)  # no timing assertions: a loaded CI machine is slow
@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_raise_anything_but_a_decode_error(data: bytes) -> None:
    with contextlib.suppress(envelope.DecodeError):
        envelope.open_envelope(data, lambda d: signer(KEY_A))


def test_refusals_name_their_reason() -> None:
    ok = envelope.seal(signer(KEY_A), 7, 1, 1, b"\x21\x00")
    with pytest.raises(envelope.UnknownDeviceError, match="00000007") as e:
        envelope.open_envelope(ok, {}.get)
    assert e.value.reason == "unknown_device" and e.value.device_id == 7
    with pytest.raises(TruncatedError):
        envelope.open_envelope(ok[:12], {7: signer(KEY_A)}.get)
    with pytest.raises(envelope.EnvelopeError, match="version 2"):
        envelope.open_envelope(b"\x21" + ok[1:], {7: signer(KEY_A)}.get)
    with pytest.raises(envelope.EnvelopeError, match="exceeds"):
        envelope.open_envelope(ok + bytes(300), {7: signer(KEY_A)}.get)
    for bad in ((-1, 0, 1), (0, 1 << 32, 1), (0, 0, 0), (0, 0, 16), (True, 0, 1)):
        with pytest.raises(EncodeError):
            envelope.seal(signer(KEY_A), *bad, b"")
    with pytest.raises(EncodeError, match="exceeds"):
        envelope.seal(signer(KEY_A), 0, 0, 1, bytes(envelope.MAX_FRAME + 1))


def test_derived_keys_differ_per_device() -> None:
    master = Aes128(KEY_A)
    keys = {envelope.derive_key(master, d) for d in range(200)}
    assert len(keys) == 200 and all(len(k) == 16 for k in keys)


def test_micropython_seals_and_opens_exactly_like_cpython(micropython: str) -> None:
    reqs: list[dict] = []
    expect: list[Any] = []
    for n, mac in RFC_VECTORS:
        reqs.append({"op": "cmac", "key": RFC_KEY.hex(), "msg": RFC_MSG[:n].hex()})
        expect.append({"hex": mac})
    cases = collect(st.tuples(u32, u32, fports, frames, st.booleans(), st.binary(max_size=40)), 600)
    keys = {"1": KEY_A.hex()}
    for dev, ctr, fport, frame, tamper, junk in cases:
        sealed = envelope.seal(signer(KEY_A), dev, ctr, fport, frame)
        reqs.append({"op": "seal", "key": KEY_A.hex(), "device": dev, "counter": ctr, "fport": fport,
                     "frame": frame.hex()})
        expect.append({"hex": sealed.hex()})
        probe = bytearray(sealed)
        if tamper:
            probe[len(probe) // 2] ^= 0x10
        for data in (bytes(probe), junk):
            keys = {str(dev): KEY_A.hex(), "1": KEY_B.hex()}
            reqs.append({"op": "open", "keys": keys, "hex": data.hex()})
            try:
                d, c, p, f = envelope.open_envelope(data, {dev: signer(KEY_A), 1: signer(KEY_B)}.get)
                expect.append({"device": d, "counter": c, "fport": p, "frame": f.hex()})
            except envelope.DecodeError as e:
                expect.append({"error": type(e).__name__, "msg": str(e)})
        reqs.append({"op": "derive", "key": KEY_B.hex(), "device": dev})
        expect.append({"hex": envelope.derive_key(Aes128(KEY_B), dev).hex()})
    reqs.append({"op": "seal", "key": KEY_A.hex(), "device": 1, "counter": 0, "fport": 0, "frame": ""})
    expect.append({"error": "EncodeError", "msg": "fPort 0 does not fit the envelope (1..15)"})
    got = MicroPythonBatch(DRIVER).call_many(reqs)
    mismatches = [(r, e, g) for r, e, g in zip(reqs, expect, got) if normal(e) != normal(g)]
    assert not mismatches, f"{len(mismatches)} of {len(reqs)} differ; first: {mismatches[0]}"
    assert sum(1 for g in got if "error" in g) > 100




def test_corpus_envelopes_open_as_recorded_on_cpython_and_micropython(micropython: str) -> None:
    header, frames = envelope_corpus.load()
    assert len(frames) >= 15
    ids = [f["id"] for f in frames]
    assert len(set(ids)) == len(ids)
    cpython = [envelope_corpus.expectation(header["keys"], bytes.fromhex(f["hex"])) for f in frames]
    mpy = MicroPythonBatch(DRIVER).call_many([{"op": "expect", "keys": header["keys"], "hex": f["hex"]}
                                              for f in frames])
    for f, c, m in zip(frames, cpython, mpy, strict=True):
        assert normal(c) == normal(f["expect"]), f["id"]
        assert normal(m) == normal(f["expect"]), f["id"]
    kinds = {("opened" if "opened" in f["expect"] else f["expect"]["error"]["class"]) for f in frames}
    assert kinds == {"opened", "BadMicError", "UnknownDeviceError", "TruncatedError", "EnvelopeError"}
