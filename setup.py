from pathlib import Path

from setuptools import find_packages, setup

here = Path(__file__).parent

# Optional features; each import goes through kaldi_mpq.extras, which names the extra when it is missing.
EXTRAS = {
    "plot": ["matplotlib>=3.7"],  # quant-report --plot
    "lhotse": ["lhotse>=1.20", "urllib3"],  # lhotse manifests as text input (lhotse imports urllib3 undeclared)
    "mp": ["scipy>=1.10"],  # kaldi-mpq allocate --solver ilp (the exact DP needs nothing)
    "bench": ["pyhessian>=0.1"],
    # recipes/ami_mini --regenerate-first-pass: pocketsphinx decoding (flite and sox come from the OS)
    "first-pass": ["pocketsphinx>=5.0"],  # bench/hessian_speed.py: per-cluster traces with PyHessian, for comparison
}
# kaldifst: the OpenFst parity tests
EXTRAS["test"] = ["pytest>=7", "hypothesis>=6", "kaldifst>=1.7", *EXTRAS["plot"], *EXTRAS["lhotse"], *EXTRAS["mp"]]

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
        "kaldialign>=0.9",
        "kaldingram>=0.1.2",
    ],
    extras_require=EXTRAS,
    entry_points={"console_scripts": ["kaldi-mpq=kaldi_mpq.cli:main"]},
    classifiers=[
        "Programming Language :: Python :: 3",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
)
