"""The dataset kinds `data.dataset` may name, each declared once with its facts.

Torch- and numpy-free: params checks against it (the choices, fixed image sizes, what data.source must name),
the download stage fetches by it and the model card says where the images came from. A new kind with known
files is one entry here; one made by code (synthetic, idx-dir, image-folder) also needs its maker in
fmnist.data.sources (its FETCH).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fmnist.data.classes import DIGITS, FASHION_CLASSES

FASHION_MNIST_MD5 = {"train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
                     "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
                     "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
                     "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310"}


@dataclass(frozen=True)
class Kind:
    """What is known of a dataset kind before any file is read."""

    origin: str  # where its images come from, as the model card says it
    name: str | None = None  # the name recorded wherever the dataset is named; None: data.name or the folder's
    size: tuple[int, int] | None = None  # (H, W) of every image; None: the files' (idx-dir) or data.image_size
    classes: list[str] | None = None  # None: data.classes, or what the files hold
    synthetic: bool = False
    md5: dict[str, str] = field(default_factory=dict)  # the four .gz files, checked (known files only)
    mirrors: tuple[str, ...] = ()  # where the known files are downloaded from
    folder: str | None = None  # where the known files ship in the repository (no download), from its root
    source: str | None = None  # what data.source must name, where this kind needs it

    @property
    def known_files(self) -> bool:
        return bool(self.md5)


KINDS = {
    "fashion-mnist": Kind(
        origin="the official Fashion-MNIST files, their MD5s checked against the published ones",
        name="Fashion-MNIST", size=(28, 28), classes=FASHION_CLASSES, md5=FASHION_MNIST_MD5,
        mirrors=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
                 "https://ossci-datasets.s3.amazonaws.com/fashion-mnist/")),
    "mnist": Kind(
        origin="the official MNIST files, their MD5s checked against the published ones",
        name="MNIST", size=(28, 28), classes=DIGITS,
        md5={"train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
             "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
             "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
             "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c"},
        mirrors=("https://ossci-datasets.s3.amazonaws.com/mnist/",
                 "https://storage.googleapis.com/cvdf-datasets/mnist/")),
    "fashion-mnist-sample": Kind(
        origin="7,000 real Fashion-MNIST images shipped in the repository (data/sample: 600 training and 100 test "
               "images per class, taken from the first-release split), MD5s checked",
        name="Fashion-MNIST sample (first-release split, 6,000 + 1,000 images)", size=(28, 28),
        classes=FASHION_CLASSES, folder="data/sample/fashion-mnist-sample",
        md5={"train-images-idx3-ubyte.gz": "cecf3d45d005d019f3d0c2d787103947",
             "train-labels-idx1-ubyte.gz": "b67991b7036a14d2ee171cf08dbc02b7",
             "t10k-images-idx3-ubyte.gz": "2d298cb92afdd187fc375813f5531179",
             "t10k-labels-idx1-ubyte.gz": "ed8855620c744eaf0de8644400899f57"}),
    "synthetic": Kind(
        origin="generated images (data.synthetic), NOT Fashion-MNIST",
        name="Synthetic (generated, not Fashion-MNIST)", size=(28, 28), classes=FASHION_CLASSES, synthetic=True),
    "idx-dir": Kind(origin="IDX files from a local folder", source="the folder of IDX files"),
    "image-folder": Kind(origin="image files from a folder of class folders", source="the folder of class folders"),
}
