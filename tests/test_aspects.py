import numpy as np
import pytest

from engine import aspects as A
from tests.audiogen import kick, noise_burst, tone

SR = 22_050


def test_power_spectrogram_fixed_shape_for_any_length():
    for n in (0, 10, 5000, 44_100, 100_000):
        P = A.power_spectrogram(np.ones(n, np.float32) * 0.1, n_fft=2048, hop_length=345)
        assert P.shape == (1025, 128) and P.dtype == np.float32


def test_power_spectrogram_matches_librosa():
    import librosa

    y = tone(440, seconds=2.0)
    ours = A.power_spectrogram(y, n_fft=1024, hop_length=512)
    ref = np.abs(librosa.stft(y, n_fft=1024, hop_length=512, center=True,
                              pad_mode="constant")) ** 2
    assert ours.shape == ref.shape
    assert np.allclose(ours, ref, rtol=1e-3, atol=1e-3 * ref.max())


def test_log_mel_is_gain_invariant_and_in_unit_range():
    y = noise_burst(1, seconds=1.0)
    basis = A.mel_basis(n_mels=64)
    a = A.log_mel(A.power_spectrogram(y), basis=basis)
    b = A.log_mel(A.power_spectrogram(0.01 * y), basis=basis)
    assert a.shape == (64, 128)
    assert a.min() >= 0.0 and a.max() == pytest.approx(1.0)
    assert np.allclose(a, b, atol=1e-4)


@pytest.mark.parametrize("y", [np.zeros(44_100, np.float32), np.zeros(0, np.float32),
                               np.full(100, np.nan, np.float32)])
def test_silence_gives_finite_features(y):
    P = A.power_spectrogram(y)
    for out in (A.log_mel(P, basis=A.mel_basis()), A.envelope(P),
                A.pitch_profile(P, basis=A.chroma_basis()),
                A.spectral_shape(A.log_mel(P, basis=A.mel_basis()))):
        assert np.all(np.isfinite(out))


def test_envelope_tracks_decay_and_length():
    short = A.envelope(A.power_spectrogram(tone(440, seconds=0.3, decay=10)), n_points=16)
    long = A.envelope(A.power_spectrogram(tone(440, seconds=2.0, decay=0.5)), n_points=16)
    assert short.shape == (16,) and short.max() <= 1.0 and short.min() >= 0.0
    assert short[-1] == 0.0 and long[-1] > 0.5
    assert np.all(np.diff(long[1:]) <= 1e-6)  # a decaying tone never gets louder


def test_pitch_profile_finds_pitch_class_and_tonalness():
    basis = A.chroma_basis()
    a4 = A.pitch_profile(A.power_spectrogram(tone(440, seconds=1.0)), basis=basis)
    a5 = A.pitch_profile(A.power_spectrogram(tone(880, seconds=1.0)), basis=basis)
    hat = A.pitch_profile(A.power_spectrogram(noise_burst(0)), basis=basis)
    assert a4.shape == (13,)
    assert np.argmax(a4[:12]) == 9  # A (C first)
    assert np.argmax(a5[:12]) == 9  # octaves share a pitch class
    assert a4[12] < 0.3 < hat[12]  # the noise burst is atonal
    cos = lambda u, v: u @ v / np.linalg.norm(u) / np.linalg.norm(v)  # noqa: E731
    assert cos(a4, a5) > cos(a4, hat)


def test_spectral_shape_orders_brightness():
    basis = A.mel_basis(n_mels=64)
    dark = A.spectral_shape(A.log_mel(A.power_spectrogram(kick()), basis=basis))
    bright = A.spectral_shape(A.log_mel(A.power_spectrogram(noise_burst(2)), basis=basis))
    assert dark.shape == (16,) and abs(dark.mean()) < 1e-6
    assert dark[:4].mean() - dark[-4:].mean() > bright[:4].mean() - bright[-4:].mean()


def test_unit_db_batched_scales_each_item():
    x = np.stack([np.ones((4, 5)), 100 * np.ones((4, 5))]).astype(np.float32)
    x[:, 0, 0] *= 10
    out = A.power_to_unit_db(x)
    assert np.allclose(out[0], out[1])


def test_logf_basis_turns_an_octave_into_a_shift():
    basis = A.logf_basis(n_bins=64, fmin=40.0, fmax=10_240.0)  # 8 bins per octave
    assert basis.shape == (64, 1025) and np.allclose(basis.sum(axis=1), 1.0)
    lo = (basis @ A.power_spectrogram(tone(330, seconds=1.0, decay=0.5))).mean(axis=1)
    hi = (basis @ A.power_spectrogram(tone(660, seconds=1.0, decay=0.5))).mean(axis=1)
    assert np.argmax(hi) - np.argmax(lo) == 8
