from pathlib import Path

from setuptools import find_packages, setup

here = Path(__file__).parent

setup(
    name="kaldi-mpq",
    version="0.1.0",
    description=(
        "Neural LMs for Kaldi: train LSTM/Transformer LMs, quantize them to low and mixed precision, "
        "rescore Kaldi n-best lists and lattices, and score WER the way Kaldi and NIST do."
    ),
    long_description=(here / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=find_packages(include=["kaldi_mpq", "kaldi_mpq.*"]),
    package_data={"kaldi_mpq": ["conf/**/*.yaml"]},
    include_package_data=True,
    install_requires=[
        # A range, not a pin: users with GPUs keep the CUDA build they have.
        "torch>=2.1,<3",
        "numpy>=1.24",
        "pyyaml>=6",
        "tqdm>=4.60",
        "safetensors>=0.4",
        "kaldiio>=2.18",
        "lhotse>=1.20",
        # lhotse imports urllib3 without declaring it.
        "urllib3",
        "kaldialign>=0.9",
        "kaldingram>=0.1.2",
        "scipy>=1.10",
        "matplotlib>=3.7",
    ],
    extras_require={
        "test": ["pytest>=7", "hypothesis>=6", "kaldifst>=1.7"],  # kaldifst: OpenFst parity tests
        "fst": ["kaldifst>=1.7"],
        "bench": ["pyhessian>=0.1"],  # bench/hessian_speed.py: per-cluster traces with PyHessian, for comparison
    },
    entry_points={"console_scripts": ["kaldi-mpq=kaldi_mpq.cli:main"]},
    classifiers=[
        "Programming Language :: Python :: 3",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
)
