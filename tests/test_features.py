import numpy as np
import pytest

from engine.features import l2_normalise, mel_image, scale_image
from tests.audiogen import noise_burst, tone


def test_mel_image_shape_and_range():
    img = mel_image(tone(440, seconds=2.0))
    assert img.shape == (256, 256, 1) and img.dtype == np.float32
    assert img.min() == 0.0 and img.max() == 1.0


def test_low_frequencies_at_the_bottom():
    img = mel_image(tone(60, seconds=1.0, decay=0.1))[:, :, 0]
    energy_by_row = img.mean(axis=1)
    assert np.argmax(energy_by_row) > 200  # bottom rows


@pytest.mark.parametrize("signal", [np.zeros(44_100), np.full(44_100, 0.25), np.zeros(10)])
def test_silent_or_constant_input_is_defined(signal):
    img = mel_image(signal.astype(np.float32))
    assert img.shape == (256, 256, 1)
    assert np.all(np.isfinite(img))


def test_short_input_is_padded():
    assert mel_image(noise_burst(0, seconds=0.01)).shape == (256, 256, 1)


def test_scale_image_quantises_to_16_bits():
    out = scale_image(np.array([[0.0, 1.0 / 3, 1.0]]))
    assert np.allclose(out * 65535, np.round(out * 65535))


def test_l2_normalise_per_aspect_and_zero_rows():
    x = np.array([[3.0, 4.0, 0.0, 2.0], [0.0, 0.0, 0.0, 0.0]])
    out = l2_normalise(x, aspects=[(0, 2), (2, 4)])
    assert np.allclose(np.linalg.norm(out[0]), 1.0)
    assert np.allclose(np.linalg.norm(out[0, :2]), np.linalg.norm(out[0, 2:]))
    assert np.all(out[1] == 0)


def test_banded_filters_equal_the_dense_product():
    from engine.aspects import logf_basis, mel_basis
    from engine.features import BandedFilters

    power = np.random.default_rng(3).random((1025, 40), dtype=np.float32)
    for basis in (logf_basis(), mel_basis(n_mels=64), np.zeros((3, 1025), np.float32)):
        got = BandedFilters(basis).apply(power)
        assert got.shape == (basis.shape[0], 40)
        assert np.allclose(got, basis @ power, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="bins"):
        BandedFilters(logf_basis()).apply(power[:100])


def test_rfft_rows_with_and_without_ducc0(monkeypatch):
    import builtins

    from engine.features import rfft_rows

    x = np.random.default_rng(4).standard_normal((5, 2048)).astype(np.float32)
    want = np.fft.rfft(x.astype(np.float64), axis=1)
    assert np.allclose(rfft_rows(x), want, atol=1e-3)
    real_import = builtins.__import__

    def no_ducc0(name, *args, **kwargs):
        if name == "ducc0":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ducc0)
    assert np.allclose(rfft_rows(x), want, atol=1e-3)


# -- the numpy front end against librosa (a test dependency only) ---------------------------

librosa = pytest.importorskip("librosa")


@pytest.mark.parametrize("kw", [
    dict(sr=22_050, n_fft=2048, n_mels=64, fmin=40.0, fmax=11_025.0),
    dict(sr=22_050, n_fft=4096, n_mels=256, fmin=20.0, fmax=11_025.0),
    dict(sr=44_100, n_fft=1024, n_mels=40, fmin=0.0, fmax=None),
])
def test_mel_filters_match_librosa(kw):
    from engine.features import mel_filters

    want = librosa.filters.mel(**kw)
    got = mel_filters(**kw)
    assert got.shape == want.shape and got.dtype == np.float32
    assert np.abs(got - want).max() <= 1e-6 * np.abs(want).max()


@pytest.mark.parametrize("sr,n_fft", [(22_050, 2048), (44_100, 4096), (16_000, 512)])
def test_chroma_filters_match_librosa(sr, n_fft):
    from engine.features import chroma_filters

    want = librosa.filters.chroma(sr=sr, n_fft=n_fft)
    assert np.allclose(chroma_filters(sr=sr, n_fft=n_fft), want, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("n", [2048, 44_100, 5_000])
def test_stft_power_matches_librosa(n):
    from engine.features import stft_power

    y = np.random.default_rng(n).standard_normal(n).astype(np.float32) * 0.2
    want = np.abs(librosa.stft(y, n_fft=1024, hop_length=256, center=True,
                               pad_mode="constant")) ** 2
    got = stft_power(y, n_fft=1024, hop_length=256)
    assert got.shape == want.shape
    assert np.allclose(got, want, rtol=1e-3, atol=1e-4 * want.max())


def test_mfcc_and_delta_match_librosa():
    from engine.features import delta, mfcc

    y = tone(330, seconds=1.5) + 0.05 * noise_burst(1, seconds=1.5)
    want = librosa.feature.mfcc(y=y, sr=22_050, n_mfcc=20, n_fft=2048, hop_length=512,
                                n_mels=64)
    got = mfcc(y, n_mfcc=20, n_fft=2048, hop_length=512, n_mels=64)
    assert np.abs(got - want).max() <= 1e-3 * np.abs(want).max()
    for width in (3, 5, 9):
        assert np.allclose(delta(got, width=width),
                           librosa.feature.delta(got, width=width, mode="nearest"),
                           atol=1e-4)


def test_mel_image_matches_librosa():
    y = tone(220, seconds=2.0, decay=0.5)
    S = librosa.feature.melspectrogram(y=y, sr=22_050, n_fft=4096, hop_length=y.size // 256,
                                       n_mels=256, fmin=20.0, fmax=11_025.0)
    want = scale_image(librosa.power_to_db(S, ref=np.max)[:, :256])[::-1, :, None]
    got = mel_image(y)
    assert got.shape == want.shape
    assert np.abs(got - want).max() <= 1e-3


def test_features_do_not_import_librosa_or_scipy(tmp_path):
    import subprocess
    import sys

    code = ("import sys, numpy as np\n"
            "from engine.model.mfcc import MfccEncoder\n"
            "from engine.model.contrastive import compute_features\n"
            "from engine.features import mel_image\n"
            "y = np.random.default_rng(0).standard_normal(44100).astype(np.float32)\n"
            "MfccEncoder().features(y); compute_features(y); mel_image(y)\n"
            "heavy = sorted(m for m in ('librosa', 'scipy', 'numba') if m in sys.modules)\n"
            "assert not heavy, heavy\n")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=str(
        __import__("pathlib").Path(__file__).resolve().parent.parent))
