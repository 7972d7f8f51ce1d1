"""jaxpose: 3D human pose estimation trained with weak (ordinal) depth supervision."""

__version__ = "0.1.0"
