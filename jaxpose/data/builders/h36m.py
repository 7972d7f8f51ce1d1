"""Human3.6M builders: VideoPose3D npz files (lifting records) and Pavlakos' annot h5 + images.

Manual download (Human3.6M needs its own licence: http://vision.imar.ro/human3.6m).

Builder `h36m_videopose3d` (lifting records: 2D, camera-frame 3D, relations; no images):
  1. Convert Human3.6M with VideoPose3D's data/prepare_data_h36m.py
     (https://github.com/facebookresearch/VideoPose3D, DATASETS.md). It writes
     data_3d_h36m.npz (`positions_3d`: subject -> action -> [N, 32, 3] world metres) and
     data_2d_h36m_gt.npz (`positions_2d`: subject -> action -> 4 cameras x [N, 17, 2]
     pixels, and `metadata`).
  2. Put both files directly in the manual folder:
       <manual_dir>/data_3d_h36m.npz
       <manual_dir>/data_2d_h36m_gt.npz
  3. Both files hold pickled Python dicts, and unpickling can run code from the file, so
     the builder refuses them unless you opt in: `H36mVideopose3d(allow_pickle=True)`
     (launchers: `--config.data.allow_pickle=True`). Opt in only for files you trust.

Builder `h36m_pavlakos` (image records with 2D, 3D and relations):
  1. Run data.sh of https://github.com/geopavlakos/c2f-vol-train (h36m_annot.tar and the
     per-subject image tars, > 32 GB; the test-only set of ordinal-pose3d's data.sh is
     enough for a config with splits=('test',)).
  2. Arrange the manual folder like c2f-vol's data/h36m:
       <manual_dir>/annot/train.h5, <manual_dir>/annot/valid.h5
           datasets part [N,17,2] px, center [N,2] px, scale [N], zind [N,17], S [N,17,3] mm
       <manual_dir>/annot/train_images.txt, <manual_dir>/annot/valid_images.txt
           one image name per h5 row (needed when the h5 has no `imgname` dataset)
       <manual_dir>/images/S9_Posing_1.55011271_000001.jpg ...

Then build with `download_and_prepare(download_config=tfds.download.DownloadConfig(
manual_dir=<manual_dir>))` and read with `as_data_source()`.
"""

from __future__ import annotations

import dataclasses
import pathlib
import re

import h5py
import numpy as np
import tensorflow_datasets as tfds

from jaxpose import geometry, ordinal, skeleton
from jaxpose.data import schema
from jaxpose.data.builders import common

FILE_3D = "data_3d_h36m.npz"
FILE_2D = "data_2d_h36m_gt.npz"
_INSTRUCTIONS = __doc__
PROTOCOL1_TRAIN = ("S1", "S5", "S6", "S7", "S8")
PROTOCOL1_TEST = ("S9", "S11")

# The four Human3.6M cameras and their per-subject poses: dataset metadata as listed in
# facebookresearch/VideoPose3D, common/h36m_dataset.py (`h36m_cameras_intrinsic_params`,
# `h36m_cameras_extrinsic_params`). Orientation is the camera-to-world rotation as a unit
# quaternion (w, x, y, z); translation is the camera centre in world millimetres.
CAMERA_IDS = ("54138969", "55011271", "58860488", "60457274")
_FOCAL = ((1145.0494384765625, 1143.7811279296875), (1149.6756591796875, 1147.5916748046875),
          (1149.1407470703125, 1148.7989501953125), (1145.5113525390625, 1144.77392578125))
_CENTER = ((512.54150390625, 515.4514770507812), (508.8486328125, 508.0649108886719),
           (519.8158569335938, 501.40264892578125), (514.9682006835938, 501.88201904296875))
_EXTRINSICS = {  # subject -> one (orientation wxyz, translation mm) per camera
    "S1": (((0.1407056450843811, -0.1500701755285263, -0.755240797996521, 0.6223280429840088),
            (1841.1070556640625, 4955.28466796875, 1563.4454345703125)),
           ((0.6157187819480896, -0.764836311340332, -0.14833825826644897, 0.11794740706682205),
            (1761.278564453125, -5078.0068359375, 1606.2650146484375)),
           ((0.14651472866535187, -0.14647851884365082, 0.7653023600578308, -0.6094175577163696),
            (-1846.7777099609375, 5215.04638671875, 1491.972412109375)),
           ((0.5834008455276489, -0.7853162288665771, 0.14548823237419128, -0.14749594032764435),
            (-1794.7896728515625, -3722.698974609375, 1574.8927001953125))),
    "S5": (((0.1467377245426178, -0.162370964884758, -0.7551892995834351, 0.6178938746452332),
            (2097.3916015625, 4880.94482421875, 1605.732421875)),
           ((0.6159758567810059, -0.7626792192459106, -0.15728192031383514, 0.1189815029501915),
            (2031.7008056640625, -5167.93310546875, 1612.923095703125)),
           ((0.14291371405124664, -0.12907841801643372, 0.7678384780883789, -0.6110143065452576),
            (-1620.5948486328125, 5171.65869140625, 1496.43701171875)),
           ((0.5920479893684387, -0.7814217805862427, 0.1274748593568802, -0.15036417543888092),
            (-1637.1737060546875, -3867.3173828125, 1547.033203125))),
    "S6": (((0.1337897777557373, -0.15692396461963654, -0.7571090459823608, 0.6198879480361938),
            (1935.4517822265625, 4950.24560546875, 1618.0838623046875)),
           ((0.6147197484970093, -0.7628812789916992, -0.16174767911434174, 0.11819244921207428),
            (1969.803955078125, -5128.73876953125, 1632.77880859375)),
           ((0.1529948115348816, -0.13529130816459656, 0.7646096348762512, -0.6112781167030334),
            (-1769.596435546875, 5185.361328125, 1476.993408203125)),
           ((0.5916101336479187, -0.7804774045944214, 0.12832270562648773, -0.1561593860387802),
            (-1721.668701171875, -3884.13134765625, 1540.4879150390625))),
    "S7": (((0.1435241848230362, -0.1631336808204651, -0.7548328638076782, 0.6188824772834778),
            (1974.512939453125, 4926.3544921875, 1597.8326416015625)),
           ((0.6141672730445862, -0.7638262510299683, -0.1596645563840866, 0.1177929937839508),
            (1937.0584716796875, -5119.7900390625, 1631.5665283203125)),
           ((0.14550060033798218, -0.12874816358089447, 0.7660516500473022, -0.6127139329910278),
            (-1741.8111572265625, 5208.24951171875, 1464.8245849609375)),
           ((0.5912848114967346, -0.7821764349937439, 0.12445473670959473, -0.15196487307548523),
            (-1734.7105712890625, -3832.42138671875, 1548.5830078125))),
    "S8": (((0.14110587537288666, -0.15589867532253265, -0.7561917304992676, 0.619644045829773),
            (2150.65185546875, 4896.1611328125, 1611.9046630859375)),
           ((0.6169601678848267, -0.7647668123245239, -0.14846350252628326, 0.11158157885074615),
            (2219.965576171875, -5148.453125, 1613.0440673828125)),
           ((0.1471444070339203, -0.13377119600772858, 0.7670128345489502, -0.6100369691848755),
            (-1571.2215576171875, 5137.0185546875, 1498.1761474609375)),
           ((0.5927824378013611, -0.7825870513916016, 0.12147816270589828, -0.14631995558738708),
            (-1476.913330078125, -3896.7412109375, 1547.97216796875))),
    "S9": (((0.15540587902069092, -0.15548215806484222, -0.7532095313072205, 0.6199594736099243),
            (2044.45849609375, 4935.1171875, 1481.2275390625)),
           ((0.618784487247467, -0.7634735107421875, -0.14132238924503326, 0.11933968216180801),
            (1990.959716796875, -5123.810546875, 1568.8048095703125)),
           ((0.13357827067375183, -0.1367100477218628, 0.7689454555511475, -0.6100738644599915),
            (-1670.9921875, 5211.98583984375, 1528.387939453125)),
           ((0.5879399180412292, -0.7823407053947449, 0.1427614390850067, -0.14794869720935822),
            (-1696.04345703125, -3827.099853515625, 1591.4127197265625))),
    "S11": (((0.15232472121715546, -0.15442320704460144, -0.7547563314437866, 0.6191070079803467),
             (2098.440185546875, 4926.5546875, 1500.278564453125)),
            ((0.6189449429512024, -0.7600917220115662, -0.15300633013248444, 0.1255258321762085),
             (2083.182373046875, -4912.1728515625, 1561.07861328125)),
            ((0.14943228662014008, -0.15650227665901184, 0.7681233882904053, -0.6026304364204407),
             (-1609.8153076171875, 5177.3359375, 1537.896728515625)),
            ((0.5894251465797424, -0.7818877100944519, 0.13991211354732513, -0.14715361595153809),
             (-1590.738037109375, -3854.1689453125, 1578.017578125))),
}


def quaternion_to_matrix(q: np.ndarray) -> np.ndarray:
  """Rotation matrix [3, 3] of a quaternion (w, x, y, z) (normalised first)."""
  w, x, y, z = np.asarray(q, np.float64) / np.linalg.norm(q)
  return np.array([
      [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
      [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
      [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
  ])


def camera(subject: str, index: int) -> dict:
  """Camera `index` (0..3) of `subject`: world-to-camera `rotation` [3, 3], `position` [3]
  (camera centre, world metres), `focal` [2] and `center` [2] (pixels).

  `geometry.world_to_camera(x, rotation=..., position=...)` gives camera-frame metres.
  """
  if subject not in _EXTRINSICS:
    raise ValueError(f"subject: no Human3.6M camera poses for {subject!r} "
                     f"(known: {', '.join(_EXTRINSICS)})")
  if not 0 <= index < len(CAMERA_IDS):
    raise ValueError(f"camera: expected an index in [0, {len(CAMERA_IDS)}), got {index}")
  orientation, translation = _EXTRINSICS[subject][index]
  return {"rotation": quaternion_to_matrix(orientation).T.astype(np.float32),
          "position": (np.asarray(translation) / 1000).astype(np.float32),
          "focal": np.asarray(_FOCAL[index], np.float32),
          "center": np.asarray(_CENTER[index], np.float32)}


@dataclasses.dataclass(eq=False)  # as tfds.core.BuilderConfig
class H36mConfig(tfds.core.BuilderConfig):
  """Which Human3.6M frames go where. Give a custom config its own `name`.

  Attributes:
    train_subjects / test_subjects: split by subject (protocol #1: S1,5,6,7,8 / S9,11).
    train_cameras / test_cameras: camera indices 0..3 per split (protocol #3 holds one
      camera out; which one the literature holds out is not fixed: we hold out index 3).
    frame_stride: keep every k-th frame of each sequence (50 fps source).
    tie_tol: ordinal tie band in metres (Pavlakos Sec. 4.3: 100 mm).
    splits: which splits to build (`h36m_pavlakos`: e.g. ('test',) with test images only).
  """
  train_subjects: tuple[str, ...] = PROTOCOL1_TRAIN
  test_subjects: tuple[str, ...] = PROTOCOL1_TEST
  train_cameras: tuple[int, ...] = (0, 1, 2, 3)
  test_cameras: tuple[int, ...] = (0, 1, 2, 3)
  frame_stride: int = 1
  tie_tol: float = 0.1
  splits: tuple[str, ...] = ("train", "test")


def _check_config(config: H36mConfig) -> None:
  if not (isinstance(config.frame_stride, int) and config.frame_stride >= 1):
    raise ValueError(f"frame_stride: expected an int >= 1, got {config.frame_stride!r}")
  for name in ("train_cameras", "test_cameras"):
    cams = getattr(config, name)
    if not cams or any(c not in range(len(CAMERA_IDS)) for c in cams):
      raise ValueError(f"{name}: expected camera indices in 0..3, got {cams!r}")
  unknown = sorted(set(config.splits) - {"train", "test"})
  if unknown or not config.splits:
    raise ValueError(f"splits: expected a non-empty subset of ('train', 'test'), "
                     f"got {config.splits!r}")


def _load_pickled_dict(path: pathlib.Path, key: str) -> dict:
  """`np.load(path, allow_pickle=True)[key].item()`, checked to be a dict."""
  try:
    with np.load(path, allow_pickle=True) as npz:
      if key not in npz.files:
        raise ValueError(f"{path.name}: expected key {key!r} (VideoPose3D format), "
                         f"found {npz.files}")
      obj = npz[key]
  except (OSError, EOFError) as e:
    raise ValueError(f"{path.name}: not a readable npz file ({e})") from None
  if obj.dtype != object or obj.shape != () or not isinstance(obj.item(), dict):
    raise ValueError(f"{path.name}: expected {key!r} to hold a pickled dict "
                     f"subject -> action -> arrays, got {obj.dtype} {obj.shape}")
  return obj.item()


def _check_sequences(pos3d: dict, pos2d: dict, subjects: tuple[str, ...]) -> None:
  """Shapes of every requested sequence: 3D [N, 32, 3], 2D 4 x [N, 17, 2], same N."""
  for subject in subjects:
    camera(subject, 0)  # the camera table must know the subject
    for name, data in ((FILE_3D, pos3d), (FILE_2D, pos2d)):
      if subject not in data or not isinstance(data[subject], dict):
        raise ValueError(f"{name}: no subject {subject!r} (found {sorted(data)})")
    for action, world in pos3d[subject].items():
      where = f"{subject}/{action}"
      if np.ndim(world) != 3 or np.shape(world)[1:] != (32, 3):
        raise ValueError(f"{FILE_3D}: {where} expected [N, 32, 3] world metres, "
                         f"got {np.shape(world)}")
      if not np.all(np.isfinite(world)):
        raise ValueError(f"{FILE_3D}: {where} expected finite positions, got NaN/inf")
      views = pos2d[subject].get(action)
      n = len(world)
      if views is None or len(views) != len(CAMERA_IDS):
        raise ValueError(f"{FILE_2D}: {where} expected a list of {len(CAMERA_IDS)} camera "
                         f"arrays [N, 17, 2], got {type(views).__name__}")
      for k, v in enumerate(views):
        if np.shape(v) != (n, 17, 2):
          raise ValueError(f"{FILE_2D}: {where} camera {k} expected [{n}, 17, 2] pixels "
                           f"(N of {FILE_3D}), got {np.shape(v)}")


class H36mVideopose3d(tfds.core.GeneratorBasedBuilder):
  """Human3.6M lifting records from VideoPose3D's npz files.

  One example per (subject, action, camera, kept frame): `keypoints2d` from
  data_2d_h36m_gt.npz (VideoPose3D projected with lens distortion, so the pinhole
  `camera` reproduces it within a few pixels), `keypoints3d` = world joints 32 -> H36M17
  (`skeleton.H36M32_TO_H36M17`) moved to the camera frame with the camera table (metres,
  not root-centred), all-pairs relations from camera depth with the `tie_tol` band, `bbox`
  from the 2D. meta: subject 'S9', action as in the file ('Walking 1'), camera_id 0..3,
  frame = index in the 50 fps sequence. Splits `train` / `test` by config.
  """

  name = "h36m_videopose3d"
  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "First release."}
  MANUAL_DOWNLOAD_INSTRUCTIONS = _INSTRUCTIONS
  BUILDER_CONFIGS = [
      H36mConfig(name="protocol1", description="S1,5,6,7,8 -> S9,11, all cameras"),
      H36mConfig(name="protocol3", train_cameras=(0, 1, 2), test_cameras=(3,),
                 description="protocol #1 subjects, cameras 0-2 -> camera 3"),
  ]

  def __init__(self, *, allow_pickle: bool = False, **kwargs):
    """`allow_pickle`: opt in to unpickling the npz files (see the module docstring)."""
    self._allow_pickle = bool(allow_pickle)
    kwargs.setdefault("file_format", "array_record")
    super().__init__(**kwargs)

  def _info(self) -> tfds.core.DatasetInfo:
    return tfds.core.DatasetInfo(builder=self, description=type(self).__doc__,
                                 features=schema.features(with_image=False))

  def _split_generators(self, dl_manager):
    folder = common.manual_folder(dl_manager, self)
    path3d = common.require(folder / FILE_3D, self)
    path2d = common.require(folder / FILE_2D, self)
    if not self._allow_pickle:
      raise ValueError(f"{self.name}: {FILE_3D} and {FILE_2D} hold pickled objects, which can"
                       " run code when loaded; opt in with allow_pickle=True (launchers: "
                       "--config.data.allow_pickle=True) for files you trust")
    config = self.builder_config
    _check_config(config)
    pos3d = _load_pickled_dict(path3d, "positions_3d")
    pos2d = _load_pickled_dict(path2d, "positions_2d")
    subjects = {"train": (config.train_subjects, config.train_cameras),
                "test": (config.test_subjects, config.test_cameras)}
    for split in config.splits:
      _check_sequences(pos3d, pos2d, subjects[split][0])
    return {split: self._generate_examples(pos3d, pos2d, *subjects[split])
            for split in config.splits}

  def _generate_examples(self, pos3d, pos2d, subjects, cameras):
    config = self.builder_config
    for subject in subjects:
      for action in sorted(pos3d[subject]):
        world = np.asarray(pos3d[subject][action], np.float32)
        frames = np.arange(0, len(world), config.frame_stride)
        world = world[frames][:, skeleton.H36M32_TO_H36M17]
        for cam in cameras:
          yield from self._sequence(subject, action, cam, frames, world,
                                    np.asarray(pos2d[subject][action][cam], np.float32)[frames])

  def _sequence(self, subject, action, cam, frames, world, kp2d):
    c = camera(subject, cam)
    kp3d = np.asarray(geometry.world_to_camera(world, rotation=c["rotation"],
                                               position=c["position"]))
    common.check_reprojection(kp3d, kp2d, focal=c["focal"], center=c["center"],
                              what=f"{FILE_2D}: {subject}/{action} camera {cam}")
    rel = np.asarray(ordinal.relations_from_depth(kp3d[..., 2], tol=self.builder_config.tie_tol))
    full = np.ones(skeleton.H36M17.num_joints, bool)
    for k, frame in enumerate(frames):
      yield f"{subject}/{action}/{cam}/{frame}", common.make_example(
          dataset=self.name, keypoints2d=kp2d[k], keypoints3d=kp3d[k], relations=rel[k],
          joint_mask=full, visible=full, bbox=common.bbox_from_keypoints(kp2d[k], full),
          camera=c, subject=subject, action=action, camera_id=cam, frame=int(frame))


# --- Pavlakos' annot h5 + image folders -------------------------------------------------

_H5_SPLITS = {"train": "train", "test": "valid"}  # our split -> c2f-vol file stem
# c2f-vol image names: S<subject>_<Action>_<take>.<camera id>_<frame>.jpg
_IMAGE_NAME = re.compile(r"^(S\d+)_(.+)\.(\d{8})_(\d+)(\.[A-Za-z]+)?$")
_H5_SHAPES = {"part": "N 17 2", "center": "N 2", "scale": "N", "zind": "N 17", "S": "N 17 3"}


def _decode_name(raw) -> str:
  """An h5 `imgname` row: bytes, str, or zero-padded character codes."""
  if isinstance(raw, (bytes, np.bytes_)):
    return raw.decode().strip("\x00 ")
  if isinstance(raw, np.ndarray) and raw.dtype.kind in "iu":
    return "".join(chr(c) for c in raw if c).strip()
  return str(raw).strip()


def _read_h5(path: pathlib.Path) -> dict:
  """The c2f-vol datasets of one annot h5, shape-checked."""
  out = {}
  try:
    f = h5py.File(path, "r")
  except OSError as e:
    raise ValueError(f"{path.name}: not a readable HDF5 file ({e})") from None
  with f:
    for key in _H5_SHAPES:
      if key not in f:
        raise ValueError(f"{path.name}: missing dataset {key!r}; expected {sorted(_H5_SHAPES)}"
                         " (c2f-vol annot format)")
      out[key] = np.asarray(f[key][()])
    if "imgname" in f:
      out["imgname"] = [_decode_name(r) for r in f["imgname"][()]]
  n = len(out["part"])
  for key, spec in _H5_SHAPES.items():
    want = tuple(n if d == "N" else int(d) for d in spec.split())
    if out[key].shape != want:
      raise ValueError(f"{path.name}: dataset {key!r} expected shape [{spec}] = {want}, "
                       f"got {out[key].shape}")
    if not np.all(np.isfinite(out[key])):
      raise ValueError(f"{path.name}: dataset {key!r} expected finite values, got NaN/inf")
  return out


def _image_names(folder: pathlib.Path, stem: str, annot: dict, builder) -> list[str]:
  """Image names from annot/<stem>_images.txt, else from the h5 `imgname`."""
  txt = folder / "annot" / f"{stem}_images.txt"
  if "imgname" in annot and not txt.exists():
    names = annot["imgname"]
  else:
    text = common.require(txt, builder).read_text()
    names = [line.strip() for line in text.splitlines() if line.strip()]
  if len(names) != len(annot["part"]):
    raise ValueError(f"{stem}: {len(names)} image names for {len(annot['part'])} h5 rows; "
                     "expected one name per row")
  return [n if n.lower().endswith((".jpg", ".jpeg", ".png")) else n + ".jpg" for n in names]


def _parse_name(name: str) -> tuple[str, str, int, int]:
  """'S9_Posing_1.55011271_000001.jpg' -> ('S9', 'Posing 1', camera index 1, frame 1)."""
  m = _IMAGE_NAME.match(pathlib.Path(name).name)
  if not m or m.group(3) not in CAMERA_IDS:
    raise ValueError(f"image name: expected S<k>_<Action>_<take>.<camera id>_<frame>.jpg "
                     f"with a Human3.6M camera id {CAMERA_IDS}, got {name!r}")
  return m.group(1), m.group(2).replace("_", " "), CAMERA_IDS.index(m.group(3)), int(m.group(4))


class H36mPavlakos(tfds.core.GeneratorBasedBuilder):
  """Human3.6M image records from Pavlakos' c2f-vol annotations (annot h5 + images).

  Layout (geopavlakos/c2f-vol-train, src/ref.lua and README): datasets `part` [N,17,2]
  pixels, `center` [N,2] and `scale` [N] (hourglass convention: a 200*scale pixel box),
  `zind` [N,17], `S` [N,17,3] camera-frame millimetres, rows in the order of
  annot/<split>_images.txt (Lua could not read the h5 strings; an `imgname` dataset is
  used when the text file is absent). Images are named
  S<k>_<Action>_<take>.<camera id>_<frame>.jpg; the name gives meta and the camera
  intrinsics. Split `train` = train.h5, `test` = valid.h5 (S9, S11).

  Records: `keypoints3d` = S / 1000 (camera frame, metres, as stored), `keypoints2d` =
  part, relations from S's depth with the `tie_tol` band, `bbox` = (center, 200 * scale),
  camera intrinsics from the table. `zind` (1..64 depth bins of root-relative depth, the
  volumetric training target of c2f-vol) is shape-checked only: models bin the exact
  depth of `keypoints3d` themselves.
  """

  name = "h36m_pavlakos"
  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "First release."}
  MANUAL_DOWNLOAD_INSTRUCTIONS = _INSTRUCTIONS
  BUILDER_CONFIGS = [H36mConfig(name="default", description="train.h5 -> train, valid.h5 -> test")]

  def __init__(self, **kwargs):
    kwargs.setdefault("file_format", "array_record")
    super().__init__(**kwargs)

  def _info(self) -> tfds.core.DatasetInfo:
    return tfds.core.DatasetInfo(builder=self, description=type(self).__doc__,
                                 features=schema.features(with_image=True, image_format="jpeg"))

  def _split_generators(self, dl_manager):
    folder = common.manual_folder(dl_manager, self)
    _check_config(self.builder_config)
    out = {}
    for split in self.builder_config.splits:
      stem = _H5_SPLITS[split]
      annot = _read_h5(common.require(folder / "annot" / f"{stem}.h5", self))
      names = _image_names(folder, stem, annot, self)
      meta = [_parse_name(n) for n in names]
      for n in names:
        common.require(folder / "images" / n, self)
      out[split] = self._generate_examples(folder, stem, annot, names, meta)
    return out

  def _generate_examples(self, folder, stem, annot, names, meta):
    kp3d = annot["S"].astype(np.float32) / 1000
    kp2d = annot["part"].astype(np.float32)
    for cam in {m[2] for m in meta}:
      rows = [k for k, m in enumerate(meta) if m[2] == cam]
      common.check_reprojection(kp3d[rows], kp2d[rows], focal=_FOCAL[cam], center=_CENTER[cam],
                                what=f"{stem}.h5: camera {CAMERA_IDS[cam]} rows")
    rel = np.asarray(ordinal.relations_from_depth(kp3d[..., 2], tol=self.builder_config.tie_tol))
    full = np.ones(skeleton.H36M17.num_joints, bool)
    for k, (name, (subject, action, cam, frame)) in enumerate(zip(names, meta)):
      yield f"{k}_{name}", common.make_example(
          dataset=self.name, keypoints2d=kp2d[k], keypoints3d=kp3d[k], relations=rel[k],
          joint_mask=full, visible=full,
          bbox={"center": annot["center"][k], "scale": 200 * float(annot["scale"][k])},
          camera={"focal": _FOCAL[cam], "center": _CENTER[cam]},
          image=common.image_bytes(folder / "images" / name, self),
          subject=subject, action=action, camera_id=cam, frame=frame)
