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
