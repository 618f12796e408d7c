"""The one build step pyproject.toml cannot declare: a wheel (or a non-editable `pip install .`)
carries the repository's firmware/, boards/ and models/ as package data under edgekit/_assets,
where edgekit.assets finds them. A checkout or an editable install reads the folders in place."""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ASSETS = ("firmware", "boards", "models")
SKIP = shutil.ignore_patterns("__pycache__", "*.pyc", "*.o", "*.elf", "build")


class BuildPyWithAssets(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install reads the checkout's folders
        root = Path(__file__).resolve().parent
        dest = Path(self.build_lib) / "edgekit" / "_assets"
        for name in ASSETS:
            if (dest / name).exists():
                shutil.rmtree(dest / name)
            shutil.copytree(root / name, dest / name, ignore=SKIP)


setup(cmdclass={"build_py": BuildPyWithAssets})
