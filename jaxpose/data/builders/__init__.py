"""tfds builders of the real datasets (manual download), keyed by tfds name in `BUILDERS`.

  * `h36m_videopose3d`: Human3.6M lifting records from VideoPose3D's npz files.
  * `h36m_pavlakos`: Human3.6M image records from Pavlakos' c2f-vol annot h5 + images.
  * `lsp_mpii_ordinal` (configs `lsp`, `mpii`): Pavlakos' LSP / MPII ordinal labels.
  * `ronchi_lsp`: Ronchi et al.'s crowd relative-depth pairs on LSP.

Each module's docstring (= the builder's MANUAL_DOWNLOAD_INSTRUCTIONS) says what to
download and where to put it.
"""

from jaxpose.data.builders.h36m import H36mConfig, H36mPavlakos, H36mVideopose3d
from jaxpose.data.builders.lsp_mpii import LspMpiiOrdinal, OrdinalConfig
from jaxpose.data.builders.ronchi import RonchiLsp

BUILDERS = {cls.name: cls for cls in (H36mVideopose3d, H36mPavlakos, LspMpiiOrdinal, RonchiLsp)}

__all__ = ["BUILDERS", "H36mConfig", "H36mPavlakos", "H36mVideopose3d", "LspMpiiOrdinal",
           "OrdinalConfig", "RonchiLsp"]
