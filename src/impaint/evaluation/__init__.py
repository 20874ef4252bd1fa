"""Measuring models: the comparison harness, classical baselines, calibration of σ, diverse
samples and a neural-process log-likelihood.

Above inference/, below studies/. Every figure is mean ± 95 % CI over images, on masks that
protocol.py seeds per (seed, image, family, label), so every method and every run sees the
same holes. metrics.py and baselines.py are leaves (they import nothing of impaint), so the
layers below may use them too (training logs PSNR; the demo compares with Telea).

metrics.py    PSNR, SSIM, L1, CIs          baselines.py   OpenCV, biharmonic, mean fill
protocol.py   the fixed, seeded masks      evaluate.py    the harness, `impaint evaluate`
scoring.py    each method run and scored   results.py     its tables and files
images.py     which images are scored      loglik.py      NP-protocol likelihood
calibration.py is σ honest?                diversity.py   K samples: diversity vs fidelity
"""
