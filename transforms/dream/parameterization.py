"""How the image is parameterised while it is ascended: in pixels (the classic dream), or
in a colour-decorrelated Fourier space (lucid's `fft` image).

Gradient ascent on parameters s with the image x = A s moves x along A Aᵀ ∂L/∂x: the
parameterisation acts as a filter on each step's gradient, applied before the gradient rule
normalises it. For `fft`, A maps a Fourier spectrum scaled by 1/frequency through colours
that vary together in natural photos. Its exact A Aᵀ weights the spectrum by 1/f², and
under an L2-normalised step the broadest waves then take the whole step: on the offline
VGG16 the dream became a colour cast (loss 285 against a pixel dream's 5,864; looked at).
So the filter weights the spectrum by 1/f (the scale once, as normalising in parameter space
would) and leaves the mean colour alone, and weights colours by their covariance: steps
favour broad structures in natural colours over pixel-level, saturated noise. The image
itself stays in pixels (octaves, detail re-injection, jitter, random transforms and tiles
see what they always see), so the two are one interface.
"""
from __future__ import annotations

import numpy as np

from transforms.dream.params import PARAMETERIZATIONS
from transforms.dream.quiet_tensorflow import tf

# The RGB covariance of natural photos (here: the three sample photos, 0-1 scale), scaled
# so its largest eigenvalue is 1: A Aᵀ of the colour part of the parameterisation.
_RGB_COVARIANCE = np.array([[0.0586, 0.0460, 0.0372],
                            [0.0460, 0.0538, 0.0513],
                            [0.0372, 0.0513, 0.0551]], np.float32)
COLOUR_FILTER = _RGB_COVARIANCE / np.float32(np.linalg.eigvalsh(_RGB_COVARIANCE.astype(np.float64)).max())


def spectral_weights(height: tf.Tensor, width: tf.Tensor) -> tf.Tensor:
    """1/f over rfft2d's frequency grid (H x W//2+1), 0 for the constant term (the mean
    colour is not the dream's to change)."""
    h, w = tf.cast(height, tf.float32), tf.cast(width, tf.float32)
    rows = tf.cast(tf.range(height), tf.float32)
    fy = tf.where(rows > h / 2, rows - h, rows) / h  # numpy's fftfreq
    fx = tf.cast(tf.range(width // 2 + 1), tf.float32) / w  # rfftfreq
    frequency = tf.sqrt(fy[:, None] ** 2 + fx[None, :] ** 2)
    return tf.where(frequency > 0, 1.0 / tf.maximum(frequency, 1e-12), 0.0)


def fft_filter(grads: tf.Tensor) -> tf.Tensor:
    """BxHxWx3 gradient -> A Aᵀ of it for the decorrelated Fourier image (same shape)."""
    coloured = tf.tensordot(grads, tf.constant(COLOUR_FILTER), axes=[[3], [0]])
    planes = tf.transpose(coloured, [0, 3, 1, 2])  # B,3,H,W: rfft2d works on the last two axes
    height, width = tf.shape(planes)[2], tf.shape(planes)[3]
    spectrum = tf.signal.rfft2d(planes) * tf.cast(spectral_weights(height, width), tf.complex64)
    filtered = tf.signal.irfft2d(spectrum, fft_length=tf.stack([height, width]))
    return tf.transpose(filtered, [0, 2, 3, 1])


def gradient_filter(parameterization: str):
    """The filter a parameterisation applies to each step's gradient; None for pixels."""
    if parameterization not in PARAMETERIZATIONS:
        raise ValueError(f"unknown parameterization {parameterization!r}; valid: {', '.join(PARAMETERIZATIONS)}")
    return fft_filter if parameterization == "fft" else None
