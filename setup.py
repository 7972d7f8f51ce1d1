"""jaxpose: 3D human pose estimation from weak (ordinal) depth supervision in JAX/Flax."""

import setuptools

INSTALL_REQUIRES = [
    "jax>=0.10.2,<0.11",
    "jaxlib>=0.10.2,<0.11",
    "flax>=0.12.8,<0.13",
    "optax>=0.2.8,<0.3",
    "orbax-checkpoint>=0.12.8,<0.13",
    "tensorflow-datasets>=4.9.10,<4.10",
    "importlib_resources>=6.0",
    "grain>=0.2.18,<0.3",
    "array-record>=0.8.6,<0.9",
    "ml-collections>=1.1.0,<1.2",
    "clu>=0.0.12,<0.1",
    "numpy>=2.0,<2.5",
    "scipy>=1.13,<2",
    "matplotlib>=3.8,<4",
    "opencv-python-headless>=4.9,<6",
    "pillow>=10,<14",
    "h5py>=3.10,<4",
    "absl-py>=2.0",
    "tqdm>=4.66",
    "tensorboardX>=2.6,<3",
]

EXTRAS_REQUIRE = {
    "dev": [
        "pytest>=8,<10",
        "pytest-xdist>=3.5,<4",
        "hypothesis>=6.100,<7",
        "chex>=0.1.92,<0.2",
        "nbclient>=0.10,<0.12",
        "nbformat>=5.10,<6",
        "ipykernel>=6.29,<8",
    ],
}

setuptools.setup(
    name="jaxpose",
    version="0.1.0",
    description=__doc__,
    packages=setuptools.find_packages(include=["jaxpose", "jaxpose.*"]),
    package_data={"jaxpose": ["assets/*"]},
    python_requires=">=3.11",
    install_requires=INSTALL_REQUIRES,
    extras_require=EXTRAS_REQUIRE,
)
