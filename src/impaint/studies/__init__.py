"""The studies around the product: they train and evaluate, and write reports; nothing in
the product imports them.

ablate.py      the ablation (`impaint ablate`)            variants.py   its variants, as data
reproduce.py   the seed's figures (`impaint reproduce`)   scales.py     multi-scale designs
resolution.py  rendering at 64 px (`impaint resolution`)  bench.py      speed (`impaint bench`)
timing.py      what the bench (and ablate) times          bench_*.py    the bench's rows
"""
